// Summaries of V8 .cpuprofile files (node --cpu-prof): self time per function, heaviest first.
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  fn: string;
  ms: number;
  pct: number;
}

/** Self time per function (name + file:line, node_modules and dist paths shortened). */
export function selfTimes(path: string): { totalMs: number; idleMs: number; top: SelfTime[] } {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i])!;
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const f = n.callFrame;
    if (f.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    total += dt;
    const url = f.url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '~/').replace(/.*\/dist\//, '');
    const key = `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([fn, ms]) => ({ fn, ms: Math.round(ms), pct: Math.round((ms / Math.max(1, total)) * 1000) / 10 }));
  return { totalMs: Math.round(total), idleMs: Math.round(idle), top };
}
