// Accounts in cluster mode: a JetStream KV bucket shared by every node, so a user registered
// through one node signs in through any other. The account is `u<hex id>` (its KV revision is
// the compare-and-set of every write); `e<email hash>` and `n<username hash>` point at it and are
// made with `create`, which only succeeds for a key that does not exist: emails and usernames
// stay unique across nodes racing to claim the same one. The hashes are keyed (sealing.ts), so
// the bucket holds no email in the clear.
import type { KV } from '@nats-io/kv';
import type { LegacyUser, UpdateOutcome, UserRecord, UserStore } from './user-store.js';

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

interface Stored {
  record: UserRecord;
  revision: number;
}

/** Every change of an account row (`undefined`: the row is gone). */
export type AccountChange = (userId: string, record: UserRecord | undefined) => void;

export class KvUserStore implements UserStore {
  /** Told of this node's own writes at once (the bucket's watch tells of them later). */
  onWrite: AccountChange = () => undefined;

  constructor(private readonly kv: KV) {}

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

  async optedOut(): Promise<string[]> {
    const out: string[] = [];
    for (const r of await this.list(Number.MAX_SAFE_INTEGER, undefined)) if (!r.personalizedRecs) out.push(r.id);
    return out;
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

  /** The first cluster schema kept hashes of emails, not the emails: nothing can be converted. */
  migrateLegacy(_convert: (u: LegacyUser) => UserRecord): Promise<number> {
    return Promise.resolve(0);
  }

  /** History is kept at one revision per key; purged keys leave no value behind. */
  scrub(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    // The connection belongs to the node.
  }
}
