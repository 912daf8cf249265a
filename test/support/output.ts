/**
 * What a child process printed, for tests that run a command line as a user would.
 */
import type { ChildProcess } from 'node:child_process';

/** A finished child's exit code and everything it wrote. */
export interface ChildOutput {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Collects `child`'s stdout and stderr until it closes: 'close', not 'exit', so output written by
 * a process it started (a `>(cat)` in bash) that outlives it is not cut off.
 *
 * @example
 * const { code, stdout } = await outputOf(spawn('bash', ['-c', 'echo hi']));
 */
export function outputOf(child: ChildProcess): Promise<ChildOutput> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
