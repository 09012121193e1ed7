// Questions a node asks every other live node and merges the answers of (order.list's pages, a
// user's events for user.export): each node answers from what it holds, naming itself, so the
// asker knows which of the nodes it expected answered. An answer that failed on its node says
// so at once instead of leaving the asker to wait.
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { Packr, Unpackr } from 'msgpackr';
import { log } from '../../log/log.js';
import { noResponders } from '../../persistence/nats-errors.js';
import { payloadLimit } from '../../persistence/nats-streams.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** One node's answer: its value, or `failed` when it could not make it. */
type Envelope<A> = { node: string; value: A } | { node: string; failed: true };

export interface Gathered<A> {
  values: A[];
  /** Nodes of the live list that did not answer in time, or whose answer failed. */
  missing: string[];
}

export class NodeQuestions {
  constructor(
    private readonly nc: NatsConnection,
    private readonly nodeId: string,
    /** The live nodes as the ownership rounds last saw them (this one included). */
    private readonly liveNodes: () => readonly string[],
  ) {}

  /**
   * Answers other nodes' questions on `subject` with `local(question)`; `parse` turns a request
   * into a question (undefined: not one, no answer).
   */
  answer<Q, A>(subject: string, parse: (m: Msg) => Q | undefined, local: (q: Q) => Promise<A>): void {
    const reply = (m: Msg, e: Envelope<A>) => {
      try {
        m.respond(packr.pack(e));
      } catch (err) {
        // A closing connection, or an answer over the server's payload limit: the asker sees this node missing.
        log.warn({ err }, `cluster: an answer on ${subject} could not be sent`);
      }
    };
    this.nc.subscribe(subject, {
      callback: (err, m) => {
        const q = err ? undefined : parse(m);
        if (q === undefined) return;
        local(q).then(
          (value) => reply(m, { node: this.nodeId, value }),
          (e: unknown) => {
            log.error({ err: e }, `cluster: an answer on ${subject} for another node failed`);
            reply(m, { node: this.nodeId, failed: true });
          },
        );
      },
    });
  }

  /** Asks every other live node on `subject`; waits up to `waitMs` for the ones it expects. */
  async ask<A>(subject: string, payload: Uint8Array | string, waitMs: number): Promise<Gathered<A>> {
    const expected = this.liveNodes().filter((n) => n !== this.nodeId);
    if (expected.length === 0) return { values: [], missing: [] };
    const answered = new Set<string>();
    const values: A[] = [];
    try {
      // A node that joined since the last round answers too: each answer counts once.
      const answers = await this.nc.requestMany(subject, payload, { maxWait: waitMs, strategy: 'count', maxMessages: expected.length });
      for await (const m of answers) {
        const e = unpackr.unpack(m.data) as Envelope<A>;
        // A failed answer leaves its node missing.
        if (!('value' in e) || answered.has(e.node)) continue;
        answered.add(e.node);
        values.push(e.value);
      }
    } catch (err) {
      if (!noResponders(err)) throw err;
    }
    return { values, missing: expected.filter((n) => !answered.has(n)) };
  }

  /** The largest answer a node should send (NATS refuses payloads above the server's limit), with room for the envelope. */
  get maxAnswerBytes(): number {
    return Math.floor(payloadLimit(this.nc) * 0.75);
  }
}
