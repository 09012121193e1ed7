// audit.history and audit.stateAt (admin): the question goes to the shard that owns the actor,
// which reads its history table and journal between batches (workers/shard/audit-queries.ts).
// Cluster mode keeps the journal on JetStream, purged below partition snapshots: no history to
// answer from, so both ops answer BAD_REQUEST with `details: { reason: 'cluster' }`.
import type { OpArgs, Page } from '../../protocol/ops.js';
import type { AuditActor, AuditEntry, AuditState } from '../../protocol/types.js';
import { cartKey, couponKey, orderKey, skuKey, type ActorKey } from '../../protocol/keys.js';
import { UnavailableError, fail, type Answer } from '../../transport/dispatch.js';
import type { AuditPage, AuditStateAnswer } from '../../workers/shard-messages.js';
import type { ShardPool } from '../shard-pool.js';

const DEFAULT_PAGE = 50;

const KEY_OF: Readonly<Record<AuditActor, (key: string) => ActorKey>> = {
  inventory: skuKey,
  cart: cartKey,
  order: orderKey,
  coupon: couponKey,
};

export class AuditOps {
  constructor(
    private readonly pool: ShardPool,
    private readonly cluster: boolean,
  ) {}

  async history(a: OpArgs<'audit.history'>): Promise<Answer<Page<AuditEntry>>> {
    if (this.cluster) return notInCluster();
    let from: [number, number] = [0, 0];
    if (a.cursor !== undefined) {
      const c = decodeCursor(a.cursor);
      if (!c) return fail('BAD_REQUEST', 'args.cursor is not a cursor of audit.history');
      from = c;
    }
    const key = KEY_OF[a.actor](a.key);
    const limit = a.limit ?? DEFAULT_PAGE;
    return this.asked(async () => {
      const page = await this.pool.askShard<AuditPage>(this.pool.shardOf(key), (ask) => ({
        t: 'audit-history',
        ask,
        key,
        fromG: from[0],
        index: from[1],
        limit,
      }));
      return { ok: true, result: { items: page.items, nextCursor: page.next ? encodeCursor(page.next) : null } };
    });
  }

  async stateAt(a: OpArgs<'audit.stateAt'>): Promise<Answer<AuditState>> {
    if (this.cluster) return notInCluster();
    const key = KEY_OF[a.actor](a.key);
    return this.asked(async () => {
      const r = await this.pool.askShard<AuditStateAnswer>(this.pool.shardOf(key), (ask) => ({ t: 'audit-state', ask, key, at: a.at }));
      if (!r.ok) return fail(r.code, r.message, r.details);
      return { ok: true, result: { actor: a.actor, key: a.key, at: a.at, seq: r.seq, state: r.state } };
    });
  }

  private async asked<R>(run: () => Promise<Answer<R>>): Promise<Answer<R>> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof UnavailableError) return fail('UNAVAILABLE', "the actor's shard is restarting; retry", { retryAfterMs: err.retryAfterMs });
      throw err;
    }
  }
}

const notInCluster = () => fail('BAD_REQUEST', 'audit history is not kept in cluster mode', { reason: 'cluster' });

function encodeCursor([g, i]: [number, number]): string {
  return Buffer.from(`${g}.${i}`).toString('base64url');
}

function decodeCursor(cursor: string): [number, number] | undefined {
  const m = /^(\d{1,15})\.(\d{1,6})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}
