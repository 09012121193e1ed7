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

/** A profile and its nodes by id. */
function load(path: string): { p: Profile; byId: Map<number, Node> } {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  return { p, byId: new Map(p.nodes.map((n) => [n.id, n])) };
}

/** Calls `f` for each sample in order: microseconds after the profile's start, the ms it stands for, its node. */
function eachSample(p: Profile, byId: Map<number, Node>, f: (atUs: number, ms: number, n: Node) => void): void {
  let at = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    at += dt;
    f(at, dt / 1000, byId.get(p.samples[i])!);
  }
}

const isIdle = (n: Node): boolean => n.callFrame.functionName === '(idle)';

/**
 * `frameOf`: the nearest frame of the project's own code (src/... or bench/...) from a node up its
 * callers, as `fn file:line`, undefined when there is none; `parentOf`: a node's caller.
 */
function projectFrames(p: Profile, byId: Map<number, Node>) {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frameOf = (id: number | undefined): string | undefined => {
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (/\/(src|bench)\//.test(f.url)) return `${f.functionName || '(anonymous)'} ${f.url.replace(/.*\/dist\//, '')}:${f.lineNumber + 1}`;
    }
    return undefined;
  };
  return { frameOf, parentOf: (id: number) => parent.get(id) };
}

const outside = (atUs: number, w: ProfileWindow | undefined): boolean => w !== undefined && (atUs < w.fromS * 1e6 || atUs >= w.toS * 1e6);

export interface SelfTime {
  fn: string;
  ms: number;
  pct: number;
}

/** Seconds after a profile's start: only the samples inside count (e.g. a flash sale's sale, not its set-up). */
export interface ProfileWindow {
  fromS: number;
  toS: number;
}

/** Self time per function (name + file:line, node_modules and dist paths shortened). */
export function selfTimes(path: string, window?: ProfileWindow): { totalMs: number; idleMs: number; top: SelfTime[] } {
  const { p, byId } = load(path);
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  eachSample(p, byId, (atUs, dt, n) => {
    if (outside(atUs, window)) return;
    const f = n.callFrame;
    if (isIdle(n)) {
      idle += dt;
      return;
    }
    total += dt;
    const url = f.url
      .replace(/^file:\/\//, '')
      .replace(/.*\/node_modules\//, '~/')
      .replace(/.*\/dist\//, '');
    const key = `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([fn, ms]) => ({ fn, ms: Math.round(ms), pct: Math.round((ms / Math.max(1, total)) * 1000) / 10 }));
  return { totalMs: Math.round(total), idleMs: Math.round(idle), top };
}

/**
 * Where a function's self time comes from: its samples grouped by the nearest calling frame of the
 * project's own code (src/... or bench/...), heaviest first. `match` is a substring of the
 * function's name (e.g. `postMessage`, `pack`).
 */
export function callersOf(path: string, match: string, window?: ProfileWindow): { ms: number; callers: { fn: string; ms: number }[] } {
  const { p, byId } = load(path);
  const { frameOf, parentOf } = projectFrames(p, byId);
  const byCaller = new Map<string, number>();
  let total = 0;
  eachSample(p, byId, (atUs, dt, n) => {
    if (outside(atUs, window) || !n.callFrame.functionName.includes(match)) return;
    total += dt;
    const label = frameOf(parentOf(n.id)) ?? '(no project frame)';
    byCaller.set(label, (byCaller.get(label) ?? 0) + dt);
  });
  const callers = [...byCaller.entries()].sort((a, b) => b[1] - a[1]).map(([fn, ms]) => ({ fn, ms: Math.round(ms) }));
  return { ms: Math.round(total), callers };
}

/** Busy milliseconds in each second of the profile (to find the window where a run's load was). */
export function busyPerSecond(path: string): number[] {
  const { p, byId } = load(path);
  const busy: number[] = [];
  eachSample(p, byId, (atUs, dt, n) => {
    const s = Math.floor(atUs / 1e6);
    while (busy.length <= s) busy.push(0);
    if (!isIdle(n)) busy[s] += dt;
  });
  return busy.map(Math.round);
}

export interface LongTask {
  /** Seconds after the profile's start. */
  atS: number;
  ms: number;
  /** Where the time went, by the innermost frame of the project's own code (src/...), heaviest first. */
  top: { fn: string; ms: number }[];
}

/**
 * Stretches of a thread's profile without an idle sample, longest first: the stalls everything
 * queued on that thread waited for (a synchronous commit, a GC pause). A shard thread blocked in
 * fsync shows as busy here, since it is inside a native call.
 */
export function longTasks(path: string, minMs = 5): { count: number; over10ms: number; top: LongTask[]; profileS: number } {
  const { p, byId } = load(path);
  const { frameOf } = projectFrames(p, byId);
  const label = (id: number): string => frameOf(id) ?? (byId.get(id)!.callFrame.functionName || '(anonymous)');
  const runs: LongTask[] = [];
  let t = p.startTime;
  let start: number | undefined;
  let fns = new Map<string, number>();
  const close = (end: number) => {
    if (start === undefined) return;
    const ms = (end - start) / 1000;
    if (ms >= minMs)
      runs.push({
        atS: (start - p.startTime) / 1e6,
        ms,
        top: [...fns]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([fn, v]) => ({ fn, ms: Math.round(v * 10) / 10 })),
      });
    start = undefined;
    fns = new Map();
  };
  eachSample(p, byId, (atUs, dt, n) => {
    t = p.startTime + atUs;
    if (isIdle(n)) {
      close(t);
      return;
    }
    start ??= t;
    const l = label(n.id);
    fns.set(l, (fns.get(l) ?? 0) + dt);
  });
  close(t);
  runs.sort((a, b) => b.ms - a.ms);
  return { count: runs.length, over10ms: runs.filter((r) => r.ms >= 10).length, top: runs, profileS: (p.endTime - p.startTime) / 1e6 };
}
