// Reads and compare-and-set writes of account rows, with the profile opened and sealed around
// them. Every change is a pure function of the profile as read; a write that lost a race reads
// again and retries, so concurrent ops of one user never overwrite each other.
import type { UpdateOutcome, UserRecord } from '../../persistence/user-store.js';
import type { WireError } from '../../protocol/errors.js';
import type { Identity, ShippingAddress } from '../../protocol/types.js';
import { addressAad } from '../../persistence/sealed-reader.js';
import { DEFAULT_PREFERENCES, type Profile, type UserVault } from './user-vault.js';
import { Personalization } from './personalization.js';

const RETRIES = 5;
/** A guest row older than this is written again by a checkout (see sealAddress). */
const GUEST_TOUCH_MS = 60_000;

/** What a change decides: the new profile (and row fields), or an error that changes nothing. */
export type Change<T> =
  { error: WireError } | { profile: Profile; row?: Partial<Pick<UserRecord, 'tokenGen' | 'role' | 'passwordHash'>>; result: (u: UserRecord, p: Profile) => T };

export type Outcome<T> = { ok: true; result: T } | { ok: false; error: WireError };

export const notFound = (what: string): { error: WireError } => ({ error: { code: 'NOT_FOUND', message: `${what} not found` } });
const erasedError: WireError = { code: 'UNAUTHENTICATED', message: 'this account has been erased' };

export class AccountRecords {
  /** Each user's `preferences.personalizedRecs`, as a bounded cache over the store. */
  readonly personalization: Personalization;

  constructor(readonly vault: UserVault) {
    this.personalization = new Personalization(vault.store);
  }

  /** The caller's row and profile; a guest without a row gets an empty profile (nothing stored). */
  async read(who: Identity): Promise<Read> {
    return this.opened(await this.vault.store.get(who.userId));
  }

  private opened(row: UserRecord | undefined): Read {
    if (!row) return { row, profile: emptyProfile() };
    const profile = this.vault.profile(row);
    return profile ? { row, profile } : { error: erasedError };
  }

  /**
   * Applies `change` to the caller's profile and stores it (a guest's row is made on its first
   * write). `conflict` names what a unique-hash clash means for this change. `row`: the caller's
   * row as the caller just read it (undefined: it has none), saving the first attempt a read.
   */
  async mutate<T>(
    who: Identity,
    change: (p: Profile, row: UserRecord | undefined) => Change<T>,
    conflict?: WireError,
    row?: { row: UserRecord | undefined },
  ): Promise<Outcome<T>> {
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      const now = Date.now();
      const read = attempt === 0 && row ? this.opened(row.row) : await this.read(who);
      if ('error' in read) return { ok: false, error: read.error };
      const c = change(structuredClone(read.profile), read.row);
      if ('error' in c) return { ok: false, error: c.error };
      let outcome: UpdateOutcome;
      let stored: UserRecord;
      if (!read.row) {
        stored = { ...this.vault.newRecord(who.userId, who.role, null, c.profile, now), ...c.row };
        outcome = (await this.vault.store.tryInsert(stored)) ? 'ok' : (await this.vault.store.get(who.userId)) ? 'stale' : 'conflict';
      } else {
        stored = { ...this.vault.withProfile(read.row, c.profile, now), ...c.row };
        outcome = await this.vault.store.update(read.row, stored);
        stored = { ...stored, version: read.row.version + 1 };
      }
      if (outcome === 'ok') {
        this.personalization.set(stored.id, stored.personalizedRecs);
        return { ok: true, result: c.result(stored, c.profile) };
      }
      if (outcome === 'conflict') return { ok: false, error: conflict ?? { code: 'CONFLICT', message: 'the change clashes with another account' } };
    }
    return { ok: false, error: { code: 'UNAVAILABLE', message: 'the account is being changed by other requests; retry', details: { retryAfterMs: 50 } } };
  }

  /** Admin writes on someone else's row (role changes): compare-and-set, retried. */
  async mutateRow(userId: string, change: (u: UserRecord) => Partial<UserRecord> | { error: WireError }): Promise<Outcome<UserRecord>> {
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      const row = await this.vault.store.get(userId);
      if (!row) return { ok: false, ...notFound('user') };
      const c = change(row);
      if ('error' in c) return { ok: false, error: c.error };
      const after: UserRecord = { ...row, ...c, updatedAt: Date.now() };
      const outcome = await this.vault.store.update(row, after);
      if (outcome === 'ok') return { ok: true, result: { ...after, version: row.version + 1 } };
      if (outcome === 'conflict') return { ok: false, error: { code: 'CONFLICT', message: 'the change clashes with another account' } };
    }
    return { ok: false, error: { code: 'UNAVAILABLE', message: 'the account is being changed by other requests; retry', details: { retryAfterMs: 50 } } };
  }

  /**
   * Seals an order's copy of an address under the buyer's data key (a guest's row, holding its
   * key, is made on its first checkout).
   */
  async sealAddress(who: Identity, address: ShippingAddress): Promise<Outcome<string>> {
    let row = await this.vault.store.get(who.userId);
    // A guest's row is made now, or marked as used: the guest retention sweep must not remove
    // it between this read and the order that needs its key.
    if (!row || (row.role === 'guest' && Date.now() - row.updatedAt > GUEST_TOUCH_MS)) {
      const made = await this.mutate(who, (p) => ({ profile: p, result: (u) => u }), undefined, { row });
      if (!made.ok) return made;
      row = made.result;
    }
    if (row.wrappedKey === null) return { ok: false, error: erasedError };
    return { ok: true, result: this.vault.sealFor(row, JSON.stringify(address), addressAad(who.userId)) };
  }

  /**
   * A guest signs in or registers: its saved addresses and payment methods join the account's
   * (up to the limits; the account's default stays when it has one), then the guest's are
   * removed. Ids already in the account are skipped, so a retry after a crash in between moves
   * nothing twice.
   */
  async adoptGuestBook(guestId: string, account: Identity, limits: { addresses: number; paymentMethods: number }): Promise<WireError | undefined> {
    const guestRow = await this.vault.store.get(guestId);
    const guest = guestRow && guestRow.role === 'guest' ? this.vault.profile(guestRow) : undefined;
    if (!guest || (guest.addresses.length === 0 && guest.paymentMethods.length === 0)) return undefined;
    const moved = await this.mutate(account, (p) => {
      const hadDefault = p.addresses.some((a) => a.isDefault);
      for (const a of guest.addresses) {
        if (p.addresses.length >= limits.addresses || p.addresses.some((x) => x.addressId === a.addressId)) continue;
        p.addresses.push({ ...a, isDefault: !hadDefault && a.isDefault });
      }
      for (const m of guest.paymentMethods) {
        if (p.paymentMethods.length >= limits.paymentMethods || p.paymentMethods.some((x) => x.paymentMethodId === m.paymentMethodId)) continue;
        p.paymentMethods.push(m);
      }
      return { profile: p, result: () => undefined };
    });
    if (!moved.ok) return moved.error;
    const cleared = await this.mutate({ userId: guestId, role: 'guest' }, (p) => ({
      profile: { ...p, addresses: [], paymentMethods: [] },
      result: () => undefined,
    }));
    return cleared.ok ? undefined : cleared.error;
  }

  forgetOptOut(userId: string): void {
    this.personalization.set(userId, true);
  }
}

type Read = { row: UserRecord | undefined; profile: Profile } | { error: WireError };

export function emptyProfile(): Profile {
  return { name: '', preferences: { ...DEFAULT_PREFERENCES }, addresses: [], paymentMethods: [] };
}
