// What a running cluster sends through NATS, by subject family: messages and bytes per second over
// a window, heaviest first. Run it beside a cluster bench step (its log prints the NATS URL):
//   node dist/bench/nats-traffic.js nats://127.0.0.1:4222 [seconds]
// Families: `cw.push`, `cw.j` (journal appends), `cw.ev` (domain events), `cw.rpc` (forwarded
// batches), `_INBOX.<id>` (replies: forwarded answers, JetStream acks), `$KV.<bucket>`, `$JS.*`.
// It subscribes to `>`, so it sees what reaches a subscriber, not the NATS servers' own
// replication traffic between them.
import { connect } from '@nats-io/transport-node';

const [url, secondsArg] = process.argv.slice(2);
if (!url) {
  console.error('usage: node dist/bench/nats-traffic.js <nats-url> [seconds]');
  process.exit(1);
}
const seconds = Number(secondsArg ?? 5);

/** `cw.push.cart:g_1` -> `cw.push`; `$KV.cw-owners.p3` -> `$KV.cw-owners`; `_INBOX.abc.def` -> `_INBOX.abc`. */
const family = (subject: string): string =>
  subject
    .split('.')
    .slice(0, subject.startsWith('$JS.') ? 3 : 2)
    .join('.');

const nc = await connect({ servers: url, name: 'cartwire-nats-traffic' });
const counts = new Map<string, { msgs: number; bytes: number }>();
nc.subscribe('>', {
  callback: (_err, m) => {
    const k = family(m.subject);
    let c = counts.get(k);
    if (!c) counts.set(k, (c = { msgs: 0, bytes: 0 }));
    c.msgs++;
    c.bytes += m.data.length;
  },
});
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
await nc.close();

const rows = [...counts].sort((a, b) => b[1].msgs - a[1].msgs);
let msgs = 0;
let bytes = 0;
console.log(`NATS traffic at ${url} over ${seconds} s, by subject family:`);
console.log(`${'family'.padEnd(36)} ${'msg/s'.padStart(8)} ${'KiB/s'.padStart(8)} ${'B/msg'.padStart(7)}`);
for (const [k, c] of rows) {
  msgs += c.msgs;
  bytes += c.bytes;
  console.log(
    `${k.padEnd(36)} ${(c.msgs / seconds).toFixed(0).padStart(8)} ${(c.bytes / seconds / 1024).toFixed(0).padStart(8)} ${(c.bytes / c.msgs).toFixed(0).padStart(7)}`,
  );
}
console.log(`${'all'.padEnd(36)} ${(msgs / seconds).toFixed(0).padStart(8)} ${(bytes / seconds / 1024).toFixed(0).padStart(8)}`);
