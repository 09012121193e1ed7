// Accounts in cluster mode: a JetStream KV bucket shared by every node, so a user registered
// through one node signs in through any other. The account is `u<hex id>` (its KV revision is
// the compare-and-set of every write); `e<email hash>` and `n<username hash>` point at it and are
// made with `create`, which only succeeds for a key that does not exist: emails and usernames
// stay unique across nodes racing to claim the same one. The hashes are keyed (sealing.ts), so
// the bucket holds no email in the clear. The account's wrapped data key is not in its entry but
// in the data key bucket (kv-data-keys.ts): the bucket keeps one revision per key and drops the
// replaced ones without overwriting them, so a key inside the account would stay in the stream's
// files after every profile change; erasure instead erases every revision of the key entry.
import type { KV } from '@nats-io/kv';
import type { LegacyUser, UpdateOutcome, UserRecord, UserStore } from './user-store.js';
import { sealedKeyId, type MasterKeyring } from './sealing.js';
import { KvDataKeys, allKeys, taken, watchBucket, type ErasableKv, type KeyChange } from './kv-data-keys.js';
import { claim, emailKey, nameKey, parseAccount, secretKey, toStored, userIdOf, userKey, viewOf, type AccountView } from './kv-account-entries.js';
import { KvLayouts } from './kv-account-layouts.js';
import type { AccountIndex } from './account-index.js';

export type { AccountView };

const REWRAP_RETRIES = 20;
/** Account rows read at once for a page (each read is a request to NATS). */
const ROW_READS_AT_ONCE = 16;

interface Stored {
  record: UserRecord;
  revision: number;
  /** An entry of the second layout, with the data key inside. */
  carrying: boolean;
}

/** Every change of an account row (`undefined`: the row is gone). */
export type AccountChange = (userId: string, account: AccountView | undefined) => void;

export class KvUserStore implements UserStore {
  /** Told of this node's own writes at once (the bucket's watch tells of them later). */
  onWrite: AccountChange = () => undefined;
  /** Told of this node's own data key writes and erasures at once. */
  onKey: KeyChange = () => undefined;
  /** This node's index of the bucket's accounts, which listings and guest sweeps page through. */
  index: AccountIndex | undefined;
  private readonly kv: KV;
  private readonly keys: KvDataKeys;
  private readonly layouts: KvLayouts;

  /** `users`: the accounts bucket; `keys`: the data key bucket; each with its stream's secure erase. */
  constructor(users: ErasableKv, keys: ErasableKv) {
    this.kv = users.kv;
    this.keys = new KvDataKeys(keys);
    this.layouts = new KvLayouts(users, this.keys, { row: (id, v) => this.onWrite(id, v), key: (id, w) => this.onKey(id, w) });
  }

  private async read(id: string): Promise<Stored | undefined> {
    const [e, wrapped] = await Promise.all([this.kv.get(userKey(id)), this.keys.get(id)]);
    if (!e || e.operation !== 'PUT') return undefined;
    const p = parseAccount(e.json<unknown>());
    if (!p) return undefined;
    if ('carrying' in p) return { record: p.carrying, revision: e.revision, carrying: true };
    const { dataKey, ...rest } = p.account;
    return { record: { ...rest, wrappedKey: dataKey === null ? null : (wrapped ?? null) }, revision: e.revision, carrying: false };
  }

  /**
   * Follows every account row of the bucket: first each row as it is, then every change by any
   * node. `ready` resolves once the rows that were there at the start have been seen.
   */
  watch(each: AccountChange): Promise<{ ready: Promise<void>; stop: () => void }> {
    return watchBucket(this.kv, (e) => {
      const id = userIdOf(e.key);
      if (id !== undefined) each(id, e.operation === 'PUT' ? viewOf(e.json<unknown>()) : undefined);
    });
  }

  /** Follows every account's wrapped data key, as watch() does the rows. */
  watchKeys(each: KeyChange): Promise<{ ready: Promise<void>; stop: () => void }> {
    return this.keys.watch(each);
  }

  async get(id: string): Promise<UserRecord | undefined> {
    return (await this.read(id))?.record;
  }

  async findByEmailHash(emailHash: string): Promise<UserRecord | undefined> {
    const e = await this.kv.get(emailKey(emailHash));
    return e && e.operation === 'PUT' ? this.get(e.string()) : undefined;
  }

  async findByUsernameHash(usernameHash: string): Promise<UserRecord | undefined> {
    const e = await this.kv.get(nameKey(usernameHash));
    return e && e.operation === 'PUT' ? this.get(e.string()) : undefined;
  }

  async tryInsert(user: UserRecord): Promise<boolean> {
    if (user.emailHash !== null && !(await claim(this.kv, emailKey(user.emailHash), user.id))) return false;
    const unclaim = async (): Promise<false> => {
      if (user.emailHash !== null) await this.kv.delete(emailKey(user.emailHash));
      if (user.usernameHash !== null) await this.kv.delete(nameKey(user.usernameHash));
      return false;
    };
    if (user.usernameHash !== null && !(await claim(this.kv, nameKey(user.usernameHash), user.id))) {
      if (user.emailHash !== null) await this.kv.delete(emailKey(user.emailHash));
      return false;
    }
    // The key first: an account entry never names a key that is not stored. Another key there
    // is a concurrent first write of the same user (a guest's two devices), which wins.
    const made = user.wrappedKey === null ? 'same' : await this.keys.create(user.id, user.wrappedKey);
    if (made === 'taken') return unclaim();
    try {
      await this.kv.create(userKey(user.id), JSON.stringify(toStored(user)));
    } catch (err) {
      if (!taken(err)) throw err;
      if (made === 'created') await this.keys.shred(user.id);
      return false;
    }
    if (user.wrappedKey !== null) this.onKey(user.id, user.wrappedKey);
    this.onWrite(user.id, user);
    return true;
  }

  /**
   * A write that takes the data key away (erasure) shreds the key entry first: once it resolves,
   * no revision of the key is left in the stream's files, whatever happens to the row's write.
   */
  async update(before: UserRecord, after: UserRecord): Promise<UpdateOutcome> {
    const now = await this.read(before.id);
    if (!now) return 'stale';
    if (now.carrying) {
      // Written by a node of the second layout: its key moves out first, then the caller reads again.
      await this.layouts.moveKeyOut(now.record, now.revision);
      return 'stale';
    }
    if (now.record.version !== before.version) return 'stale';
    const newName = after.usernameHash !== null && after.usernameHash !== before.usernameHash;
    if (newName && !(await claim(this.kv, nameKey(after.usernameHash!), after.id))) return 'conflict';
    if (now.record.wrappedKey !== null && after.wrappedKey === null) {
      await this.keys.shred(after.id);
      this.onKey(after.id, undefined);
    }
    const stored = { ...after, version: before.version + 1 };
    try {
      await this.kv.update(userKey(after.id), JSON.stringify(toStored(stored)), now.revision);
    } catch (err) {
      if (newName) await this.kv.delete(nameKey(after.usernameHash!));
      if (taken(err)) return 'stale';
      throw err;
    }
    this.onWrite(after.id, stored);
    // The old claims go once the account no longer points at them.
    if (before.usernameHash !== null && before.usernameHash !== after.usernameHash) await this.kv.purge(nameKey(before.usernameHash));
    if (before.emailHash !== null && before.emailHash !== after.emailHash) await this.kv.purge(emailKey(before.emailHash));
    return 'ok';
  }

  async list(limit: number, afterId: string | undefined): Promise<UserRecord[]> {
    return this.rows(this.indexed().idsAfter(afterId ?? '', limit));
  }

  /**
   * Guest rows the index names idle, read from the bucket and checked again (the index may lag
   * the bucket by the watch's delay).
   */
  async idleGuests(before: number, limit: number): Promise<UserRecord[]> {
    const rows = await this.rows(this.indexed().idleGuests(before, limit));
    return rows.filter((r) => r.role === 'guest' && r.updatedAt < before).sort((a, b) => a.updatedAt - b.updatedAt);
  }

  /** The rows of `ids` that exist, in that order (a few reads at a time: a page is at most a few hundred). */
  private async rows(ids: string[]): Promise<UserRecord[]> {
    const out: (UserRecord | undefined)[] = [];
    for (let i = 0; i < ids.length; i += ROW_READS_AT_ONCE) out.push(...(await Promise.all(ids.slice(i, i + ROW_READS_AT_ONCE).map((id) => this.get(id)))));
    return out.filter((r) => r !== undefined);
  }

  private indexed(): AccountIndex {
    // The node sets it once its account sync has indexed every account (AccountSync.start).
    if (!this.index) throw new Error("account listing needs the node's account index: it is set once the accounts are synced");
    return this.index;
  }

  /** The row goes by compare-and-set on the revision read; its data key is shredded after. */
  async removeGuest(u: UserRecord): Promise<boolean> {
    const now = await this.read(u.id);
    if (!now || now.record.version !== u.version || now.record.role !== 'guest') return false;
    try {
      // Purged on the revision read: a write in between makes it fail.
      await this.kv.purge(userKey(u.id), { previousSeq: now.revision });
    } catch (err) {
      if (taken(err)) return false;
      throw err;
    }
    this.onWrite(u.id, undefined);
    await this.keys.shred(u.id);
    this.onKey(u.id, undefined);
    return true;
  }

  async secret(name: string, make: () => string): Promise<string> {
    try {
      const value = make();
      await this.kv.create(secretKey(name), value);
      return value;
    } catch (err) {
      if (!taken(err)) throw err;
      const e = await this.kv.get(secretKey(name));
      if (!e || e.operation !== 'PUT') throw new Error(`the accounts bucket has no ${name} and cannot create one`, { cause: err });
      return e.string();
    }
  }

  /** Whether the bucket is in this layout (the nodes of this version convert it at start). */
  converted(): Promise<boolean> {
    return this.layouts.converted();
  }

  /** Converts the accounts of earlier cluster layouts, at start (kv-account-layouts.ts). */
  migrateLegacy(convert: (u: LegacyUser) => UserRecord): Promise<number> {
    return this.layouts.migrate(convert);
  }

  /**
   * Rewraps every data key (see KvDataKeys.rewrap) and the bucket's secrets under `ring.current`
   * (unwrapping with any key of `ring`), each by compare-and-set. Secrets already under the
   * current key are left as they are: a rerun finishes an interrupted rotation.
   */
  async rewrapKeys(ring: MasterKeyring): Promise<{ rewrapped: number; accounts: number }> {
    const k = await this.keys.rewrap(ring);
    let rewrapped = k.rewrapped;
    for (const key of await allKeys(this.kv)) {
      if (!key.startsWith('s')) continue;
      for (let attempt = 0; ; attempt++) {
        const e = await this.kv.get(key);
        if (!e || e.operation !== 'PUT') break;
        const value = e.string();
        const name = Buffer.from(key.slice(1), 'hex').toString();
        if (sealedKeyId(value) === undefined || sealedKeyId(value) === ring.current.id) break;
        try {
          await this.kv.update(key, ring.rewrap(value, name), e.revision);
          rewrapped++;
          break;
        } catch (err) {
          if (!taken(err) || attempt >= REWRAP_RETRIES) throw err;
        }
      }
    }
    return { rewrapped, accounts: k.keys };
  }

  /** Erasure works on the stream's files at once (shred); nothing is left to scrub. */
  scrub(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    // The connection belongs to the node.
  }
}
