// The test helpers that run the server binary: a server started after its test ended (a test
// failed by an unhandled rejection still runs its body) must not outlive it, or it keeps the test
// file's process alive.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { serverRestarts, tmpDataDir } from './helpers/server.js';

/** Whether a process runs with DATA_DIR=`dir` (read from /proc). */
function serverRunsOn(dir: string): boolean {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .some((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`DATA_DIR=${dir}`);
      } catch {
        return false; // exited meanwhile, or not ours to read
      }
    });
}

test('serverRestarts: a server that comes up after its test ended is killed, and its start fails', { skip: process.platform !== 'linux' }, async (t) => {
  const dir = tmpDataDir(t);
  // The test's hooks, run by hand while the server is starting: the test "ends" under it.
  const hooks: (() => unknown)[] = [];
  const ended = { after: (fn: () => unknown) => void hooks.push(fn) } as unknown as TestContext;
  const start = serverRestarts(ended, dir, { SHARDS: '1' });
  const starting = start();
  for (const hook of hooks) await hook();
  await assert.rejects(starting, /the test ended before this server started/);
  assert.equal(serverRunsOn(dir), false, 'no server is left running on the data directory');
});
