// LOG_LEVEL and LOG_FORMAT. Kept apart from the logger so that config.ts can check them without
// creating one.
import { isatty } from 'node:tty';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogSettings {
  level: LogLevel;
  format: LogFormat;
}

/**
 * LOG_LEVEL and LOG_FORMAT, leniently: an unknown value falls back to the default here, and
 * config.ts refuses it at start with a message naming the variable.
 */
export function logSettings(env: NodeJS.ProcessEnv = process.env, stdoutIsTty = isatty(1)): LogSettings {
  const level = (env.LOG_LEVEL ?? '').toLowerCase();
  const format = (env.LOG_FORMAT ?? '').toLowerCase();
  return {
    level: (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevel) : 'info',
    format: (LOG_FORMATS as readonly string[]).includes(format) ? (format as LogFormat) : stdoutIsTty ? 'pretty' : 'json',
  };
}
