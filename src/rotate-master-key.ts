// `npm run rotate-master-key`: rewraps every user's data key under a new master key. Stop the
// server first. Key files: DATA_DIR/master-key is replaced by a generated key. MASTER_KEY: give
// the new key as NEW_MASTER_KEY, then start the server with MASTER_KEY set to it.
// With NATS_URL: the cluster's master key, while its nodes run (app/cluster/cluster-key-rotation.ts).
// docs/operations.md "Encryption at rest" describes every case.
import { resolve } from 'node:path';
import { rotateMasterKey } from './persistence/key-rotation.js';

const dataDir = resolve(process.env.DATA_DIR || './data');
const say = (line: string): boolean => process.stdout.write(line + '\n');
try {
  const nats = process.env.NATS_URL?.trim();
  const keys = {
    ...(process.env.MASTER_KEY ? { masterKey: process.env.MASTER_KEY } : {}),
    ...(process.env.PREVIOUS_MASTER_KEY ? { previousMasterKey: process.env.PREVIOUS_MASTER_KEY } : {}),
  };
  // A cluster's accounts are in NATS: the nodes keep running (docs/operations.md says the steps).
  const r = nats
    ? await (await import('./app/cluster/cluster-key-rotation.js')).rotateClusterMasterKey({ servers: nats.split(',').map((s) => s.trim()), ...keys }, say)
    : rotateMasterKey(dataDir, { ...keys, ...(process.env.NEW_MASTER_KEY ? { newMasterKey: process.env.NEW_MASTER_KEY } : {}) });
  say(
    `rotated the master key of ${nats ? 'the cluster at ' + nats : dataDir}: ${r.rewrapped} wrapped keys now under ${r.toKeyId} (retired: ${r.fromKeyIds.join(', ') || 'none'})`,
  );
  if (process.env.MASTER_KEY && !nats) say('start the server with MASTER_KEY set to the new key');
} catch (err) {
  process.stderr.write(`rotate-master-key: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
