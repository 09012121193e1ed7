// One user's domain events from every shard's event log, for `user.export`: read in pages, so a
// long log holds no shard thread for long, and at most EXPORT_MAX_EVENTS of them.
import type { ShardPool } from '../shard-pool.js';
import type { UserEventsPage } from '../../workers/shard-messages.js';

const PAGE_ROWS = 2_000;
export const EXPORT_MAX_EVENTS = 5_000;

export async function userEvents(pool: ShardPool, userId: string): Promise<UserEventsPage['events']> {
  const out: UserEventsPage['events'] = [];
  for (let shard = 0; shard < pool.shards && out.length < EXPORT_MAX_EVENTS; shard++) {
    let afterG = 0;
    for (;;) {
      const page = await pool.askShard<UserEventsPage | undefined>(shard, (ask) => ({ t: 'user-events', ask, userId, afterG, limit: PAGE_ROWS }));
      if (!page) break;
      out.push(...page.events);
      if (page.done || out.length >= EXPORT_MAX_EVENTS) break;
      afterG = page.lastG;
    }
  }
  return out.slice(0, EXPORT_MAX_EVENTS);
}
