// Credentials and tokens: JWTs (jose, HS256 only), guest identities, and accounts whose
// passwords are argon2id hashes in system.db. Limits, guest-cart merge and events are in
// accounts.ts. Passwords are never logged, stored or echoed; only their hashes are kept.
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import { randomId } from '../../protocol/ids.js';
import type { AuthResult } from '../../protocol/ops.js';
import type { Identity, Role } from '../../protocol/types.js';
import type { UserStore } from '../../persistence/user-store.js';

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
    private readonly users: UserStore,
  ) {
    this.key = new TextEncoder().encode(secret);
    this.dummyHash = hash(randomBytes(16).toString('hex'), ARGON2);
  }

  async issue(id: Identity): Promise<AuthResult> {
    const token = await new SignJWT({ role: id.role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(id.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key);
    return { token, userId: id.userId, role: id.role };
  }

  /** The identity in a token, or undefined when it is malformed, forged, expired or not ours. */
  async verifyToken(token: string): Promise<Identity | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
      const role = payload.role;
      if (typeof payload.sub !== 'string' || typeof role !== 'string' || !ROLES.has(role)) return undefined;
      return { userId: payload.sub, role: role as Role };
    } catch (err) {
      if (err instanceof joseErrors.JOSEError || err instanceof TypeError) return undefined;
      throw err;
    }
  }

  guest(): Promise<AuthResult> {
    return this.issue({ userId: newUserId('g'), role: 'guest' });
  }

  /**
   * Email + password; undefined for an unknown email or a wrong password alike. An unknown email
   * verifies against a dummy hash of the same cost, so both failures take as long.
   */
  async login(email: string, password: string): Promise<AuthResult | undefined> {
    const user = await this.users.findByEmail(email);
    const good = await verify(user ? user.passwordHash : await this.dummyHash, password);
    if (!user || !good) return undefined;
    return this.issue({ userId: user.id, role: user.role });
  }

  /** Whether an account has this email (normalized). */
  async emailTaken(email: string): Promise<boolean> {
    return (await this.users.findByEmail(email)) !== undefined;
  }

  /**
   * Creates a customer with id `userId` (made by the caller: its cart may be filled before the
   * row exists). Returns undefined when the email is taken, also by a concurrent registration.
   */
  async register(userId: string, email: string, password: string, name: string | undefined): Promise<AuthResult | undefined> {
    const passwordHash = await hash(password, ARGON2);
    if (!(await this.users.tryInsert({ id: userId, email, name: name ?? null, role: 'customer', passwordHash, createdAt: Date.now() }))) return undefined;
    return this.issue({ userId, role: 'customer' });
  }

  /**
   * Creates the admin account on first start. Returns the generated password when none was
   * configured, for the caller to print once.
   */
  async bootstrapAdmin(email: string, configuredPassword: string | undefined): Promise<string | undefined> {
    if (await this.users.findByEmail(email)) return undefined;
    const password = configuredPassword ?? randomBytes(18).toString('base64url');
    const created = await this.users.tryInsert({
      id: newUserId('u'),
      email,
      name: 'Administrator',
      role: 'admin',
      passwordHash: await hash(password, ARGON2),
      createdAt: Date.now(),
    });
    // Not created: someone else created it meanwhile, with a password we did not make.
    return created && !configuredPassword ? password : undefined;
  }
}
