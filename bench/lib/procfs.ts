// Linux /proc readers: CPU time (all threads of a process) and resident memory.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck: number | undefined;

/** Clock ticks per second of the utime/stime fields (getconf CLK_TCK; 100 on every common kernel). */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/**
 * CPU time consumed so far by a process, all its threads included (utime + stime of
 * /proc/<pid>/stat), in microseconds. Resolution is one clock tick (10 ms at CLK_TCK=100).
 */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (field 14) is fields[11] and stime (field 15) fields[12].
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / clockTicks();
}

/** Sum of cpuMicros over several pids (a missing pid counts 0: it already exited). */
export function cpuMicrosOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuMicros(pid);
    } catch {
      /* exited */
    }
  }
  return total;
}

export interface MemStatus {
  /** Resident set, KiB. */
  vmRssKiB: number;
  /** Anonymous resident memory (heaps, malloc), KiB. */
  rssAnonKiB: number;
  /** File-backed resident memory (code, mapped files), KiB. */
  rssFileKiB: number;
  /** Peak resident set, KiB. */
  vmHwmKiB: number;
  threads: number;
}

/** Memory figures of /proc/<pid>/status. */
export function memStatus(pid: number): MemStatus {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { vmRssKiB: kib('VmRSS'), rssAnonKiB: kib('RssAnon'), rssFileKiB: kib('RssFile'), vmHwmKiB: kib('VmHWM'), threads: kib('Threads') };
}

export const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;
