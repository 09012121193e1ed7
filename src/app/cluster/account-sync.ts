// Keeps what a node derives from the accounts buckets in step with them: the key mirror its order
// renderers open address copies with (from the data key bucket), the index its account listings
// and guest sweeps page through, and any other listener of the account rows (the
// recommendations' opt-out cache). Every node's writes arrive through the
// buckets' watches; this node's own are applied at once, so an answer that follows a write on
// this node already sees it.
import type { AccountChange, KvUserStore } from '../../persistence/kv-user-store.js';
import type { KeyMirror } from '../../persistence/key-mirror.js';
import { SealError, type MasterKeyring } from '../../persistence/sealing.js';
import { log } from '../../log/log.js';

export class AccountSync {
  private readonly listeners: AccountChange[] = [];
  private readonly stops: (() => void)[] = [];

  constructor(
    private readonly store: KvUserStore,
    private readonly keyring: MasterKeyring,
    private readonly mirror: KeyMirror,
  ) {}

  /** Also told of every account change. */
  listen(l: AccountChange): void {
    this.listeners.push(l);
  }

  /** Fills the mirror with every data key of the bucket, then follows the changes of keys and rows. */
  async start(): Promise<void> {
    this.store.onWrite = this.applyRow;
    this.store.onKey = this.mirrorKey;
    this.mirror.beginBulk();
    try {
      const keys = await this.store.watchKeys(this.mirrorKey);
      this.stops.push(keys.stop);
      const rows = await this.store.watch(this.applyRow);
      this.stops.push(rows.stop);
      await Promise.all([keys.ready, rows.ready]);
    } finally {
      this.mirror.endBulk();
    }
    // Every account there at the start is indexed: listings and sweeps read the index from now on.
    this.store.index = this.mirror.index;
  }

  private readonly applyRow: AccountChange = (userId, account) => {
    if (account) this.mirror.index.put(account);
    else this.mirror.index.drop(userId);
    for (const l of this.listeners) l(userId, account);
  };

  private readonly mirrorKey = (userId: string, wrappedKey: string | undefined): void => {
    if (wrappedKey === undefined) return this.mirror.drop(userId);
    try {
      this.mirror.put(userId, this.keyring.unwrap(wrappedKey, userId));
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      // A master key this node was not given (MASTER_KEY differs between nodes, or a rotation it missed).
      log.warn(`cluster: the data key of account ${userId} does not unwrap here (${err.message}); its orders show no address on this node`);
      this.mirror.drop(userId);
    }
  };

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
    this.store.onWrite = () => undefined;
    this.store.index = undefined;
    this.store.onKey = () => undefined;
  }
}
