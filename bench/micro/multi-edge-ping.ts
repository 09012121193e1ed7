// Micro-benchmark behind the single-edge design: ping throughput of one uWS edge thread vs
// several on the same port (one uWS App per worker thread, the kernel spreading connections over
// their SO_REUSEPORT listeners), driven by the bench's own load processes (closed model, raw
// client). Each edge does what the server's edge does for a ping frame: scan + decode the frame,
// encode one response per request, join a batch's responses into one frame, write it corked. Runs
// alternate between the edge counts so both see the same machine; every run is printed.
// Run: npm run build && node dist/bench/micro/multi-edge-ping.js [--edges 1,2] [--runs 3] [--duration 5]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import { loadUws } from '../../src/transport/uws.js';
import { decodeFrame } from '../../src/transport/frame-codec.js';
import { encodeOk, joinFrames } from '../../src/protocol/frames.js';
import { freePort } from '../lib/server.js';
import { LoadGroup } from '../lib/load.js';
import { runStep } from '../lib/step.js';
import { Progress } from '../lib/progress.js';

const SELF = fileURLToPath(import.meta.url);

if (!isMainThread) edge((workerData as { port: number }).port);
else if (process.argv[2] === '--serve') await serve(Number(process.argv[3]), Number(process.argv[4]));
else await compare();

/** One edge thread: a uWS App on the shared port answering ping frames. */
function edge(port: number): void {
  const loaded = loadUws();
  if (!loaded.ok) throw new Error(`no uWS binary: ${loaded.why}`);
  const uws = loaded.uws;
  const out: Uint8Array[] = [];
  let socket: { send(m: Uint8Array, binary: boolean): unknown } | undefined;
  let frame: Uint8Array | undefined;
  const sendCorked = () => void socket!.send(frame!, true);
  uws
    .App()
    .ws('/ws', {
      compression: uws.DISABLED,
      maxPayloadLength: 64 * 1024,
      idleTimeout: 0,
      message: (ws, message) => {
        const f = decodeFrame(new Uint8Array(message));
        if (f.kind !== 'requests') return;
        const now = Date.now();
        for (const r of f.requests) out.push(encodeOk((r as { id: number }).id, { now }));
        frame = out.length === 1 ? out[0] : joinFrames(out);
        socket = ws;
        ws.cork(sendCorked);
        out.length = 0;
      },
    })
    .listen('127.0.0.1', port, (listening) => {
      if (!listening) throw new Error(`edge cannot listen on ${port}`);
      parentPort!.postMessage('listening');
    });
}

/** The server process of one run: `edges` edge threads on `port`; prints `ready` once all listen. */
async function serve(edges: number, port: number): Promise<void> {
  const workers = Array.from({ length: edges }, () => new Worker(SELF, { workerData: { port } }));
  await Promise.all(workers.map((w) => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)))));
  console.log('ready');
}

interface RunFigures {
  edges: number;
  opsPerSec: number;
  p99Ms: number;
  srvUsPerReq: number;
  srvCpuPct: number;
  cliCpuPct: number;
  otherCpuPct: number;
  load1: number;
}

async function compare(): Promise<void> {
  const { values } = parseArgs({
    options: {
      edges: { type: 'string', default: '1,2' },
      runs: { type: 'string', default: '3' },
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '64' },
      inflight: { type: 'string', default: '16' },
      'load-procs': { type: 'string', default: '1' },
    },
  });
  const edgeCounts = values.edges.split(',').map(Number);
  const runs = Number(values.runs);
  const connections = Number(values.connections);
  const load = LoadGroup.start(Number(values['load-procs']));
  const figures: RunFigures[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      for (const edges of edgeCounts) {
        const port = await freePort();
        const server = spawn(process.execPath, [SELF, '--serve', String(edges), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
        try {
          await new Promise<void>((resolve, reject) => {
            server.once('exit', (code) => reject(new Error(`edge server exited with ${code}`)));
            createInterface({ input: server.stdout }).on('line', (l) => l === 'ready' && resolve());
          });
          const step = await runStep(
            load,
            {
              name: `ping ${edges} edge(s)`,
              role: 'measured',
              target: { label: `${edges} edge thread(s)`, url: `http://127.0.0.1:${port}`, pid: server.pid! },
              channel: { workload: 'ping', client: 'raw', skus: [], products: [], skusPerUser: 1 },
              connections,
              model: { kind: 'closed', inflight: Number(values.inflight) },
              timing: { warmupMs: 2000, rampMs: 1000, steadyMs: Number(values.duration) * 1000 },
            },
            new Progress(false),
          );
          const f: RunFigures = {
            edges,
            opsPerSec: step.opsPerSec,
            p99Ms: step.latencyUs.p99 / 1000,
            srvUsPerReq: step.serverCpuUsPerReq,
            srvCpuPct: step.serverCpuPct,
            cliCpuPct: step.clientCpuPct,
            otherCpuPct: step.otherCpuPct ?? NaN,
            load1: loadavg()[0],
          };
          figures.push(f);
          console.log(
            `run ${run + 1} edges ${edges}: ${Math.round(f.opsPerSec).toLocaleString('en-US')} pings/s, p99 ${f.p99Ms.toFixed(1)} ms, ` +
              `server ${f.srvUsPerReq.toFixed(2)} µs/ping (${f.srvCpuPct.toFixed(0)}% of a core), load procs ${f.cliCpuPct.toFixed(0)}%, ` +
              `other ${f.otherCpuPct.toFixed(0)}%, load avg ${f.load1.toFixed(2)}`,
          );
        } finally {
          server.kill('SIGKILL');
        }
      }
    }
  } finally {
    await load.stop();
  }
  for (const edges of edgeCounts) {
    const mine = figures.filter((f) => f.edges === edges).map((f) => f.opsPerSec);
    const mean = mine.reduce((a, b) => a + b, 0) / mine.length;
    console.log(`edges ${edges}: mean ${Math.round(mean).toLocaleString('en-US')} pings/s over ${mine.length} runs`);
  }
}
