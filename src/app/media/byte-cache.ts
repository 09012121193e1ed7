// A least-recently-used cache of file bytes, bounded by their total size (lru-cache: a hit costs
// no map churn, where a Map's delete + set per hit slows every later lookup of a hot key).
import { LRUCache } from 'lru-cache';

export class ByteCache {
  private readonly entries: LRUCache<string, Buffer>;

  constructor(private readonly maxBytes: number) {
    this.entries = new LRUCache<string, Buffer>({ maxSize: Math.max(1, maxBytes), sizeCalculation: (b) => Math.max(1, b.length) });
  }

  get(key: string): Buffer | undefined {
    return this.entries.get(key);
  }

  set(key: string, bytes: Buffer): void {
    // A file larger than a quarter of the cache would push out too much: served from disk each time.
    if (bytes.length > this.maxBytes / 4) return;
    this.entries.set(key, bytes);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
