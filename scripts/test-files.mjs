// The compiled test files of one pass of `npm test` / CI, one per line:
//   all        every test (the first pass, on the default transport)
//   transport  the tests that go through a server's HTTP and WebSocket (run again on TRANSPORT=ws);
//              left out: what lies below the transport and ran in the first pass already (the
//              journal, recovery after kill -9, disk faults, timers, the cluster), the browser
//              pages and the bench harness
//   node24     what depends on the Node version: native modules (better-sqlite3, argon2, sharp,
//              crc32), worker threads, node:http/https, the SDK on Node's own WebSocket
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = 'dist/test';
const all = readdirSync(DIR)
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => join(DIR, f));
const startsServers = (f) => /helpers\/server\.js|startServer|spawnServer/.test(readFileSync(f, 'utf8'));
const named = (names) => (f) => names.includes(f.slice(DIR.length + 1, -'.test.js'.length));

const BELOW_TRANSPORT = [
  'cluster',
  'cluster-accounts',
  'cluster-key-rotation',
  'crash',
  'corruption',
  'commit-failure',
  'disk-faults',
  'durable-timers',
  'journal-checksum',
  'passivation-checkpoint',
  'actor-bounds',
  'checkout-faults',
  'flash-sale',
  'audit',
  'drops',
  'media-crash',
  'sdk-package',
  'pages-browser',
  'pages-drop-audit',
  'media-pages',
];
const NODE_VERSION = [
  'smoke',
  'crash',
  'disk-faults',
  'journal-checksum',
  'shard-supervision',
  'accounts',
  'account-erasure',
  'sdk',
  'http',
  'tls',
  'media',
  'recs-server',
  'checkout',
  'subscriptions',
  'transport-choice',
];

// A name that matches no file (renamed, removed) would silently change a pass: refuse it.
for (const name of [...BELOW_TRANSPORT, ...NODE_VERSION]) {
  if (!all.some(named([name]))) {
    console.error(`scripts/test-files.mjs names ${name}.test.js, which ${DIR} does not hold`);
    process.exit(1);
  }
}

const sets = {
  all: () => all,
  transport: () => all.filter((f) => startsServers(f) && !named(BELOW_TRANSPORT)(f)),
  node24: () => all.filter(named(NODE_VERSION)),
};
const which = process.argv[2] ?? 'all';
if (!(which in sets)) {
  console.error(`usage: node scripts/test-files.mjs ${Object.keys(sets).join('|')}`);
  process.exit(2);
}
const files = sets[which]();
if (files.length === 0) {
  console.error(`no test files for "${which}" in ${DIR} (build first)`);
  process.exit(1);
}
console.log(files.join('\n'));
