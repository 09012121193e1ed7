// Cluster mode's journal: one JetStream stream, a subject per partition. A shard's group commit
// appends each touched partition's rows as one message, stating the subject's last sequence it
// saw: a deposed owner (a paused process, a split) is refused by the server and must stop
// serving the partition (fencing). An answer leaves the shard only after the stream's ack, i.e.
// once the rows are stored on a quorum of the stream's replicas. A new owner reads the partition's
// messages after its local store's position and applies them before it serves.
import { connect, InvalidArgumentError, type NatsConnection } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
  type StoredMsg,
} from '@nats-io/jetstream';
import { Packr, Unpackr } from 'msgpackr';
import { PartitionSnapshots } from './partition-snapshots.js';
import { ConnectionDroppedError, ConnectionWatch, NODE_CONNECTION, payloadLimit } from './nats-streams.js';
import { wrongLastSequence } from './nats-errors.js';

export const JOURNAL_STREAM = 'CW_JOURNAL';
export const journalSubject = (p: number): string => `cw.j.${p}`;

/** One message of a partition: flat triples of actor key, actor seq and the encoded events. */
export interface PartitionMessage {
  rows: (string | number | Buffer)[];
  /** The subject sequence this message was appended after: a reader that finds another missed messages (purged behind a snapshot). */
  prev?: number;
}

/** Partition `p`'s messages after `after` were purged (a snapshot covers them): read the snapshot, then the rest. */
export class PurgedError extends Error {
  override name = 'PurgedError';
  constructor(
    readonly p: number,
    readonly after: number,
  ) {
    super(`partition ${p}: journal messages after ${after} were purged behind a snapshot`);
  }
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const MSG_ID = 'Nats-Msg-Id';
/** Windows of a catch-up read at once by gets, each of at least MIN_WINDOW stream sequences. */
const CATCH_UP_WINDOWS = 16;
const MIN_WINDOW = 256;
/** Messages a catch-up consumer delivers per pull. */
const CATCH_UP_BATCH = 1_000;
/** A catch-up pull that delivers nothing for this long has stalled (NATS unreachable, no leader): the takeover fails and is retried. */
const CATCH_UP_STALL_MS = 5_000;

/** A row's msgpack framing beyond its key's and events' bytes (a string, a number and a binary header). */
const ROW_OVERHEAD = 20;

/**
 * An append's outcome for one partition. Refused: `stored` says whether part of it was stored
 * before the refusal (a message too large for NATS is appended in several, one after another).
 */
export type AppendOutcome = { p: number; ok: true; seq: number } | { p: number; ok: false; fenced: boolean; stored: boolean; error: string };

/**
 * `rows` (flat triples) cut into runs whose messages stay within `limit` bytes, in order; each
 * run is a prefix of what is left, so any prefix of the runs is a state some smaller group could
 * have left. Undefined when one row alone is over the limit.
 */
export function splitRows(rows: PartitionMessage['rows'], limit: number): PartitionMessage['rows'][] | undefined {
  // The usual case, one message: measured without copying a row.
  let total = 0;
  for (let i = 0; i < rows.length; i += 3) total += (rows[i] as string).length * 3 + (rows[i + 2] as Buffer).length + ROW_OVERHEAD;
  if (total <= limit) return [rows];
  const runs: PartitionMessage['rows'][] = [];
  let run: PartitionMessage['rows'] = [];
  let size = 0;
  for (let i = 0; i < rows.length; i += 3) {
    const bytes = Buffer.byteLength(rows[i] as string) + (rows[i + 2] as Buffer).length + ROW_OVERHEAD;
    if (bytes > limit) return undefined;
    if (size + bytes > limit && run.length > 0) {
      runs.push(run);
      run = [];
      size = 0;
    }
    run.push(rows[i], rows[i + 1], rows[i + 2]);
    size += bytes;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

export class ReplicatedJournal {
  /** The subject sequence each owned partition's next append expects. */
  private readonly last = new Map<number, number>();
  private appends = 0;
  private closing = false;
  private snapshotStore: PartitionSnapshots | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    /** Names this writer's messages (node and process), for the dedup window and to recognise its own appends. */
    private readonly writer: string,
    private readonly watch: ConnectionWatch,
  ) {}

  static async open(servers: string[], writer: string): Promise<ReplicatedJournal> {
    const nc = await connect({ ...NODE_CONNECTION, servers, name: `cartwire-journal-${writer}` });
    return new ReplicatedJournal(nc, jetstream(nc), await jetstreamManager(nc), writer, new ConnectionWatch(nc, `journal ${writer}`));
  }

  /**
   * Reads partition `p`'s messages after sequence `after`, in order, handing each to `each`;
   * returns the partition's last sequence, which the next append expects.
   *
   * An ordered consumer filtered to the partition's subject delivers the tail in pulls of
   * CATCH_UP_BATCH messages. Creating it needs JetStream's meta leader; while there is none (a
   * NATS server died) the tail is read by gets from the stream's leader instead.
   */
  async catchUp(p: number, after: number, each: (seq: number, m: PartitionMessage) => void): Promise<number> {
    const subject = journalSubject(p);
    const lastMsg = await this.getMessage({ last_by_subj: subject });
    const end = lastMsg && lastMsg.seq > after ? lastMsg.seq : after;
    let seq = after;
    const apply = (m: { seq: number; data: Uint8Array }) => {
      const msg = unpackr.unpack(m.data) as PartitionMessage;
      if (msg.prev !== undefined && msg.prev !== seq) throw new PurgedError(p, seq);
      each(m.seq, msg);
      seq = m.seq;
    };
    if (end > after) {
      const consumer = await this.watch
        .guard(this.js.consumers.get(JOURNAL_STREAM, { filter_subjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }))
        .catch(() => undefined);
      if (consumer) await this.pull(p, consumer, end, apply, () => seq);
      else for (const m of await this.walkAll(subject, after, end)) apply(m);
    }
    this.last.set(p, seq);
    return seq;
  }

  /** Applies partition `p`'s messages from the consumer up to sequence `end`. */
  private async pull(p: number, consumer: Consumer, end: number, apply: (m: { seq: number; data: Uint8Array }) => void, at: () => number): Promise<void> {
    try {
      while (at() < end) {
        const batch = await consumer.fetch({ max_messages: CATCH_UP_BATCH, expires: 2_000 });
        // nats.js retries an ordered consumer's missed heartbeats without a limit: a pull that
        // stops delivering is ended here, so a takeover cannot hold its shard for ever. One
        // watchdog per pull, not a timer per message.
        let stalled = false;
        let lastAt = Date.now();
        const watchdog = setInterval(() => {
          if (Date.now() - lastAt < CATCH_UP_STALL_MS) return;
          stalled = true;
          batch.stop();
        }, CATCH_UP_STALL_MS / 5);
        let got = 0;
        try {
          for await (const m of batch) {
            got++;
            lastAt = Date.now();
            // Past `end` before reaching it: the messages up to `end` were purged (a snapshot covers them).
            if (m.seq > end) throw new PurgedError(p, at());
            apply(m);
            if (m.seq >= end) break;
          }
        } finally {
          clearInterval(watchdog);
        }
        if (stalled) throw new Error(`partition ${p}: the journal read stalled after ${at()} (the last message is ${end})`);
        // Messages up to `end` were stored: none delivered means they are gone.
        if (got === 0) throw new PurgedError(p, at());
      }
    } finally {
      void consumer.delete().catch(() => undefined);
    }
  }

  /**
   * The messages of `subject` in (after, end] by gets: the range is cut into windows walked at
   * once (the stream interleaves every partition, and a get by subject returns one message per
   * round trip).
   */
  private async walkAll(subject: string, after: number, end: number): Promise<{ seq: number; data: Uint8Array }[]> {
    const span = end - after;
    const windows = Math.max(1, Math.min(CATCH_UP_WINDOWS, Math.ceil(span / MIN_WINDOW)));
    const step = Math.ceil(span / windows);
    const walks: Promise<{ seq: number; data: Uint8Array }[]>[] = [];
    for (let from = after; from < end; from += step) walks.push(this.walk(subject, from, Math.min(end, from + step)));
    return (await Promise.all(walks)).flat();
  }

  /** The messages of `subject` with a sequence in (from, to]. */
  private async walk(subject: string, from: number, to: number): Promise<{ seq: number; data: Uint8Array }[]> {
    const out: { seq: number; data: Uint8Array }[] = [];
    for (let seq = from; ;) {
      // STREAM.MSG.GET with next_by_subj (served by the stream leader, so never behind the last
      // ack); the client types it for direct gets only, the server accepts it here too.
      const m = await this.getMessage({ seq: seq + 1, next_by_subj: subject } as unknown as MsgRequest);
      if (!m || m.seq > to) return out;
      out.push({ seq: m.seq, data: m.data });
      seq = m.seq;
    }
  }

  private getMessage(q: MsgRequest): Promise<StoredMsg | null> {
    return this.watch.guard(this.jsm.streams.getMessage(JOURNAL_STREAM, q));
  }

  /** The partition is not written from here any more. */
  forget(p: number): void {
    this.last.delete(p);
  }

  /**
   * Appends one message per partition, all at once, each fenced by the partition's last
   * sequence. A transient failure (a NATS server restarting, a lost connection) is retried with
   * the same message id, which JetStream deduplicates, until it is stored or refused.
   */
  async append(groups: Map<number, PartitionMessage>): Promise<AppendOutcome[]> {
    return Promise.all([...groups].map(([p, m]) => this.appendOne(p, m)));
  }

  private async appendOne(p: number, m: PartitionMessage): Promise<AppendOutcome> {
    if (!this.last.has(p)) return { p, ok: false, fenced: true, stored: false, error: `partition ${p} is not owned here` };
    // Within NATS's max_payload (1 MiB unless configured), less the message's own framing.
    const limit = payloadLimit(this.nc);
    const runs = splitRows(m.rows, limit - 64);
    if (!runs)
      return {
        p,
        ok: false,
        fenced: false,
        stored: false,
        error: `one actor's change is larger than a NATS message may be (max_payload: ${limit} bytes of payload)`,
      };
    let stored = false;
    for (const rows of runs) {
      const r = await this.appendMessage(p, rows);
      if (!r.ok) return { p, ...r, stored };
      stored = true;
    }
    return { p, ok: true, seq: this.last.get(p)! };
  }

  /** Appends one message of partition `p` after its last one; retried until stored or refused. */
  private async appendMessage(p: number, rows: PartitionMessage['rows']): Promise<{ ok: true } | { ok: false; fenced: boolean; error: string }> {
    const expected = this.last.get(p);
    if (expected === undefined) return { ok: false, fenced: true, error: `partition ${p} is not owned here` };
    const data = packr.pack({ rows, prev: expected } satisfies PartitionMessage);
    const msgID = `${this.writer}.${++this.appends}`;
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.watch.guard(this.js.publish(journalSubject(p), data, { expect: { lastSubjectSequence: expected }, msgID, timeout: 5_000 }));
        this.last.set(p, ack.seq);
        return { ok: true };
      } catch (err) {
        if (wrongLastSequence(err)) {
          // Ours after all (a retry past the dedup window), or another owner's: read the last one.
          const mine = await this.lastIsMine(p, msgID);
          if (mine !== undefined) {
            this.last.set(p, mine);
            return { ok: true };
          }
          this.last.delete(p);
          return { ok: false, fenced: true, error: `partition ${p} was appended to by another owner` };
        }
        if (this.closing) return { ok: false, fenced: false, error: 'the journal is closing' };
        // Refused before it was sent (over the server's max_payload): sending it again cannot help.
        if (err instanceof InvalidArgumentError) return { ok: false, fenced: false, error: err.message };
        // Not stored, or not known to be: retry the same message (deduplicated by its id), at
        // once when the connection dropped under it (the new one is up or buffering).
        if (err instanceof ConnectionDroppedError) continue;
        await new Promise((r) => setTimeout(r, Math.min(2_000, 50 * 2 ** Math.min(attempt, 6))));
      }
    }
  }

  /** The sequence of partition `p`'s last message when this writer's `msgID` wrote it. */
  private async lastIsMine(p: number, msgID: string): Promise<number | undefined> {
    for (;;) {
      try {
        const m = await this.getMessage({ last_by_subj: journalSubject(p) });
        return m?.header?.get(MSG_ID) === msgID ? m.seq : undefined;
      } catch (err) {
        if (this.closing) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /**
   * Removes partition `p`'s messages below `below` (a snapshot covers them). The message at
   * `below` stays: the next append is fenced on the subject's last sequence.
   */
  async trim(p: number, below: number): Promise<void> {
    await this.jsm.streams.purge(JOURNAL_STREAM, { filter: journalSubject(p), seq: below });
  }

  /** Snapshots of partitions, on the same connection. */
  snapshots(): PartitionSnapshots {
    return (this.snapshotStore ??= new PartitionSnapshots(this.js, this.jsm, this.watch, () => payloadLimit(this.nc)));
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.nc.drain().catch(() => this.nc.close());
  }
}
