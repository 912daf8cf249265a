/**
 * CPU time of other processes, read from Linux's /proc: what a process spent on every one of its
 * threads (the V8 compiler and GC helpers too), which `process.cpuUsage()` gives only for the
 * process asking. Scenario a uses it to split a push's CPU between `npm start`'s processes without
 * changing how they run. Off Linux there is no /proc, and every reading is undefined.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second, the unit of /proc's CPU times (100 on every common Linux). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** The fields of /proc/<pid>/stat after the command's closing parenthesis (a command may hold spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User plus system CPU of `pid` and all its threads so far, in ms; undefined when it cannot be read. */
export function processCpuMs(pid: number): number | undefined {
  const fields = statFields(pid);
  // After the command: state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt,
  // cmajflt, utime, stime (fields 3 to 15 of proc(5)).
  if (fields === undefined || fields.length < 13) return undefined;
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
}

/** A running process. */
export interface RunningProcess {
  readonly pid: number;
  readonly ppid: number;
  /** Its arguments, NUL-separated in /proc, joined by spaces. */
  readonly command: string;
}

/**
 * The processes descended from `root` now, children before grandchildren; empty off Linux. By
 * ancestry, not process group: `npm start`'s stack process leads a group of its own.
 */
export function descendantProcesses(root: number): RunningProcess[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[1]);
    if (!Number.isInteger(ppid)) continue;
    const siblings = children.get(ppid);
    if (siblings === undefined) children.set(ppid, [Number(entry)]);
    else siblings.push(Number(entry));
  }
  const found: RunningProcess[] = [];
  const queue = [root];
  for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
    for (const pid of children.get(parent) ?? []) {
      try {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
        found.push({ pid, ppid: parent, command });
        queue.push(pid);
      } catch {
        // It ended while being read.
      }
    }
  }
  return found;
}
