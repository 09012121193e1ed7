// docs/protocol.md is checked against the op table and the error/close code tables, so a new op
// or code cannot ship undocumented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OpNames, Ops } from '../src/protocol/ops.js';
import { CloseCode, ErrorCode } from '../src/protocol/errors.js';

const doc = readFileSync(fileURLToPath(new URL('../../docs/protocol.md', import.meta.url)), 'utf8');

test('docs/protocol.md has a row for every op with its role and actor', () => {
  for (const op of OpNames) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${op}\` |`));
    assert.ok(row, `docs/protocol.md has no table row for ${op}`);
    const cells = row.split('|').map((c) => c.trim());
    assert.equal(cells[2], Ops[op].role, `${op}: role in docs`);
    assert.equal(cells[3], Ops[op].actor, `${op}: actor in docs`);
  }
});

test('docs/protocol.md names every error code and close code', () => {
  for (const code of Object.values(ErrorCode)) assert.match(doc, new RegExp(`\\| \`${code}\` \\|`), `error code ${code}`);
  for (const code of Object.values(CloseCode)) assert.match(doc, new RegExp(`\\| ${code} \\|`), `close code ${code}`);
});
