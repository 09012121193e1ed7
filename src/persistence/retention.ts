// Guest carts nobody will come back for: a guest has no account, so a guest cart untouched for
// GUEST_CART_RETENTION_DAYS is deleted (its snapshot; its journal rows went with a checkpoint long
// before). Orders and payments of guests are kept: they are the shop's books.
import type Database from 'better-sqlite3';

/** Guest ids are `g_<random>`: their cart keys sort between these two strings. */
const FROM = 'cart:g_';
const TO = 'cart:g`'; // the character after '_'

export class GuestCartRetention {
  private readonly candidates: Database.Statement<[string, string, number, number], { actor: string }>;
  private readonly remove: Database.Statement<[string]>;

  constructor(private readonly db: Database.Database) {
    this.candidates = db.prepare('SELECT actor FROM snapshots WHERE actor > ? AND actor < ? AND at < ? LIMIT ?');
    this.remove = db.prepare('DELETE FROM snapshots WHERE actor = ?');
  }

  /** Up to `limit` guest carts whose last snapshot is older than `before` (epoch ms). */
  stale(before: number, limit: number): string[] {
    return this.candidates.all(FROM, TO, before, limit).map((r) => r.actor);
  }

  /** Deletes these carts' snapshots in one transaction. */
  delete(actors: readonly string[]): void {
    this.db.transaction(() => {
      for (const a of actors) this.remove.run(a);
    })();
  }
}
