// Personal data of accounts, sealed and opened: each user's profile (email, name, username,
// preferences, addresses, payment method summaries) is one AES-256-GCM ciphertext under the
// user's data key, which the master key wraps; emails and usernames are looked up by keyed hash
// (the lookup key is itself wrapped by the master key and kept in the store). Erasing the
// wrapped data key makes every copy sealed under it unreadable: the row, the address copies in
// orders, and whatever backups hold.
import { lookupHash, newDataKey, open, seal, type MasterKeyring, type NamedKey } from '../../persistence/sealing.js';
import type { UserRecord, UserStore } from '../../persistence/user-store.js';
import type { Role } from '../../protocol/types.js';
import type { AddressView, PaymentMethodView, Preferences } from '../../protocol/types.js';

/** A saved card: its summary and the gateway's token for it (never the number or cvc). */
export interface StoredPaymentMethod extends PaymentMethodView {
  gatewayToken: string;
}

/** Everything personal about a user, sealed as one value. */
export interface Profile {
  email?: string;
  name: string;
  username?: string;
  preferences: Preferences;
  addresses: AddressView[];
  paymentMethods: StoredPaymentMethod[];
}

export const DEFAULT_PREFERENCES: Preferences = Object.freeze({ language: 'en', currency: 'USD', marketing: false, personalizedRecs: true });

/** Unwrapped data keys kept in memory (unwrapping is one AES-GCM open, but a login reads several). */
const KEY_CACHE_MAX = 10_000;
const LOOKUP_KEY_SECRET = 'lookup-key';
const PROFILE_AAD = (userId: string) => `profile:${userId}`;

export class UserVault {
  private readonly keys = new Map<string, { wrapped: string; key: NamedKey }>();

  private constructor(
    readonly store: UserStore,
    readonly keyring: MasterKeyring,
    private readonly lookupKey: Buffer,
  ) {}

  /** Opens the vault over a store: reads (or makes, once) the lookup key. */
  static async open(store: UserStore, keyring: MasterKeyring): Promise<UserVault> {
    const wrapped = await store.secret(LOOKUP_KEY_SECRET, () => keyring.wrap(newDataKey('lookup'), LOOKUP_KEY_SECRET));
    return new UserVault(store, keyring, keyring.unwrap(wrapped, LOOKUP_KEY_SECRET).key);
  }

  emailHash(normalizedEmail: string): string {
    return lookupHash(this.lookupKey, 'email', normalizedEmail);
  }

  usernameHash(username: string): string {
    return lookupHash(this.lookupKey, 'username', username);
  }

  /** The user's data key, or undefined once erased. */
  dataKey(u: UserRecord): NamedKey | undefined {
    if (u.wrappedKey === null) return undefined;
    // Keyed by the wrapped value too: a row written by a concurrent first write has another key.
    const cached = this.keys.get(u.id);
    if (cached?.wrapped === u.wrappedKey) return cached.key;
    const key = this.keyring.unwrap(u.wrappedKey, u.id);
    if (this.keys.size >= KEY_CACHE_MAX) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(u.id, { wrapped: u.wrappedKey, key });
    return key;
  }

  /** Drops a key from memory (after erasure). */
  forget(userId: string): void {
    this.keys.delete(userId);
  }

  /** The profile, or undefined for an erased account. */
  profile(u: UserRecord): Profile | undefined {
    const k = this.dataKey(u);
    if (!k || u.sealed === null) return undefined;
    return JSON.parse(open(k, u.sealed, PROFILE_AAD(u.id)).toString()) as Profile;
  }

  /** `u` with `p` sealed in, and the hashes and flags that follow from it. */
  withProfile(u: UserRecord, p: Profile, now: number): UserRecord {
    const k = this.dataKey(u);
    if (!k) throw new Error('an erased account has no profile to seal');
    return {
      ...u,
      sealed: seal(k, JSON.stringify(p), PROFILE_AAD(u.id)),
      emailHash: p.email === undefined ? null : this.emailHash(p.email),
      usernameHash: p.username === undefined ? null : this.usernameHash(p.username),
      personalizedRecs: p.preferences.personalizedRecs,
      updatedAt: now,
    };
  }

  /** A new account with a fresh data key (version 0: not stored yet). */
  newRecord(id: string, role: Role, passwordHash: string | null, p: Profile, now: number): UserRecord {
    const k = newDataKey(id);
    const wrappedKey = this.keyring.wrap(k, id);
    const bare: UserRecord = {
      id,
      role,
      emailHash: null,
      usernameHash: null,
      passwordHash,
      tokenGen: 0,
      personalizedRecs: true,
      wrappedKey,
      sealed: null,
      createdAt: now,
      updatedAt: now,
      erasedAt: null,
      version: 0,
    };
    this.keys.set(id, { wrapped: wrappedKey, key: k });
    return this.withProfile(bare, p, now);
  }

  /** Seals `plain` for `u` under its data key (an order's copy of an address). */
  sealFor(u: UserRecord, plain: string, aad: string): string {
    const k = this.dataKey(u);
    if (!k) throw new Error('an erased account cannot seal');
    return seal(k, plain, aad);
  }
}
