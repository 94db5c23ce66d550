/**
 * What a server process costs, read from /proc like `pidusage` does:
 * CPU seconds (utime + stime) from /proc/<pid>/stat, resident memory from
 * /proc/<pid>/status. Linux only; the bench runs on Linux.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    const out = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    ticks = Number.isFinite(out) && out > 0 ? out : 100;
  }
  return ticks;
}

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which sits in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}

/** Sum of `cpuSeconds` over several processes. */
export const totalCpuSeconds = (pids: readonly number[]): number => pids.reduce((s, p) => s + cpuSeconds(p), 0);

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}
