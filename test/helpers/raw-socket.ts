// A WebSocket that sends whatever bytes a test gives it and records every response, push and
// the close: for the transport rules the SDK would never break on purpose.
import WebSocket from 'ws';
import { Packr, Unpackr } from 'msgpackr';
import { Waiters } from './waiters.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Standard msgpack (no msgpackr records), as a conforming client would send it. */
export const pack = (value: unknown): Buffer => packr.pack(value);

export interface WireResponse {
  id: number | null;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string; details?: Record<string, unknown> };
}

export interface Closed {
  code: number;
  reason: string;
}

export class RawSocket {
  /** Responses in arrival order, array frames flattened. */
  readonly responses: WireResponse[] = [];
  /** Frames received, before flattening (to tell a batch answer from single ones). */
  frames = 0;
  closed: Closed | undefined;
  private readonly waiters = new Waiters();
  private nextId = 1_000_000;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames++;
      const value = unpackr.unpack(data) as WireResponse | WireResponse[];
      for (const r of Array.isArray(value) ? value : [value]) this.responses.push(r);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    // A reset while we still write a large frame shows up here; the close event follows.
    ws.on('error', () => {});
  }

  static async open(baseUrl: string): Promise<RawSocket> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawSocket(ws);
  }

  /** Sends bytes as one binary frame, or a string as one text frame. */
  send(frame: Uint8Array | string): void {
    this.ws.send(frame, { binary: typeof frame !== 'string' });
  }

  /** Sends one message as several WebSocket fragments (a first frame and continuations). */
  sendFragments(parts: Uint8Array[]): void {
    parts.forEach((part, i) => this.ws.send(part, { binary: true, fin: i === parts.length - 1 }));
  }

  /** Sends one request map and returns its id. */
  request(op: string, args?: unknown, id = this.nextId++): number {
    this.send(pack(args === undefined ? { id, op } : { id, op, args }));
    return id;
  }

  /** Resolves once `pred` holds; rejects after the deadline with `what` and what arrived. */
  waitFor(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    return this.waiters.waitFor(pred, what, () => `got ${JSON.stringify(this.responses.slice(-5))}, closed ${JSON.stringify(this.closed)}`, timeoutMs);
  }

  /** The responses to `id`, once `count` of them arrived. */
  async answers(id: number | null, count = 1): Promise<WireResponse[]> {
    const of = () => this.responses.filter((r) => r.id === id);
    await this.waitFor(() => of().length >= count, `${count} response(s) to id ${id}`);
    return of();
  }

  /** The single response to a request sent with `id`. */
  async answer(id: number): Promise<WireResponse> {
    return (await this.answers(id, 1))[0];
  }

  /** Sends a ping and waits for its answer: the connection still works. */
  async ping(): Promise<WireResponse> {
    return this.answer(this.request('ping', {}));
  }

  async whenClosed(timeoutMs = 5000): Promise<Closed> {
    await this.waitFor(() => this.closed !== undefined, 'the close', timeoutMs);
    return this.closed!;
  }

  /** Stops reading (the server's writes back up in the kernel and its own buffers) until `resume`. */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  close(): void {
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }

  private wake(): void {
    this.waiters.notify();
  }
}
