// The entries of the cluster's accounts bucket (`cw-users`): their keys and the account entry's
// value, which names the account's data key entry (kv-data-keys.ts) and never carries the key.
import type { KV } from '@nats-io/kv';
import type { UserRecord } from './user-store.js';
import { dataKeyName, taken } from './kv-data-keys.js';

export const userKey = (id: string): string => `u${Buffer.from(id).toString('hex')}`;
export const emailKey = (hash: string): string => `e${Buffer.from(hash).toString('hex')}`;
export const nameKey = (hash: string): string => `n${Buffer.from(hash).toString('hex')}`;
export const secretKey = (name: string): string => `s${Buffer.from(name).toString('hex')}`;
/** An account of the second layout while its key moves out (see moveKeysOut). */
export const stagedKey = (id: string): string => `c${Buffer.from(id).toString('hex')}`;
/** The user id of an account key, or undefined for the other keys of the bucket. */
export const userIdOf = (key: string): string | undefined => (key.startsWith('u') ? Buffer.from(key.slice(1), 'hex').toString() : undefined);

/** An account as its entry holds it: the row without its data key, whose entry it names (null once erased). */
export type StoredAccount = Omit<UserRecord, 'wrappedKey'> & { dataKey: string | null };
/** An account as the other nodes follow it: everything but the data key. */
export type AccountView = Omit<UserRecord, 'wrappedKey'>;

/** The account entry of `r`: every field listed, so a data key can never slip into it. */
export const toStored = (r: UserRecord): StoredAccount => ({
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
export function parseAccount(value: unknown): { account: StoredAccount } | { carrying: UserRecord } | undefined {
  if (typeof value !== 'object' || value === null || !('version' in value)) return undefined;
  if ('dataKey' in value) return { account: value as StoredAccount };
  return 'wrappedKey' in value ? { carrying: value as UserRecord } : undefined;
}

export const viewOf = (value: unknown): AccountView | undefined => {
  const p = parseAccount(value);
  if (!p) return undefined;
  const { dataKey: _ref, ...view } = 'account' in p ? p.account : { ...p.carrying, dataKey: null };
  delete (view as Partial<UserRecord>).wrappedKey;
  return view;
};

export const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/** Claims `key` for `id` with `create`: false when another id holds it. */
export async function claim(kv: KV, key: string, id: string): Promise<boolean> {
  try {
    await kv.create(key, id);
    return true;
  } catch (err) {
    if (!taken(err)) throw err;
    // Ours already (a retried write that claimed it before failing).
    const e = await kv.get(key);
    return e?.operation === 'PUT' && e.string() === id;
  }
}
