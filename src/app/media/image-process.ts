// The server's side of the image process (workers/media/resize-process.ts): started on first
// use, restarted after it dies, a bounded number of jobs outstanding. A job of a process that
// died fails (the upload answers 500, nothing is stored); the next job starts a new process.
import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { IngestDone, JobResult, ResizeJob, ResizeReply, ResizeRequest } from '../../workers/media/resize-messages.js';
import { log } from '../../log/log.js';

const ENTRY = fileURLToPath(new URL('../../workers/media/resize-process.js', import.meta.url));

/** Jobs sent and not answered, at most: uploads beyond are refused as overloaded. */
export const MAX_OUTSTANDING_JOBS = 32;

export class ImageProcessBusy extends Error {}
export class ImageProcessFailed extends Error {}

interface Pending {
  resolve(r: JobResult): void;
  reject(err: Error): void;
}

export class ImageProcess {
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private closed = false;

  get outstanding(): number {
    return this.pending.size;
  }

  async ingest(job: Extract<ResizeJob, { type: 'ingest' }>): Promise<IngestDone> {
    const r = await this.run(job);
    if ('done' in r) return r.done;
    throw new ImageProcessFailed('failed' in r ? r.failed : 'unexpected answer');
  }

  /** Runs a job that answers `ok`: a copy or a rendering. */
  async make(job: Exclude<ResizeJob, { type: 'ingest' }>): Promise<void> {
    const r = await this.run(job);
    if (!('ok' in r)) throw new ImageProcessFailed('failed' in r ? r.failed : 'unexpected answer');
  }

  close(): void {
    this.closed = true;
    this.child?.kill('SIGKILL');
    this.child = undefined;
    const err = new ImageProcessFailed('the server is shutting down');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private async run(job: ResizeJob): Promise<JobResult> {
    if (this.closed) throw new ImageProcessFailed('the server is shutting down');
    if (this.pending.size >= MAX_OUTSTANDING_JOBS) throw new ImageProcessBusy('too many images are being processed');
    const seq = (this.seq = (this.seq % 0x7fffffff) + 1);
    const answer = new Promise<JobResult>((resolve, reject) => this.pending.set(seq, { resolve, reject }));
    try {
      await this.start();
      this.child!.send({ seq, job } satisfies ResizeRequest);
    } catch (err) {
      this.pending.delete(seq);
      throw err;
    }
    return answer;
  }

  private start(): Promise<void> {
    if (this.child && this.ready) return this.ready;
    const child = fork(ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.child = child;
    this.ready = new Promise<void>((resolve, reject) => {
      child.once('spawn', () => {
        // Lowest priority at once; the process lowers its other threads itself.
        try {
          setPriority(child.pid!, 19);
        } catch {
          // not permitted: it runs at normal priority
        }
      });
      child.on('message', (m: ResizeReply) => {
        if (m.seq === 0) return resolve();
        const p = this.pending.get(m.seq);
        this.pending.delete(m.seq);
        p?.resolve(m);
      });
      child.once('exit', (code, signal) => {
        if (this.child === child) {
          this.child = undefined;
          this.ready = undefined;
        }
        const err = new ImageProcessFailed(`the image process exited (${signal ?? code})`);
        reject(err);
        if (this.closed) return;
        log.error({ code, signal, jobs: this.pending.size }, 'the image process exited; its jobs failed');
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
    });
    return this.ready;
  }
}
