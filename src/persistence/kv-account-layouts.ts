// Conversion of the cluster accounts bucket from earlier layouts, at a node's start (see
// migrate). Each layout is marked in the bucket once converted, so later starts skip the scan.
import type { KV } from '@nats-io/kv';
import type { LegacyUser, UserRecord } from './user-store.js';
import { eraseRevision, allKeys, taken, type ErasableKv, type KeyChange, type KvDataKeys } from './kv-data-keys.js';
import { claim, emailKey, parseAccount, safeJson, secretKey, stagedKey, toStored, userIdOf, userKey, viewOf, type AccountView } from './kv-account-entries.js';
import { log } from '../log/log.js';

/** The bucket's marker of a converted layout (under a secret's key: no account can take it). */
const LAYOUT = 'accounts-layout';
/** 2: accounts sealed, each with its wrapped data key inside; 3: data keys in their own bucket. */
const CURRENT_LAYOUT = '3';

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

/** Tells the node of the rows and keys a conversion writes. */
export interface LayoutNotes {
  row: (userId: string, account: AccountView | undefined) => void;
  key: KeyChange;
}

export class KvLayouts {
  private readonly kv: KV;

  constructor(
    private readonly users: ErasableKv,
    private readonly keys: KvDataKeys,
    private readonly notes: LayoutNotes,
  ) {
    this.kv = users.kv;
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
  async migrate(convert: (u: LegacyUser) => UserRecord): Promise<number> {
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
      if (record.emailHash !== null && !(await claim(this.kv, emailKey(record.emailHash), record.id))) {
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
  async moveKeyOut(r: UserRecord, revision: number): Promise<boolean> {
    // Another value there already is this key rewrapped by a rotation: kept.
    if (r.wrappedKey !== null && (await this.keys.create(r.id, r.wrappedKey)) !== 'taken') this.notes.key(r.id, r.wrappedKey);
    const staged = JSON.stringify(toStored(r));
    await this.kv.put(stagedKey(r.id), staged);
    await eraseRevision(this.users, revision);
    const written = await this.createRow(r.id, staged);
    await this.kv.purge(stagedKey(r.id));
    if (written) this.notes.row(r.id, viewOf(JSON.parse(staged)));
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
}
