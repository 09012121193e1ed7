// Retention of guest account rows. A guest gets a row once it keeps something (an address, a
// payment method, a checkout, a logout); guests who never sign up would pile them up for ever.
// The sweep removes guest rows unchanged for GUEST_RETENTION_DAYS that have no order: a guest
// with an order keeps its row, whose data key opens the address copy of that order (the row is
// marked as looked at, so it comes up again only one retention later). Runs at
// start and then periodically, a bounded batch per pass, each removal compare-and-set on the row
// as read (a guest writing meanwhile keeps its row). In a cluster one node sweeps at a time (the
// one `sweeps` names), so two nodes never chase the same rows of the shared bucket.
import type { UserStore } from '../../persistence/user-store.js';
import { log } from '../../log/log.js';

/** Rows examined per pass at most. */
const BATCH = 500;
const MIN_INTERVAL_MS = 1_000;
const MAX_INTERVAL_MS = 3_600_000;

export interface GuestRetentionDeps {
  store: UserStore;
  /** Rows unchanged this long go (ms); 0 keeps them. */
  retentionMs: number;
  /** Tokens live this long: a row (and its token generation) is kept at least as long. */
  tokenTtlMs: number;
  /** Whether the guest has at least one order. */
  hasOrder(userId: string): Promise<boolean>;
  /** Whether this process sweeps now (a cluster node: while it serves the sweeping partition); always when absent. */
  sweeps?: () => boolean;
}

export class GuestRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly d: GuestRetentionDeps) {}

  /** Sweeps now and then every quarter of the retention (between 1 s and 1 h). */
  start(): void {
    if (this.d.retentionMs <= 0) return;
    const every = Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Math.round(this.d.retentionMs / 4)));
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.sweep()
        .catch((err: unknown) => log.warn({ err }, 'guest retention: a sweep failed (retried at the next one)'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, every).unref();
        });
    };
    tick();
  }

  /** One pass: the number of guest rows removed (none by a cluster node that does not sweep now). */
  async sweep(now = Date.now()): Promise<number> {
    if (this.d.sweeps && !this.d.sweeps()) return 0;
    const before = now - Math.max(this.d.retentionMs, this.d.tokenTtlMs);
    let removed = 0;
    let kept = 0;
    const idle = await this.d.store.idleGuests(before, BATCH);
    for (const u of idle) {
      if (this.stopped) break;
      if (await this.d.hasOrder(u.id)) {
        // Kept, and looked at again one retention later: the next passes reach the others.
        if ((await this.d.store.update(u, { ...u, updatedAt: now })) === 'ok') kept++;
      } else if (await this.d.store.removeGuest(u)) removed++;
    }
    // One line per pass (at most every few seconds, hourly for a retention of days): which node swept, and what.
    log.info(`guest retention: swept ${idle.length} idle guest accounts, removed ${removed}, kept ${kept} with orders`);
    return removed;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
