// The AsyncAPI 3 document made from the op and push tables is valid and complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';
import { spawnServer, tmpDataDir } from './helpers/server.js';
import { asyncApiDocument } from '../src/protocol/asyncapi.js';
import { OpNames } from '../src/protocol/ops.js';
import { PushNames } from '../src/protocol/pushes.js';

test('the AsyncAPI document is valid AsyncAPI 3.0 (the official parser) and names every op and push', async () => {
  const doc = asyncApiDocument('0.1.0');
  const { document, diagnostics } = await new Parser().parse(JSON.stringify(doc));
  const errors = diagnostics.filter((d) => Number(d.severity) === 0); // 0: error (1 warning, 2 information, 3 hint)
  assert.deepEqual(
    errors.map((d) => `${d.path.join('.')}: ${d.message}`),
    [],
  );
  assert.ok(document, 'parsed');
  const titles = document
    .operations()
    .all()
    .map((o) => o.json<{ title?: string }>().title);
  for (const name of [...OpNames, ...PushNames]) assert.ok(titles.includes(name), `${name} missing`);
});

test('GET /asyncapi.json serves the document, with the server version', async (t) => {
  const srv = await spawnServer(tmpDataDir(t));
  t.after(() => srv.kill9());
  const res = await fetch(`${srv.url}/asyncapi.json`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const doc = (await res.json()) as { asyncapi: string; info: { version: string } };
  assert.equal(doc.asyncapi, '3.0.0');
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(doc.info.version, pkg.version);
  // A text response: compressed as Accept-Encoding allows, revalidated by its ETag.
  const gz = await fetch(`${srv.url}/asyncapi.json`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(gz.headers.get('content-encoding'), 'gzip');
  assert.deepEqual(await gz.json(), doc);
  const etag = gz.headers.get('etag') ?? '';
  assert.match(etag, /^"[^"]+"$/);
  assert.equal(gz.headers.get('cache-control'), 'no-cache');
  assert.equal((await fetch(`${srv.url}/asyncapi.json`, { headers: { 'if-none-match': etag } })).status, 304);
});
