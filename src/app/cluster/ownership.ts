// Who owns each partition, through a JetStream KV bucket whose TTL is the lease: the owner writes
// its node id under `p<n>` with `create` (only if nobody holds it) and renews it with `update` on
// the revision it holds (compare-and-set). A node that stops renewing (killed, paused, cut off)
// loses its partitions when the key expires, and the next owner takes them. Each partition has a
// preferred owner among the live nodes (rendezvous hashing, so a join or a leave moves few
// partitions); an owner that is no longer preferred drains and hands the partition over, a few
// at a time.
import { stableHash } from '../../protocol/keys.js';
import type { NatsCluster } from './nats-cluster.js';
import { log } from '../../log/log.js';

export interface OwnershipEvents {
  /** Catch partition `p` up and serve it; rejects when that failed (the lease is then given up). */
  acquire(p: number): Promise<void>;
  /** Stop serving `p` after the requests in flight (a handover); the lease is given up after. */
  release(p: number): Promise<void>;
  /** `p` was taken by another node (lease lost, or fenced): stop serving it now. */
  lost(p: number, why: string): void;
}

type Held = { rev: number; state: 'acquiring' | 'serving' | 'releasing'; since: number };

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
  private round: Promise<void> | undefined;
  private stopped = false;
  /** When the partition table was last read in full (epoch ms). */
  lastRound = 0;

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
    const every = Math.max(100, Math.floor(this.c.config.leaseMs / 4));
    this.timer = setInterval(() => void this.tick(), every);
  }

  /** Whether this node serves partition `p` now. */
  serving(p: number): boolean {
    return this.held.get(p)?.state === 'serving';
  }

  /** The node to send a request for `p` to (this node when it serves it), or undefined while it has none. */
  ownerOf(p: number): string | undefined {
    return this.owners[p];
  }

  liveNodes(): readonly string[] {
    return this.live;
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
    await this.c.nodes.put(nodeKey(me), JSON.stringify({ nodeId: me, at: Date.now() }));
    const keys: string[] = [];
    for await (const k of await this.c.nodes.keys()) keys.push(k);
    this.live = keys.map(nodeIdOf).sort();
    if (!this.live.includes(me)) this.live.push(me);
    const entries = await Promise.all(this.owners.map((_, p) => this.c.owners.get(partitionKey(p))));
    let moves = 0;
    const work: Promise<void>[] = [];
    for (let p = 0; p < entries.length; p++) {
      const e = entries[p];
      const owner = e && e.operation === 'PUT' ? e.string() : undefined;
      this.owners[p] = owner;
      const held = this.held.get(p);
      const preferred = this.preferred(p);
      if (held) {
        if (owner !== me || e!.revision !== held.rev) {
          this.loseHeld(p, owner === undefined ? 'the lease expired before it was renewed' : `node ${owner} holds it now`);
        } else if (held.state === 'serving' && preferred !== me && moves < MOVES_PER_ROUND) {
          moves++;
          work.push(this.handOver(p, held));
        } else {
          work.push(this.renew(p, held));
        }
      } else if (preferred === me && (owner === undefined || owner === me)) {
        // Free, or held under this node's id by a process that is gone (a restart within the lease).
        work.push(this.take(p, owner === me ? e!.revision : undefined));
      }
    }
    await Promise.all(work);
    this.lastRound = Date.now();
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

  private async take(p: number, staleRev: number | undefined): Promise<void> {
    let rev: number;
    try {
      rev =
        staleRev === undefined ? await this.c.owners.create(partitionKey(p), this.nodeId) : await this.c.owners.update(partitionKey(p), this.nodeId, staleRev);
    } catch {
      return; // another node was faster
    }
    const held: Held = { rev, state: 'acquiring', since: Date.now() };
    this.held.set(p, held);
    this.owners[p] = this.nodeId;
    try {
      await this.events.acquire(p);
      if (this.held.get(p) === held) held.state = 'serving';
    } catch (err) {
      log.error({ err }, `cluster: partition ${p} could not be taken over`);
      if (this.held.get(p) === held) await this.giveUp(p, held);
    }
  }

  private async renew(p: number, held: Held): Promise<void> {
    try {
      held.rev = await this.c.owners.update(partitionKey(p), this.nodeId, held.rev);
    } catch (err) {
      if (/wrong last sequence/.test(String((err as Error).message))) this.loseHeld(p, 'another node took the lease');
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
    await this.round;
    await Promise.all([...this.held].map(([p, held]) => this.handOver(p, held).catch(() => undefined)));
    await this.c.nodes.delete(nodeKey(this.nodeId)).catch(() => undefined);
  }

  /** Called when the journal refused this node's append to `p`: it is not the owner any more. */
  fenced(p: number): void {
    this.loseHeld(p, 'the journal refused an append (another owner wrote to it)');
  }
}
