// The `ws` + `node:http` transport, for where no native uWebSockets.js binary loads (a newer Node,
// an older glibc). It keeps uWS's semantics, which the rest of the server relies on:
// - a message longer than maxPayloadLength is refused at its header: the connection is dropped
//   without reading the rest (ws may get its close 1009 out first; uWS sends no close frame);
// - a send that finds more than maxBackpressure bytes unsent closes the socket (no close frame);
// - `end` and `close` run the close handler at once (uWS does), whatever the peer does next;
// - idle sockets are pinged and closed when silent for a whole check period (half the timeout);
// - topics with publish, routes by method then specificity, headers read with getHeader('name').
import { log } from '../log/log.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { isIPv4 } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { expandV6 } from './client-ip.js';
import type { HttpRequest, HttpResponse, Listener, RouteHandler, ServerApp, ServerSocket, TlsOptions, Transport, WsBehavior } from './transport.js';

export function wsTransport(why: string): Transport {
  return {
    name: 'ws',
    description: `ws + node:http (Node ${process.versions.node}): ${why}`,
    createApp: (tls) => new WsApp(tls),
  };
}

/** 4 or 16 bytes of an address as node:net reports it (IPv6 may carry a zone). */
export function addressBytes(address: string | undefined): ArrayBuffer {
  const a = address ?? '';
  if (isIPv4(a)) return new Uint8Array(a.split('.').map(Number)).buffer;
  const out = new Uint8Array(16);
  if (a === '') return out.buffer;
  expandV6(a.split('%')[0]).forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out.buffer;
}

const STATUS = /^(\d{3})\s*(.*)$/;

class Route {
  readonly parts: string[];
  /** 0: every segment literal, 1: with :params, 2: ends in a wildcard. */
  readonly rank: number;
  constructor(
    readonly method: string,
    pattern: string,
    readonly handler: RouteHandler,
  ) {
    this.parts = pattern.split('/').slice(1);
    this.rank = pattern.endsWith('*') ? 2 : pattern.includes(':') ? 1 : 0;
  }

  /** The `:param` values when `path` matches, else undefined. */
  match(segments: string[]): string[] | undefined {
    const params: string[] = [];
    for (let i = 0; i < this.parts.length; i++) {
      const p = this.parts[i];
      if (p === '*') return params;
      const s = segments[i];
      if (s === undefined) return undefined;
      if (p.startsWith(':')) params.push(decodeSegment(s));
      else if (p !== s) return undefined;
    }
    return segments.length === this.parts.length ? params : undefined;
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

class NodeRequest implements HttpRequest {
  constructor(
    private readonly req: IncomingMessage,
    private readonly params: string[],
  ) {}
  getHeader(name: string): string {
    const v = this.req.headers[name];
    return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
  }
  getParameter(index: number): string | undefined {
    return this.params[index];
  }
  getQuery(key: string): string | undefined {
    const url = this.req.url ?? '';
    const q = url.indexOf('?');
    return q < 0 ? undefined : (new URLSearchParams(url.slice(q + 1)).get(key) ?? undefined);
  }
}

/** Status and headers gathered until `end`, as uWS does. */
abstract class BufferedResponse implements HttpResponse {
  protected status = 200;
  protected statusText = 'OK';
  protected readonly headers: [string, string][] = [];
  protected ended = false;
  protected aborted = false;

  writeStatus(status: string): HttpResponse {
    const m = STATUS.exec(status);
    if (m) {
      this.status = Number(m[1]);
      this.statusText = m[2];
    }
    return this;
  }
  writeHeader(name: string, value: string): HttpResponse {
    this.headers.push([name, value]);
    return this;
  }
  cork(fn: () => void): HttpResponse {
    fn();
    return this;
  }
  abstract end(body?: string | Uint8Array, closeConnection?: boolean): HttpResponse;
  abstract onAborted(handler: () => void): HttpResponse;
  abstract onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): HttpResponse;
  abstract getRemoteAddress(): ArrayBuffer;
  upgrade<T>(_userData: T): void {
    throw new Error('upgrade() outside a WebSocket upgrade');
  }
}

class NodeResponse extends BufferedResponse {
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    super();
  }
  end(body: string | Uint8Array = '', closeConnection = false): HttpResponse {
    if (this.ended) return this;
    this.ended = true;
    const res = this.res;
    for (const [name, value] of this.headers) res.setHeader(name, value);
    res.setHeader('content-length', Buffer.byteLength(body));
    if (closeConnection) res.setHeader('connection', 'close');
    res.writeHead(this.status, this.statusText);
    res.end(body);
    return this;
  }
  onAborted(handler: () => void): HttpResponse {
    this.res.once('close', () => {
      if (!this.ended) {
        this.aborted = true;
        handler();
      }
    });
    return this;
  }
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): HttpResponse {
    this.req.on('data', (chunk: Buffer) => handler(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer, false));
    this.req.on('end', () => handler(new ArrayBuffer(0), true));
    return this;
  }
  getRemoteAddress(): ArrayBuffer {
    return addressBytes(this.req.socket.remoteAddress);
  }
}

/** The answer to an upgrade request: a raw HTTP response on the socket, or the upgrade itself. */
class UpgradeResponse extends BufferedResponse {
  constructor(
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly onUpgrade: (userData: unknown) => void,
  ) {
    super();
  }
  end(body: string | Uint8Array = ''): HttpResponse {
    if (this.ended) return this;
    this.ended = true;
    const head = [`HTTP/1.1 ${this.status} ${this.statusText}`, ...this.headers.map(([n, v]) => `${n}: ${v}`)];
    head.push(`content-length: ${Buffer.byteLength(body)}`, 'connection: close', '', '');
    if (this.socket.writable) this.socket.end(Buffer.concat([Buffer.from(head.join('\r\n')), Buffer.from(body)]));
    return this;
  }
  onAborted(handler: () => void): HttpResponse {
    this.socket.once('close', () => {
      if (!this.ended) handler();
    });
    return this;
  }
  onData(): HttpResponse {
    return this;
  }
  getRemoteAddress(): ArrayBuffer {
    return addressBytes(this.req.socket.remoteAddress);
  }
  override upgrade<T>(userData: T): void {
    if (this.ended) return;
    this.ended = true;
    this.onUpgrade(userData);
  }
}

class WsSocket<T> implements ServerSocket<T> {
  readonly topics = new Set<string>();
  /** Set once the close handler ran (or is about to): nothing is sent any more. */
  closed = false;
  /** Heard from the client since the last idle check. */
  heard = true;
  /** Over the backpressure limit: terminated, the close handler follows with the socket's close. */
  private dropped = false;
  constructor(
    readonly ws: WebSocket,
    private readonly userData: T,
    private readonly endpoint: WsEndpointState<T>,
  ) {}
  getUserData(): T {
    return this.userData;
  }
  /** `owned`: the bytes are never reused (a published push), so ws may keep them uncopied. */
  send(message: Uint8Array, isBinary: boolean, owned = false): number {
    if (this.closed || this.dropped) return 0;
    if (this.ws.bufferedAmount > this.endpoint.behavior.maxBackpressure) {
      // Past the limit: this send is dropped and the socket closed without a close frame; the
      // close handler runs when the socket has closed, as with uWS (not inside this send).
      this.dropped = true;
      this.ws.terminate();
      return 2;
    }
    // ws keeps the bytes until the kernel took them, and `message` may be a reused buffer.
    this.ws.send(owned ? message : Buffer.from(message), { binary: isBinary });
    return 1;
  }
  cork(fn: () => void): void {
    fn();
  }
  subscribe(topic: string): void {
    if (this.closed || this.topics.has(topic)) return;
    this.topics.add(topic);
    this.endpoint.app.join(topic, this);
  }
  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    this.endpoint.app.leave(topic, this);
  }
  end(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason);
    // As uWS does: the close frame, then the end of the connection, without waiting for the
    // peer's close frame (ws would wait up to 30 s for it).
    rawSocket(this.ws)?.end();
    this.endpoint.closed(this);
  }
  close(): void {
    if (this.closed) return;
    this.ws.terminate();
    this.endpoint.closed(this);
  }
  getBufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
}

/** The TCP socket under a ws WebSocket (ws keeps it in `_socket`). */
function rawSocket(ws: WebSocket): Duplex | undefined {
  return (ws as unknown as { _socket?: Duplex })._socket;
}

class WsEndpointState<T> {
  readonly sockets = new Set<WsSocket<T>>();
  readonly server: WebSocketServer;
  private readonly idle: NodeJS.Timeout | undefined;
  constructor(
    readonly app: WsApp,
    readonly behavior: WsBehavior<T>,
  ) {
    this.server = new WebSocketServer({ noServer: true, maxPayload: behavior.maxPayloadLength, perMessageDeflate: false, clientTracking: false });
    if (behavior.idleTimeout > 0) {
      this.idle = setInterval(() => this.checkIdle(), (behavior.idleTimeout * 1000) / 2);
      this.idle.unref();
    }
  }

  /** Silent since the last check (a ping went out then): closed; else pinged. */
  private checkIdle(): void {
    for (const s of this.sockets) {
      if (!s.heard) {
        s.close();
        continue;
      }
      s.heard = false;
      s.ws.ping();
    }
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const res = new UpgradeResponse(req, socket, (userData) => {
      this.server.handleUpgrade(req, socket, head, (ws) => this.open(ws, userData as T));
    });
    try {
      this.behavior.upgrade(res, new NodeRequest(req, []), this);
    } catch (err) {
      log.error({ err }, 'websocket upgrade failed');
      socket.destroy();
    }
  }

  private open(ws: WebSocket, userData: T): void {
    const s = new WsSocket(ws, userData, this);
    this.sockets.add(s);
    const heard = () => (s.heard = true);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      s.heard = true;
      if (!s.closed) this.behavior.message(s, data, isBinary);
    });
    ws.on('pong', heard);
    ws.on('ping', heard);
    // Protocol errors (a message over maxPayload, a bad frame): dropped at once, as uWS does. ws
    // has written its close frame (1009, 1002...) but would go on reading what the peer sends
    // until the peer closes (16 MiB streamed under a 256 MiB header, say).
    ws.on('error', () => {
      this.closed(s);
      rawSocket(ws)?.destroy();
    });
    ws.on('close', () => this.closed(s));
    this.behavior.open(s);
  }

  /** Runs the close handler once. */
  closed(s: WsSocket<T>): void {
    if (s.closed) return;
    s.closed = true;
    this.sockets.delete(s);
    for (const topic of s.topics) this.app.leave(topic, s);
    s.topics.clear();
    this.behavior.close(s);
  }

  shutdown(): void {
    clearInterval(this.idle);
    for (const s of [...this.sockets]) s.close();
    this.server.close();
  }
}

class WsApp implements ServerApp {
  private readonly routes: Route[] = [];
  private readonly endpoints = new Map<string, WsEndpointState<unknown>>();
  private readonly topics = new Map<string, Set<WsSocket<unknown>>>();
  private readonly server: Server;

  constructor(tls: TlsOptions | undefined) {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => this.request(req, res);
    this.server = tls ? tlsServer(tls, onRequest) : createServer({ noDelay: true }, onRequest);
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const endpoint = this.endpoints.get(pathOf(req.url));
      if (endpoint) return endpoint.upgrade(req, socket, head);
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
    // A socket that breaks mid-request is the client's problem, not the server's.
    this.server.on('clientError', (_err, socket: Duplex) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  get(pattern: string, handler: RouteHandler): void {
    this.routes.push(new Route('GET', pattern, handler));
  }
  post(pattern: string, handler: RouteHandler): void {
    this.routes.push(new Route('POST', pattern, handler));
  }
  any(pattern: string, handler: RouteHandler): void {
    this.routes.push(new Route('*', pattern, handler));
  }
  ws<T>(pattern: string, behavior: WsBehavior<T>): void {
    this.endpoints.set(pattern, new WsEndpointState(this, behavior));
  }

  join(topic: string, s: WsSocket<unknown>): void {
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    set.add(s);
  }
  leave(topic: string, s: WsSocket<unknown>): void {
    const set = this.topics.get(topic);
    if (set?.delete(s) && set.size === 0) this.topics.delete(topic);
  }
  publish(topic: string, message: Uint8Array, isBinary: boolean): void {
    const set = this.topics.get(topic);
    if (!set) return;
    for (const s of [...set]) s.send(message, isBinary, true);
  }

  listen(host: string, port: number): Promise<Listener> {
    const server = this.server;
    return new Promise((resolve, reject) => {
      const failed = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}`, { cause: err }));
      server.once('error', failed);
      server.listen(port, host, () => {
        server.off('error', failed);
        const address = server.address();
        resolve({ port: typeof address === 'object' && address ? address.port : port, close: () => void server.close() });
      });
    });
  }

  close(): void {
    for (const e of this.endpoints.values()) e.shutdown();
    this.server.close();
    this.server.closeAllConnections();
  }

  private request(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const segments = pathOf(req.url).split('/').slice(1);
    let best: { route: Route; params: string[] } | undefined;
    for (const pass of [method, '*']) {
      for (const route of this.routes) {
        if (route.method !== pass || (best && best.route.rank <= route.rank)) continue;
        const params = route.match(segments);
        if (params) best = { route, params };
      }
      if (best) break;
    }
    const response = new NodeResponse(req, res);
    if (!best) return void response.writeStatus('404 Not Found').end('');
    try {
      best.route.handler(response, new NodeRequest(req, best.params));
    } catch (err) {
      log.error({ err }, 'http handler failed');
      response.writeStatus('500 Internal Server Error').end('', true);
    }
  }
}

/** An https server with uWS's semantics: a client certificate is asked for (TLS_CA_FILE), optional, refused when not signed by the CA. */
function tlsServer(tls: TlsOptions, onRequest: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createTlsServer(
    {
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      ...(tls.passphrase ? { passphrase: tls.passphrase } : {}),
      ...(tls.caFile ? { ca: readFileSync(tls.caFile), requestCert: true, rejectUnauthorized: false } : {}),
      noDelay: true,
    },
    onRequest,
  );
  if (tls.caFile) {
    server.on('secureConnection', (socket: TLSSocket) => {
      const presented = Object.keys(socket.getPeerCertificate()).length > 0;
      if (presented && !socket.authorized) socket.destroy();
    });
  }
  return server;
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}
