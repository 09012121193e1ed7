// One process per data directory: a second server on a DATA_DIR in use stops before it opens
// any of its files, so does a master key rotation, and the lock goes with its process, also after
// kill -9. Real servers, the real binary and the real rotation tool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverDies, serverRestarts, startEdgeTestServer, tmpDataDir } from './helpers/server.js';
import { DataDirBusy } from '../src/persistence/data-dir-lock.js';
import { shardDbPath } from '../src/persistence/shard-db.js';

const ROTATE = fileURLToPath(new URL('../src/rotate-master-key.js', import.meta.url));

test('a second server on a data directory in use is refused before it opens a file; the directory is free again once the first closes', async (t) => {
  const dataDir = tmpDataDir(t);
  const first = await startEdgeTestServer(t, { DATA_DIR: dataDir });
  const shard = shardDbPath(dataDir, 0);
  const before = statSync(shard).mtimeMs;

  await assert.rejects(startEdgeTestServer(t, { DATA_DIR: dataDir }), DataDirBusy);
  const child = await serverDies(dataDir, { SHARDS: '1' });
  assert.match(child.output, /is in use by another cartwire process/);
  assert.doesNotMatch(child.output, /listening on/);
  assert.equal(statSync(shard).mtimeMs, before, 'the refused servers did not touch the shard file');
  assert.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first server serves on');

  await first.close();
  const again = await startEdgeTestServer(t, { DATA_DIR: dataDir });
  assert.equal((await fetch(`${again.url}/healthz`)).status, 200);
});

test('rotate-master-key refuses a data directory a server holds and changes nothing; after kill -9 of the server it runs', async (t) => {
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir, { SHARDS: '1' });
  const srv = await start();
  const keyFile = join(dataDir, 'master-key');
  const key = readFileSync(keyFile, 'utf8');
  const env = { ...process.env, DATA_DIR: dataDir, MASTER_KEY: '' };
  let refused = '';
  try {
    execFileSync(process.execPath, [ROTATE], { env, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    refused = String((err as { stderr?: string }).stderr);
  }
  assert.match(refused, /is in use by another cartwire process/);
  assert.equal(readFileSync(keyFile, 'utf8'), key, 'the master key file is as it was');

  await srv.kill9();
  const out = execFileSync(process.execPath, [ROTATE], { env, encoding: 'utf8' });
  assert.match(out, /rotated the master key/);
  assert.notEqual(readFileSync(keyFile, 'utf8'), key);
  const back = await start();
  assert.equal((await fetch(`${back.url}/healthz`)).status, 200, 'the server starts on the rotated directory');
});
