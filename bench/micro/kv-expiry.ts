// How soon after its TTL a nats-server removes a KV key: the ownership rounds time an extra
// round from a lease's server timestamp plus LEASE_MS (EXPIRY_MARGIN_MS later), which pays only
// if the key is gone by then. One nats-server, a bucket with the lease bucket's settings; a key
// written, then read every 2 ms until it is gone; ms from its server timestamp, per round.
// Run: npm run build && node dist/bench/micro/kv-expiry.js [ttl ms] [rounds]
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { findNatsServer, startNats } from '../lib/nats-servers.js';

const ttl = Number(process.argv[2] ?? 2_000);
const rounds = Number(process.argv[3] ?? 8);
const bin = findNatsServer();
if (!bin) throw new Error('nats-server is not installed');
const nats = await startNats(1, bin);
const nc = await connect({ servers: nats.url });
try {
  const kv = await new Kvm(nc).create('expiry', { history: 1, ttl, storage: 'file' });
  const late: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await kv.put('lease', 'a');
    const created = (await kv.get('lease'))!.created.getTime();
    for (;;) {
      const e = await kv.get('lease');
      if (!e || e.operation !== 'PUT') break;
      await new Promise((res) => setTimeout(res, 2));
    }
    late.push(Date.now() - created - ttl);
    // The next key written at another phase of the server's expiry timer.
    await new Promise((res) => setTimeout(res, Math.round(Math.random() * ttl) / 4));
  }
  console.log(`${nats.version}, TTL ${ttl} ms: key gone ${late.join(' / ')} ms after its timestamp + TTL (${rounds} keys)`);
} finally {
  await nc.close();
  await nats.stop();
}
