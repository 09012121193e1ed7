// Loads uWebSockets.js's native binary directly. The package's own entry silently falls back to
// a slow JavaScript implementation when the binary cannot load; we refuse to run on that.
import { createRequire } from 'node:module';
import type * as UWS from '@trufflesuite/uws-js-unofficial';
import { log } from '../log/log.js';

const require = createRequire(import.meta.url);
const binary = `@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;

function load(): typeof UWS {
  try {
    return require(binary) as typeof UWS;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    log.error(
      `cartwire: the native uWebSockets.js binary did not load (${binary}): ${why}\n` +
        "cartwire does not run on the package's JavaScript fallback. Use Node 20 on linux/darwin x64/arm64, or win32 x64.",
    );
    process.exit(1);
  }
}

export const uws = load();
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
