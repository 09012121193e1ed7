// One line per step of a bench run's result.json: throughput, p99 and the CPU figures that make
// runs on a shared machine comparable (main thread and whole server per answer, the rest of the
// machine). Printed by bench/goals.sh and bench/alternate.sh after each run:
//   node dist/bench/step-lines.js bench/results/<run>/result.json
import { readFileSync } from 'node:fs';

interface Step {
  name: string;
  opsPerSec?: number;
  latencyUs?: { p99?: number };
  mainCpuUsPerReq?: number;
  serverCpuUsPerReq?: number;
  otherCpuPct?: number;
  commits?: { rowsPerCommit?: number };
}

const f = (v: number | undefined, digits = 1): string => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-');

const path = process.argv[2];
if (!path) {
  console.error('usage: node dist/bench/step-lines.js <result.json>');
  process.exit(2);
}
const steps = (JSON.parse(readFileSync(path, 'utf8')) as { steps?: Step[] }).steps ?? [];
for (const s of steps) {
  const p99 = s.latencyUs?.p99 === undefined ? undefined : s.latencyUs.p99 / 1000;
  console.log(
    `    ${s.name}: ${f(s.opsPerSec, 0)} ops/s, p99 ${f(p99, 2)} ms, main µs/req ${f(s.mainCpuUsPerReq)}, srv µs/req ${f(s.serverCpuUsPerReq)}, other CPU ${f(s.otherCpuPct, 0)}%` +
      (s.commits ? `, rows/commit ${f(s.commits.rowsPerCommit)}` : ''),
  );
}
