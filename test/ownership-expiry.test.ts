// Partition leases on a real nats-server: a lease its owner stopped renewing is taken right
// after it expires, by an extra ownership round timed from the lease's server timestamp, not a
// regular round later. The rounds run every LEASE_MS/4 (3 s here); the dead owner's leases are
// written half a round before the survivor starts, so a regular round comes ~1.5 s after their
// expiry. The margins are wide (the check is for the extra round, not for a speed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { haveNatsServer, startNats } from './helpers/nats.js';
import { openCluster } from '../src/app/cluster/nats-cluster.js';
import { Ownership } from '../src/app/cluster/ownership.js';

const skip = haveNatsServer() ? false : 'nats-server is not installed';
const LEASE_MS = 12_000;
const PARTITIONS = 4;

test('a lease its owner stopped renewing is taken right after it expires, not a round later', { skip }, async (t) => {
  const [nats] = await startNats(t, 1);
  const c = await openCluster({ servers: [nats.url], nodeId: 'b', partitions: PARTITIONS, replicas: 1, leaseMs: LEASE_MS, snapshotEvery: 1_000 });
  t.after(() => c.nc.close());
  // Node a held every partition and died: its leases are never renewed.
  for (let p = 0; p < PARTITIONS; p++) await c.owners.create(`p${p}`, 'a');
  const expiresAt = (await c.owners.get('p0'))!.created.getTime() + LEASE_MS;
  await new Promise((r) => setTimeout(r, LEASE_MS / 8));

  const taken = new Map<number, number>();
  const ownership = new Ownership(c, {
    acquire: (p) => {
      taken.set(p, Date.now());
      return Promise.resolve(0);
    },
    served: () => undefined,
    release: () => Promise.resolve(),
    lost: () => undefined,
  });
  await ownership.start();
  t.after(() => ownership.stop());
  assert.equal(taken.size, 0, "a's leases are still valid at the start");
  while (taken.size < PARTITIONS && Date.now() < expiresAt + LEASE_MS) await new Promise((r) => setTimeout(r, 10));
  assert.equal(taken.size, PARTITIONS, 'every partition taken');
  for (const [p, at] of taken) {
    assert.ok(at >= expiresAt - 50, `partition ${p} taken ${expiresAt - at} ms before its lease expired`);
    assert.ok(at - expiresAt < 750, `partition ${p} taken ${at - expiresAt} ms after its lease expired (the regular round comes ~1,500 ms after)`);
  }
});
