// The WebSocket endpoint `/ws`: upgrade admission (readiness, per-IP rate, capacity, Origin),
// one Connection per socket, frames handed to the edge, and slow consumers cut off by the
// transport's backpressure limit (transport.ts: uWS or ws + node:http).
import { CloseCode, Limits } from '../protocol/errors.js';
import type { ServerApp, ServerSocket } from './transport.js';
import { Connection, type SocketData } from './connection.js';
import { KeyedLimiter, TokenBucket } from './rate-limit.js';
import { addressText, type ClientIp } from './client-ip.js';
import type { Edge } from './edge.js';
import { log } from '../log/log.js';

/** Largest frame the transport accepts before we look at it: bigger ones are refused at their header. */
const TRANSPORT_MAX_PAYLOAD = 16 * Limits.MAX_FRAME_BYTES;
/**
 * Slow consumers: a connection with more than this unsent (replies and pushes it does not read)
 * is closed, so one stalled client cannot grow the server's memory.
 */
const MAX_BACKPRESSURE_BYTES = 4 * 1024 * 1024;

export type UpgradeRefusal = 'rate' | 'capacity' | 'per-ip' | 'origin' | 'starting' | 'draining';

export interface WsLimits {
  maxConnections: number;
  /** Open connections from one client IP (IPv6: one /64). */
  maxConnectionsPerIp: number;
  /** Unsent bytes over all connections beyond which the slowest consumers are closed. */
  maxUnsentBytes: number;
  ipConnectsPerSec: number;
  ipConnectsBurst: number;
  connRequestsPerSec: number;
  connRequestsBurst: number;
  idleTimeoutSec: number;
}

export interface WsEndpointDeps {
  edge: Edge;
  limits: WsLimits;
  /** Origins allowed to open a WebSocket (browsers send one); undefined: any. */
  allowedOrigins: string[] | undefined;
  /** False until every shard has recovered: a client would get wrong answers such as NOT_FOUND. */
  isReady: () => boolean;
  clientIp: ClientIp;
  metrics: { upgradeRefused(reason: UpgradeRefusal): void; connectionOpened(): void; connectionClosed(): void; slowConsumersShed(n: number): void };
}

export interface WsEndpoint {
  /** Closes every open connection with `code` (shutdown). */
  closeAll(code: number, reason: string): void;
  readonly size: number;
}

/** How often the unsent bytes of all connections are added up. */
const UNSENT_SWEEP_MS = 250;

export function mountWebSocket(app: ServerApp, d: WsEndpointDeps): WsEndpoint {
  const connections = new Set<Connection>();
  /** Open connections per client key: bounded by the connections themselves. */
  const perIp = new Map<string, number>();
  const limits = d.limits;
  const connectsByIp = new KeyedLimiter({ capacity: limits.ipConnectsBurst, ratePerSec: limits.ipConnectsPerSec });
  const edge = d.edge;

  app.ws<SocketData>('/ws', {
    maxPayloadLength: TRANSPORT_MAX_PAYLOAD,
    idleTimeout: limits.idleTimeoutSec,
    maxBackpressure: MAX_BACKPRESSURE_BYTES,
    upgrade: (res, req, context) => {
      const origin = req.getHeader('origin');
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      if (edge.draining || !d.isReady()) {
        d.metrics.upgradeRefused(edge.draining ? 'draining' : 'starting');
        res.writeStatus('503 Service Unavailable').end(edge.draining ? 'shutting down' : 'starting');
        return;
      }
      // Refusals are plain HTTP answers before the upgrade: nothing is allocated for them.
      const ip = d.clientIp.keyOf(addressText(res.getRemoteAddress()), req.getHeader('x-forwarded-for'));
      const wait = connectsByIp.take(ip, performance.now());
      if (wait > 0) {
        d.metrics.upgradeRefused('rate');
        res
          .writeStatus('429 Too Many Requests')
          .writeHeader('retry-after', String(Math.ceil(wait / 1000)))
          .end('too many connections from this address');
        return;
      }
      if (connections.size >= limits.maxConnections) {
        d.metrics.upgradeRefused('capacity');
        res.writeStatus('503 Service Unavailable').writeHeader('retry-after', '5').end('connection limit reached');
        return;
      }
      if ((perIp.get(ip) ?? 0) >= limits.maxConnectionsPerIp) {
        d.metrics.upgradeRefused('per-ip');
        res.writeStatus('429 Too Many Requests').writeHeader('retry-after', '5').end('too many open connections from this address');
        return;
      }
      // Against cross-site WebSocket hijacking: browsers always send the page's Origin, so a
      // foreign one is refused. No Origin at all is a non-browser client (which could claim any).
      if (d.allowedOrigins && origin !== '' && !d.allowedOrigins.includes(origin)) {
        d.metrics.upgradeRefused('origin');
        res.writeStatus('403 Forbidden').end('origin not allowed');
        return;
      }
      const rate = limits.connRequestsPerSec > 0 ? new TokenBucket(limits.connRequestsBurst, limits.connRequestsPerSec, performance.now()) : undefined;
      res.upgrade<SocketData>({ conn: new Connection(ip, rate) }, key, protocol, extensions, context);
    },
    open: (ws) => {
      const conn = ws.getUserData().conn;
      conn.ws = ws;
      connections.add(conn);
      perIp.set(conn.ip, (perIp.get(conn.ip) ?? 0) + 1);
      d.metrics.connectionOpened();
    },
    message: (ws, message, isBinary) => {
      // Frames over the protocol's limit close with 1009 before anything is decoded.
      if (message.byteLength > Limits.MAX_FRAME_BYTES) return ws.end(CloseCode.MESSAGE_TOO_BIG, 'frame over 64 KiB');
      let close: number | undefined;
      try {
        close = edge.onMessage(ws.getUserData().conn, message, isBinary);
      } catch (err) {
        // A bug, not the client's fault: log it and keep serving everyone else.
        log.error({ err }, 'edge failed on a frame');
      }
      if (close !== undefined) ws.end(close, 'too many bad frames');
    },
    close: (ws: ServerSocket<SocketData>) => {
      const conn = ws.getUserData().conn;
      conn.closed = true;
      edge.onClose(conn);
      conn.ws = undefined;
      connections.delete(conn);
      const n = (perIp.get(conn.ip) ?? 1) - 1;
      if (n > 0) perIp.set(conn.ip, n);
      else perIp.delete(conn.ip);
      d.metrics.connectionClosed();
    },
  });

  // Each connection may buffer up to MAX_BACKPRESSURE_BYTES; many slow readers together could
  // still take the machine's memory. Past the global cap the connections with the most unsent
  // bytes are closed first, until the rest fit.
  const sweep = setInterval(() => {
    let total = 0;
    for (const c of connections) total += c.ws?.getBufferedAmount() ?? 0;
    if (total <= limits.maxUnsentBytes) return;
    const slowest = [...connections].map((c) => ({ c, n: c.ws?.getBufferedAmount() ?? 0 })).sort((a, b) => b.n - a.n);
    let shed = 0;
    for (const { c, n } of slowest) {
      if (total <= limits.maxUnsentBytes || n === 0) break;
      c.ws?.close(); // abrupt: a consumer this slow would not read a close frame either
      total -= n;
      shed++;
    }
    d.metrics.slowConsumersShed(shed);
  }, UNSENT_SWEEP_MS);
  sweep.unref();

  return {
    closeAll(code, reason) {
      clearInterval(sweep);
      for (const c of [...connections]) c.ws?.end(code, reason);
    },
    get size() {
      return connections.size;
    },
  };
}
