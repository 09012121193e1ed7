// One shard worker's life, supervised: spawned with a heap limit, restarted when it dies (an
// exception outside a request, out of memory, a bug at start), with a growing backoff while it
// keeps dying so a crash loop cannot spin. The pool answers the dead worker's requests.
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import type { FromShard, ShardOptions, ToShard } from '../workers/shard-messages.js';
import { log } from '../log/log.js';

export type LinkState = 'starting' | 'up' | 'down' | 'stopping' | 'stopped';

export interface LinkEvents {
  message(m: FromShard): void;
  /** The worker died; it restarts after `restartInMs`. */
  down(reason: string, restartInMs: number): void;
}

/** First restart delay; doubles per crash within CRASH_WINDOW_MS, up to MAX_BACKOFF_MS. */
const BASE_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 30_000;
const CRASH_WINDOW_MS = 60_000;

export interface WorkerSpec {
  opts: ShardOptions;
  catalogHere: boolean;
  /** V8 old-space limit of the worker, MiB: a runaway shard dies alone instead of taking the process. */
  maxHeapMb: number;
}

export class ShardLink {
  state: LinkState = 'starting';
  restarts = 0;
  /** Why the worker last died, for logs, metrics and /readyz. */
  lastCrash: string | undefined;
  /** When the worker is expected back (epoch ms), while down. */
  backAt = 0;
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private readonly crashes: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private stoppedResolve: (() => void) | undefined;

  constructor(
    readonly shard: number,
    private readonly spec: WorkerSpec,
    private readonly events: LinkEvents,
  ) {}

  /** Spawns the worker; `ready` arrives as a message once it has opened its database. */
  start(): void {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(new URL('../workers/shard/shard-boot.js', import.meta.url), {
      workerData: { opts: this.spec.opts, port: port2, catalogHere: this.spec.catalogHere },
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: this.spec.maxHeapMb },
    });
    this.worker = worker;
    this.port = port1;
    this.state = 'starting';
    let gone = false;
    const died = (reason: string) => {
      if (gone) return;
      gone = true;
      port1.close();
      this.onDeath(reason);
    };
    port1.on('message', (m: FromShard) => {
      if (this.worker !== worker) return; // a late message of a dead worker
      if (m.t === 'ready') this.state = 'up';
      if (m.t === 'stopped') {
        worker.terminate().catch((err: unknown) => log.error({ err }, `stopping shard ${this.shard} failed`));
      }
      this.events.message(m);
    });
    // A worker that fails while stopping (its last snapshot refused by the disk, say) is not
    // restarted: the stop completes, and what was acknowledged is in the journal already.
    const stopped = (): boolean => {
      if (this.state !== 'stopping' && this.state !== 'stopped') return false;
      this.state = 'stopped';
      this.stoppedResolve?.();
      return true;
    };
    worker.on('error', (err) => {
      if (stopped()) return log.error({ err }, `shard ${this.shard} failed while stopping`);
      died(`crashed: ${err.stack ?? String(err)}`);
    });
    worker.on('exit', (code) => {
      if (!stopped()) died(`exited unexpectedly (code ${code})`);
    });
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  post(m: ToShard): void {
    this.port?.postMessage(m);
  }

  /** How long a caller should wait before retrying a request this shard refused while down. */
  retryAfterMs(now = Date.now()): number {
    return Math.max(100, this.backAt - now + 500);
  }

  private onDeath(reason: string): void {
    this.worker = undefined;
    this.port = undefined;
    this.state = 'down';
    this.lastCrash = reason;
    const now = Date.now();
    this.crashes.push(now);
    while (this.crashes.length > 0 && this.crashes[0] < now - CRASH_WINDOW_MS) this.crashes.shift();
    const delay = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (this.crashes.length - 1));
    this.backAt = now + delay;
    this.events.down(reason, delay);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.state !== 'down') return;
      this.restarts++;
      this.start();
    }, delay);
  }

  /** Asks the worker to snapshot and close, and waits for its exit. */
  stop(): Promise<void> {
    clearTimeout(this.restartTimer);
    if (!this.worker || this.state === 'stopped') {
      this.state = 'stopped';
      return Promise.resolve();
    }
    this.state = 'stopping';
    const done = new Promise<void>((resolve) => (this.stoppedResolve = resolve));
    this.post({ t: 'stop' });
    return done;
  }

  /** Stops the worker at once, without a snapshot (a start that failed half-way). */
  async terminate(): Promise<void> {
    clearTimeout(this.restartTimer);
    this.state = 'stopped';
    await this.worker?.terminate();
  }
}
