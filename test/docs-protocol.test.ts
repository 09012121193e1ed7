// docs/protocol.md against the op, push, error and close code tables, in both directions: the
// reference tables in the page are generated from src/protocol/ (UPDATE_DOCS=1 rewrites them:
// `npm run docs:tables`), every code is described, and nothing the page names as an op, push or
// error code is missing from the tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ops } from '../src/protocol/ops.js';
import { Pushes } from '../src/protocol/pushes.js';
import { CloseCode, ErrorCode } from '../src/protocol/errors.js';
import { opTableMarkdown, pushTableMarkdown } from '../src/protocol/reference.js';

const PATH = fileURLToPath(new URL('../../docs/protocol.md', import.meta.url));
const CONFIG_SOURCE = readFileSync(fileURLToPath(new URL('../../src/config.ts', import.meta.url)), 'utf8');
let doc = readFileSync(PATH, 'utf8');

const BLOCKS = [
  { name: 'ops', render: opTableMarkdown },
  { name: 'pushes', render: pushTableMarkdown },
] as const;

const begin = (name: string) => `<!-- ${name}:begin (generated from src/protocol/; npm run docs:tables) -->`;
const end = (name: string) => `<!-- ${name}:end -->`;

if (process.env.UPDATE_DOCS === '1') {
  for (const b of BLOCKS) {
    const from = doc.indexOf(begin(b.name));
    const to = doc.indexOf(end(b.name));
    assert.ok(from >= 0 && to > from, `docs/protocol.md has no ${b.name} markers to update`);
    doc = doc.slice(0, from + begin(b.name).length) + '\n' + b.render() + '\n' + doc.slice(to);
  }
  writeFileSync(PATH, doc);
}

for (const b of BLOCKS) {
  test(`docs/protocol.md holds the ${b.name} table as the code defines it`, () => {
    const from = doc.indexOf(begin(b.name));
    const to = doc.indexOf(end(b.name));
    assert.ok(from >= 0 && to > from, `docs/protocol.md lacks the ${b.name} markers`);
    const block = doc.slice(from + begin(b.name).length, to).trim();
    assert.equal(block, b.render(), `the ${b.name} table is stale: run npm run docs:tables`);
  });
}

test('docs/protocol.md describes every error code and close code, and no other', () => {
  const described = [...doc.matchAll(/^\| `([A-Z_]+)` \| /gm)].map((m) => m[1]);
  assert.deepEqual(new Set(described), new Set(Object.values(ErrorCode)), 'the error code table lists exactly the codes');
  for (const c of Object.values(CloseCode)) assert.match(doc, new RegExp(`^\\| ${c} \\|`, 'm'), `close code ${c}`);
  const closeRows = [...doc.matchAll(/^\| (1\d{3}) \|/gm)].map((m) => Number(m[1]));
  assert.deepEqual(new Set(closeRows), new Set(Object.values(CloseCode)), 'the close code table lists exactly the codes');
});

test('every op, push and error code the prose names exists', () => {
  const families = new Set(
    Object.keys(Ops)
      .map((o) => o.split('.')[0])
      .filter((f) => !f.includes('_')),
  );
  for (const m of doc.matchAll(/`([a-z][A-Za-z]*)\.([A-Za-z]+)`/g)) {
    if (!families.has(m[1])) continue; // `payment.status`, `system.db`: fields and files
    const name = `${m[1]}.${m[2]}`;
    assert.ok(name in Ops || name in Pushes, `docs/protocol.md names ${name}, which is neither an op nor a push`);
  }
  // Upper-case names are error codes or settings the server reads (or currency codes).
  const settings = new Set([...CONFIG_SOURCE.matchAll(/(?:'|env\.)([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]));
  for (const m of doc.matchAll(/`([A-Z][A-Z0-9_]{3,})`/g)) {
    assert.ok(m[1] in ErrorCode || settings.has(m[1]), `docs/protocol.md names ${m[1]}: neither an error code nor a setting the server reads`);
  }
});
