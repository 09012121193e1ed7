// Cluster mode's domain event log: every node appends the domain events of its commits to the
// CW_EVENTS stream (one message per group commit, as the local event log holds one row), hears
// the other nodes' as they are appended, and reads the whole stream at start. The stream is
// bounded by age and size; what it drops first is the oldest history.
import { ensureStream, payloadLimit } from '../../persistence/nats-streams.js';
import { log } from '../../log/log.js';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { DiscardPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Packr, Unpackr } from 'msgpackr';
import type { DomainEvent } from '../../actors/actor.js';

export const EVENT_STREAM = 'CW_EVENTS';
const eventSubject = (nodeId: string): string => `cw.ev.${Buffer.from(nodeId).toString('hex')}`;
/** Kept this long, and at most this much: the history recommendations are built from. */
const MAX_AGE_MS = 90 * 24 * 3600 * 1000;
const MAX_BYTES = 2 * 1024 ** 3;
/** Gets of the start-up read in flight at once (one message per get). */
const READ_AHEAD = 64;

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export class EventStream {
  private sub: Subscription | undefined;
  private failures = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly nodeId: string,
  ) {}

  static ensure(jsm: JetStreamManager, replicas: number): Promise<void> {
    return ensureStream(jsm, {
      name: EVENT_STREAM,
      subjects: ['cw.ev.>'],
      storage: 'file',
      num_replicas: replicas,
      max_age: MAX_AGE_MS * 1_000_000,
      max_bytes: MAX_BYTES,
      discard: DiscardPolicy.Old,
    });
  }

  /**
   * Appends the domain events of one of this node's commits. They are durable already (the
   * journal holds their commit): a failed append loses them from the other nodes' history only,
   * and is counted and logged, never retried in a loop.
   */
  append(events: readonly DomainEvent[]): void {
    if (events.length === 0) return;
    const data = packr.pack(events);
    // Within NATS's max_payload: a large commit's events go as several messages, in order.
    if (data.length > payloadLimit(this.nc) && events.length > 1) {
      const mid = events.length >> 1;
      this.append(events.slice(0, mid));
      this.append(events.slice(mid));
      return;
    }
    this.js.publish(eventSubject(this.nodeId), data).catch((err: unknown) => {
      if (this.failures++ % 1000 === 0) log.error({ err }, `cluster: domain events not appended to ${EVENT_STREAM} (${this.failures} so far)`);
    });
  }

  /** The other nodes' domain events, as they are appended (this node's own are not echoed back). */
  follow(each: (events: DomainEvent[]) => void): void {
    this.sub = this.nc.subscribe('cw.ev.>', {
      callback: (err, msg) => {
        if (err || msg.subject === eventSubject(this.nodeId)) return;
        each(unpackr.unpack(msg.data) as DomainEvent[]);
      },
    });
  }

  /** Every stored message, oldest first (the whole cluster's history): for the recommendation models at start. */
  async readAll(each: (events: DomainEvent[]) => void): Promise<number> {
    const info = await this.jsm.streams.info(EVENT_STREAM);
    const { first_seq: first, last_seq: last } = info.state;
    let n = 0;
    for (let from = first; from <= last && from > 0; from += READ_AHEAD) {
      const gets = [];
      for (let seq = from; seq < from + READ_AHEAD && seq <= last; seq++) gets.push(this.jsm.streams.getMessage(EVENT_STREAM, { seq }).catch(() => null));
      for (const m of await Promise.all(gets)) {
        if (!m) continue; // aged out meanwhile
        each(unpackr.unpack(m.data) as DomainEvent[]);
        n++;
      }
    }
    return n;
  }

  close(): void {
    this.sub?.unsubscribe();
  }
}
