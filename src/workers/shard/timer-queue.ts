// Durable per-actor timers of one shard: the due time per actor key (persisted in the `timers`
// table by the group commit) and a min-heap to find the next one. Stale heap entries are skipped
// lazily instead of being removed.

export class TimerQueue {
  private readonly due = new Map<string, number>();
  private readonly heap: { at: number; key: string }[] = [];

  get size(): number {
    return this.due.size;
  }

  /** Every actor key with a timer. */
  keys(): string[] {
    return [...this.due.keys()];
  }

  dueOf(key: string): number | undefined {
    return this.due.get(key);
  }

  set(key: string, at: number | undefined): void {
    if (at === undefined) {
      this.due.delete(key);
      return;
    }
    this.due.set(key, at);
    this.push({ at, key });
  }

  /** Earliest live due time, or undefined when no timer is set. */
  peek(): number | undefined {
    this.dropStale();
    return this.heap.length ? this.heap[0].at : undefined;
  }

  /** Removes and returns the timers due at or before `now` (each once). */
  takeDue(now: number): { key: string; at: number }[] {
    const taken: { key: string; at: number }[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.at > now) return taken;
      this.pop();
      this.due.delete(top.key);
      taken.push(top);
    }
  }

  private dropStale(): void {
    while (this.heap.length && this.due.get(this.heap[0].key) !== this.heap[0].at) this.pop();
  }

  private push(item: { at: number; key: string }): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].at <= h[i].at) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (!h.length) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].at < h[m].at) m = l;
      if (r < h.length && h[r].at < h[m].at) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
}
