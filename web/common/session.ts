// The page's connection to the shop: the project's SDK over the same WebSocket as every client.
// The session token is kept in localStorage, so a reload or a second window of the same browser
// resumes as the same user (and sees the same live cart).
import { CartwireClient, CartwireError, type Session } from '@cartwire/client';

export interface Connected {
  client: CartwireClient;
  /** Undefined when no stored token was accepted (the page decides: guest, or a sign-in form). */
  session: Session | undefined;
}

const stored = (key: string): string | undefined => localStorage.getItem(key) ?? undefined;

/** Connects to this page's origin, resuming the token stored under `key` when it is still good. */
export async function connect(key: string): Promise<Connected> {
  const token = stored(key);
  if (token) {
    try {
      const client = await CartwireClient.connect(location.origin, { token });
      return { client, session: client.session };
    } catch (err) {
      // An expired or revoked token: start over without it. Anything else is a real failure.
      if (!(err instanceof CartwireError && err.code === 'UNAUTHENTICATED')) throw err;
      localStorage.removeItem(key);
    }
  }
  return { client: await CartwireClient.connect(location.origin), session: undefined };
}

/** Keeps the token of the auth answer for the next load; returns the session it made. */
export function remember(key: string, auth: { token: string; userId: string; role: Session['role'] }): Session {
  localStorage.setItem(key, auth.token);
  return { userId: auth.userId, role: auth.role };
}

export const forget = (key: string): void => localStorage.removeItem(key);

/** A readable line for a failed call: the server's message, or the SDK's. */
export function errorText(err: unknown): string {
  if (err instanceof CartwireError) return err.message || err.code;
  return err instanceof Error ? err.message : String(err);
}
