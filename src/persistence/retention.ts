// Guest carts nobody will come back for: a guest has no account, so a guest cart untouched for
// GUEST_CART_RETENTION_DAYS is deleted (its snapshot; its journal rows went with a checkpoint long
// before). Orders and payments of guests are kept: they are the shop's books.
import type Database from 'better-sqlite3';

/** Guest ids are `g_<random>`: their cart keys sort between these two strings. */
const FROM = 'cart:g_';
const TO = 'cart:g`'; // the character after '_'

/** One look at the guest carts: the stale among them, and whether it reached the last one. */
export interface RetentionLook {
  stale: string[];
  wrapped: boolean;
}

/**
 * Walks the guest carts a bounded slice at a time (by key, from where the last look stopped), so a
 * shard holding a million of them never reads them all in one step (an unindexed `at < ?` over
 * the whole range did, once a minute, on the shard thread, through its page cache).
 */
export class GuestCartRetention {
  private readonly slice: Database.Statement<[string, string, number], [string, number]>;
  private readonly remove: Database.Statement<[string]>;
  /** The last key looked at; FROM again once a look reached the end of the range. */
  private after = FROM;

  constructor(private readonly db: Database.Database) {
    this.slice = db
      .prepare<[string, string, number], [string, number]>('SELECT actor, at FROM snapshots WHERE actor > ? AND actor < ? ORDER BY actor LIMIT ?')
      .raw();
    this.remove = db.prepare('DELETE FROM snapshots WHERE actor = ?');
  }

  /** The next `limit` guest carts (after the last look's), those whose last snapshot is older than `before` (epoch ms). */
  look(before: number, limit: number): RetentionLook {
    const rows = this.slice.all(this.after, TO, limit);
    const wrapped = rows.length < limit;
    this.after = wrapped ? FROM : rows[rows.length - 1][0];
    return { stale: rows.filter((r) => r[1] < before).map((r) => r[0]), wrapped };
  }

  /** Deletes these carts' snapshots in one transaction. */
  delete(actors: readonly string[]): void {
    this.db.transaction(() => {
      for (const a of actors) this.remove.run(a);
    })();
  }
}
