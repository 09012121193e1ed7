// Cluster mode's partition snapshots: the state of every actor of a partition at a position of
// its journal subject, stored in the CW_SNAPSHOTS stream so that a node taking the partition over
// reads the snapshot and only the journal messages after it; the journal is then purged below
// that position. Only plain stream requests are used (publish, get by subject, purge), which the
// oldest JetStream servers cartwire supports all answer.
//
// Layout: chunks of the snapshot under `cw.s.<p>.<pos>.<i>`, then its head under `cw.sh.<p>`
// ({ pos, chunks, bytes }). A head is written only over the head it read (expected last subject
// sequence) and only when its position is higher, so heads only move forward, whoever writes.
import { ensureStream, type ConnectionWatch } from './nats-streams.js';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { Packr, Unpackr } from 'msgpackr';
import { wrongLastSequence } from './nats-errors.js';

export const SNAPSHOT_STREAM = 'CW_SNAPSHOTS';
const chunkSubject = (p: number, pos: number, i: number): string => `cw.s.${p}.${pos}.${i}`;
const headSubject = (p: number): string => `cw.sh.${p}`;
/** Well under NATS's default 1 MiB payload limit. */
const CHUNK_BYTES = 256 * 1024;

/** One actor in a partition snapshot: its key, seq and snapshot-encoded state. */
export type SnapshotEntry = [key: string, seq: number, state: Buffer];

export interface SnapshotHead {
  /** The journal stream sequence the snapshot covers (the partition's messages up to it). */
  pos: number;
  chunks: number;
  bytes: number;
  /** The head message's own sequence (what the next head write expects). */
  headSeq: number;
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** A snapshot read while a newer one replaced it (its chunks purged): read the head again. */
export class SnapshotGoneError extends Error {
  override name = 'SnapshotGoneError';
}

export class PartitionSnapshots {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    /** A takeover's reads fail at once when the connection drops under them (retried on a later round). */
    private readonly watch: ConnectionWatch,
    /** The most bytes a message's payload may hold (the server's max_payload, less room for headers). */
    private readonly payloadLimit: () => number = () => CHUNK_BYTES,
  ) {}

  /** Creates the stream when it does not exist (one message per subject: a head keeps only its latest). */
  static ensureStream(jsm: JetStreamManager, replicas: number): Promise<void> {
    return ensureStream(jsm, {
      name: SNAPSHOT_STREAM,
      subjects: ['cw.s.>', 'cw.sh.>'],
      storage: 'file',
      num_replicas: replicas,
      max_msgs_per_subject: 1,
    });
  }

  /** The latest snapshot of partition `p`, or undefined when it has none. */
  async head(p: number): Promise<SnapshotHead | undefined> {
    const m = await this.watch.guard(this.jsm.streams.getMessage(SNAPSHOT_STREAM, { last_by_subj: headSubject(p) })).catch((err: unknown) => {
      if (/no message found|not found/i.test(String((err as Error).message))) return null;
      throw err;
    });
    if (!m) return undefined;
    const h = unpackr.unpack(m.data) as Omit<SnapshotHead, 'headSeq'>;
    return { ...h, headSeq: m.seq };
  }

  async read(p: number, head: SnapshotHead): Promise<SnapshotEntry[]> {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < head.chunks; i++) {
      const m = await this.watch.guard(this.jsm.streams.getMessage(SNAPSHOT_STREAM, { last_by_subj: chunkSubject(p, head.pos, i) }));
      if (!m) throw new SnapshotGoneError(`partition ${p}: chunk ${i} of the snapshot at ${head.pos} is missing`);
      parts.push(m.data);
    }
    const all = Buffer.concat(parts);
    if (all.length !== head.bytes)
      throw new SnapshotGoneError(`partition ${p}: the snapshot at ${head.pos} has ${all.length} bytes, its head says ${head.bytes}`);
    return unpackr.unpack(all) as SnapshotEntry[];
  }

  /**
   * Stores a snapshot of partition `p` at `pos`, makes it the head when it is newer than the
   * head `over` (read before the snapshot was built), then trims the journal below `pos` and
   * purges the previous snapshot. Resolves the new head, or undefined when another head won
   * (nothing of this one is kept).
   */
  async write(
    p: number,
    pos: number,
    entries: SnapshotEntry[],
    over: SnapshotHead | undefined,
    trimJournal: (p: number, below: number) => Promise<void>,
  ): Promise<SnapshotHead | undefined> {
    if (over && over.pos >= pos) return undefined;
    const bytes = packr.pack(entries);
    // Readers join the chunks whatever their size: smaller where the server takes less.
    const size = Math.min(CHUNK_BYTES, this.payloadLimit());
    const chunks = Math.max(1, Math.ceil(bytes.length / size));
    for (let i = 0; i < chunks; i++) await this.js.publish(chunkSubject(p, pos, i), bytes.subarray(i * size, (i + 1) * size));
    let headSeq: number;
    try {
      const ack = await this.js.publish(headSubject(p), packr.pack({ pos, chunks, bytes: bytes.length }), {
        expect: { lastSubjectSequence: over?.headSeq ?? 0 },
      });
      headSeq = ack.seq;
    } catch (err) {
      await this.purge(`cw.s.${p}.${pos}.>`);
      if (wrongLastSequence(err)) return undefined;
      throw err;
    }
    await trimJournal(p, pos);
    if (over) await this.purge(`cw.s.${p}.${over.pos}.>`);
    return { pos, chunks, bytes: bytes.length, headSeq };
  }

  private async purge(filter: string): Promise<void> {
    await this.jsm.streams.purge(SNAPSHOT_STREAM, { filter }).catch(() => undefined);
  }
}
