// The C heap (glibc malloc) under V8, SQLite and the message buffers between threads. glibc keeps
// what the threads free for their next allocations, and gives back only the free space at the
// top of each arena: a burst (a fill of a million carts) leaves its freed buffers and SQLite cache
// pages resident in the middle of per-thread arenas for good. `malloc_trim(0)` hands every whole
// free page of every arena back to the kernel; a quiet thread calls it after its collection
// (heap-trim.ts). It is reached through koffi (a maintained FFI with prebuilt binaries; nothing
// is compiled). Elsewhere (macOS, Windows, musl, or another allocator preloaded) it is a no-op.
import { createRequire } from 'node:module';
import { log } from '../log/log.js';

/** The fields read of glibc's `struct mallinfo2` (2.33+): byte totals over every arena. */
interface MallInfo2 {
  /** Bytes in chunks mapped on their own. */
  hblkhd: number;
  /** Bytes allocated and free in the arenas. */
  uordblks: number;
  fordblks: number;
}

interface Glibc {
  trim: (pad: number) => number;
  /** Null on a glibc older than 2.33. */
  info: (() => MallInfo2) | null;
}

let glibc: Glibc | null | undefined;

function load(): Glibc | null {
  if (glibc !== undefined) return glibc;
  glibc = null;
  if (process.platform !== 'linux') return glibc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const libc = koffi.load('libc.so.6');
    const trim = libc.func('int malloc_trim(size_t)') as (pad: number) => number;
    let info: Glibc['info'] = null;
    try {
      const fields = ['arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost'];
      const struct = koffi.struct('mallinfo2', Object.fromEntries(fields.map((f) => [f, 'size_t'])));
      info = libc.func('mallinfo2', struct, []) as () => MallInfo2;
    } catch {
      // glibc < 2.33: the figures are missing from /snapshot, trimming still works.
    }
    glibc = { trim, info };
  } catch (err) {
    // musl has no malloc_trim, and a platform without koffi's binary fails here: nothing to trim.
    log.info({ err: (err as Error).message }, 'native heap: malloc_trim is not reachable, freed C memory stays with the allocator');
  }
  return glibc;
}

/** Hands the whole free pages of every malloc arena back to the kernel; true when any was released. */
export function releaseNativeHeap(): boolean {
  const f = load();
  return f ? f.trim(0) === 1 : false;
}

/** What malloc holds for the whole process (every thread's arena). */
export interface NativeHeapStats {
  /** Live allocations: in arenas, and in chunks mapped on their own (large buffers). */
  inUseBytes: number;
  /** Free space inside the arenas (resident or not: malloc_trim gives pages back but keeps the range). */
  freeBytes: number;
  /** Of inUseBytes, the chunks mapped on their own. */
  mappedBytes: number;
}

/** malloc's totals, or null where glibc's mallinfo2 is not reachable. Walks every arena under its lock. */
export function nativeHeapStats(): NativeHeapStats | null {
  const info = load()?.info?.();
  if (!info) return null;
  return { inUseBytes: info.uordblks + info.hblkhd, freeBytes: info.fordblks, mappedBytes: info.hblkhd };
}
