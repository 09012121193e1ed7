// TRANSPORT: which transport runs, the line that says so, and a forced uWS that cannot load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnServer, tmpDataDir, connectGuest, logLines } from './helpers/server.js';
import { loadUws } from '../src/transport/uws.js';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
/** Whether a native uWS binary loads in this Node (Node 20 here: yes; 22/24 on glibc < 2.38: no). */
const uwsLoads = loadUws().ok;

/** Runs the server binary to its exit; resolves with the exit code and everything it printed. */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [MAIN], { env: { ...process.env, PORT: '0', SHARDS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    proc.once('exit', (code) => resolve({ code, out }));
  });
}

for (const forced of ['ws', 'uws'] as const) {
  test(`TRANSPORT=${forced}: one line names the transport and why; a cart session works over it`, async (t) => {
    if (forced === 'uws' && !uwsLoads) {
      // Forcing uWS where no native binary loads stops the start: never the JavaScript fallback.
      const { code, out } = await runToExit({ TRANSPORT: 'uws', DATA_DIR: tmpDataDir(t) });
      assert.equal(code, 1, out);
      assert.match(out, /"msg":"TRANSPORT=uws, but no native uWebSockets\.js binary loads here \(.+\)/);
      assert.doesNotMatch(out, /listening on/);
      return;
    }
    const srv = await spawnServer(tmpDataDir(t), { TRANSPORT: forced });
    t.after(() => srv.kill9());
    const lines = logLines(srv.output()).map((l) => l.msg);
    assert.equal(lines.filter((l) => l.startsWith('transport ')).length, 1, srv.output());
    assert.match(
      lines[0],
      forced === 'ws' ? /^transport ws: ws \+ node:http \(Node [\d.]+\): TRANSPORT=ws$/ : /^transport uws: uWebSockets\.js \(.+\): TRANSPORT=uws/,
    );
    assert.equal(srv.transport, forced);
    const c = await connectGuest(srv.url);
    t.after(() => c.close());
    assert.equal((await c.call('cart.add', { sku: 'soap-bar', qty: 2 })).version, 1);
    assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  });
}

test('without TRANSPORT: uWS when a native binary loads, else ws + node:http, and the line says why', async (t) => {
  const env: Record<string, string> = { TRANSPORT: '' };
  const srv = await spawnServer(tmpDataDir(t), env);
  t.after(() => srv.kill9());
  const line = logLines(srv.output())[0].msg;
  if (uwsLoads) assert.match(line, /^transport uws: uWebSockets\.js \(.+\): a native binary loaded/);
  else assert.match(line, /^transport ws: ws \+ node:http \(Node [\d.]+\): no native uWebSockets\.js binary loads here: .+/);
});

test('an unknown TRANSPORT stops the start with a message naming the variable', async (t) => {
  const { code, out } = await runToExit({ TRANSPORT: 'quic', DATA_DIR: tmpDataDir(t) });
  assert.equal(code, 2, out);
  assert.match(out, /"msg":"TRANSPORT must be uws, ws or auto, got \\"quic\\""/);
});
