// The AsyncAPI 3 document made from the op and push tables is valid and complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Parser } from '@asyncapi/parser';
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
