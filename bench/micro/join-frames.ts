// Micro-benchmark behind Connection.flush: joining a connection's encoded responses into one
// array frame in a new buffer per flush vs in one reused buffer (garbage collection included:
// every round's frame is handed to a stand-in for the socket write, which copies it).
// Run: npm run build && node dist/bench/micro/join-frames.js
import { Packr } from 'msgpackr';
import { joinFrames, joinFramesInto } from '../../src/protocol/frames.js';

const packr = new Packr({ useRecords: false });
const ROUNDS = 300_000;
const socket = new Uint8Array(1 << 20);
let written = 0;
/** What a uWS send does with the bytes: copies them into the socket's buffer. */
function send(frame: Uint8Array): void {
  if (written + frame.length > socket.length) written = 0;
  socket.set(frame, written);
  written += frame.length;
}

function nsPerFlush(perFlush: number, join: (frames: Uint8Array[]) => Uint8Array): number {
  // Views of one reply buffer, as the pool hands them to a connection.
  const replies = packr.pack(Array.from({ length: perFlush }, (_, i) => ({ id: i, ok: true, result: { sku: 'tee-classic-m', qty: 3, version: i } })));
  const one = replies.length / perFlush;
  const frames = Array.from({ length: perFlush }, (_, i) => replies.subarray(i * one, (i + 1) * one));
  const t0 = performance.now();
  for (let r = 0; r < ROUNDS; r++) send(join(frames));
  return ((performance.now() - t0) * 1e6) / ROUNDS;
}

const reused = new Uint8Array(256 * 1024);
console.log('responses per flush | new buffer ns/flush | reused buffer ns/flush');
for (const n of [2, 4, 16, 64]) {
  const fresh = nsPerFlush(n, joinFrames);
  const into = nsPerFlush(n, (f) => joinFramesInto(f, reused));
  console.log(`${String(n).padStart(19)} | ${fresh.toFixed(0).padStart(19)} | ${into.toFixed(0).padStart(22)}`);
}
