// The WebSocket the SDK needs: the browser's global one, or the `ws` package in Node (loaded
// lazily so that browser bundles never see it). Only the WHATWG surface is used.

export interface MinimalSocket {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type SocketCtor = new (url: string) => MinimalSocket;

export const OPEN = 1;

let wsFallback: Promise<SocketCtor> | undefined;

/** The given constructor, else the global WebSocket, else the `ws` package (Node 20 has no global one). */
export function socketCtor(given?: SocketCtor): SocketCtor | Promise<SocketCtor> {
  if (given) return given;
  const global = (globalThis as { WebSocket?: SocketCtor }).WebSocket;
  if (global) return global;
  // A variable specifier keeps bundlers from pulling `ws` into browser builds.
  const name = 'ws';
  return (wsFallback ??= import(name).then((m: { default: unknown }) => m.default as SocketCtor));
}

/** `http://host:port`, `ws://host:port` or either with `/ws` -> `ws://host:port/ws`. */
export function wsUrl(url: string): string {
  return url
    .replace(/^http/, 'ws')
    .replace(/\/?$/, '')
    .replace(/(\/ws)?$/, '/ws');
}

/** Bytes of a message event (ArrayBuffer with binaryType 'arraybuffer'; Buffer from some `ws` setups). */
export function messageBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined; // a text frame: the server never sends one
}
