/** The parent side of stack-child.ts: start it, ask it for its memory, end it. */
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ChildRequest } from './stack-child';

const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'stack-child.ts');

/** What the child reported when ready. */
export type ChildInfo = Extract<ChildMessage, { type: 'ready' }>;

/** A running child. */
export interface StackChild {
  readonly info: ChildInfo;
  readonly pid: number;
  /** The child's memory, after a full GC when `gc` is true, and its open connection count. */
  memory(gc: boolean): Promise<{ usage: NodeJS.MemoryUsage; openConnections: number }>;
  /** Ends the child (exit at once: its DynamoDB is in memory) and waits for it to go. */
  exit(): Promise<void>;
}

/**
 * Forks a child hosting a local stack with `options` (or a bare ws server with `raw`).
 *
 * @example
 * const child = await startStackChild({});
 * const { usage } = await child.memory(true);
 */
export function startStackChild(
  options: Record<string, unknown>,
  { raw = false, timeoutMs = 60_000 }: { raw?: boolean; timeoutMs?: number } = {},
): Promise<StackChild> {
  const child: ChildProcess = fork(ENTRY, [JSON.stringify(options), ...(raw ? ['--raw'] : [])], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, (message: Extract<ChildMessage, { type: 'memory' }>) => void>();
  let nextId = 1;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise<StackChild>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the stack child did not get ready within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the stack child exited with ${code} before it was ready`));
    });
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`the stack child failed: ${message.message}`));
      } else if (message.type === 'memory') {
        waiting.get(message.id)?.(message);
        waiting.delete(message.id);
      } else if (message.type === 'ready') {
        clearTimeout(timer);
        resolve({
          info: message,
          pid: child.pid as number,
          memory: (gc) =>
            new Promise((done) => {
              const id = nextId++;
              waiting.set(id, (m) => done({ usage: m.usage, openConnections: m.openConnections }));
              child.send({ type: 'memory', id, gc } satisfies ChildRequest);
            }),
          exit: async () => {
            if (child.exitCode === null && child.connected)
              child.send({ type: 'exit' } satisfies ChildRequest);
            const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
            await exited;
            clearTimeout(timer);
          },
        });
      }
    });
  });
}
