// Child processes the harness must never leave behind (the server, redis-server, load workers):
// killed when the harness exits, however it exits short of kill -9 (redis-server has its own
// guard against that: see redis-peer.ts); and temporary dirs removed the same way.
import type { ChildProcess } from 'node:child_process';

const children = new Set<ChildProcess>();
const tasks = new Set<() => void>();
let installed = false;

function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  children.clear();
  for (const t of tasks) {
    try {
      t();
    } catch {
      /* best effort on the way out */
    }
  }
  tasks.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const [sig, n] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(128 + n);
    });
  }
}

/** Kills `proc` if it is still running when the harness exits or is signalled; forgotten once it exits. */
export function killOnExit(proc: ChildProcess): void {
  install();
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
}

/** Runs `task` (synchronous) if the harness exits or is signalled before `cancel` is called. */
export function atExit(task: () => void): () => void {
  install();
  tasks.add(task);
  return () => tasks.delete(task);
}
