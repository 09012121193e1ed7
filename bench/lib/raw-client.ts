// A minimal pipelining client straight on `ws` + msgpackr, for the load workers: no promise and
// no timer per request (the SDK keeps one setTimeout per call), so one load process can keep a
// few thousand requests in flight with little CPU. Frames are standard msgpack, as the protocol
// requires.
import WebSocket from 'ws';
import { Packr, Unpackr } from 'msgpackr';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export interface Req {
  id: number;
  op: string;
  args?: Record<string, unknown>;
}

export interface Reply {
  id: number | null;
  ok?: boolean;
  result?: unknown;
  error?: { code: string; message: string; details?: unknown };
  push?: string;
  data?: unknown;
}

export class RawConn {
  private id = 1;
  /** Called once per received frame with its responses, in frame order. */
  onFrame: (replies: Reply[]) => void = () => undefined;
  readonly closed: Promise<void>;
  /** Replies awaited by `call`, by id; every other reply goes to onFrame. */
  private readonly calls = new Map<number, (r: Reply) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => {
      const v = unpackr.unpack(data) as Reply | Reply[];
      let replies = Array.isArray(v) ? v : [v];
      if (this.calls.size > 0) replies = replies.filter((r) => !this.answerCall(r));
      if (replies.length > 0) this.onFrame(replies);
    });
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
  }

  static open(url: string): Promise<RawConn> {
    const wsUrl = url.replace(/^http/, 'ws').replace(/\/?$/, '/ws');
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { perMessageDeflate: false, skipUTF8Validation: true });
      ws.once('open', () => {
        ws.off('error', reject);
        ws.on('error', () => undefined); // a close follows; `closed` reports it
        resolve(new RawConn(ws));
      });
      ws.once('error', reject);
    });
  }

  /** The next request id (wraps within uint32). */
  nextId(): number {
    const id = this.id;
    this.id = id >= 0xfffffff0 ? 1 : id + 1;
    return id;
  }

  /** Sends one request, or several as one batch frame (at most 256). */
  send(reqs: Req | Req[]): void {
    this.ws.send(packr.pack(Array.isArray(reqs) && reqs.length === 1 ? reqs[0] : reqs));
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(): Promise<void> {
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
    return this.closed;
  }

  /** One request awaited by id (setup calls; the hot loop uses send/onFrame); rejects if the connection closes first. */
  call(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.nextId();
    return new Promise((resolve, reject) => {
      void this.closed.then(() => reject(new Error(`connection closed before ${op} was answered`)));
      this.calls.set(id, resolve);
      this.send({ id, op, args });
    });
  }

  private answerCall(r: Reply): boolean {
    if (typeof r.id !== 'number') return false;
    const resolve = this.calls.get(r.id);
    if (!resolve) return false;
    this.calls.delete(r.id);
    resolve(r);
    return true;
  }
}
