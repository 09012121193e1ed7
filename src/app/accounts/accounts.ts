// Sign-up and sign-in, for the WebSocket ops and the HTTP endpoints alike: attempt limits per IP,
// per email and IP (with growing delays) and per email, the guest-cart merge, and the
// user_registered / user_logged_in events on the admin feed. Credentials and tokens themselves
// are auth.ts.
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
import { KeyedBackoff, KeyedLimiter } from '../../transport/rate-limit.js';
import { cartKey } from '../../protocol/keys.js';
import { log } from '../../log/log.js';

export type AuthOutcome = Answer<AuthResult>;

export type { Caller };

export interface AccountsDeps {
  auth: Auth;
  pool: ShardPool;
  catalog: CatalogView;
  limits: LimitsConfig;
  /** Moves a guest's saved addresses and payment methods into the account it signs in to. */
  adoptGuestBook?: (guestId: string, account: Identity) => Promise<WireError | undefined>;
}

const GET = Object.freeze({ type: 'get' }) satisfies CartCommand;
const refused = (error: WireError): Answer<never> => ({ ok: false, error });
const wrongCredentials = (): Answer<never> => fail('UNAUTHENTICATED', 'wrong email or password');
const rateLimited = (retryAfterMs: number): Answer<never> => fail('RATE_LIMITED', `too many sign-in attempts; retry in ${retryAfterMs} ms`, { retryAfterMs });

/**
 * The attempt limits. Failures are counted when an attempt starts (a success undoes its count), so
 * attempts sent together see each other. The per-email ceiling is far above the per-pair limit:
 * one address guessing a password locks out only itself, and only many addresses together can
 * shut an email for everyone. Every refusal comes before any hashing and whether or not the
 * account exists, so it tells nothing about the account.
 */
export class Accounts {
  /** Every attempt counts per IP: each costs an argon2id hash. */
  private readonly byIp: KeyedLimiter;
  /** Per email and IP, attempts that did not succeed (a success forgets the pair). */
  private readonly byPair: KeyedLimiter;
  /** Growing waits per email and IP after repeated failures (a success forgets them). */
  private readonly delays: KeyedBackoff;
  /** Per email from every IP, attempts that did not succeed (a success gives its token back). */
  private readonly byEmail: KeyedLimiter;

  constructor(private readonly d: AccountsDeps) {
    const l = d.limits;
    const bucket = (attempts: number, windowSec: number) => new KeyedLimiter({ capacity: attempts, ratePerSec: attempts / windowSec });
    this.byIp = bucket(l.authIpAttempts, l.authIpWindowSec);
    this.byPair = bucket(l.authPairAttempts, l.authPairWindowSec);
    this.byEmail = bucket(l.authEmailAttempts, l.authEmailWindowSec);
    this.delays = new KeyedBackoff({ free: l.authDelayAfter, baseMs: l.authDelayBaseMs, maxMs: l.authDelayMaxMs, forgetMs: l.authPairWindowSec * 1000 });
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
    this.succeeded(from.ip, email);
    if (from.guestId !== undefined && from.guestId !== r.userId) {
      const error = (await this.mergeGuest(from.guestId, r.userId)) ?? (await this.adoptBook(from.guestId, r));
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
    if (await this.d.auth.emailTaken(email)) return taken();
    const userId = newUserId('u');
    const guest = from.guestId !== undefined ? await this.readGuest(from.guestId) : undefined;
    if (guest && 'error' in guest) return refused(guest.error);
    if (guest) {
      const error = await this.mergeInto(userId, guest);
      if (error) return refused(error);
    }
    const r = await this.d.auth.register(userId, email, args.password, args.name);
    if (!r) return taken();
    this.succeeded(from.ip, email);
    if (guest) await this.clearGuest(guest, userId);
    if (from.guestId !== undefined) {
      // The account exists and is signed in: a failure here leaves the book with the guest.
      const error = await this.adoptBook(from.guestId, r);
      if (error) log.error(`guest ${from.guestId} book not moved into ${userId}: ${error.code}`);
    }
    // No email or name: the event log and the admin feed carry no personal data.
    await this.event('user_registered', userId, { role: r.role, at: Date.now(), via: from.via, ...merged(from) });
    return { ok: true, result: r };
  }

  /**
   * An attempt against the limits: a RATE_LIMITED outcome, or undefined when it may run (it then
   * counts as a failure of its email and IP until succeeded() says otherwise). A refused attempt
   * costs only the per-IP token: it neither lengthens the wait nor spends the email's tokens.
   * Password checks of signed-in users (password change, erasure) use it with their user id.
   */
  takeAttempt(ip: string, email: string): Answer<never> | undefined {
    const now = performance.now();
    const ipWait = this.byIp.take(ip, now);
    if (ipWait > 0) return rateLimited(ipWait);
    const pair = pairKey(email, ip);
    const delay = this.delays.wait(pair, now);
    if (delay > 0) return rateLimited(delay);
    const pairWait = this.byPair.take(pair, now);
    if (pairWait > 0) return rateLimited(pairWait);
    const emailWait = this.byEmail.take(email, now);
    if (emailWait > 0) {
      this.byPair.give(pair);
      return rateLimited(emailWait);
    }
    this.delays.fail(pair, now);
    return undefined;
  }

  /** The credentials were right: the pair starts over, and the email gets its token back. */
  succeeded(ip: string, email: string): void {
    const pair = pairKey(email, ip);
    this.byPair.reset(pair);
    this.delays.reset(pair);
    this.byEmail.give(email);
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

  /** The guest's saved addresses and payment methods move into the account (idempotent). */
  private adoptBook(guestId: string, account: Identity): Promise<WireError | undefined> {
    return this.d.adoptGuestBook ? this.d.adoptGuestBook(guestId, account) : Promise.resolve(undefined);
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
    if (!r.ok) log.error(`guest cart ${guest.userId} merged into ${accountId} but not cleared: ${r.error.code}`);
  }

  /** Domain events go to the admin feed after the fact is committed; never a password or hash. */
  private async event(name: DomainEventName, userId: string, data: Record<string, unknown>): Promise<void> {
    // Logged on the user's shard like every domain event (durable, then pushed to the admin feed
    // by that commit). A failure here does not undo the sign-in: it is logged and the event lost.
    const r = await this.d.pool.log(cartKey(userId), { name, data: { userId, ...data } });
    if (!r.ok) log.error(`${name} for ${userId} not logged: ${r.error.code}`);
  }
}

/** A normalized email holds no whitespace (the Email schema), nor does an IP key: the space separates them unambiguously. */
const pairKey = (email: string, ip: string): string => `${ip} ${email}`;

const merged = (from: Caller): { guestId?: string } => (from.guestId === undefined ? {} : { guestId: from.guestId });
