// Serving-time scoring on the main thread: a user's (or a product's) candidates from the
// precomputed neighbours, blended, then the best few that pass the caller's filter. Works on
// dense ids only; RecsService maps strings and writes the reasons.
//
// Cost per call is the neighbourhood touched (history x k, or k users x their histories), a few
// thousand additions, never the catalog. Scratch arrays are allocated once per model and cleaned
// through the touched list, so a call allocates only its result.
import type { RecsModel } from '../../workers/recs/model.js';
import type { Neighbours } from '../../workers/recs/cosine-neighbours.js';
import { takeBest } from '../../workers/recs/top-k.js';

export type Component = 'itemknn' | 'userknn' | 'content' | 'rp3beta' | 'ease' | 'popularity';
export const COMPONENTS: readonly Component[] = ['itemknn', 'userknn', 'content', 'rp3beta', 'ease', 'popularity'];
/** The lanes spread from the history through an item neighbour list of the model. */
type ItemLane = 'itemknn' | 'content' | 'rp3beta' | 'ease';
const ITEM_LANES: readonly ItemLane[] = ['itemknn', 'content', 'rp3beta', 'ease'];
export type BlendWeights = Record<Component, number>;

export interface Scored {
  item: number;
  score: number;
  /** The component that contributed most, and how many contributed (> 1: a hybrid result). */
  top: Component | 'newest';
  contributors: number;
  /** The history item behind an item-lane result (itemknn, content, rp3beta, ease: for the reason), else -1. */
  source: number;
}

const LANE_NAMES: readonly Exclude<Component, 'popularity'>[] = ['itemknn', 'userknn', 'content', 'rp3beta', 'ease'];

/** One component's scores over the items, with the strongest single contribution per item. */
class Lane {
  readonly score: Float64Array;
  readonly best: Float64Array;
  readonly source: Int32Array;
  max = 0;
  constructor(items: number) {
    this.score = new Float64Array(items);
    this.best = new Float64Array(items);
    this.source = new Int32Array(items);
  }
}

export class Scorer {
  private readonly lanes: Record<Exclude<Component, 'popularity'>, Lane>;
  private readonly lists: Record<ItemLane, Neighbours | null>;
  private readonly blended: Float64Array;
  private readonly mark: Uint8Array; // 1 candidate, 2 seen (never a candidate)
  private readonly touched: Int32Array;
  private nTouched = 0;
  private readonly candidates: Int32Array;
  private readonly maxPop: number;

  constructor(readonly model: RecsModel) {
    const n = model.items;
    this.lanes = { itemknn: new Lane(n), userknn: new Lane(n), content: new Lane(n), rp3beta: new Lane(n), ease: new Lane(n) };
    this.lists = { itemknn: model.itemNeighbours, content: model.contentNeighbours, rp3beta: model.rp3Neighbours, ease: model.easeNeighbours };
    this.blended = new Float64Array(n);
    this.mark = new Uint8Array(n);
    this.touched = new Int32Array(n);
    this.candidates = new Int32Array(n);
    this.maxPop = model.popOrder.length > 0 ? model.popularity[model.popOrder[0]] : 0;
  }

  /** The user's interactions in the model (item ids and weights); empty for unknown users. */
  history(user: number): { idx: Int32Array; val: Float32Array } {
    const m = this.model.userItems;
    if (user < 0 || user >= m.rows) return { idx: new Int32Array(0), val: new Float32Array(0) };
    return { idx: m.idx.subarray(m.ptr[user], m.ptr[user + 1]), val: m.val.subarray(m.ptr[user], m.ptr[user + 1]) };
  }

  /**
   * Best `limit` unseen items for `user` by the blend `w` that `accept` takes. Items no component
   * reaches are not returned (the caller fills with popularity): a cold user gets [].
   */
  forUser(user: number, limit: number, w: BlendWeights, accept: (item: number) => boolean): Scored[] {
    const h = this.history(user);
    for (let p = 0; p < h.idx.length; p++) this.touch(h.idx[p], 2);
    for (const l of ITEM_LANES) if (w[l] > 0) this.spread(this.lanes[l], this.lists[l], h.idx, h.val);
    if (w.userknn > 0) this.fromUsers(user);
    return this.finish(limit, w, accept);
  }

  /** Best `limit` items like `item` (the item lanes' neighbours by the blend `w`). */
  similar(item: number, limit: number, w: BlendWeights, accept: (item: number) => boolean): Scored[] {
    if (item < 0 || item >= this.model.items) return [];
    this.touch(item, 2);
    const one = { idx: Int32Array.of(item), val: Float32Array.of(1) };
    for (const l of ITEM_LANES) if (w[l] > 0) this.spread(this.lanes[l], this.lists[l], one.idx, one.val);
    return this.finish(limit, { ...w, userknn: 0 }, accept);
  }

  /** Most popular items that `accept` takes (cold start, and the filler after the blend). */
  popular(limit: number, accept: (item: number) => boolean): Scored[] {
    const out: Scored[] = [];
    const { popOrder, popularity } = this.model;
    for (let r = 0; r < popOrder.length && out.length < limit; r++) {
      const i = popOrder[r];
      if (accept(i)) out.push({ item: i, score: popularity[i] / this.maxPop, top: 'popularity', contributors: 1, source: -1 });
    }
    return out;
  }

  /** Marks `i` seen (never a candidate). */
  private touch(i: number, how: 1 | 2): void {
    if (this.mark[i] === 0) this.touched[this.nTouched++] = i;
    this.mark[i] |= how;
  }

  /** lane[j] += r(i) * sim(i, j) over the neighbours j of each history item i. */
  private spread(lane: Lane, nb: Neighbours | null, items: Int32Array, weights: Float32Array): void {
    if (!nb) return;
    const { mark, touched } = this;
    const { score, best, source } = lane;
    let nt = this.nTouched;
    for (let p = 0; p < items.length; p++) {
      const i = items[p];
      if (i >= nb.rows) continue;
      const r = weights[p];
      for (let q = i * nb.k, end = q + nb.count[i]; q < end; q++) {
        const j = nb.idx[q];
        const c = r * nb.sim[q];
        // branch-free "first touch" bookkeeping, as in the build kernel
        touched[nt] = j;
        nt += mark[j] === 0 ? 1 : 0;
        mark[j] |= 1;
        score[j] += c;
        if (c > best[j]) {
          best[j] = c;
          source[j] = i;
        }
      }
    }
    this.nTouched = nt;
  }

  /** lane[j] += sim(u, v) * r(v, j) over the neighbour users v of u. */
  private fromUsers(user: number): void {
    const nb = this.model.userNeighbours;
    if (!nb || user < 0 || user >= nb.rows) return;
    const { mark, touched } = this;
    const score = this.lanes.userknn.score;
    const { ptr, idx, val } = this.model.userItems;
    let nt = this.nTouched;
    for (let q = user * nb.k, end = q + nb.count[user]; q < end; q++) {
      const v = nb.idx[q];
      const s = nb.sim[q];
      for (let p = ptr[v]; p < ptr[v + 1]; p++) {
        const j = idx[p];
        touched[nt] = j;
        nt += mark[j] === 0 ? 1 : 0;
        mark[j] |= 1;
        score[j] += s * val[p];
      }
    }
    this.nTouched = nt;
  }

  /** Blends the lanes (each scaled to max 1), picks the best, describes them, cleans up. */
  private finish(limit: number, w: BlendWeights, accept: (item: number) => boolean): Scored[] {
    const { lanes, blended, touched, mark, candidates, nTouched } = this;
    const names = LANE_NAMES;
    const scores = names.map((c) => lanes[c].score);
    const max = new Float64Array(names.length);
    for (let t = 0; t < nTouched; t++) {
      const j = touched[t];
      if (mark[j] !== 1) continue; // 1: reached and not seen
      for (let l = 0; l < scores.length; l++) if (scores[l][j] > max[l]) max[l] = scores[l][j];
    }
    // each lane scaled so its best candidate scores its weight
    const scale = { popularity: this.maxPop > 0 ? w.popularity / this.maxPop : 0 } as Record<Component, number>;
    names.forEach((c, l) => (scale[c] = max[l] > 0 ? w[c] / max[l] : 0));
    const factors = names.map((c) => scale[c]);
    const sP = scale.popularity;
    const pop = this.model.popularity;
    let nc = 0;
    for (let t = 0; t < nTouched; t++) {
      const j = touched[t];
      if (mark[j] !== 1) continue;
      let fromLanes = 0;
      for (let l = 0; l < scores.length; l++) fromLanes += factors[l] * scores[l][j];
      // only items a neighbour lane reached are candidates (popularity alone is the filler)
      if (fromLanes <= 0) continue;
      blended[j] = fromLanes + sP * pop[j];
      candidates[nc++] = j;
    }
    const picked = takeBest(blended, candidates, nc, limit, accept);
    const out = picked.map((j): Scored => {
      let top: Component = 'popularity';
      let best = -1;
      let contributors = 0;
      for (const c of COMPONENTS) {
        const v = scale[c] * (c === 'popularity' ? pop[j] : lanes[c].score[j]);
        if (v > 0) contributors++;
        if (v > best) [best, top] = [v, c];
      }
      const source = top !== 'popularity' && top !== 'userknn' ? lanes[top].source[j] : -1;
      return { item: j, score: blended[j], top, contributors, source };
    });
    this.clear();
    return out;
  }

  private clear(): void {
    const wipe = (a: Float64Array | Uint8Array) => {
      // a dense fill beats scattered writes once a good share of the items was touched
      if (this.nTouched * 8 > a.length) a.fill(0);
      else for (let t = 0; t < this.nTouched; t++) a[this.touched[t]] = 0;
    };
    for (const lane of Object.values(this.lanes)) {
      wipe(lane.score);
      wipe(lane.best);
    }
    wipe(this.blended);
    wipe(this.mark);
    this.nTouched = 0;
  }
}
