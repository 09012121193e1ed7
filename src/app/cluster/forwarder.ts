// Requests for actors another node owns cross over NATS request/reply, batched per node per
// event-loop turn like the shard batches: one request carries every request for that node read in
// the turn, and its reply carries their encoded answer frames, which go to the client as they are.
import { TimeoutError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import { encodeError } from '../../protocol/frames.js';
import { outcomeIndex } from '../../protocol/errors.js';
import { appendRequest, readRequests } from '../../workers/request-codec.js';
import type { ShardRequest } from '../../workers/shard-messages.js';
import type { ReplySink } from '../../transport/dispatch.js';
import { log } from '../../log/log.js';
import { ConnectionDroppedError, payloadLimit, type ConnectionWatch } from '../../persistence/nats-streams.js';
import { noResponders } from '../../persistence/nats-errors.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
/** How long a forwarded batch may take before its requests are answered UNAVAILABLE. */
const FORWARD_TIMEOUT_MS = 10_000;
/** An answer's share of a reply beyond its frame (its end offset and outcome). */
const ANSWER_ROOM = 8;
const UNAVAILABLE = outcomeIndex('UNAVAILABLE');
export const rpcSubject = (nodeId: string): string => `cw.rpc.${Buffer.from(nodeId).toString('hex')}`;
/** Where an asker fetches the further pages of a node's answers. */
export const moreSubject = (nodeId: string): string => `cw.rpcmore.${Buffer.from(nodeId).toString('hex')}`;
/** Batches whose further pages a node keeps at once, their bytes, and for how long. */
const MAX_PAGED_BATCHES = 256;
const MAX_PAGED_BYTES = 64 * 1024 * 1024;
const PAGE_TTL_MS = 30_000;

interface Outgoing {
  flat: unknown[];
  ids: number[];
  sinks: ReplySink[];
  /** Each request's op, for the metrics. */
  tags: number[];
  /** When the turn's first request was queued (performance.now()): the others came in the same turn. */
  start: number;
}

/** A forwarded request was answered (by its owner, or UNAVAILABLE here): its op, seconds since it was queued, outcome. */
export type ForwardDone = (tag: number, seconds: number, outcome: number) => void;

/** A page of answers: the next requests' frames back to back; `more` names the rest when there is more. */
interface Reply {
  frames: Uint8Array;
  ends: number[];
  outcomes: Uint8Array;
  more?: string;
}

/** What the receiving node does with a forwarded request: its answer frame goes to `sink`. */
export type LocalSubmit = (key: string, id: number, cmd: ShardRequest['cmd'], sink: ReplySink) => void;

export class Forwarder {
  private readonly queues = new Map<string, Outgoing>();
  private scheduled = false;
  private sub: Subscription | undefined;
  private moreSub: Subscription | undefined;
  /** Pages of answers not yet fetched, by token (insertion order: the oldest first). */
  private readonly pages = new Map<string, { rest: Uint8Array[]; bytes: number; until: number }>();
  private pagedBytes = 0;
  /** Tokens are unique across restarts of this node: an asker holding an old one never gets another batch's answers. */
  private readonly tokenPrefix = randomBytes(8).toString('hex');
  private pageTokens = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly watch: ConnectionWatch,
    private readonly onDone: ForwardDone,
    private readonly timeoutMs = FORWARD_TIMEOUT_MS,
  ) {}

  /** Serves requests other nodes forward here. */
  listen(nodeId: string, submit: LocalSubmit): void {
    this.sub = this.nc.subscribe(rpcSubject(nodeId), { callback: (err, msg) => (err ? undefined : this.serve(msg, submit)) });
    this.moreSub = this.nc.subscribe(moreSubject(nodeId), { callback: (err, msg) => (err ? undefined : this.nextPage(msg)) });
  }

  /** Queues a request for `nodeId`; sent with the others of this turn. */
  forward(nodeId: string, key: string, id: number, cmd: ShardRequest['cmd'], sink: ReplySink, tag: number): void {
    let q = this.queues.get(nodeId);
    if (!q) this.queues.set(nodeId, (q = { flat: [], ids: [], sinks: [], tags: [], start: performance.now() }));
    appendRequest(q.flat, id, key, cmd);
    q.ids.push(id);
    q.sinks.push(sink);
    q.tags.push(tag);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    for (const [nodeId, q] of this.queues) void this.send(nodeId, q);
    this.queues.clear();
  };

  /** What one NATS message may carry. */
  private get limit(): number {
    return payloadLimit(this.nc);
  }

  private async send(nodeId: string, q: Outgoing): Promise<void> {
    const data = packr.pack({ flat: q.flat });
    if (data.length > this.limit) {
      // More than NATS takes in one message: in halves (each request is at most a frame).
      if (q.ids.length > 1) {
        await Promise.all(halves(q).map((h) => this.send(nodeId, h)));
        return;
      }
      return this.answerAll(q, `the request is too large to forward to node ${nodeId} (NATS max_payload); nothing was changed`, { retryAfterMs: 500 });
    }
    let reply: Reply;
    try {
      const m = await this.watch.guard(this.nc.request(rpcSubject(nodeId), data, { timeout: this.timeoutMs }));
      reply = unpackr.unpack(m.data) as Reply;
    } catch (err) {
      // No responder: the node is gone, nothing ran. Anything else (a timeout, the connection
      // dropped or closed with the request sent): it may have run; the answer is lost.
      const nobody = noResponders(err);
      const details = nobody ? { retryAfterMs: 500 } : { retryAfterMs: 500, applied: 'unknown' };
      const message = nobody
        ? `node ${nodeId} owning this actor is unreachable; nothing was changed`
        : err instanceof ConnectionDroppedError
          ? `the connection to NATS dropped before node ${nodeId} answered; the change may or may not have been made`
          : err instanceof TimeoutError
            ? `node ${nodeId} did not answer in time; the change may or may not have been made`
            : `the answer of node ${nodeId} was lost (${(err as Error).message}); the change may or may not have been made`;
      return this.answerAll(q, message, details);
    }
    // Answers too many for one message come in pages, each fetched after the one before.
    let done = this.deliver(q, 0, reply);
    while (reply.more !== undefined && done < q.ids.length) {
      try {
        const m = await this.watch.guard(this.nc.request(moreSubject(nodeId), reply.more, { timeout: this.timeoutMs }));
        reply = unpackr.unpack(m.data) as Reply;
      } catch (err) {
        const why = `the rest of node ${nodeId}'s answers was lost (${(err as Error).message}); the change may or may not have been made`;
        return this.answerAll(restOf(q, done), why, { retryAfterMs: 500, applied: 'unknown' });
      }
      done = this.deliver(q, done, reply);
    }
    // A page that never came (the asked node lost it: expired, or restarted): those requests ran there.
    if (done < q.ids.length) {
      this.answerAll(restOf(q, done), `node ${nodeId} no longer had the rest of its answers; the change may or may not have been made`, {
        retryAfterMs: 500,
        applied: 'unknown',
      });
    }
  }

  /** Hands a page of answers to the requests of `q` from `from` on; returns how many are answered. */
  private deliver(q: Outgoing, from: number, page: Reply): number {
    const dirty = new Set<ReplySink>();
    const seconds = (performance.now() - q.start) / 1000;
    let start = 0;
    const n = Math.min(page.outcomes.length, q.ids.length - from);
    for (let k = 0; k < n; k++) {
      const i = from + k;
      const end = page.ends[k];
      if (q.sinks[i].push(page.frames.subarray(start, end), q.ids[i], page.outcomes[k])) dirty.add(q.sinks[i]);
      start = end;
      this.onDone(q.tags[i], seconds, page.outcomes[k]);
    }
    for (const s of dirty) s.flush();
    return from + n;
  }

  /** Answers every request of `q` UNAVAILABLE with `message`. */
  private answerAll(q: Outgoing, message: string, details: Record<string, unknown>): void {
    const dirty = new Set<ReplySink>();
    for (let i = 0; i < q.ids.length; i++)
      if (q.sinks[i].push(encodeError(q.ids[i], 'UNAVAILABLE', message, details), q.ids[i], UNAVAILABLE)) dirty.add(q.sinks[i]);
    for (const s of dirty) s.flush();
    const seconds = (performance.now() - q.start) / 1000;
    for (let i = 0; i < q.ids.length; i++) this.onDone(q.tags[i], seconds, UNAVAILABLE);
  }

  /** Runs a forwarded batch here and answers once every request has its frame. */
  private serve(msg: Msg, submit: LocalSubmit): void {
    let reqs: ShardRequest[];
    try {
      reqs = readRequests((unpackr.unpack(msg.data) as { flat: unknown[] }).flat);
    } catch (err) {
      log.error({ err }, 'cluster: a forwarded batch could not be read');
      return;
    }
    const frames = new Array<Uint8Array>(reqs.length);
    const outcomes = new Uint8Array(reqs.length);
    let left = reqs.length;
    const finish = () => {
      const pages = pagesOf(frames, outcomes, reqs, this.limit);
      const token = pages.length > 1 ? `${this.tokenPrefix}.${++this.pageTokens}` : undefined;
      const packed = pages.map((page, i) => packr.pack(i < pages.length - 1 ? { ...page, more: token } : page));
      if (token !== undefined) this.keepPages(token, packed.slice(1));
      try {
        msg.respond(packed[0]);
      } catch (err) {
        // A closing connection: the asking node answers its requests "may have been made".
        log.warn({ err }, 'cluster: the answers to a forwarded batch could not be sent');
      }
    };
    if (left === 0) return finish();
    reqs.forEach((r, i) => {
      submit(r.key, r.id, r.cmd, {
        push: (frame, _id, outcome) => {
          frames[i] = frame;
          outcomes[i] = outcome;
          return true;
        },
        flush: () => {
          if (--left === 0) finish();
        },
      });
    });
  }

  /** Keeps the pages after the first of a batch's answers until the asker fetches them (bounded, and for PAGE_TTL_MS at most). */
  private keepPages(token: string, rest: Uint8Array[]): void {
    const now = Date.now();
    let bytes = 0;
    for (const page of rest) bytes += page.length;
    for (const [t, kept] of this.pages) {
      if (kept.until > now && this.pages.size < MAX_PAGED_BATCHES && this.pagedBytes + bytes <= MAX_PAGED_BYTES) break;
      this.dropPages(t, kept); // the oldest first: expired, or a bound is reached
    }
    this.pages.set(token, { rest, bytes, until: now + PAGE_TTL_MS });
    this.pagedBytes += bytes;
  }

  private dropPages(token: string, kept: { bytes: number }): void {
    this.pages.delete(token);
    this.pagedBytes -= kept.bytes;
  }

  /** An asker fetches the next page of a batch's answers. */
  private nextPage(msg: Msg): void {
    const token = msg.string();
    const kept = this.pages.get(token);
    const page = kept?.rest.shift();
    if (kept && page) {
      kept.bytes -= page.length;
      this.pagedBytes -= page.length;
      if (kept.rest.length === 0) this.dropPages(token, kept);
    }
    try {
      // Gone (expired, or this node restarted): an empty page, which the asker answers "may have been made".
      msg.respond(page ?? packr.pack({ frames: new Uint8Array(0), ends: [], outcomes: new Uint8Array(0) }));
    } catch (err) {
      log.warn({ err }, 'cluster: a page of answers could not be sent');
    }
  }

  close(): void {
    this.sub?.unsubscribe();
    this.moreSub?.unsubscribe();
  }
}

/** The requests of `q` from `from` on (for answering them; their flat layout is not kept). */
function restOf(q: Outgoing, from: number): Outgoing {
  return { ...q, flat: [], ids: q.ids.slice(from), sinks: q.sinks.slice(from), tags: q.tags.slice(from) };
}

/** `q` as two batches of about half its requests each, in order (rare: read back from its flat layout). */
function halves(q: Outgoing): Outgoing[] {
  const reqs = readRequests(q.flat);
  const mid = reqs.length >> 1;
  const part = (from: number, to: number): Outgoing => {
    const flat: unknown[] = [];
    for (let i = from; i < to; i++) appendRequest(flat, reqs[i].id, reqs[i].key, reqs[i].cmd);
    return { flat, ids: q.ids.slice(from, to), sinks: q.sinks.slice(from, to), tags: q.tags.slice(from, to), start: q.start };
  };
  return [part(0, mid), part(mid, reqs.length)];
}

/**
 * A batch's answers cut into pages of consecutive answers that each fit in one NATS message. An
 * answer that alone does not fit (a server whose max_payload is below a frame) is replaced by an
 * UNAVAILABLE that says the request ran (its answer, not its change, is what was lost).
 */
function pagesOf(frames: Uint8Array[], outcomes: Uint8Array, reqs: ShardRequest[], limit: number): Omit<Reply, 'more'>[] {
  const room = limit - 64;
  const pages: Omit<Reply, 'more'>[] = [];
  let from = 0;
  while (from < frames.length || pages.length === 0) {
    let size = 0;
    let to = from;
    for (; to < frames.length; to++) {
      if (frames[to].length + ANSWER_ROOM > room) {
        frames[to] = encodeError(
          reqs[to].id,
          'UNAVAILABLE',
          'the answer was too large to send back between nodes (NATS max_payload); the request ran: read the object again',
          {
            retryAfterMs: 0,
            applied: outcomes[to] === 0,
          },
        );
        outcomes[to] = UNAVAILABLE;
      }
      if (to > from && size + frames[to].length + ANSWER_ROOM > room) break;
      size += frames[to].length + ANSWER_ROOM;
    }
    const out = new Uint8Array(size - (to - from) * ANSWER_ROOM);
    const ends: number[] = [];
    let p = 0;
    for (let i = from; i < to; i++) {
      out.set(frames[i], p);
      p += frames[i].length;
      ends.push(p);
    }
    pages.push({ frames: out, ends, outcomes: from === 0 && to === frames.length ? outcomes : outcomes.slice(from, to) });
    from = to;
  }
  return pages;
}
