// One load connection, whatever is behind it: the raw ws + msgpackr client, the project SDK, or
// ioredis (the Redis peer). The drivers (drive.ts) only queue requests with their intended send
// time and flush; a channel sends, matches answers and reports each with its three instants.
import { Redis } from 'ioredis';
import { CartwireClient } from '../../src/client/index.js';
import { RawConn, type Reply, type Req } from './raw-client.js';
import { opSource, needsUser, userSkus, type Op, type WorkloadSpec } from './workloads.js';
import { STOCK_KEY, cartKey } from './redis-peer.js';

/** An answer: intended and actual send time, arrival time (performance.now() ms), error code if any, and the op when the channel tracks ops. */
export type AnswerFn = (intended: number, sent: number, now: number, errorCode: string | undefined, op?: string) => void;

export interface Channel {
  /** Queues one request meant to leave at `intended`; `flush` sends what is queued. */
  enqueue(intended: number): void;
  flush(): void;
  /** Requests sent and not answered. */
  readonly inFlight: number;
  onAnswer: AnswerFn;
  /** Called after each group of answers (one frame for raw, one answer otherwise) with their number. */
  onAnswered: (n: number) => void;
  readonly isOpen: boolean;
  close(): Promise<void>;
}

export type ClientKind = 'raw' | 'sdk';

export interface ChannelSpec extends WorkloadSpec {
  url: string;
  client: ClientKind;
  /** Redis peer: EVALSHA of this script instead of cartwire ops. */
  redisSha?: string;
  /** Report each answer's op (per-op latency of a mix; one more map entry per request). */
  trackOps?: boolean;
}

const noAnswer: AnswerFn = () => undefined;
const codeOf = (err: unknown): string => (err as { code?: string }).code ?? 'UNKNOWN';

/** Raw ws + msgpackr: what is queued leaves as one batch frame (256 requests at most per frame). */
export class RawChannel implements Channel {
  onAnswer = noAnswer;
  onAnswered: (n: number) => void = () => undefined;
  private readonly intendedAt = new Map<number, number>();
  private readonly sentAt = new Map<number, number>();
  private readonly opOf: Map<number, string> | undefined;
  private queue: Req[] = [];

  constructor(
    private readonly conn: RawConn,
    private readonly next: () => Op,
    trackOps = false,
  ) {
    if (trackOps) this.opOf = new Map();
    conn.onFrame = (replies: Reply[]) => {
      const now = performance.now();
      let n = 0;
      for (const r of replies) {
        if (typeof r.id !== 'number') continue; // a push, or a frame-level error
        const intended = this.intendedAt.get(r.id);
        if (intended === undefined) continue;
        this.intendedAt.delete(r.id);
        const sent = this.sentAt.get(r.id)!;
        this.sentAt.delete(r.id);
        let op: string | undefined;
        if (this.opOf) {
          op = this.opOf.get(r.id);
          this.opOf.delete(r.id);
        }
        this.onAnswer(intended, sent, now, r.ok ? undefined : (r.error?.code ?? 'UNKNOWN'), op);
        n++;
      }
      if (n > 0) this.onAnswered(n);
    };
  }

  get inFlight(): number {
    return this.intendedAt.size;
  }

  get isOpen(): boolean {
    return this.conn.open;
  }

  enqueue(intended: number): void {
    const o = this.next();
    const id = this.conn.nextId();
    this.intendedAt.set(id, intended);
    this.opOf?.set(id, o.op);
    // No `args: undefined`: msgpackr would encode it as an extension the server refuses.
    this.queue.push(o.args ? { id, op: o.op, args: o.args } : { id, op: o.op });
  }

  flush(): void {
    if (this.queue.length === 0) return;
    const now = performance.now();
    for (const q of this.queue) this.sentAt.set(q.id, now);
    for (let i = 0; i < this.queue.length; i += 256) this.conn.send(this.queue.length <= 256 ? this.queue : this.queue.slice(i, i + 256));
    this.queue = [];
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}

/** The SDK: one `call` per request (the SDK itself batches the calls of one tick into a frame). */
class SdkChannel implements Channel {
  onAnswer = noAnswer;
  onAnswered: (n: number) => void = () => undefined;
  inFlight = 0;
  private open = true;

  constructor(
    private readonly client: CartwireClient,
    private readonly next: () => Op,
    private readonly trackOps = false,
  ) {
    void client.whenClosed().then(() => (this.open = false));
  }

  get isOpen(): boolean {
    return this.open;
  }

  enqueue(intended: number): void {
    const o = this.next();
    const sent = performance.now();
    this.inFlight++;
    // Ops come from the workload by name: the SDK's per-op typing does not apply here.
    const client = this.client as unknown as { call(op: string, args: unknown): Promise<unknown> };
    client.call(o.op, o.args ?? {}).then(
      () => this.answered(intended, sent, undefined, o.op),
      (err: unknown) => this.answered(intended, sent, codeOf(err), o.op),
    );
  }

  private answered(intended: number, sent: number, code: string | undefined, op: string): void {
    this.inFlight--;
    this.onAnswer(intended, sent, performance.now(), code, this.trackOps ? op : undefined);
    this.onAnswered(1);
  }

  flush(): void {}

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * The Redis peer: EVALSHA of the cart script on this connection's own cart, the same add /
 * setQty sequence as the `cart` workload. ioredis auto-pipelining writes the commands of one
 * tick together, as the raw client batches its frame.
 */
class RedisChannel implements Channel {
  onAnswer = noAnswer;
  onAnswered: (n: number) => void = () => undefined;
  inFlight = 0;
  private k = 0;
  private readonly mine: string[];
  private readonly cart: string;

  constructor(
    private readonly redis: Redis,
    private readonly sha: string,
    spec: WorkloadSpec,
    connIndex: number,
  ) {
    this.mine = userSkus(spec, connIndex);
    this.cart = cartKey(connIndex);
  }

  get isOpen(): boolean {
    return this.redis.status === 'ready';
  }

  enqueue(intended: number): void {
    const k = this.k++;
    const sku = this.mine[(k >> 1) % this.mine.length];
    const sent = performance.now();
    this.inFlight++;
    this.redis.evalsha(this.sha, 2, STOCK_KEY, this.cart, (k & 1) === 0 ? 'add' : 'set', sku, 1).then(
      () => this.answered(intended, sent, undefined),
      (err: Error) => this.answered(intended, sent, /^[A-Z_]+/.exec(err.message)?.[0] ?? 'UNKNOWN'),
    );
  }

  private answered(intended: number, sent: number, code: string | undefined): void {
    this.inFlight--;
    this.onAnswer(intended, sent, performance.now(), code);
    this.onAnswered(1);
  }

  flush(): void {}

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Opens connection `connIndex` of a step, signed in as its own guest when the workload needs one. */
export async function openChannel(spec: ChannelSpec, connIndex: number): Promise<Channel> {
  if (spec.redisSha) {
    const url = new URL(spec.url);
    const redis = new Redis(Number(url.port), url.hostname, {
      enableAutoPipelining: true,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    redis.on('error', () => undefined); // failed commands reject on their own
    await redis.connect();
    return new RedisChannel(redis, spec.redisSha, spec, connIndex);
  }
  const next = opSource(spec, connIndex);
  if (spec.client === 'sdk') {
    const client = await CartwireClient.connect(spec.url, { timeoutMs: 30_000 });
    if (needsUser(spec.workload)) await client.call('auth.guest', {});
    return new SdkChannel(client, next, spec.trackOps);
  }
  const conn = await RawConn.open(spec.url);
  if (needsUser(spec.workload)) {
    const r = await conn.call('auth.guest');
    if (!r.ok) throw new Error(`auth.guest failed: ${JSON.stringify(r.error)}`);
  }
  return new RawChannel(conn, next, spec.trackOps);
}
