// The seam between the server and the library that speaks HTTP and WebSocket on its port. Two
// implementations: uWebSockets.js (uws.ts) when a native binary loads, and `ws` + `node:http`
// (ws-transport.ts) otherwise. The interface is the part of uWS's API the server uses, so the uWS
// objects pass through unwrapped on the hot path; the `ws` transport reproduces its semantics
// (backpressure limit, payload limit, idle timeout, topics, header access during the callback).

/** One HTTP request, readable only during the route (or upgrade) callback. */
export interface HttpRequest {
  /** A header by its lower-case name; '' when absent. */
  getHeader(lowerCaseName: string): string;
  /** The value of the route's n-th `:param`. */
  getParameter(index: number): string | undefined;
  /** A query-string parameter, decoded; undefined when absent. */
  getQuery(key: string): string | undefined;
}

/** The answer to one HTTP request; `cork` groups writes into one send. */
export interface HttpResponse {
  /** E.g. '404 Not Found'. */
  writeStatus(status: string): HttpResponse;
  writeHeader(name: string, value: string): HttpResponse;
  /** Ends the response; `closeConnection` also closes the connection (its unread rest is dropped). */
  end(body?: string | Uint8Array, closeConnection?: boolean): HttpResponse;
  cork(fn: () => void): HttpResponse;
  /** Called if the client goes away before the response ended. Required of any handler that answers later. */
  onAborted(handler: () => void): HttpResponse;
  /** The body, chunk by chunk; a chunk is valid only during the call. */
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): HttpResponse;
  /** The peer's address as 4 (IPv4) or 16 (IPv6) bytes. */
  getRemoteAddress(): ArrayBuffer;
  /** Completes a WebSocket upgrade (inside the `upgrade` callback of `ServerApp.ws`). */
  upgrade<T>(userData: T, secWebSocketKey: string, secWebSocketProtocol: string, secWebSocketExtensions: string, context: UpgradeContext): void;
}

/** Opaque to the server: what the `upgrade` callback hands back to `res.upgrade`. */
export type UpgradeContext = object;

/** One open WebSocket. Calling it after its `close` callback ran is a bug. */
export interface ServerSocket<T> {
  getUserData(): T;
  /**
   * Queues a message; past the backpressure limit the socket is closed instead (no close frame).
   * `message` may be a view of a buffer the caller reuses: what is kept past the call is a copy.
   */
  send(message: Uint8Array, isBinary: boolean): unknown;
  cork(fn: () => void): unknown;
  subscribe(topic: string): unknown;
  unsubscribe(topic: string): unknown;
  /** A graceful close with a close frame. */
  end(code: number, reason: string): void;
  /** An abrupt close: no close frame. */
  close(): void;
  /** Bytes queued for this socket and not yet handed to the kernel. */
  getBufferedAmount(): number;
}

export interface WsBehavior<T> {
  /** Messages longer than this are refused at their header (the socket is dropped). */
  maxPayloadLength: number;
  /** Seconds without a frame from the client before it is closed (pinged first); 0 = never. */
  idleTimeout: number;
  /** Unsent bytes of one socket beyond which it is closed at the next send. */
  maxBackpressure: number;
  upgrade(res: HttpResponse, req: HttpRequest, context: UpgradeContext): void;
  open(ws: ServerSocket<T>): void;
  /** `message` is valid only during the call. */
  message(ws: ServerSocket<T>, message: Uint8Array, isBinary: boolean): void;
  close(ws: ServerSocket<T>): void;
}

export type RouteHandler = (res: HttpResponse, req: HttpRequest) => void;

/** Routes and WebSocket endpoints on one listener; method-specific routes win over `any`, exact paths over `/*`. */
export interface ServerApp {
  get(pattern: string, handler: RouteHandler): void;
  post(pattern: string, handler: RouteHandler): void;
  any(pattern: string, handler: RouteHandler): void;
  ws<T>(pattern: string, behavior: WsBehavior<T>): void;
  /** Sends to every socket subscribed to `topic`. */
  publish(topic: string, message: Uint8Array, isBinary: boolean): void;
  /** Listens on host:port (0: a free port); rejects when it cannot. */
  listen(host: string, port: number): Promise<Listener>;
  /** Closes the listener and every connection still open. */
  close(): void;
}

export interface Listener {
  readonly port: number;
  /** Stops accepting; open connections stay. */
  close(): void;
}

export type TransportName = 'uws' | 'ws';

/** PEM files for an https/wss listener (see TlsFiles in the configuration). */
export interface TlsOptions {
  certFile: string;
  keyFile: string;
  passphrase?: string;
  caFile?: string;
}

export interface Transport {
  readonly name: TransportName;
  /** One line for the log: the library, and why this transport runs. */
  readonly description: string;
  /** A listener's app; with `tls`, it speaks https and wss only. */
  createApp(tls?: TlsOptions): ServerApp;
}

/** A transport was forced (TRANSPORT=uws) and cannot run here. */
export class TransportUnavailableError extends Error {}

/**
 * The transport to run: `uws` or `ws` when forced, else uWS when a native binary loads and
 * `ws` + `node:http` otherwise.
 */
export async function loadTransport(choice: TransportName | 'auto'): Promise<Transport> {
  if (choice === 'ws') return (await import('./ws-transport.js')).wsTransport('TRANSPORT=ws');
  const { loadUws, uwsTransport } = await import('./uws.js');
  const loaded = loadUws();
  if (loaded.ok) return uwsTransport(loaded, choice === 'uws' ? 'TRANSPORT=uws' : 'a native binary loaded');
  if (choice === 'uws') {
    throw new TransportUnavailableError(
      `TRANSPORT=uws, but no native uWebSockets.js binary loads here (${loaded.why}); cartwire never runs uWS's JavaScript fallback. Unset TRANSPORT (or set TRANSPORT=ws) to run on ws + node:http.`,
    );
  }
  return (await import('./ws-transport.js')).wsTransport(`no native uWebSockets.js binary loads here: ${loaded.why}`);
}
