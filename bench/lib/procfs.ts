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
  return statCpuMicros(`/proc/${pid}/stat`);
}

/**
 * CPU time of a process's main thread alone (its thread id is the pid), µs: the server's uWS
 * thread, the edge every request crosses. Unlike a profile's samples, it counts no time the
 * thread waited for a core.
 */
export function mainThreadCpuMicros(pid: number): number {
  return statCpuMicros(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuMicros(path: string): number {
  const stat = readFileSync(path, 'utf8');
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

export interface AnonMapping {
  range: string;
  perms: string;
  sizeKiB: number;
  rssKiB: number;
  anonKiB: number;
  path: string;
}

/**
 * The anonymous memory of a process by mapping (/proc/<pid>/smaps), largest resident first:
 * tells the brk heap ([heap]), glibc thread arenas (rw parts of 64 MiB reservations) and V8
 * heap pages apart, roughly.
 */
export function anonMappings(pid: number): AnonMapping[] {
  const out: AnonMapping[] = [];
  let cur: AnonMapping | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      if (cur && cur.anonKiB > 0) out.push(cur);
      const size = (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024;
      cur = { range: `${head[1]}-${head[2]}`, perms: head[3], sizeKiB: size, rssKiB: 0, anonKiB: 0, path: head[4] };
      continue;
    }
    const f = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (f && cur) {
      if (f[1] === 'Rss') cur.rssKiB = Number(f[2]);
      else cur.anonKiB = Number(f[2]);
    }
  }
  if (cur && cur.anonKiB > 0) out.push(cur);
  return out.sort((a, b) => b.anonKiB - a.anonKiB);
}

/**
 * CPU time the whole machine has been busy (every core: user, nice, system, irq, softirq,
 * steal of /proc/stat), in microseconds. Minus the server's and the load's, it is what others
 * on a shared machine took during a window.
 */
export function machineBusyMicros(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
  return (busy * 1e6) / clockTicks();
}
