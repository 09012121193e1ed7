// The cartwire client SDK (Node with `ws`, or any browser WebSocket). Calls made in the same tick
// leave as one batch frame; replies are matched by id whatever their order. Reconnects and
// subscriptions come with the accounts issue; this is the core the tests and the bench use.
import { Packr, Unpackr } from 'msgpackr';
import type { OpArgs, OpName } from '../protocol/schemas.js';
import type { OpResults } from '../protocol/ops.js';
import type { ErrorCode } from '../protocol/errors.js';

export type { OpName, OpArgs, OpResults, ErrorCode };

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** A failed call: the server's error code, message and details. */
export class CartwireError extends Error {
  override name = 'CartwireError';
  constructor(
    readonly code: ErrorCode | 'TIMEOUT' | 'CLOSED',
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(`${code}: ${message}`);
  }
}

interface MinimalSocket {
  binaryType: string;
  readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
type SocketCtor = new (url: string) => MinimalSocket;

export interface ClientOptions {
  /** WebSocket constructor; defaults to the global one, else the `ws` package. */
  WebSocket?: SocketCtor;
  /** Per-call timeout in ms (default 10 s). */
  timeoutMs?: number;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export type PushHandler = (push: string, data: unknown) => void;

export class CartwireClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private queue: Record<string, unknown>[] = [];
  private readonly pushHandlers = new Set<PushHandler>();
  /** Frames the server answered with `id: null` (BAD_FRAME and batch-level errors). */
  readonly unmatched: { code: string; message: string }[] = [];
  closeInfo: { code: number; reason: string } | undefined;
  private readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(private readonly ws: MinimalSocket, private readonly timeoutMs: number) {
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev) => this.onFrame(new Uint8Array(ev.data as ArrayBuffer));
    this.closed = new Promise((resolve) => {
      ws.onclose = (ev) => {
        this.closeInfo = { code: ev.code, reason: String(ev.reason) };
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new CartwireError('CLOSED', `connection closed (${ev.code})`));
        }
        this.pending.clear();
        resolve(this.closeInfo);
      };
    });
  }

  /** Opens a connection to `ws://host:port/ws` (an http:// base URL is accepted too). */
  static async connect(url: string, opts: ClientOptions = {}): Promise<CartwireClient> {
    const Ctor = opts.WebSocket ?? (globalThis as { WebSocket?: SocketCtor }).WebSocket ?? ((await import('ws')).default as unknown as SocketCtor);
    const wsUrl = url.replace(/^http/, 'ws').replace(/\/?$/, '').replace(/(\/ws)?$/, '/ws');
    const ws = new Ctor(wsUrl);
    const client = new CartwireClient(ws, opts.timeoutMs ?? 10_000);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new CartwireError('CLOSED', `cannot connect to ${wsUrl}`));
    });
    ws.onerror = null;
    return client;
  }

  /** Calls an op; calls made in the same tick share one frame. */
  call<O extends OpName>(op: O, args: OpArgs<O>, opts: { signal?: AbortSignal } = {}): Promise<OpResults[O]> {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise<OpResults[O]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CartwireError('TIMEOUT', `${op} got no answer in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      opts.signal?.addEventListener('abort', () => {
        if (this.pending.delete(id)) {
          clearTimeout(timer);
          reject(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('aborted'));
        }
      }, { once: true });
      if (this.queue.length === 0) queueMicrotask(() => this.flush());
      this.queue.push({ id, op, args });
    });
  }

  private flush(): void {
    const q = this.queue;
    this.queue = [];
    if (q.length === 0 || this.ws.readyState !== 1) return;
    for (let i = 0; i < q.length; i += 256) {
      const part = q.slice(i, i + 256);
      this.ws.send(packr.pack(part.length === 1 ? part[0] : part));
    }
  }

  /** Sends raw bytes (conformance and fuzz tests). */
  sendRaw(bytes: Uint8Array | string): void {
    (this.ws.send as (d: Uint8Array | string) => void)(bytes);
  }

  onPush(handler: PushHandler): () => void {
    this.pushHandlers.add(handler);
    return () => this.pushHandlers.delete(handler);
  }

  private onFrame(bytes: Uint8Array): void {
    const value = unpackr.unpack(bytes) as unknown;
    for (const m of Array.isArray(value) ? value : [value]) this.onResponse(m as Record<string, unknown>);
  }

  private onResponse(m: Record<string, unknown>): void {
    if (typeof m.push === 'string') {
      for (const h of this.pushHandlers) h(m.push, m.data);
      return;
    }
    const error = m.error as { code: ErrorCode; message: string; details?: Record<string, unknown> } | undefined;
    const p = typeof m.id === 'number' ? this.pending.get(m.id) : undefined;
    if (!p) {
      if (error) this.unmatched.push({ code: error.code, message: error.message });
      return;
    }
    this.pending.delete(m.id as number);
    clearTimeout(p.timer);
    if (m.ok === true) p.resolve(m.result);
    else p.reject(new CartwireError(error?.code ?? 'INTERNAL', error?.message ?? 'unknown error', error?.details));
  }

  /** Resolves when the server (or we) closed the connection. */
  whenClosed(): Promise<{ code: number; reason: string }> {
    return this.closed;
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState <= 1) this.ws.close(1000);
    return this.closed;
  }
}
