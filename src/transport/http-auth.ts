// POST /auth/login and POST /auth/register: the WebSocket auth ops over HTTP, with JSON bodies
// validated against the same schemas. Answers are JSON: the auth result, or { error } with an
// HTTP status that matches the wire error code. Only `Content-Type: application/json` is read:
// a browser sends that cross-site only after a CORS preflight (which nothing here grants), so a
// hostile page cannot post sign-ins as a "simple request" (text/plain or a form).
import { Compile } from '../protocol/typebox.js';
import { Ops } from '../protocol/ops.js';
import { Limits, type ErrorCode, type WireError } from '../protocol/errors.js';
import type { AuthResult, OpArgs } from '../protocol/ops.js';
import type { Answer, Caller } from './dispatch.js';
import { readBody } from './http-body.js';
import { addressText, type ClientIp } from './client-ip.js';
import type { HttpResponse, ServerApp } from './transport.js';
import { log } from '../log/log.js';

/** The body limit of docs/protocol.md: the same 64 KiB as a WebSocket frame. */
export const MAX_BODY_BYTES = Limits.MAX_FRAME_BYTES;

const STATUS: Partial<Record<ErrorCode, string>> = {
  BAD_REQUEST: '400 Bad Request',
  UNAUTHENTICATED: '401 Unauthorized',
  FORBIDDEN: '403 Forbidden',
  CONFLICT: '409 Conflict',
  RATE_LIMITED: '429 Too Many Requests',
  OVERLOADED: '503 Service Unavailable',
};

/** Sign-up and sign-in, as the accounts service offers them. */
export interface AccountsPort {
  login(args: OpArgs<'auth.login'>, from: Caller): Promise<Answer<AuthResult>>;
  register(args: OpArgs<'auth.register'>, from: Caller): Promise<Answer<AuthResult>>;
}

export interface HttpAuthDeps {
  accounts: AccountsPort;
  /** False while starting or draining: answered 503 then. */
  isReady: () => boolean;
  /** The client behind a request (X-Forwarded-For from TRUST_PROXY proxies), for the per-IP limits. */
  clientIp: ClientIp;
}

function answer(res: HttpResponse, status: string, value: unknown, retryAfterMs?: number): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
    if (retryAfterMs !== undefined) res.writeHeader('retry-after', String(Math.ceil(retryAfterMs / 1000)));
    res.end(JSON.stringify(value));
  });
}

function answerError(res: HttpResponse, e: WireError): void {
  const retry = e.code === 'RATE_LIMITED' ? (e.details?.retryAfterMs as number | undefined) : undefined;
  answer(res, STATUS[e.code] ?? '500 Internal Server Error', { error: e }, retry);
}

const badRequest = (message: string): WireError => ({ code: 'BAD_REQUEST', message });

/**
 * Answers without reading the body, and closes the connection: the unread rest of the request
 * must not be taken for the next one.
 */
function refuse(res: HttpResponse, status: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: badRequest(message) });
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
    for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    res.end(body, true);
  });
}

/** `application/json`, with or without parameters; a charset other than UTF-8 is not JSON we read. */
export function isJsonContentType(header: string): boolean {
  const [type, ...params] = header.split(';');
  if (type.trim().toLowerCase() !== 'application/json') return false;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const charset = p
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') return false;
  }
  return true;
}

export function mountAuthRoutes(app: ServerApp, d: HttpAuthDeps): void {
  const route = <O extends 'auth.login' | 'auth.register'>(op: O, run: (args: never, ip: string) => Promise<Answer<AuthResult>>) => {
    const validator = Compile(Ops[op].args);
    const path = op === 'auth.login' ? '/auth/login' : '/auth/register';
    app.post(path, (res, req) => {
      if (!isJsonContentType(req.getHeader('content-type'))) {
        return refuse(res, '415 Unsupported Media Type', 'the body must be JSON sent with Content-Type: application/json');
      }
      const ip = d.clientIp.keyOf(addressText(res.getRemoteAddress()), req.getHeader('x-forwarded-for'));
      readBody(res, req, MAX_BODY_BYTES, (r, live) => {
        // The rest of an oversized body is not read: answer, and close the connection.
        if (!r.ok) return refuse(res, '413 Content Too Large', `the body is over ${MAX_BODY_BYTES} bytes`);
        if (!d.isReady()) return answerError(res, { code: 'OVERLOADED', message: 'the server is starting or shutting down' });
        let args: unknown;
        try {
          args = JSON.parse(r.body.toString('utf8'));
        } catch {
          return answerError(res, badRequest('the body is not valid JSON'));
        }
        if (typeof args !== 'object' || args === null || Array.isArray(args)) return answerError(res, badRequest('the body must be a JSON object'));
        if (!validator.Check(args)) return answerError(res, badRequest(describe(validator, args)));
        run(args as never, ip).then(
          (o) => {
            if (!live()) return;
            if (o.ok) answer(res, '200 OK', o.result);
            else answerError(res, o.error);
          },
          (err) => {
            log.error({ err }, `POST ${op} failed`);
            if (live()) answerError(res, { code: 'INTERNAL', message: 'internal error' });
          },
        );
      });
    });
    // Any other method (GET, PUT, OPTIONS...): uWS tries method-specific routes first.
    app.any(path, (res) => refuse(res, '405 Method Not Allowed', `${path} takes POST only`, { allow: 'POST' }));
  };
  route('auth.login', (args, ip) => d.accounts.login(args, { ip, via: 'http' }));
  route('auth.register', (args, ip) => d.accounts.register(args, { ip, via: 'http' }));
}

/** The first schema error, naming the field (`password must have at least 8 characters`). */
function describe(validator: ReturnType<typeof Compile>, args: unknown): string {
  for (const e of validator.Errors(args)) {
    if (e.keyword === 'boolean' && e.schemaPath.endsWith('/additionalProperties')) continue;
    const where = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : 'body';
    const extra = (e.params as { additionalProperties?: string[] }).additionalProperties;
    return extra ? `${where} has unknown field ${extra.join(', ')}` : `${where} ${e.message}`;
  }
  return 'the body is invalid';
}
