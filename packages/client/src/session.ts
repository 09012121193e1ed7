// Who the client is signed in as, and the token a reconnect resumes with: both come from the last
// successful auth.guest / auth.login / auth.register / auth.resume (docs/client.md).
import type { Role } from './protocol/ops.js';
import type { Session } from './events.js';
import type { WireRequest } from './wire.js';

export class SessionMemory {
  /** What `auth.resume` is sent with at connect and after every reconnect. */
  token: string | undefined;
  current: Session | undefined;

  constructor(token: string | undefined) {
    this.token = token;
  }

  /** Every successful call: an auth.* answer carrying a user replaces the token and the session (true then). */
  remember(msg: WireRequest, result: unknown): boolean {
    if (!msg.op.startsWith('auth.')) return false;
    const r = result as { token?: unknown; userId?: unknown; role?: unknown };
    // auth.resume answers without a token: the one it was sent with stays good.
    const token = typeof r?.token === 'string' ? r.token : msg.op === 'auth.resume' ? (msg.args as { token: string }).token : undefined;
    if (token === undefined || typeof r.userId !== 'string') return false;
    this.token = token;
    this.current = { userId: r.userId, role: r.role as Role };
    return true;
  }

  /** The connection's own auth.resume succeeded. */
  resumed(result: Session): void {
    this.current = { userId: result.userId, role: result.role };
  }
}
