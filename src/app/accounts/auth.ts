// Credentials and tokens: JWTs (jose, HS256 only), guest identities, and accounts whose
// passwords are argon2id hashes in the user store. Limits, guest-cart merge and events are in
// accounts.ts. Passwords are never logged, stored or echoed; only their hashes are kept.
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import { randomId } from '../../protocol/ids.js';
import type { AuthResult } from '../../protocol/ops.js';
import type { Identity, Role } from '../../protocol/types.js';
import type { UserRecord, UserStore } from '../../persistence/user-store.js';
import { DEFAULT_PREFERENCES, type Profile, type UserVault } from './user-vault.js';

const ISSUER = 'cartwire';
const AUDIENCE = 'cartwire';
const ROLES: ReadonlySet<string> = new Set(['guest', 'customer', 'admin']);
/**
 * OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. @node-rs/argon2's hash and verify run on
 * libuv's thread pool (napi AsyncTask), so a login never blocks the event loop.
 */
export const ARGON2 = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export type { Identity };

export const newUserId = (prefix: 'g' | 'u'): string => randomId(prefix, 12);

export class Auth {
  private readonly key: Uint8Array;
  /** Verified against when the email is unknown, so both failures cost the same. */
  private dummyHash: Promise<string>;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
    readonly vault: UserVault,
  ) {
    this.key = new TextEncoder().encode(secret);
    this.dummyHash = hash(randomBytes(16).toString('hex'), ARGON2);
  }

  private get users(): UserStore {
    return this.vault.store;
  }

  /** A token for `id` under the account's token generation (`gen`: earlier ones are refused). */
  async issue(id: Identity, gen = 0): Promise<AuthResult> {
    const token = await new SignJWT({ role: id.role, gen })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(id.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key);
    return { token, userId: id.userId, role: id.role };
  }

  /**
   * The identity in a token, or undefined when it is malformed, forged, expired, not ours, or
   * issued before the account's last logout, password or role change, or the account is erased.
   */
  async verifyToken(token: string): Promise<Identity | undefined> {
    let sub: string, role: string, gen: number;
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
      if (typeof payload.sub !== 'string' || typeof payload.role !== 'string' || !ROLES.has(payload.role)) return undefined;
      [sub, role, gen] = [payload.sub, payload.role, typeof payload.gen === 'number' ? payload.gen : 0];
    } catch (err) {
      if (err instanceof joseErrors.JOSEError || err instanceof TypeError) return undefined;
      throw err;
    }
    const u = await this.users.get(sub);
    // No row (a guest that kept nothing yet): nothing was ever revoked, the first generation holds.
    if (!u) return gen === 0 ? { userId: sub, role: role as Role } : undefined;
    if (u.erasedAt !== null || u.tokenGen !== gen || u.role !== role) return undefined;
    return { userId: sub, role: u.role };
  }

  guest(): Promise<AuthResult> {
    return this.issue({ userId: newUserId('g'), role: 'guest' });
  }

  /**
   * Email + password; undefined for an unknown email or a wrong password alike. An unknown email
   * verifies against a dummy hash of the same cost, so both failures take as long.
   */
  async login(email: string, password: string): Promise<AuthResult | undefined> {
    const user = await this.users.findByEmailHash(this.vault.emailHash(email));
    const good = await verify(user?.passwordHash ?? (await this.dummyHash), password);
    if (!user || !good) return undefined;
    return this.issue({ userId: user.id, role: user.role }, user.tokenGen);
  }

  /** Whether the password is the account's (argon2id off the main thread). */
  async checkPassword(u: UserRecord, password: string): Promise<boolean> {
    return verify(u.passwordHash ?? (await this.dummyHash), password);
  }

  hashPassword(password: string): Promise<string> {
    return hash(password, ARGON2);
  }

  /** Whether an account has this email (normalized). */
  async emailTaken(email: string): Promise<boolean> {
    return (await this.users.findByEmailHash(this.vault.emailHash(email))) !== undefined;
  }

  /**
   * Creates a customer with id `userId` (made by the caller: its cart may be filled before the
   * row exists). Returns undefined when the email is taken, also by a concurrent registration.
   */
  async register(userId: string, email: string, password: string, name: string | undefined): Promise<AuthResult | undefined> {
    const passwordHash = await hash(password, ARGON2);
    const profile: Profile = { email, name: name ?? '', preferences: { ...DEFAULT_PREFERENCES }, addresses: [], paymentMethods: [] };
    if (!(await this.users.tryInsert(this.vault.newRecord(userId, 'customer', passwordHash, profile, Date.now())))) return undefined;
    return this.issue({ userId, role: 'customer' });
  }

  /**
   * Creates the admin account on first start. Returns the generated password when none was
   * configured, for the caller to print once.
   */
  async bootstrapAdmin(email: string, configuredPassword: string | undefined): Promise<string | undefined> {
    if (await this.emailTaken(email)) return undefined;
    const password = configuredPassword ?? randomBytes(18).toString('base64url');
    const profile: Profile = { email, name: 'Administrator', preferences: { ...DEFAULT_PREFERENCES }, addresses: [], paymentMethods: [] };
    const created = await this.users.tryInsert(this.vault.newRecord(newUserId('u'), 'admin', await hash(password, ARGON2), profile, Date.now()));
    // Not created: someone else created it meanwhile, with a password we did not make.
    return created && !configuredPassword ? password : undefined;
  }
}
