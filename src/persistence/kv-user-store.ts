// Accounts in cluster mode: a JetStream KV bucket shared by every node, so a user registered
// through one node signs in through any other. The account is `u<hex id>` (its KV revision is
// the compare-and-set of every write); `e<email hash>` and `n<username hash>` point at it and are
// made with `create`, which only succeeds for a key that does not exist: emails and usernames
// stay unique across nodes racing to claim the same one. The hashes are keyed (sealing.ts), so
// the bucket holds no email in the clear.
import type { KV } from '@nats-io/kv';
import type { LegacyUser, UpdateOutcome, UserRecord, UserStore } from './user-store.js';
import { sealedKeyId, type MasterKeyring } from './sealing.js';
import { log } from '../log/log.js';

const userKey = (id: string): string => `u${Buffer.from(id).toString('hex')}`;
const emailKey = (hash: string): string => `e${Buffer.from(hash).toString('hex')}`;
const nameKey = (hash: string): string => `n${Buffer.from(hash).toString('hex')}`;
const secretKey = (name: string): string => `s${Buffer.from(name).toString('hex')}`;
/** The user id of an account key, or undefined for the other keys of the bucket. */
const userIdOf = (key: string): string | undefined => (key.startsWith('u') ? Buffer.from(key.slice(1), 'hex').toString() : undefined);
/** An account row as stored, or undefined for a value of another layout. */
const recordOf = (value: unknown): UserRecord | undefined =>
  typeof value === 'object' && value !== null && 'version' in value && 'wrappedKey' in value ? (value as UserRecord) : undefined;
const taken = (err: unknown): boolean => /wrong last sequence|key exists/i.test(String((err as Error).message));

/** The bucket's marker of a converted layout (under a secret's key: no account can take it). */
const LAYOUT = 'accounts-layout';
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
}

/** Every change of an account row (`undefined`: the row is gone). */
export type AccountChange = (userId: string, record: UserRecord | undefined) => void;

export class KvUserStore implements UserStore {
  /** Told of this node's own writes at once (the bucket's watch tells of them later). */
  onWrite: AccountChange = () => undefined;

  /** `erase`: overwrites the stream message of a revision in the server's files (secure erase). */
  constructor(
    private readonly kv: KV,
    private readonly erase: (revision: number) => Promise<unknown>,
  ) {}

  private async read(id: string): Promise<Stored | undefined> {
    const e = await this.kv.get(userKey(id));
    if (!e || e.operation !== 'PUT') return undefined;
    const record = recordOf(e.json<unknown>());
    return record && { record, revision: e.revision };
  }

  /**
   * Follows every account row of the bucket: first each row as it is, then every change by any
   * node. `ready` resolves once the rows that were there at the start have been seen.
   */
  async watch(each: AccountChange): Promise<{ ready: Promise<void>; stop: () => void }> {
    let initialized!: () => void;
    const ready = new Promise<void>((resolve) => (initialized = resolve));
    // Every key: the bucket's keys are single tokens (`u<hex>`), which no subject wildcard selects by prefix.
    const w = await this.kv.watch({ key: '>' });
    // An empty bucket sends nothing to mark the end of its (empty) first values.
    if ((await this.kv.status()).values === 0) initialized();
    void (async () => {
      for await (const e of w) {
        const id = userIdOf(e.key);
        if (id !== undefined) each(id, e.operation === 'PUT' ? recordOf(e.json<unknown>()) : undefined);
        if (e.isUpdate) initialized();
      }
    })();
    return { ready, stop: () => w.stop() };
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
    if (user.usernameHash !== null && !(await this.claim(nameKey(user.usernameHash), user.id))) {
      if (user.emailHash !== null) await this.kv.delete(emailKey(user.emailHash));
      return false;
    }
    try {
      await this.kv.create(userKey(user.id), JSON.stringify(user));
    } catch (err) {
      if (taken(err)) return false;
      throw err;
    }
    this.onWrite(user.id, user);
    return true;
  }

  async update(before: UserRecord, after: UserRecord): Promise<UpdateOutcome> {
    const now = await this.read(before.id);
    if (!now || now.record.version !== before.version) return 'stale';
    const newName = after.usernameHash !== null && after.usernameHash !== before.usernameHash;
    if (newName && !(await this.claim(nameKey(after.usernameHash!), after.id))) return 'conflict';
    const stored = { ...after, version: before.version + 1 };
    try {
      await this.kv.update(userKey(after.id), JSON.stringify(stored), now.revision);
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

  /** Reads every account row: the bucket has no index by role (a sweep's cost grows with the accounts). */
  async idleGuests(before: number, limit: number): Promise<UserRecord[]> {
    const out: UserRecord[] = [];
    for (const key of await this.allKeys()) {
      const id = userIdOf(key);
      const r = id === undefined ? undefined : await this.get(id);
      if (r && r.role === 'guest' && r.updatedAt < before) out.push(r);
    }
    return out.sort((a, b) => a.updatedAt - b.updatedAt).slice(0, limit);
  }

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

  /**
   * Converts the accounts of the first cluster layout, at start (once: a marker in the bucket
   * says it was done). That layout kept each account in the clear under `e<sha256 of the email>`
   * (email, name, role, password hash, creation time) and its creation time under `u<id>`. Each
   * is sealed by `convert` and written in this layout (the `u` key by compare-and-set, so nodes
   * starting together convert it once), then the old entry is erased from the stream's files
   * and purged. A crash part-way leaves old entries for the next start to convert.
   */
  async migrateLegacy(convert: (u: LegacyUser) => UserRecord): Promise<number> {
    const marker = await this.kv.get(secretKey(LAYOUT));
    if (marker?.operation === 'PUT') return 0;
    let converted = 0;
    for (const key of await this.allKeys()) {
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
      await this.erase(e.revision);
      await this.kv.purge(key);
    }
    await this.kv.put(secretKey(LAYOUT), '2');
    return converted;
  }

  /** Writes a converted row over the old layout's `u` value; false when another node converted it first. */
  private async replaceLegacyRow(record: UserRecord): Promise<boolean> {
    const u = await this.kv.get(userKey(record.id));
    try {
      if (!u || u.operation !== 'PUT') await this.kv.create(userKey(record.id), JSON.stringify(record));
      else if (recordOf(safeJson(u.string())) === undefined) await this.kv.update(userKey(record.id), JSON.stringify(record), u.revision);
      else return false;
    } catch (err) {
      if (taken(err)) return false;
      throw err;
    }
    this.onWrite(record.id, record);
    return true;
  }

  /**
   * Rewraps every account's data key and the bucket's secrets under `ring.current` (unwrapping
   * with any key of `ring`), each by compare-and-set with the row's version moved on, so a node
   * writing the same row meanwhile retries on the new value instead of writing the old wrapping
   * back. Rows already under the current key are left as they are: a rerun finishes an
   * interrupted rotation.
   */
  async rewrapKeys(ring: MasterKeyring): Promise<{ rewrapped: number; accounts: number }> {
    let rewrapped = 0;
    let accounts = 0;
    for (const key of await this.allKeys()) {
      const id = userIdOf(key);
      if (id === undefined && !key.startsWith('s')) continue;
      if (id !== undefined) accounts++;
      for (let attempt = 0; ; attempt++) {
        const e = await this.kv.get(key);
        if (!e || e.operation !== 'PUT') break;
        let next: string | undefined;
        if (id !== undefined) {
          const r = recordOf(safeJson(e.string()));
          if (!r || r.wrappedKey === null || sealedKeyId(r.wrappedKey) === ring.current.id) break;
          next = JSON.stringify({ ...r, wrappedKey: ring.rewrap(r.wrappedKey, id), version: r.version + 1 });
        } else {
          const value = e.string();
          const name = Buffer.from(key.slice(1), 'hex').toString();
          if (sealedKeyId(value) === undefined || sealedKeyId(value) === ring.current.id) break;
          next = ring.rewrap(value, name);
        }
        try {
          await this.kv.update(key, next, e.revision);
          rewrapped++;
          break;
        } catch (err) {
          if (!taken(err) || attempt >= REWRAP_RETRIES) throw err;
        }
      }
    }
    return { rewrapped, accounts };
  }

  /** Every key of the bucket. */
  private async allKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) keys.push(k);
    return keys;
  }

  /** History is kept at one revision per key; purged keys leave no value behind. */
  scrub(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    // The connection belongs to the node.
  }
}
