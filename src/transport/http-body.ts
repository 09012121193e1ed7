// Request bodies over uWS: chunks arrive through onData and their ArrayBuffers are neutered when
// the callback returns, so each is copied; a body over the limit stops being buffered at once.
import type { HttpRequest, HttpResponse } from './transport.js';

export type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too-large' };

/**
 * Reads the whole body of `res`, at most `maxBytes`. Call it synchronously inside the route
 * handler: it registers onAborted, which uWS requires of any handler that answers later. The
 * callback runs once, unless the client goes away first; `live()` tells whether `res` may still
 * be answered (false once the client is gone).
 */
export function readBody(res: HttpResponse, req: HttpRequest, maxBytes: number, done: (r: BodyResult, live: () => boolean) => void): void {
  let finished = false;
  let aborted = false;
  const live = () => !aborted;
  const finish = (r: BodyResult) => {
    if (finished) return;
    finished = true;
    done(r, live);
  };
  res.onAborted(() => {
    aborted = true;
    finished = true;
  });
  // A declared length over the limit is refused before a byte of the body is read.
  const declared = Number(req.getHeader('content-length') || '0');
  if (declared > maxBytes) return finish({ ok: false, reason: 'too-large' });
  const chunks: Buffer[] = [];
  let size = 0;
  res.onData((chunk, isLast) => {
    if (finished) return;
    size += chunk.byteLength;
    if (size > maxBytes) return finish({ ok: false, reason: 'too-large' });
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast) finish({ ok: true, body: Buffer.concat(chunks, size) });
  });
}
