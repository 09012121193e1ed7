// The compiled test files of one pass of `npm test` / CI, one per line:
//   all     every test (`npm run test:all`: the machine's Node on the default transport)
//   first   the first pass of `npm test` (the machine's Node, uWS): every test but the cluster
//           suite, which runs once, in the second pass, on the Node and transport that users of
//           current Node lines run a cluster on (the cluster's account files run here, on uWS)
//   server  every test that starts a server (again on TRANSPORT=ws: `npm run test:ws`)
//   node24  the second pass of `npm test` (ws on Node 24, see .ci/node24): every test that starts
//           a server, but those that exercise what lies below the transport in the first pass
//           already (kill -9 durability, the cluster's account files, the browser pages, the
//           bench harness, timers, saga faults, product drops and audit history, the flash
//           sale's load), to keep CI within 15 minutes on two cores; and the files that load a
//           native binding of their own without a server (the C heap's release)
// The files that take longest come first, so that with several files at a time the pass does not
// end on one long file running alone.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = 'dist/test';
const named = (name) => join(DIR, `${name}.test.js`);

// Each over 40 s of a two-core machine running two files at a time (node scripts/test-times.mjs).
const LONGEST = [
  'cluster',
  'pages-browser',
  'sdk',
  'flash-sale',
  'slow-consumer',
  'media',
  'media-crash',
  'sdk-package',
  'model-wire',
  'pages-drop-audit',
  'checkout-faults',
  'recs-service',
  'crash',
  'accounts',
  'limits',
  'sign-in-limits',
  'bench-report',
  'actor-bounds',
].map(named);

const found = readdirSync(DIR)
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => join(DIR, f));
// A name that matches no file (renamed, removed) is a stale list: refuse it.
for (const f of LONGEST) {
  if (!found.includes(f)) {
    console.error(`scripts/test-files.mjs names ${f}, which does not exist`);
    process.exit(1);
  }
}
const all = [...LONGEST, ...found.filter((f) => !LONGEST.includes(f))];
const startsServers = (f) => /helpers\/server\.js|startServer|spawnServer/.test(readFileSync(f, 'utf8'));

// Left out of the Node 24 pass (each runs in the first pass); a name must match a file.
const NOT_ON_NODE24 = [
  // The supervision is the same on both transports; shard-crash-soak kills shard workers on Node 24.
  'shard-supervision',
  'crash',
  'cluster-accounts',
  'cluster-key-rotation',
  'corruption',
  'commit-failure',
  'durable-timers',
  'passivation-checkpoint',
  'actor-bounds',
  'checkout-faults',
  'flash-sale',
  'drops',
  'drops-crash',
  'audit',
  'media-crash',
  'sdk-package',
  'pages-browser',
  'pages-drop-audit',
  'media-pages',
  'bench-report',
].map(named);
// Run in the second pass only (see `first`).
const ONLY_ON_NODE24 = ['cluster'].map(named);
// No server, but a native binding of their own to load on Node 24 too (koffi: malloc_trim).
const NATIVE_ON_NODE24 = ['heap-trim'].map(named);
for (const f of [...NOT_ON_NODE24, ...ONLY_ON_NODE24, ...NATIVE_ON_NODE24]) {
  if (!found.includes(f)) {
    console.error(`scripts/test-files.mjs names ${f}, which does not exist`);
    process.exit(1);
  }
}

const sets = {
  all: () => all,
  first: () => all.filter((f) => !ONLY_ON_NODE24.includes(f)),
  server: () => all.filter(startsServers),
  node24: () => all.filter((f) => (startsServers(f) || NATIVE_ON_NODE24.includes(f)) && !NOT_ON_NODE24.includes(f)),
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
