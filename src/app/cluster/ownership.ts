// Who owns each partition, through a JetStream KV bucket whose TTL is the lease: the owner writes
// its node id under `p<n>` with `create` (only if nobody holds it) and renews it with `update` on
// the revision it holds (compare-and-set). A node that stops renewing (killed, paused, cut off)
// loses its partitions when the key expires, and the next owner takes them. Each partition has a
// preferred owner among the live nodes (rendezvous hashing, so a join or a leave moves few
// partitions); an owner that is no longer preferred drains and hands the partition over, a few
// at a time.
import { stableHash } from '../../protocol/keys.js';
import { BUCKETS, type NatsCluster } from './nats-cluster.js';
import { log } from '../../log/log.js';
import { wrongLastSequence } from '../../persistence/nats-errors.js';

export interface OwnershipEvents {
  /** Catch partition `p` up and serve it, resolving with the journal messages read; rejects when that failed (the lease is then given up). */
  acquire(p: number): Promise<number>;
  /** `p` is served here, `seconds` after its lease was taken, with `read` journal messages caught up. */
  served(p: number, seconds: number, read: number): void;
  /** Stop serving `p` after the requests in flight (a handover); the lease is given up after. */
  release(p: number): Promise<void>;
  /** `p` was taken by another node (lease lost, or fenced): stop serving it now. */
  lost(p: number, why: string): void;
}

type Held = {
  rev: number;
  state: 'acquiring' | 'serving' | 'releasing';
  since: number;
  /** Epoch ms until which this node may answer for the partition without a newer renewal. */
  validUntil: number;
  /** The renewal in flight, which a handover waits for before it deletes the key on its revision. */
  renewing?: Promise<void>;
};

/**
 * Share of the lease an owner trusts after it sent a take or a renewal. The key expires at the
 * server LEASE_MS after it stored the write, which is later than the send: stopping at 3/4 of
 * the lease leaves the rest for the requests already routed to a shard, so a node whose renewals
 * stall (NATS unreachable, an overloaded machine) stops answering before another can take over.
 */
const TRUSTED_SHARE = 0.75;

/**
 * After another node's lease runs out unrenewed, the extra round that takes it comes this long
 * after the expiry the lease's server timestamp gives (NATS removes the key within a few ms of it).
 */
const EXPIRY_MARGIN_MS = 25;

/** Partitions a node hands over per renewal round (a join moves a few at a time, not all at once). */
const MOVES_PER_ROUND = 8;
const nodeKey = (nodeId: string): string => `n${Buffer.from(nodeId).toString('hex')}`;
const nodeIdOf = (key: string): string => Buffer.from(key.slice(1), 'hex').toString();
const partitionKey = (p: number): string => `p${p}`;

/** MurmurHash3's finalizer: FNV-1a alone barely separates keys that differ in one character. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class Ownership {
  /** Partition -> owner node id, as last read. */
  readonly owners: (string | undefined)[];
  private readonly held = new Map<number, Held>();
  private live: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The extra round due when a lease another node stopped renewing expires. */
  private expiryTimer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  /** Catch-ups started and not finished (start() waits for those of its first round). */
  private readonly catchingUp = new Set<Promise<void>>();
  private stopped = false;
  /** When the partition table was last read in full (epoch ms; 0 before the first round). */
  private lastRound = 0;

  constructor(
    private readonly c: NatsCluster,
    private readonly events: OwnershipEvents,
  ) {
    this.owners = new Array<string | undefined>(c.config.partitions).fill(undefined);
  }

  get nodeId(): string {
    return this.c.config.nodeId;
  }

  /** Joins: beats, reads the table and takes the free partitions it prefers; then renews periodically. */
  async start(): Promise<void> {
    await this.tick();
    // The partitions taken in the first round are served before the node says it is up.
    await Promise.all([...this.catchingUp]);
    this.timer = setInterval(() => void this.tick(), this.every);
  }

  /** Between two regular rounds (ms): renewals come every quarter of the lease. */
  private get every(): number {
    return Math.max(100, Math.floor(this.c.config.leaseMs / 4));
  }

  /** Whether this node serves partition `p` now: caught up, and its lease renewed recently enough. */
  serving(p: number): boolean {
    const h = this.held.get(p);
    return h !== undefined && h.state === 'serving' && Date.now() < h.validUntil;
  }

  /** The node to send a request for `p` to (this node when it serves it), or undefined while it has none. */
  ownerOf(p: number): string | undefined {
    return this.owners[p];
  }

  liveNodes(): readonly string[] {
    return this.live;
  }

  /** Milliseconds since the last full round (Infinity before the first). */
  get roundAgeMs(): number {
    return this.lastRound === 0 ? Infinity : Date.now() - this.lastRound;
  }

  /** How many partitions this node holds in each state (for the metrics). */
  heldByState(): { acquiring: number; serving: number; releasing: number } {
    const out = { acquiring: 0, serving: 0, releasing: 0 };
    for (const h of this.held.values()) out[h.state]++;
    return out;
  }

  /** For GET /cluster. */
  status(): { partition: number; owner: string | undefined; state?: string; heldForMs?: number }[] {
    const now = Date.now();
    return this.owners.map((owner, partition) => {
      const h = this.held.get(partition);
      return h ? { partition, owner, state: h.state, heldForMs: now - h.since } : { partition, owner };
    });
  }

  private tick(): Promise<void> {
    // One round at a time: a slow NATS must not pile rounds up.
    return (this.round ??= this.roundOnce()
      .catch((err: unknown) => log.error({ err }, 'cluster: ownership round failed'))
      .finally(() => (this.round = undefined)));
  }

  private async roundOnce(): Promise<void> {
    if (this.stopped) return;
    const me = this.nodeId;
    // The beats live in another stream than the leases: while it has no leader (a NATS server
    // died), the leases are still renewed, on the last known list of nodes.
    try {
      await this.c.watch.guard(this.c.nodes.put(nodeKey(me), JSON.stringify({ nodeId: me, at: Date.now() })));
      this.live = (await this.beatingNodes()).sort();
    } catch (err) {
      log.warn({ err }, 'cluster: the node beat failed; the leases are renewed on the last known nodes');
    }
    if (!this.live.includes(me)) this.live = [...this.live, me].sort();
    const entries = await Promise.all(this.owners.map((_, p) => this.c.watch.guard(this.c.owners.get(partitionKey(p)))));
    let moves = 0;
    const work: Promise<void>[] = [];
    /** The earliest expiry of another node's lease, from its server timestamp. */
    let firstExpiry = Infinity;
    for (let p = 0; p < entries.length; p++) {
      const e = entries[p];
      const owner = e && e.operation === 'PUT' ? e.string() : undefined;
      this.owners[p] = owner;
      if (owner !== undefined && owner !== me) firstExpiry = Math.min(firstExpiry, e!.created.getTime() + this.c.config.leaseMs);
      const held = this.held.get(p);
      const preferred = this.preferred(p);
      if (held) {
        // Only this node writes its own id: a newer revision under it is a renewal whose answer
        // was lost (a NATS server died mid-request), not a takeover. Adopt it rather than drop
        // the partition; a second process misconfigured with this id is still stopped by fencing.
        if (owner === me && e!.revision !== held.rev) held.rev = e!.revision;
        if (owner !== me) {
          this.loseHeld(p, owner === undefined ? 'the lease expired before it was renewed' : `node ${owner} holds it now`);
        } else if (held.state === 'serving' && preferred !== me && moves < MOVES_PER_ROUND) {
          moves++;
          // Not awaited: a drain must not hold up the renewals of every other partition.
          void this.handOver(p, held).catch(() => undefined);
          work.push(this.renew(p, held));
        } else {
          work.push(this.renew(p, held));
        }
      } else if (preferred === me && (owner === undefined || owner === me)) {
        // Free, or held under this node's id by a process that is gone (a restart within the lease).
        work.push(this.take(p, owner === me ? e!.revision : undefined));
      }
    }
    this.roundAtExpiry(firstExpiry);
    await Promise.all(work);
    this.lastRound = Date.now();
  }

  /**
   * A lease of another node that was not renewed for most of its term (its owner died, or is
   * paused or cut off) expires before the next regular round: one extra round right after its
   * expiry takes it then, rather than up to a round later. A live owner renews every round, so
   * its leases never come this close to expiring. The expiry is the key's server timestamp plus
   * the lease; with this node's clock behind the server's the round comes late by as much (never
   * later than the regular one), ahead of it the round finds the key still there.
   */
  private roundAtExpiry(expiry: number): void {
    const delay = expiry + EXPIRY_MARGIN_MS - Date.now();
    if (delay <= 0 || delay >= this.every || this.stopped) return;
    clearTimeout(this.expiryTimer);
    // A round still running read the key before it expired: the extra one follows it.
    this.expiryTimer = setTimeout(() => void (this.round ?? Promise.resolve()).then(() => this.tick()), delay);
  }

  /**
   * The nodes beating now. Listed from the bucket stream's subjects and read key by key: each a
   * request with a timeout. (The KV client's `keys()` runs a consumer that can wait forever when
   * the beats it counted expire before they are delivered, which would stall every later round.)
   */
  private async beatingNodes(): Promise<string[]> {
    const prefix = `$KV.${BUCKETS.nodes}.`;
    const info = await this.c.watch.guard(this.c.jsm.streams.info(`KV_${BUCKETS.nodes}`, { subjects_filter: `${prefix}>` }));
    const keys = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
    const entries = await Promise.all(keys.map((k) => this.c.watch.guard(this.c.nodes.get(k))));
    return entries.flatMap((e) => (e && e.operation === 'PUT' ? [nodeIdOf(e.key)] : []));
  }

  /** Rendezvous hashing: the live node with the highest score for `p`. */
  private preferred(p: number): string {
    let best = this.live[0];
    let bestScore = -1;
    for (const n of this.live) {
      const score = mix(stableHash(`${n}#${p}`));
      if (score > bestScore) [best, bestScore] = [n, score];
    }
    return best;
  }

  /** Takes the lease of `p`; the catch-up then runs on its own, while the rounds go on renewing. */
  private async take(p: number, staleRev: number | undefined): Promise<void> {
    let rev: number;
    const sent = Date.now();
    try {
      const key = partitionKey(p);
      rev = await this.c.watch.guard(staleRev === undefined ? this.c.owners.create(key, this.nodeId) : this.c.owners.update(key, this.nodeId, staleRev));
    } catch {
      return; // another node was faster
    }
    const held: Held = { rev, state: 'acquiring', since: Date.now(), validUntil: sent + this.trusted };
    this.held.set(p, held);
    this.owners[p] = this.nodeId;
    const job: Promise<void> = this.acquire(p, held).finally(() => this.catchingUp.delete(job));
    this.catchingUp.add(job);
  }

  private get trusted(): number {
    return this.c.config.leaseMs * TRUSTED_SHARE;
  }

  private async acquire(p: number, held: Held): Promise<void> {
    try {
      const read = await this.events.acquire(p);
      if (this.held.get(p) !== held) return;
      held.state = 'serving';
      this.events.served(p, (Date.now() - held.since) / 1000, read);
    } catch (err) {
      log.error({ err }, `cluster: partition ${p} could not be taken over`);
      if (this.held.get(p) === held) await this.giveUp(p, held);
    }
  }

  private renew(p: number, held: Held): Promise<void> {
    return (held.renewing ??= this.renewOnce(p, held).finally(() => (held.renewing = undefined)));
  }

  private async renewOnce(p: number, held: Held): Promise<void> {
    const sent = Date.now();
    try {
      held.rev = await this.c.watch.guard(this.c.owners.update(partitionKey(p), this.nodeId, held.rev));
      held.validUntil = sent + this.trusted;
    } catch (err) {
      if (wrongLastSequence(err)) this.loseHeld(p, 'another node took the lease');
      // Otherwise NATS is unreachable: the lease may run out; the journal's fencing protects the data.
    }
  }

  /** Drains `p` and gives its lease up for the preferred owner to take. */
  private async handOver(p: number, held: Held): Promise<void> {
    held.state = 'releasing';
    try {
      await this.events.release(p);
    } finally {
      await this.giveUp(p, held);
    }
  }

  private async giveUp(p: number, held: Held): Promise<void> {
    this.held.delete(p);
    if (this.owners[p] === this.nodeId) this.owners[p] = undefined;
    await held.renewing;
    try {
      await this.c.owners.delete(partitionKey(p), { previousSeq: held.rev });
    } catch {
      // someone holds it already, or it expired
    }
  }

  private loseHeld(p: number, why: string): void {
    if (!this.held.delete(p)) return;
    this.events.lost(p, why);
  }

  /** Leaves the cluster: hands every partition over (drained first), then stops beating. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.expiryTimer);
    await this.round;
    await Promise.all([...this.held].map(([p, held]) => this.handOver(p, held).catch(() => undefined)));
    await this.c.nodes.delete(nodeKey(this.nodeId)).catch(() => undefined);
  }

  /** `p` cannot be served here any more (the journal refused an append, its shard died): the lease is let go. */
  lose(p: number, why: string): void {
    const held = this.held.get(p);
    if (!held) return;
    this.loseHeld(p, why);
    // Deleted on its revision, so the preferred owner (maybe this node again) takes it at once.
    void this.c.owners.delete(partitionKey(p), { previousSeq: held.rev }).catch(() => undefined);
  }
}
