// Sign-up and sign-in, for the WebSocket ops and the HTTP endpoints alike: attempt limits per
// IP and per email, the guest-cart merge, and the user_registered / user_logged_in events on
// the admin feed. Credentials and tokens themselves are auth.ts.
import type { CartCommand, MergeLine } from '../../actors/cart-actor.js';
import type { AuthResult, OpArgs } from '../../protocol/ops.js';
import type { WireError } from '../../protocol/errors.js';
import type { CartView, Identity } from '../../protocol/types.js';
import type { DomainEventName } from '../../protocol/pushes.js';
import { fail, type Answer, type Caller } from '../../transport/dispatch.js';
import type { LimitsConfig } from '../../config.js';
import { normalizeEmail } from '../../persistence/user-store.js';
import type { ShardPool } from '../shard-pool.js';
import { newUserId, type Auth } from './auth.js';
import type { CatalogView } from '../catalog/catalog-view.js';
import { KeyedLimiter } from '../../transport/rate-limit.js';
import { cartKey } from '../../protocol/keys.js';

export type AuthOutcome = Answer<AuthResult>;

export type { Caller };

export interface AccountsDeps {
  auth: Auth;
  pool: ShardPool;
  catalog: CatalogView;
  limits: LimitsConfig;
}

const GET = Object.freeze({ type: 'get' }) satisfies CartCommand;
const refused = (error: WireError): Answer<never> => ({ ok: false, error });
const wrongCredentials = (): Answer<never> => fail('UNAUTHENTICATED', 'wrong email or password');
const rateLimited = (retryAfterMs: number): Answer<never> => fail('RATE_LIMITED', `too many sign-in attempts; retry in ${retryAfterMs} ms`, { retryAfterMs });

export class Accounts {
  /** Every attempt counts per IP: each costs an argon2id hash. */
  private readonly byIp: KeyedLimiter;
  /** Per email, attempts that did not succeed (a success gives its token back). */
  private readonly byEmail: KeyedLimiter;

  constructor(private readonly d: AccountsDeps) {
    const l = d.limits;
    this.byIp = new KeyedLimiter({ capacity: l.authIpAttempts, ratePerSec: l.authIpAttempts / l.authIpWindowSec });
    this.byEmail = new KeyedLimiter({ capacity: l.authEmailAttempts, ratePerSec: l.authEmailAttempts / l.authEmailWindowSec });
  }

  /** `auth.guest`: a new guest identity. */
  async guest(): Promise<AuthOutcome> {
    return { ok: true, result: await this.d.auth.guest() };
  }

  /** `auth.resume`: the identity in a token. */
  async resume(token: string): Promise<Answer<Identity>> {
    const who = await this.d.auth.verifyToken(token);
    return who ? { ok: true, result: who } : fail('UNAUTHENTICATED', 'the token is invalid or expired');
  }

  async login(args: OpArgs<'auth.login'>, from: Caller): Promise<AuthOutcome> {
    const email = normalizeEmail(args.email);
    const limited = this.takeAttempt(from.ip, email);
    if (limited) return limited;
    const r = await this.d.auth.login(email, args.password);
    if (!r) return wrongCredentials();
    this.byEmail.give(email);
    if (from.guestId !== undefined && from.guestId !== r.userId) {
      const error = await this.mergeGuest(from.guestId, r.userId);
      if (error) return refused(error); // not signed in; a retry merges nothing twice
    }
    await this.event('user_logged_in', r.userId, { role: r.role, at: Date.now(), via: from.via, ...merged(from) });
    return { ok: true, result: r };
  }

  /**
   * Order: the guest cart merges into the new account's cart first, then the user row is
   * inserted, then the guest cart is cleared. A failure or crash before the insert leaves no
   * account (at worst a cart nobody holds a token for), so the client's retry starts clean; one
   * after it is a login away from a no-op merge (see mergeGuest).
   */
  async register(args: OpArgs<'auth.register'>, from: Caller): Promise<AuthOutcome> {
    const email = normalizeEmail(args.email);
    const limited = this.takeAttempt(from.ip, email);
    if (limited) return limited;
    const taken = (): AuthOutcome => fail('CONFLICT', 'an account with this email already exists');
    // Checked before hashing too, so a taken email costs no argon2 work.
    if (this.d.auth.emailTaken(email)) return taken();
    const userId = newUserId('u');
    const guest = from.guestId !== undefined ? await this.readGuest(from.guestId) : undefined;
    if (guest && 'error' in guest) return refused(guest.error);
    if (guest) {
      const error = await this.mergeInto(userId, guest);
      if (error) return refused(error);
    }
    const r = await this.d.auth.register(userId, email, args.password, args.name);
    if (!r) return taken();
    this.byEmail.give(email);
    if (guest) await this.clearGuest(guest, userId);
    const name = args.name === undefined ? {} : { name: args.name };
    await this.event('user_registered', userId, { email, ...name, role: r.role, at: Date.now(), via: from.via, ...merged(from) });
    return { ok: true, result: r };
  }

  /** An attempt against the per-IP and per-email buckets: a RATE_LIMITED outcome, or undefined. */
  private takeAttempt(ip: string, email: string): AuthOutcome | undefined {
    const now = performance.now();
    const ipWait = this.byIp.take(ip, now);
    if (ipWait > 0) return rateLimited(ipWait);
    const emailWait = this.byEmail.take(email, now);
    return emailWait > 0 ? rateLimited(emailWait) : undefined;
  }

  /**
   * Merges the guest cart into the account cart, then clears the guest cart: two durable steps
   * on two actors. If the process dies between them, the account cart holds the merged lines
   * together with the record (guest id, guest version, guest quantities), and the guest cart
   * still holds its lines. The client never got its answer, so it resumes as the guest and signs
   * in again: the guest cart is at the same version, the account cart sees that version in its
   * record and merges nothing, and the clear runs. If the guest cart changed in between, only
   * what it gained since the recorded quantities is added. Either way nothing is counted twice.
   */
  private async mergeGuest(guestId: string, accountId: string): Promise<WireError | undefined> {
    const guest = await this.readGuest(guestId);
    if (!guest) return undefined;
    if ('error' in guest) return guest.error;
    const error = await this.mergeInto(accountId, guest);
    if (!error) await this.clearGuest(guest, accountId);
    return error;
  }

  /** The guest cart if it has lines; undefined for an empty one. */
  private async readGuest(guestId: string): Promise<CartView | { error: WireError } | undefined> {
    const r = await this.d.pool.call(cartKey(guestId), GET);
    if (!r.ok) return { error: r.error };
    const cart = r.result;
    return cart.items.length > 0 ? cart : undefined;
  }

  private async mergeInto(accountId: string, guest: CartView): Promise<WireError | undefined> {
    // Prices and stock as the catalog has them now; a sku gone from the catalog is left out.
    const lines: MergeLine[] = guest.items.map((l) => {
      const item = this.d.catalog.itemInfo(l.sku);
      return item ? { sku: l.sku, qty: l.qty, item } : { sku: l.sku, qty: l.qty };
    });
    const r = await this.d.pool.call(cartKey(accountId), { type: 'merge', guestId: guest.userId, guestVersion: guest.version, lines });
    return r.ok ? undefined : r.error;
  }

  /**
   * Clears the guest cart only at the version that was merged (a change made since stays). A
   * failure here is logged, not returned: the account has its lines, and the guest cart's stale
   * copy would merge as a no-op.
   */
  private async clearGuest(guest: CartView, accountId: string): Promise<void> {
    const r = await this.d.pool.call(cartKey(guest.userId), { type: 'clear', ifVersion: guest.version, mergedInto: accountId });
    if (!r.ok) console.error(`guest cart ${guest.userId} merged into ${accountId} but not cleared: ${r.error.code}`);
  }



  /** Domain events go to the admin feed after the fact is committed; never a password or hash. */
  private async event(name: DomainEventName, userId: string, data: Record<string, unknown>): Promise<void> {
    // Logged on the user's shard like every domain event (durable, then pushed to the admin feed
    // by that commit). A failure here does not undo the sign-in: it is logged and the event lost.
    const r = await this.d.pool.log(cartKey(userId), { name, data: { userId, ...data } });
    if (!r.ok) console.error(`${name} for ${userId} not logged: ${r.error.code}`);
  }

}

const merged = (from: Caller): { guestId?: string } => (from.guestId === undefined ? {} : { guestId: from.guestId });
