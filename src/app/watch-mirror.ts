// What the shards count only in memory, mirrored on the main thread: how many connections follow
// each actor key and each cross-shard topic, and whether the admin feed is on. A shard worker
// that restarts gets it back before its first batch, so no subscriber silently stops hearing.

export class WatchMirror {
  private readonly keys: Map<string, number>[];
  private readonly topics = new Map<string, number>();
  adminFeed = false;

  constructor(shards: number) {
    this.keys = Array.from({ length: shards }, () => new Map<string, number>());
  }

  add(shard: number, key: string, delta: number): void {
    bump(this.keys[shard], key, delta);
  }

  addTopic(topic: string, delta: number): void {
    bump(this.topics, topic, delta);
  }

  /** The counts a restarted shard must hold. */
  of(shard: number): { keys: [string, number][]; topics: [string, number][] } {
    return { keys: [...this.keys[shard]], topics: [...this.topics] };
  }
}

function bump(m: Map<string, number>, k: string, delta: number): void {
  const n = (m.get(k) ?? 0) + delta;
  if (n > 0) m.set(k, n);
  else m.delete(k);
}
