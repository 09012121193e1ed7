// Keeps what a node derives from the accounts bucket in step with it: the key mirror its order
// renderers open address copies with, and any other listener (the recommendations' opt-out
// cache). Every node's writes arrive through the bucket's watch; this node's own are applied at
// once, so an answer that follows a write on this node already sees it.
import type { AccountChange, KvUserStore } from '../../persistence/kv-user-store.js';
import type { KeyMirror } from '../../persistence/key-mirror.js';
import { SealError, type MasterKeyring } from '../../persistence/sealing.js';
import type { UserRecord } from '../../persistence/user-store.js';
import { log } from '../../log/log.js';

export class AccountSync {
  private readonly listeners: AccountChange[] = [];
  private stopWatch: (() => void) | undefined;

  constructor(
    private readonly store: KvUserStore,
    private readonly keyring: MasterKeyring,
    private readonly mirror: KeyMirror,
  ) {}

  /** Also told of every account change (after the mirror). */
  listen(l: AccountChange): void {
    this.listeners.push(l);
  }

  /** Fills the mirror with every account of the bucket, then follows the changes. */
  async start(): Promise<void> {
    this.store.onWrite = this.apply;
    this.mirror.beginBulk();
    try {
      const w = await this.store.watch(this.apply);
      this.stopWatch = w.stop;
      await w.ready;
    } finally {
      this.mirror.endBulk();
    }
  }

  private readonly apply = (userId: string, record: UserRecord | undefined): void => {
    this.mirrorKey(userId, record);
    for (const l of this.listeners) l(userId, record);
  };

  private mirrorKey(userId: string, record: UserRecord | undefined): void {
    if (!record || record.wrappedKey === null) return this.mirror.drop(userId);
    try {
      this.mirror.put(userId, this.keyring.unwrap(record.wrappedKey, userId));
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      // A master key this node was not given (MASTER_KEY differs between nodes, or a rotation it missed).
      log.warn(`cluster: the data key of account ${userId} does not unwrap here (${err.message}); its orders show no address on this node`);
      this.mirror.drop(userId);
    }
  }

  stop(): void {
    this.stopWatch?.();
    this.store.onWrite = () => undefined;
  }
}
