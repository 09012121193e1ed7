// The SDK (packages/client, published as @cartwire/client) for the server's own tests and bench.
// They drive the server's failures (kill -9, drains, refusals) and want to see each one, so a
// client connected from here does not reconnect unless the caller asks (`reconnect: true`);
// the published SDK reconnects by default.
import { CartwireClient as Sdk, type ClientOptions } from '../../packages/client/src/index.js';

export * from '../../packages/client/src/index.js';

export class CartwireClient extends Sdk {
  static override connect(url: string, opts: ClientOptions = {}): Promise<Sdk> {
    return super.connect(url, { reconnect: false, ...opts });
  }
}
