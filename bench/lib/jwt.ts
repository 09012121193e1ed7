// Tokens the server accepts (src/transport/auth.ts: HS256, iss/aud "cartwire", sub = userId,
// role claim), minted with the JWT_SECRET the harness gave the server. A plain HMAC here instead
// of jose's async SignJWT: a million tokens cost ~3 s of client CPU instead of ~30 s; the server
// verifies them with jose, which checks the format.
import { createHmac } from 'node:crypto';

const b64url = (s: string): string => Buffer.from(s).toString('base64url');
const HEADER = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

export class TokenMinter {
  private readonly key: Buffer;
  private readonly iat = Math.floor(Date.now() / 1000);

  constructor(
    secret: string,
    private readonly ttlSeconds = 24 * 3600,
  ) {
    this.key = Buffer.from(secret, 'utf8');
  }

  mint(userId: string, role: 'guest' | 'customer' | 'admin' = 'guest'): string {
    const payload = b64url(JSON.stringify({ role, sub: userId, iss: 'cartwire', aud: 'cartwire', iat: this.iat, exp: this.iat + this.ttlSeconds }));
    const input = `${HEADER}.${payload}`;
    return `${input}.${createHmac('sha256', this.key).update(input).digest('base64url')}`;
  }
}

/** User ids of the filled carts: stable, so a later process can mint the same tokens. */
export const benchUserId = (run: string, n: number): string => `b${run}-${n}`;
