// A WebSocket client written by hand over a plain TCP socket, for the tests that need what a
// WebSocket library hides: stop reading the socket at the TCP level (the kernel buffers fill and
// the server's sends back up), write frame headers that lie about their length, and see exactly
// how the server ended the connection (a close frame, a FIN, or a reset).
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Unpackr } from 'msgpackr';
import { pack } from './raw-socket.js';
import { Waiters } from './waiters.js';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export interface Message {
  id?: number | null;
  ok?: boolean;
  result?: unknown;
  error?: { code: string; message: string };
  push?: string;
  data?: unknown;
}

/** A client frame header (FIN set, masked, as every client frame must be) for `length` payload bytes. */
export function frameHeader(length: number, opcode = 0x2, fin = true): Buffer {
  const first = (fin ? 0x80 : 0) | opcode;
  if (length < 126) return Buffer.from([first, 0x80 | length]);
  if (length < 65536) {
    const h = Buffer.from([first, 0x80 | 126, 0, 0]);
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = first;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

/** One whole masked client frame. The mask is all zeros: a valid mask that leaves bytes as they are. */
export function clientFrame(payload: Uint8Array, opcode = 0x2): Buffer {
  return Buffer.concat([frameHeader(payload.length, opcode), Buffer.alloc(4), payload]);
}

export class TcpWebSocket {
  /** Binary messages received, array frames flattened, decoded. */
  readonly messages: Message[] = [];
  /** Bytes received after the upgrade response. */
  bytes = 0;
  /** A close frame from the server, if one came. */
  closeFrame: { code: number; reason: string } | undefined;
  /** The server's FIN arrived. */
  ended = false;
  /** The socket is gone (after a FIN, a reset, or our own destroy). */
  closed = false;
  error: NodeJS.ErrnoException | undefined;
  /** The status line of a refused upgrade. */
  refused: string | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private upgraded = false;
  private readonly waiters = new Waiters();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      if (this.upgraded) this.bytes += d.length;
      this.parse();
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (e) => {
      this.error = e;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Connects and performs the opening handshake; rejects unless the server answers 101. */
  static async open(baseUrl: string): Promise<TcpWebSocket> {
    const { hostname, port } = new URL(baseUrl);
    const socket = net.connect(Number(port), hostname);
    const s = new TcpWebSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await s.waitFor(() => s.upgraded || s.closed, 'the upgrade response');
    if (!s.upgraded) throw new Error(`no WebSocket: ${s.refused ?? 'the server closed the connection during the handshake'}`);
    return s;
  }

  /** Sends one request map as one binary frame. */
  request(id: number, op: string, args: Record<string, unknown> = {}): void {
    this.socket.write(clientFrame(pack({ id, op, args })));
  }

  /** Sends bytes as they are (a frame built by the test, or part of one). */
  write(bytes: Uint8Array): boolean {
    return this.socket.write(bytes);
  }

  /**
   * Stops reading: once Node's small read buffer is full it stops taking bytes from the kernel,
   * the kernel's receive buffer fills, the window closes, and the server's writes back up.
   */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Bytes of an incomplete frame still waiting for the rest of it. */
  get pendingBytes(): number {
    return this.buf.length;
  }

  answerTo(id: number): Message | undefined {
    return this.messages.find((m) => m.id === id);
  }

  waitFor(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    return this.waiters.waitFor(pred, what, () => this.describe(), timeoutMs);
  }

  describe(): string {
    return `${this.messages.length} messages, ${this.bytes} bytes, close frame ${JSON.stringify(this.closeFrame)}, ended ${this.ended}, closed ${this.closed}, error ${this.error?.code}`;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    this.waiters.notify();
  }

  private parse(): void {
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 101 /.test(head)) {
        this.refused = head.split('\r\n')[0];
        this.socket.destroy();
        return;
      }
      this.buf = this.buf.subarray(end + 4);
      this.bytes = this.buf.length;
      this.upgraded = true;
    }
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b.length < at + len) return;
      const opcode = b[0] & 0x0f;
      const payload = b.subarray(at, at + len);
      this.buf = b.subarray(at + len);
      if (opcode === 0x2) {
        const v = unpackr.unpack(payload) as Message | Message[];
        for (const m of Array.isArray(v) ? v : [v]) this.messages.push(m);
      } else if (opcode === 0x8) {
        this.closeFrame = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString('utf8') };
      }
      // Pings (0x9) are not answered: a client that does not read does not answer them either.
    }
  }
}
