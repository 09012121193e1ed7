// `npm run rotate-master-key`: rewraps every user's data key under a new master key. Stop the
// server first. Key files: DATA_DIR/master-key is replaced by a generated key. MASTER_KEY: give
// the new key as NEW_MASTER_KEY, then start the server with MASTER_KEY set to it.
// docs/operations.md "Encryption at rest" describes both.
import { resolve } from 'node:path';
import { rotateMasterKey } from './persistence/key-rotation.js';

const dataDir = resolve(process.env.DATA_DIR || './data');
try {
  const r = rotateMasterKey(dataDir, {
    ...(process.env.MASTER_KEY ? { masterKey: process.env.MASTER_KEY } : {}),
    ...(process.env.PREVIOUS_MASTER_KEY ? { previousMasterKey: process.env.PREVIOUS_MASTER_KEY } : {}),
    ...(process.env.NEW_MASTER_KEY ? { newMasterKey: process.env.NEW_MASTER_KEY } : {}),
  });
  process.stdout.write(
    `rotated the master key of ${dataDir}: ${r.rewrapped} wrapped keys now under ${r.toKeyId} (retired: ${r.fromKeyIds.join(', ') || 'none'})\n`,
  );
  if (process.env.MASTER_KEY) process.stdout.write('start the server with MASTER_KEY set to the new key\n');
} catch (err) {
  process.stderr.write(`rotate-master-key: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
