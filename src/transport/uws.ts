// The uWebSockets.js transport. The maintained build (@btc-vision/uwebsockets.js, binaries for
// Node 20/22/24/25 that need glibc >= 2.38) is tried first, then @trufflesuite/uws-js-unofficial
// (Node <= 20, older glibc), whose native binary is required directly: that package's own entry
// silently falls back to a slow JavaScript implementation, which cartwire never runs.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as UWS from '@trufflesuite/uws-js-unofficial';
import type { Listener, ServerApp, TlsOptions, Transport, WsBehavior } from './transport.js';

type Uws = typeof UWS;

const require = createRequire(import.meta.url);
const abi = `${process.platform}_${process.arch}_${process.versions.modules}`;

/** `passedOver`: why the builds tried before the one that loaded did not. */
export type UwsLoad = { ok: true; uws: Uws; library: string; passedOver: string[] } | { ok: false; why: string };

/** Why a binary did not load, in one short phrase. */
function reason(pkg: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code;
  if (code === 'MODULE_NOT_FOUND' && message.includes(`'${pkg}`)) {
    return `${pkg} is not installed`;
  }
  const glibc = /version `(GLIBC_[\d.]+)' not found/.exec(message);
  if (glibc) return `${pkg} needs ${glibc[1]}`;
  if (code === 'MODULE_NOT_FOUND') return `${pkg} has no binary for ${abi} (Node ${process.versions.node})`;
  return `${pkg}: ${message.split('\n').find((l) => l.trim() !== '') ?? message}`.slice(0, 200);
}

function versionOf(entry: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(dirname(entry), 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '?';
  } catch {
    return '?';
  }
}

/** Loads a native uWebSockets.js binary, or says why none loads. Never the JavaScript fallback. */
export function loadUws(): UwsLoad {
  const reasons: string[] = [];
  const maintained = '@btc-vision/uwebsockets.js';
  try {
    // Its entry requires the binary for this Node and throws when it cannot (no fallback).
    const uws = require(maintained) as Uws;
    return { ok: true, uws, library: `${maintained} ${versionOf(require.resolve(maintained))}`, passedOver: [] };
  } catch (err) {
    reasons.push(reason(maintained, err));
  }
  const unofficial = '@trufflesuite/uws-js-unofficial';
  try {
    const binary = `${unofficial}/binaries/uws_${abi}.node`;
    const uws = require(binary) as Uws;
    return { ok: true, uws, library: `${unofficial} ${versionOf(require.resolve(`${unofficial}/package.json`))}`, passedOver: reasons };
  } catch (err) {
    reasons.push(reason(unofficial, err));
  }
  return { ok: false, why: reasons.join('; ') };
}

export function uwsTransport(loaded: Extract<UwsLoad, { ok: true }>, why: string): Transport {
  const uws = loaded.uws;
  return {
    name: 'uws',
    description: `uWebSockets.js (${loaded.library}, Node ${process.versions.node}): ${why}${loaded.passedOver.length > 0 ? ` (${loaded.passedOver.join('; ')})` : ''}`,
    createApp: (tls) => uwsApp(uws, tls),
  };
}

/** uWS's own request, response and socket objects satisfy the interface: no wrapper on the hot path. */
function uwsApp(uws: Uws, tls: TlsOptions | undefined): ServerApp {
  const app = tls
    ? uws.SSLApp({
        cert_file_name: tls.certFile,
        key_file_name: tls.keyFile,
        ...(tls.passphrase ? { passphrase: tls.passphrase } : {}),
        // uWS asks clients for a certificate and refuses one this CA did not sign (none is fine).
        ...(tls.caFile ? { ca_file_name: tls.caFile } : {}),
      })
    : uws.App();
  return {
    get: (pattern, handler) => void app.get(pattern, handler),
    post: (pattern, handler) => void app.post(pattern, handler),
    any: (pattern, handler) => void app.any(pattern, handler),
    ws<T>(pattern: string, b: WsBehavior<T>) {
      app.ws<T>(pattern, {
        compression: uws.DISABLED,
        maxPayloadLength: b.maxPayloadLength,
        idleTimeout: b.idleTimeout,
        sendPingsAutomatically: true,
        maxBackpressure: b.maxBackpressure,
        // The first send past the limit is dropped and the socket closed (no close frame).
        closeOnBackpressureLimit: 1,
        upgrade: (res, req, context) => b.upgrade(res, req, context),
        open: (ws) => b.open(ws),
        message: (ws, message, isBinary) => b.message(ws, new Uint8Array(message), isBinary),
        close: (ws) => b.close(ws),
      });
    },
    publish: (topic, message, isBinary) => void app.publish(topic, message, isBinary),
    listen: (host, port) =>
      new Promise<Listener>((resolve, reject) =>
        app.listen(host, port, (socket) => {
          if (!socket) return reject(new Error(`cannot listen on ${host}:${port}`));
          resolve({ port: uws.us_socket_local_port(socket), close: () => uws.us_listen_socket_close(socket) });
        }),
      ),
    close: () => (app as UWS.TemplatedApp & { close(): void }).close(),
  };
}
