// Requests for actors another node owns cross over NATS request/reply, batched per node per
// event-loop turn like the shard batches: one request carries every request for that node read in
// the turn, and its reply carries their encoded answer frames, which go to the client as they are.
import { TimeoutError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { Packr, Unpackr } from 'msgpackr';
import { encodeError } from '../../protocol/frames.js';
import { outcomeIndex } from '../../protocol/errors.js';
import { appendRequest, readRequests } from '../../workers/request-codec.js';
import type { ShardRequest } from '../../workers/shard-messages.js';
import type { ReplySink } from '../../transport/dispatch.js';
import { log } from '../../log/log.js';
import { ConnectionDroppedError, type ConnectionWatch } from '../../persistence/nats-streams.js';
import { noResponders } from '../../persistence/nats-errors.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
/** How long a forwarded batch may take before its requests are answered UNAVAILABLE. */
const FORWARD_TIMEOUT_MS = 10_000;
/** Bytes of a NATS message kept free below max_payload for what frames it beside the payload. */
const PAYLOAD_ROOM = 1_024;
/** An answer's share of a reply beyond its frame (its end offset and outcome). */
const ANSWER_ROOM = 8;
const UNAVAILABLE = outcomeIndex('UNAVAILABLE');
export const rpcSubject = (nodeId: string): string => `cw.rpc.${Buffer.from(nodeId).toString('hex')}`;

interface Outgoing {
  flat: unknown[];
  /** Where each request starts in `flat`. */
  starts: number[];
  ids: number[];
  sinks: ReplySink[];
  /** Each request's op, for the metrics. */
  tags: number[];
  /** When the turn's first request was queued (performance.now()): the others came in the same turn. */
  start: number;
}

/** A forwarded request was answered (by its owner, or UNAVAILABLE here): its op, seconds since it was queued, outcome. */
export type ForwardDone = (tag: number, seconds: number, outcome: number) => void;

interface Reply {
  frames: Uint8Array;
  ends: number[];
  outcomes: Uint8Array;
}

/** What the receiving node does with a forwarded request: its answer frame goes to `sink`. */
export type LocalSubmit = (key: string, id: number, cmd: ShardRequest['cmd'], sink: ReplySink) => void;

export class Forwarder {
  private readonly queues = new Map<string, Outgoing>();
  private scheduled = false;
  private sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly watch: ConnectionWatch,
    private readonly onDone: ForwardDone,
    private readonly timeoutMs = FORWARD_TIMEOUT_MS,
  ) {}

  /** Serves requests other nodes forward here. */
  listen(nodeId: string, submit: LocalSubmit): void {
    this.sub = this.nc.subscribe(rpcSubject(nodeId), { callback: (err, msg) => (err ? undefined : this.serve(msg, submit)) });
  }

  /** Queues a request for `nodeId`; sent with the others of this turn. */
  forward(nodeId: string, key: string, id: number, cmd: ShardRequest['cmd'], sink: ReplySink, tag: number): void {
    let q = this.queues.get(nodeId);
    if (!q) this.queues.set(nodeId, (q = { flat: [], starts: [], ids: [], sinks: [], tags: [], start: performance.now() }));
    q.starts.push(q.flat.length);
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

  /** What one NATS message may carry (its server's max_payload, less room for the protocol). */
  private get limit(): number {
    return (this.nc.info?.max_payload ?? 1024 * 1024) - PAYLOAD_ROOM;
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
    const dirty = new Set<ReplySink>();
    const seconds = (performance.now() - q.start) / 1000;
    let start = 0;
    for (let i = 0; i < q.ids.length; i++) {
      const end = reply.ends[i];
      if (q.sinks[i].push(reply.frames.subarray(start, end), q.ids[i], reply.outcomes[i])) dirty.add(q.sinks[i]);
      start = end;
      this.onDone(q.tags[i], seconds, reply.outcomes[i]);
    }
    for (const s of dirty) s.flush();
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
      fitAnswers(frames, outcomes, reqs, this.limit);
      let size = 0;
      for (const f of frames) size += f.length;
      const out = new Uint8Array(size);
      const ends: number[] = [];
      let p = 0;
      for (const f of frames) {
        out.set(f, p);
        p += f.length;
        ends.push(p);
      }
      try {
        msg.respond(packr.pack({ frames: out, ends, outcomes }));
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

  close(): void {
    this.sub?.unsubscribe();
  }
}

/** `q` as two batches of about half its requests each, in order. */
function halves(q: Outgoing): Outgoing[] {
  const mid = q.ids.length >> 1;
  const cut = q.starts[mid];
  const part = (from: number, to: number, flatFrom: number, flatTo: number): Outgoing => ({
    flat: q.flat.slice(flatFrom, flatTo),
    starts: q.starts.slice(from, to).map((x) => x - flatFrom),
    ids: q.ids.slice(from, to),
    sinks: q.sinks.slice(from, to),
    tags: q.tags.slice(from, to),
    start: q.start,
  });
  return [part(0, mid, 0, cut), part(mid, q.ids.length, cut, q.flat.length)];
}

/**
 * Answers that would not fit in one NATS message together are replaced, largest first, by an
 * UNAVAILABLE that says the request ran (its answer, not its change, is what was lost).
 */
function fitAnswers(frames: Uint8Array[], outcomes: Uint8Array, reqs: ShardRequest[], limit: number): void {
  let size = 64;
  for (const f of frames) size += f.length + ANSWER_ROOM;
  if (size <= limit) return;
  const largest = frames.map((_, i) => i).sort((a, b) => frames[b].length - frames[a].length);
  for (const i of largest) {
    if (size <= limit) break;
    const f = encodeError(
      reqs[i].id,
      'UNAVAILABLE',
      'the answer was too large to send back between nodes (NATS max_payload); the request ran: read the object again',
      {
        retryAfterMs: 0,
        applied: outcomes[i] === 0,
      },
    );
    size += f.length - frames[i].length;
    frames[i] = f;
    outcomes[i] = UNAVAILABLE;
  }
}
