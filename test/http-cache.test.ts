// Validators and content negotiation of cacheable responses: If-None-Match lists, weak tags,
// Accept-Encoding with q-values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { CachedText, etagMatches, pickEncoding } from '../src/transport/http-cache.js';

test('If-None-Match: one tag, a list, W/ (weak comparison), *, nothing', () => {
  assert.equal(etagMatches('"a"', '"a"'), true);
  assert.equal(etagMatches('"b", "a"', '"a"'), true);
  assert.equal(etagMatches('W/"a"', '"a"'), true);
  assert.equal(etagMatches('*', '"a"'), true);
  assert.equal(etagMatches('"b"', '"a"'), false);
  assert.equal(etagMatches('', '"a"'), false);
  assert.equal(etagMatches('"ab"', '"a"'), false);
});

test('Accept-Encoding: br before gzip, q=0 refuses, * stands for the rest, identity when nothing fits', () => {
  assert.equal(pickEncoding('gzip, deflate, br'), 'br');
  assert.equal(pickEncoding('gzip'), 'gzip');
  assert.equal(pickEncoding('br;q=0, gzip;q=0.5'), 'gzip');
  assert.equal(pickEncoding('*'), 'br');
  assert.equal(pickEncoding('*;q=0, gzip'), 'gzip');
  assert.equal(pickEncoding('deflate'), undefined);
  assert.equal(pickEncoding('gzip;q=0'), undefined);
  assert.equal(pickEncoding(''), undefined);
});

test('a cached text is compressed once per encoding; small bodies are sent as they are', () => {
  const body = JSON.stringify({ description: 'Light and quick to pitch. '.repeat(40) });
  const text = new CachedText(body, '"x"', 'application/json');
  const br = text.body('br');
  assert.equal(br.encoding, 'br');
  assert.equal(brotliDecompressSync(br.bytes).toString(), body);
  assert.equal(text.body('br').bytes, br.bytes, 'made once');
  const gz = text.body('gzip');
  assert.equal(gunzipSync(gz.bytes).toString(), body);
  assert.equal(text.body('').encoding, undefined);
  assert.equal(new CachedText('{"a":1}', '"y"', 'application/json').body('br').encoding, undefined);
});
