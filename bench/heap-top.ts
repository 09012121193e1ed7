// The heaviest allocation sites of a sampling heap profile (bench/heap-sampler.ts), as bytes per
// second of its window and, given the run's steady-window throughput, bytes per answer:
//   node dist/bench/heap-top.js /tmp/h/main-123.heapprofile --ops-per-sec 9300 [--top 25]
// A site is the allocating function with its line; `by caller` also groups each allocation under
// the innermost server function (dist/src/) above it, so a msgpackr or V8 builtin allocation is
// charged to the server code that asked for it.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface Node {
  callFrame: CallFrame;
  selfSize: number;
  id: number;
  children: Node[];
}
interface HeapProfile {
  head: Node;
  samples: { size: number; nodeId: number }[];
  window?: { startedAt: number; stoppedAt: number; interval: number };
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d/.test(a));
const opt = (name: string): number | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};
if (!file) {
  process.stderr.write('usage: heap-top <file.heapprofile> [--ops-per-sec N] [--top N]\n');
  process.exit(1);
}
// Piped into `head`: stop quietly once the reader has what it wants.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});
const opsPerSec = opt('--ops-per-sec');
const top = opt('--top') ?? 25;
const p = JSON.parse(readFileSync(file, 'utf8')) as HeapProfile;
const seconds = p.window ? (p.window.stoppedAt - p.window.startedAt) / 1000 : 1;

const short = (url: string): string => url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/');
const site = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}`;
const isServer = (f: CallFrame): boolean => /\/dist\/src\//.test(f.url);

const self = new Map<string, number>();
const byCaller = new Map<string, number>();
let total = 0;
const walk = (n: Node, caller: string | undefined): void => {
  const here = isServer(n.callFrame) ? site(n.callFrame) : caller;
  if (n.selfSize > 0) {
    total += n.selfSize;
    const s = site(n.callFrame);
    self.set(s, (self.get(s) ?? 0) + n.selfSize);
    const c = here ?? '(no server frame)';
    byCaller.set(c, (byCaller.get(c) ?? 0) + n.selfSize);
  }
  for (const c of n.children) walk(c, here);
};
walk(p.head, undefined);

const fmt = (bytes: number): string => {
  const perSec = bytes / seconds;
  const perAnswer = opsPerSec ? `  ${(perSec / opsPerSec).toFixed(1).padStart(7)} B/answer` : '';
  return `${(perSec / 1024).toFixed(0).padStart(8)} KiB/s  ${((100 * bytes) / total).toFixed(1).padStart(5)}%${perAnswer}`;
};
const print = (title: string, m: Map<string, number>): void => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${fmt(v)}  ${k}\n`);
};
process.stdout.write(`${file}: ${seconds.toFixed(1)} s sampled, ${fmt(total)} in all\n`);
print('allocating function', self);
print('by caller (innermost server function)', byCaller);
