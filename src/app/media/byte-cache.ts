// A least-recently-used cache of file bytes, bounded by their total size.

export class ByteCache {
  private readonly entries = new Map<string, Buffer>();
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: string): Buffer | undefined {
    const b = this.entries.get(key);
    if (b) {
      // Most recent last: Map keeps insertion order.
      this.entries.delete(key);
      this.entries.set(key, b);
    }
    return b;
  }

  set(key: string, bytes: Buffer): void {
    // A file larger than a quarter of the cache would push out too much: served from disk each time.
    if (bytes.length > this.maxBytes / 4) return;
    this.delete(key);
    this.entries.set(key, bytes);
    this.size += bytes.length;
    for (const [k, b] of this.entries) {
      if (this.size <= this.maxBytes) break;
      this.entries.delete(k);
      this.size -= b.length;
    }
  }

  delete(key: string): void {
    const b = this.entries.get(key);
    if (!b) return;
    this.entries.delete(key);
    this.size -= b.length;
  }
}
