// The process's logger: one JSON line per event on stdout (pino), with a level, pretty-printed
// when stdout is a terminal. Shard worker threads import the same module and write to the same
// file descriptor; lines are written synchronously, so the last ones before a crash are not lost,
// and each is one write, so lines of different threads never interleave.
// Built synchronously: a top-level await here would make every thread's module graph async, and
// a worker thread torn down while such a graph settles aborts the process on Node 22 and 24 (V8's
// SourceTextModule::AsyncModuleExecutionFulfilled, "Check failed: (location_) != nullptr").
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import { logSettings, type LogFormat, type LogSettings } from './settings.js';

export type { Logger, LogSettings };

/**
 * Never written, wherever they appear in a logged object: secrets and personal data. Messages
 * name users by their server-made ids only; this is the net under that rule.
 */
const REDACT = ['password', 'token', 'email', 'shippingAddress', 'authorization', 'args'].flatMap((k) => [k, `*.${k}`]);

function destination(format: LogFormat, fd: number): DestinationStream {
  if (format === 'json') return pino.destination({ dest: fd, sync: true });
  // Loaded only for a terminal: JSON lines need none of it.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return pretty({ destination: fd, sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' });
}

/** A logger writing to `fd` (1: stdout). Errors go under `err`, with their `cause` chain. */
export function createLogger(settings: LogSettings, fd = 1): Logger {
  return pino(
    {
      level: settings.level,
      serializers: { err: pino.stdSerializers.errWithCause },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    destination(settings.format, fd),
  );
}

/** The root logger of this process or worker thread. */
export const log: Logger = createLogger(logSettings());
