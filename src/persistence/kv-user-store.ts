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
import { KvDataKeys, allKeys, dataKeyName, eraseRevision, taken, watchBucket, type ErasableKv, type KeyChange } from './kv-data-keys.js';
import { log } from '../log/log.js';

const userKey = (id: string): string => `u${Buffer.from(id).toString('hex')}`;
const emailKey = (hash: string): string => `e${Buffer.from(hash).toString('hex')}`;
const nameKey = (hash: string): string => `n${Buffer.from(hash).toString('hex')}`;
const secretKey = (name: string): string => `s${Buffer.from(name).toString('hex')}`;
/** An account of the second layout while its key moves out (see moveKeysOut). */
const stagedKey = (id: string): string => `c${Buffer.from(id).toString('hex')}`;
/** The user id of an account key, or undefined for the other keys of the bucket. */
const userIdOf = (key: string): string | undefined => (key.startsWith('u') ? Buffer.from(key.slice(1), 'hex').toString() : undefined);

/** An account as its entry holds it: the row without its data key, whose entry it names (null once erased). */
type StoredAccount = Omit<UserRecord, 'wrappedKey'> & { dataKey: string | null };
/** An account as the other nodes follow it: everything but the data key. */
export type AccountView = Omit<UserRecord, 'wrappedKey'>;

/** The account entry of `r`: every field listed, so a data key can never slip into it. */
const toStored = (r: UserRecord): StoredAccount => ({
  id: r.id,
  role: r.role,
  emailHash: r.emailHash,
  usernameHash: r.usernameHash,
  passwordHash: r.passwordHash,
  tokenGen: r.tokenGen,
  personalizedRecs: r.personalizedRecs,
  sealed: r.sealed,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
  erasedAt: r.erasedAt,
  version: r.version,
  dataKey: r.wrappedKey === null ? null : dataKeyName(r.id),
});

/** An account entry of this layout, one of the second layout (`carrying` its data key), or undefined. */
function parseAccount(value: unknown): { account: StoredAccount } | { carrying: UserRecord } | undefined {
  if (typeof value !== 'object' || value === null || !('version' in value)) return undefined;
  if ('dataKey' in value) return { account: value as StoredAccount };
  return 'wrappedKey' in value ? { carrying: value as UserRecord } : undefined;
}

const viewOf = (value: unknown): AccountView | undefined => {
  const p = parseAccount(value);
  if (!p) return undefined;
  const { dataKey: _ref, ...view } = 'account' in p ? p.account : { ...p.carrying, dataKey: null };
  delete (view as Partial<UserRecord>).wrappedKey;
  return view;
};

/** The bucket's marker of a converted layout (under a secret's key: no account can take it). */
const LAYOUT = 'accounts-layout';
/** 2: accounts sealed, each with its wrapped data key inside; 3: data keys in their own bucket. */
const CURRENT_LAYOUT = '3';
const REWRAP_RETRIES = 20;

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/** An account of the first cluster layout (the value of its `e` key), or undefined. */
function legacyOf(text: string): LegacyUser | undefined {
  const v = safeJson(text) as Partial<LegacyUser> | undefined;
  if (typeof v !== 'object' || v === null || typeof v.email !== 'string' || typeof v.passwordHash !== 'string' || typeof v.id !== 'string') return undefined;
  const role = v.role === 'admin' || v.role === 'customer' ? v.role : 'customer';
  return {
    id: v.id,
    email: v.email,
    name: typeof v.name === 'string' ? v.name : null,
    role,
    passwordHash: v.passwordHash,
    createdAt: Number(v.createdAt) || 0,
  };
}

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
  private readonly kv: KV;
  private readonly keys: KvDataKeys;

  /** `users`: the accounts bucket; `keys`: the data key bucket; each with its stream's secure erase. */
  constructor(
    private readonly users: ErasableKv,
    keys: ErasableKv,
  ) {
    this.kv = users.kv;
    this.keys = new KvDataKeys(keys);
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

  private async claim(key: string, id: string): Promise<boolean> {
    try {
      await this.kv.create(key, id);
      return true;
    } catch (err) {
      if (!taken(err)) throw err;
      // Ours already (a retried write that claimed it before failing).
      const e = await this.kv.get(key);
      return e?.operation === 'PUT' && e.string() === id;
    }
  }

  async tryInsert(user: UserRecord): Promise<boolean> {
    if (user.emailHash !== null && !(await this.claim(emailKey(user.emailHash), user.id))) return false;
    const unclaim = async (): Promise<false> => {
      if (user.emailHash !== null) await this.kv.delete(emailKey(user.emailHash));
      if (user.usernameHash !== null) await this.kv.delete(nameKey(user.usernameHash));
      return false;
    };
    if (user.usernameHash !== null && !(await this.claim(nameKey(user.usernameHash), user.id))) {
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
      await this.moveKeyOut(now.record, now.revision);
      return 'stale';
    }
    if (now.record.version !== before.version) return 'stale';
    const newName = after.usernameHash !== null && after.usernameHash !== before.usernameHash;
    if (newName && !(await this.claim(nameKey(after.usernameHash!), after.id))) return 'conflict';
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
    const ids: string[] = [];
    const after = afterId ?? '';
    for await (const k of await this.kv.keys()) {
      const id = userIdOf(k);
      if (id !== undefined && id > after) ids.push(id);
    }
    ids.sort();
    const out: UserRecord[] = [];
    for (const id of ids.slice(0, limit)) {
      const r = await this.get(id);
      if (r) out.push(r);
    }
    return out;
  }

  /**
   * Reads every account row: the bucket has no index by role (a sweep's cost grows with the
   * accounts, which is why one node of a cluster sweeps). Data keys are read for the chosen only.
   */
  async idleGuests(before: number, limit: number): Promise<UserRecord[]> {
    const idle: AccountView[] = [];
    for (const key of await allKeys(this.kv)) {
      if (userIdOf(key) === undefined) continue;
      const e = await this.kv.get(key);
      const v = e?.operation === 'PUT' ? viewOf(e.json<unknown>()) : undefined;
      if (v && v.role === 'guest' && v.updatedAt < before) idle.push(v);
    }
    const out: UserRecord[] = [];
    for (const v of idle.sort((a, b) => a.updatedAt - b.updatedAt).slice(0, limit)) {
      const r = await this.get(v.id);
      if (r) out.push(r);
    }
    return out;
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
  async converted(): Promise<boolean> {
    const marker = await this.kv.get(secretKey(LAYOUT));
    return marker?.operation === 'PUT' && marker.string() === CURRENT_LAYOUT;
  }

  /**
   * Converts the accounts of earlier cluster layouts, at start (once: a marker in the bucket says
   * it was done). The first kept each account in the clear under `e<sha256 of the email>`
   * (email, name, role, password hash, creation time) and its creation time under `u<id>`: each
   * is sealed by `convert` and written in the second layout (the `u` key by compare-and-set, so
   * nodes starting together convert it once), then the old entry is erased from the stream's
   * files and purged. The second kept the wrapped data key inside the account: moveKeysOut.
   * A crash part-way leaves old entries for the next start to convert.
   */
  async migrateLegacy(convert: (u: LegacyUser) => UserRecord): Promise<number> {
    const marker = await this.kv.get(secretKey(LAYOUT));
    const layout = marker?.operation === 'PUT' ? marker.string() : undefined;
    if (layout === CURRENT_LAYOUT) return 0;
    let converted = 0;
    if (layout === undefined) converted = await this.convertFirstLayout(convert);
    converted += await this.moveKeysOut();
    await this.kv.put(secretKey(LAYOUT), CURRENT_LAYOUT);
    return converted;
  }

  private async convertFirstLayout(convert: (u: LegacyUser) => UserRecord): Promise<number> {
    let converted = 0;
    for (const key of await allKeys(this.kv)) {
      if (!key.startsWith('e')) continue;
      const e = await this.kv.get(key);
      const old = e?.operation === 'PUT' ? legacyOf(e.string()) : undefined;
      if (!e || !old) continue;
      const record = convert(old);
      if (record.emailHash !== null && !(await this.claim(emailKey(record.emailHash), record.id))) {
        log.warn(`cluster: account ${record.id} of the first layout is not converted: another account holds its email`);
        continue;
      }
      if (await this.replaceLegacyRow(record)) converted++;
      await eraseRevision(this.users, e.revision);
      await this.kv.purge(key);
    }
    return converted;
  }

  /**
   * Writes a converted row over the first layout's `u` value, in the second layout (the key
   * inside: the compare-and-set on `u` decides which node's new key wins, and moveKeysOut moves
   * it out after); false when another node converted it first.
   */
  private async replaceLegacyRow(record: UserRecord): Promise<boolean> {
    const u = await this.kv.get(userKey(record.id));
    try {
      if (!u || u.operation !== 'PUT') await this.kv.create(userKey(record.id), JSON.stringify(record));
      else if (parseAccount(safeJson(u.string())) === undefined) await this.kv.update(userKey(record.id), JSON.stringify(record), u.revision);
      else return false;
    } catch (err) {
      if (taken(err)) return false;
      throw err;
    }
    return true;
  }

  /** Moves the data key out of every account entry of the second layout; the number moved. */
  private async moveKeysOut(): Promise<number> {
    const keys = await allKeys(this.kv);
    // Accounts a crash left staged first: their `u` entry may be gone.
    for (const key of keys) if (key.startsWith('c')) await this.unstage(key);
    let moved = 0;
    for (const key of keys) {
      if (userIdOf(key) === undefined) continue;
      const e = await this.kv.get(key);
      const p = e?.operation === 'PUT' ? parseAccount(safeJson(e.string())) : undefined;
      if (e && p && 'carrying' in p && (await this.moveKeyOut(p.carrying, e.revision))) moved++;
    }
    return moved;
  }

  /**
   * One account of the second layout: its key goes to the data key bucket, the account (without
   * it) to a staging entry, then the revision that carried the key is erased in the stream's
   * files and the account is written back from the staging entry. It is not updated in place:
   * the bucket keeps one revision per key and would drop the old one without erasing it. A
   * node starting meanwhile finds no row for the moment; a crash leaves the staging entry,
   * which the next start writes back (unstage).
   */
  private async moveKeyOut(r: UserRecord, revision: number): Promise<boolean> {
    // Another value there already is this key rewrapped by a rotation: kept.
    if (r.wrappedKey !== null && (await this.keys.create(r.id, r.wrappedKey)) !== 'taken') this.onKey(r.id, r.wrappedKey);
    const staged = JSON.stringify(toStored(r));
    await this.kv.put(stagedKey(r.id), staged);
    await eraseRevision(this.users, revision);
    const written = await this.createRow(r.id, staged);
    await this.kv.purge(stagedKey(r.id));
    if (written) this.onWrite(r.id, viewOf(JSON.parse(staged)));
    return written;
  }

  /** A staging entry left by a crash: the account is written back unless it exists again. */
  private async unstage(key: string): Promise<void> {
    const e = await this.kv.get(key);
    if (e?.operation === 'PUT') await this.createRow(Buffer.from(key.slice(1), 'hex').toString(), e.string());
    await this.kv.purge(key);
  }

  /** Creates an account entry; false when it exists (another node wrote it back first). */
  private async createRow(id: string, value: string): Promise<boolean> {
    try {
      await this.kv.create(userKey(id), value);
      return true;
    } catch (err) {
      if (taken(err)) return false;
      throw err;
    }
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
