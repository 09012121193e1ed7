// A thread's profile by area of the server (the shard hop, socket writes, reply encoding, frame
// decoding, ...), in µs per answer of a run: where the main thread's time per request goes.
// Each sample counts for the area of its innermost frame that one of the rules below names, so a
// native call (postMessage, a socket write) counts for the project function that made it.
import { readFileSync } from 'node:fs';

interface Frame {
  functionName: string;
  url: string;
}
interface Profile {
  nodes: { id: number; callFrame: Frame; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

const RULES: [area: string, test: (f: Frame) => boolean][] = [
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
  ['shard hop (post, receive, deliver)', (f) => /\/src\/(app\/(shard-pool|shard-link|pending-requests)|workers\/request-codec)\.js$|messageport/.test(f.url)],
  ['socket writes', (f) => /\/src\/transport\/connection\.js$/.test(f.url)],
  ['response encoding and joining', (f) => /\/src\/protocol\/frames\.js$|msgpackr\/pack\.js$/.test(f.url)],
  ['frame decoding', (f) => /\/src\/transport\/(frame-codec|frame-scan)\.js$|msgpackr\/unpack\.js$/.test(f.url)],
  ['metrics', (f) => /prom-client|\/src\/app\/metrics\//.test(f.url)],
  ['edge, validation, handlers', (f) => /\/src\/(transport|app|protocol)\/|typebox/.test(f.url)],
  ['start-up (module loading)', (f) => /node:internal\/(modules|bootstrap)|cjs-module-lexer/.test(f.url)],
  ['(program)', (f) => f.functionName === '(program)'],
];

export interface AreaTime {
  area: string;
  ms: number;
}

/** Busy time of the profile at `path` by area, heaviest first (idle left out). */
export function areaTimes(path: string): AreaTime[] {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const areaOf = new Map<number, string>();
  const area = (id: number): string => {
    let a = areaOf.get(id);
    if (a !== undefined) return a;
    a = 'other';
    search: for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      for (const [name, test] of RULES) {
        if (test(f)) {
          a = name;
          break search;
        }
      }
    }
    areaOf.set(id, a);
    return a;
  };
  const ms = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    if (byId.get(p.samples[i])!.callFrame.functionName === '(idle)') continue;
    const a = area(p.samples[i]);
    ms.set(a, (ms.get(a) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  return [...ms].map(([a, v]) => ({ area: a, ms: v })).sort((x, y) => y.ms - x.ms);
}

/** Answers of a run (every step, every second of its timeline, warm-up included), from its result.json. */
export function answersOfRun(resultJson: string): number {
  const r = JSON.parse(readFileSync(resultJson, 'utf8')) as { steps: { timeline: { ops: number }[] }[] };
  let n = 0;
  for (const s of r.steps) for (const t of s.timeline) n += t.ops;
  return n;
}
