// The C heap (glibc malloc) under V8, SQLite and the message buffers between threads. glibc keeps
// what the threads free for their next allocations, and gives back only the free space at the
// top of each arena: a burst (a fill of a million carts) leaves its freed buffers and SQLite cache
// pages resident in the middle of per-thread arenas for good. `malloc_trim(0)` hands every whole
// free page of every arena back to the kernel; a quiet thread calls it after its collection
// (heap-trim.ts). It is reached through koffi (a maintained FFI with prebuilt binaries; nothing
// is compiled). Elsewhere (macOS, Windows, musl, or another allocator preloaded) it is a no-op.
import { createRequire } from 'node:module';
import { log } from '../log/log.js';

let trim: ((pad: number) => number) | null | undefined;

function load(): ((pad: number) => number) | null {
  if (trim !== undefined) return trim;
  trim = null;
  if (process.platform !== 'linux') return trim;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    trim = koffi.load('libc.so.6').func('int malloc_trim(size_t)') as (pad: number) => number;
  } catch (err) {
    // musl has no malloc_trim, and a platform without koffi's binary fails here: nothing to trim.
    log.info({ err: (err as Error).message }, 'native heap: malloc_trim is not reachable, freed C memory stays with the allocator');
  }
  return trim;
}

/** Hands the whole free pages of every malloc arena back to the kernel; true when any was released. */
export function releaseNativeHeap(): boolean {
  const f = load();
  return f ? f(0) === 1 : false;
}
