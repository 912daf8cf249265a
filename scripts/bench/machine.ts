/** The machine a bench ran on, as the README and the JSON report it. */
import { execFileSync } from 'node:child_process';
import { cpus, freemem, loadavg, platform, release, totalmem } from 'node:os';

/** What was true of the machine during a run. */
export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly freeMemoryGiB: number;
  readonly os: string;
  readonly node: string;
  /** `ulimit -n` (soft), which bounds how many sockets one process may hold. */
  readonly openFilesLimit: number | undefined;
  /** 1-minute load average when the run started: other work on a shared machine shows here. */
  readonly loadAverage: number;
}

/** The soft open-files limit of this process, from the shell builtin; undefined if unknown. */
export function openFilesLimit(): number | undefined {
  try {
    const out = execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    const value = Number(out);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Describes this machine. */
export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpu: (list[0]?.model ?? 'unknown').replace(/\s+/g, ' ').trim(),
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    openFilesLimit: openFilesLimit(),
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** One line for humans: `2 × Intel(R) Xeon(R) Processor, 23.5 GiB, linux 6.1, Node v20.20.2`. */
export function machineLine(info: MachineInfo): string {
  return `${info.cores} × ${info.cpu}, ${info.memoryGiB} GiB RAM, ${info.os}, Node ${info.node}, load ${info.loadAverage} at start`;
}
