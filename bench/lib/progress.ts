// A progress bar on stderr during a step (cli-progress): phase, seconds, ops/s and p99 of the
// last second. Off when stderr is not a terminal or with --no-progress; then nothing is drawn.
import cliProgress from 'cli-progress';

export class Progress {
  private bar: cliProgress.SingleBar | undefined;

  constructor(readonly enabled: boolean) {}

  static create(wanted: boolean): Progress {
    return new Progress(wanted && process.stderr.isTTY === true);
  }

  /** A bar for a step of `totalS` seconds. */
  start(step: string, totalS: number): void {
    if (!this.enabled) return;
    this.stop();
    this.bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `  ${step.padEnd(24)} {bar} {value}/{total}s {phase} | {ops} ops/s | p99 {p99}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        noTTYOutput: false,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(Math.ceil(totalS), 0, { phase: 'warmup', ops: '-', p99: '-' });
  }

  update(second: number, fields: { phase: string; ops: string; p99: string }): void {
    this.bar?.update(second, fields);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
