// --max-p99-ms and --min-ops: checked against the steps a scenario measures (role `measured`;
// not the ceiling, the peers or the comparison steps). A miss sets the exit code.
import type { StepReport } from './scenario.js';
import { fmtInt } from './format.js';

export interface Thresholds {
  maxP99Ms?: number;
  minOps?: number;
}

export interface Miss {
  step: string;
  what: 'p99' | 'ops/s';
  value: number;
  limit: number;
  message: string;
}

/** Exit codes of the CLI: a scenario that failed, and one that ran but missed a threshold. */
export const EXIT_FAILED = 1;
export const EXIT_THRESHOLD = 2;

export function checkThresholds(steps: StepReport[], t: Thresholds): Miss[] {
  const misses: Miss[] = [];
  for (const s of steps.filter((x) => x.role === 'measured')) {
    const p99Ms = s.latencyUs.p99 / 1000;
    if (t.maxP99Ms !== undefined && !(p99Ms <= t.maxP99Ms)) {
      misses.push({
        step: s.name,
        what: 'p99',
        value: p99Ms,
        limit: t.maxP99Ms,
        message: `${s.name}: p99 ${p99Ms.toFixed(2)} ms > --max-p99-ms ${t.maxP99Ms}`,
      });
    }
    if (t.minOps !== undefined && !(s.opsPerSec >= t.minOps)) {
      misses.push({
        step: s.name,
        what: 'ops/s',
        value: s.opsPerSec,
        limit: t.minOps,
        message: `${s.name}: ${fmtInt(s.opsPerSec)} ops/s < --min-ops ${fmtInt(t.minOps)}`,
      });
    }
  }
  return misses;
}

/** The exit code of a run that finished: EXIT_THRESHOLD when anything was missed. */
export const exitCodeFor = (misses: Miss[]): number => (misses.length > 0 ? EXIT_THRESHOLD : 0);
