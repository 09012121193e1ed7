// TLS on the shop port: https and wss with TLS_CERT_FILE/TLS_KEY_FILE, client certificates checked
// against TLS_CA_FILE, and bad files stopping the start. Certificates are made by openssl per run.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import WebSocket from 'ws';
import { resolveConfig, ConfigError } from '../src/config.js';
import { CartwireClient, type SocketCtor } from '../src/client/index.js';
import { selfSignedCert, signedCert, type CertFiles } from '../bench/lib/tls.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startEdgeTestServer, spawnServer, tmpDataDir } from './helpers/server.js';

interface TlsClient {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

function tlsEnv(dir: string, server: CertFiles, caFile?: string): Record<string, string> {
  return { TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: server.keyFile, ...(caFile ? { TLS_CA_FILE: caFile } : {}), DATA_DIR: join(dir, 'data') };
}

/** GET over https trusting `client.ca`; the status, or the error's code when the handshake fails. */
function httpsGet(url: string, client: TlsClient): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url, { ca: client.ca, cert: client.cert, key: client.key }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

/** The SDK in Node with a private CA: a `ws` constructor that trusts it (and presents a client certificate if given). */
function trusting(client: TlsClient): SocketCtor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { ca: client.ca, cert: client.cert, key: client.key });
    }
  } as unknown as SocketCtor;
}

function certs(t: TestContext): { dir: string; server: CertFiles; trust: TlsClient } {
  const dir = tmpDataDir(t);
  const server = selfSignedCert(dir);
  return { dir, server, trust: { ca: readFileSync(server.certFile) } };
}

test('https and wss on the shop port: health over TLS, a cart session with the SDK, plain http refused', async (t) => {
  const { dir, server, trust } = certs(t);
  const srv = await startEdgeTestServer(t, tlsEnv(dir, server));
  assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(await httpsGet(`${srv.url}/readyz`, trust), 200);

  const client = await CartwireClient.connect(srv.url.replace(/^https/, 'wss'), { WebSocket: trusting(trust) });
  t.after(() => client.close());
  await client.call('auth.guest', {});
  await client.call('cart.add', { sku: 'soap-bar', qty: 2 });
  const cart = await client.call('cart.get', {});
  assert.deepEqual(
    cart.items.map((i) => [i.sku, i.qty]),
    [['soap-bar', 2]],
  );

  // A client that does not trust the certificate stops at the handshake; plain http gets no answer.
  assert.equal(await httpsGet(`${srv.url}/readyz`, { ca: Buffer.from('') }), 'DEPTH_ZERO_SELF_SIGNED_CERT');
  const plain = await fetch(`${srv.url.replace(/^https/, 'http')}/readyz`).then(
    (r) => r.status,
    () => 'refused',
  );
  assert.equal(plain, 'refused');
});

test('TLS_CA_FILE: a client certificate the CA signed is accepted, another refused, none accepted', async (t) => {
  const { dir, server, trust } = certs(t);
  const ca = selfSignedCert(dir, 'client-ca');
  const good = signedCert(dir, ca, 'good-client');
  const rogue = selfSignedCert(dir, 'rogue-client');
  const srv = await startEdgeTestServer(t, tlsEnv(dir, server, ca.certFile));
  const withCert = (c: CertFiles): TlsClient => ({ ...trust, cert: readFileSync(c.certFile), key: readFileSync(c.keyFile) });

  assert.equal(await httpsGet(`${srv.url}/readyz`, withCert(good)), 200);
  assert.equal(await httpsGet(`${srv.url}/readyz`, trust), 200);
  assert.notEqual(await httpsGet(`${srv.url}/readyz`, withCert(rogue)), 200);

  const client = await CartwireClient.connect(srv.url, { WebSocket: trusting(withCert(good)) });
  t.after(() => client.close());
  await client.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  await assert.rejects(CartwireClient.connect(srv.url, { WebSocket: trusting(withCert(rogue)) }));
});

test('the server binary logs its https URL and serves wss', async (t) => {
  const { dir, server, trust } = certs(t);
  const child = await spawnServer(join(dir, 'data'), tlsEnv(dir, server));
  t.after(() => child.kill9());
  assert.match(child.url, /^https:\/\//);
  assert.match(child.output(), /"tls":true/);
  const client = await CartwireClient.connect(child.url, { WebSocket: trusting(trust) });
  t.after(() => client.close());
  assert.equal((await client.call('auth.guest', {})).role, 'guest');
});

test('bad TLS settings stop the start with a message naming them', (t) => {
  const { dir, server } = certs(t);
  const other = selfSignedCert(dir, 'other');
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate');
  const cases: [Record<string, string>, RegExp][] = [
    [{ TLS_CERT_FILE: server.certFile }, /TLS_CERT_FILE and TLS_KEY_FILE go together/],
    [{ TLS_KEY_FILE: server.keyFile }, /TLS_CERT_FILE and TLS_KEY_FILE go together/],
    [{ TLS_CA_FILE: server.certFile }, /need TLS_CERT_FILE and TLS_KEY_FILE/],
    [{ TLS_CERT_FILE: join(dir, 'missing.pem'), TLS_KEY_FILE: server.keyFile }, /TLS_CERT_FILE cannot be read/],
    [{ TLS_CERT_FILE: garbage, TLS_KEY_FILE: server.keyFile }, /not a usable certificate and key/],
    [{ TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: other.keyFile }, /not a usable certificate and key/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => resolveConfig(env),
      (err: unknown) => err instanceof ConfigError && message.test(err.message),
      JSON.stringify(env),
    );
  }
  assert.deepEqual(resolveConfig({ TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: server.keyFile }).tls, { certFile: server.certFile, keyFile: server.keyFile });
});
