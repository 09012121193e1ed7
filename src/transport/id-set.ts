// The ids of one connection's requests in flight (a second request with one of them is
// BAD_REQUEST): has / add / delete / size, as a Set<number> offers, in two typed arrays. A Set
// rebuilt its hash table as ids came and went (an add per request, a delete per answer, a shrink
// when a flush emptied it), which was a steady source of garbage on the main thread; this table
// grows with the ids in flight (bounded by CONN_MAX_INFLIGHT) and keeps its size, except that an
// empty table past LARGE slots goes back to the small one.
const SMALL = 16;
const LARGE = 1024;

export class IdSet {
  size = 0;
  private keys = new Uint32Array(SMALL);
  private used = new Uint8Array(SMALL);
  private mask = SMALL - 1;

  /** Home slot of `id` (a multiplicative hash: client ids are often consecutive). */
  private home(id: number): number {
    const h = Math.imul(id, 0x9e3779b1);
    return (h ^ (h >>> 15)) & this.mask;
  }

  has(id: number): boolean {
    const { keys, used, mask } = this;
    for (let i = this.home(id); used[i] === 1; i = (i + 1) & mask) if (keys[i] === id) return true;
    return false;
  }

  /** Adds `id` (a uint32); nothing when it is there already. */
  add(id: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
    const { keys, used, mask } = this;
    let i = this.home(id);
    for (; used[i] === 1; i = (i + 1) & mask) if (keys[i] === id) return;
    used[i] = 1;
    keys[i] = id;
    this.size++;
  }

  /** Removes `id`; false when it was not there. */
  delete(id: number): boolean {
    const { keys, used, mask } = this;
    for (let i = this.home(id); used[i] === 1; i = (i + 1) & mask) {
      if (keys[i] !== id) continue;
      this.removeAt(i);
      if (--this.size === 0 && mask + 1 > LARGE) this.resize(SMALL);
      return true;
    }
    return false;
  }

  /** Linear probing without tombstones: the entries after a hole move back if their probe passes it. */
  private removeAt(hole: number): void {
    const { keys, used, mask } = this;
    let i = hole;
    for (let j = (i + 1) & mask; used[j] === 1; j = (j + 1) & mask) {
      const h = this.home(keys[j]);
      // The entry at j stays when its home slot lies cyclically in (i, j].
      if (i <= j ? i < h && h <= j : i < h || h <= j) continue;
      keys[i] = keys[j];
      i = j;
    }
    used[i] = 0;
  }

  private resize(slots: number): void {
    const { keys, used } = this;
    this.keys = new Uint32Array(slots);
    this.used = new Uint8Array(slots);
    this.mask = slots - 1;
    this.size = 0;
    for (let i = 0; i < used.length; i++) if (used[i] === 1) this.add(keys[i]);
  }
}
