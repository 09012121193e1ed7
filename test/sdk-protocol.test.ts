// The SDK package's copy of the protocol is current: made from src/protocol/ (UPDATE_SDK=1 or
// `npm run sdk:protocol` writes it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { SDK_PROTOCOL, sdkProtocolFiles } from './helpers/sdk-protocol.js';

test('packages/client/src/protocol/ is what src/protocol/ makes', () => {
  for (const [name, content] of Object.entries(sdkProtocolFiles())) {
    if (process.env.UPDATE_SDK === '1') writeFileSync(SDK_PROTOCOL + name, content);
    let current = '';
    try {
      current = readFileSync(SDK_PROTOCOL + name, 'utf8');
    } catch {
      /* missing: fails below */
    }
    assert.ok(current === content, `packages/client/src/protocol/${name} is stale: run npm run sdk:protocol`);
  }
});
