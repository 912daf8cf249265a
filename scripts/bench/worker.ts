/**
 * The bench's child processes, one protocol for all: the parent forks a file with
 * {@link forkWorker} and waits for what the child's {@link serveWorker} sends when ready; each
 * call is a numbered request over IPC, answered by a result or an error and optionally preceded by
 * progress. A child that dies fails every call still waiting.
 */
import { fork } from 'node:child_process';

type Reply =
  | { readonly type: 'ready' | 'progress' | 'result'; readonly id?: number; readonly value: unknown }
  | { readonly type: 'error'; readonly id?: number; readonly message: string };

/** A running child: what it said when ready, and calls to it. */
export interface Worker<Ready, Request, Result, Progress = never> {
  readonly ready: Ready;
  readonly pid: number;
  call(request: Request, onProgress?: (progress: Progress) => void): Promise<Result>;
  /** Ends the child (SIGKILL after 5 s) and waits for it to go. */
  stop(): Promise<void>;
}

/**
 * Forks `entry` with tsx and resolves once it is ready.
 *
 * @example
 * const child = await forkWorker<Info, Ask, Answer>(ENTRY, [JSON.stringify(options)]);
 * const answer = await child.call({ gc: true });
 */
export function forkWorker<Ready, Request, Result, Progress = never>(
  entry: string,
  args: readonly string[],
): Promise<Worker<Ready, Request, Result, Progress>> {
  const child = fork(entry, [...args], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<
    number,
    { resolve(v: Result): void; reject(e: Error): void; onProgress?(p: Progress): void }
  >();
  let nextId = 1;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  void exited.then((code) => {
    for (const w of waiting.values()) w.reject(new Error(`the ${entry} child exited (${code})`));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the ${entry} child was not ready within 60 s`));
    }, 60_000);
    void exited.then((code) =>
      reject(new Error(`the ${entry} child exited with ${code} before it was ready`)),
    );
    child.on('message', (reply: Reply) => {
      const w = waiting.get(reply.id ?? 0);
      if (reply.type === 'ready') {
        clearTimeout(timer);
        const call = (request: Request, onProgress?: (progress: Progress) => void) =>
          new Promise<Result>((done, fail) => {
            const id = nextId++;
            waiting.set(id, { resolve: done, reject: fail, ...(onProgress ? { onProgress } : {}) });
            child.send({ id, request });
          });
        resolve({ ready: reply.value as Ready, pid: child.pid as number, call, stop });
      } else if (reply.type === 'progress') {
        w?.onProgress?.(reply.value as Progress);
      } else if (reply.type === 'result') {
        waiting.delete(reply.id ?? 0);
        w?.resolve(reply.value as Result);
      } else if (reply.type === 'error' && reply.id === undefined) {
        clearTimeout(timer);
        reject(new Error(`the ${entry} child failed: ${reply.message}`));
      } else if (reply.type === 'error') {
        waiting.delete(reply.id ?? 0);
        w?.reject(new Error(reply.message));
      }
    });
  });
}

const errorText = (error: unknown) =>
  error instanceof Error ? (error.stack ?? error.message) : String(error);

/**
 * The child side: `start` runs once (its `ready` is what the parent's `ready` holds), then `handle`
 * answers each call. A failed start is reported and ends the child; the child also ends when the
 * parent goes away.
 */
export function serveWorker<State, Request = never, Result = never, Progress = never>(
  start: () => Promise<{ ready: unknown; state: State }>,
  handle?: (state: State, request: Request, progress: (value: Progress) => void) => Promise<Result>,
): void {
  const send = (reply: Reply) => process.send?.(reply);
  process.on('disconnect', () => process.exit(0));
  start().then(
    ({ ready, state }) => {
      process.on('message', ({ id, request }: { id: number; request: Request }) => {
        handle?.(state, request, (value) => send({ type: 'progress', id, value })).then(
          (value) => send({ type: 'result', id, value }),
          (error: unknown) => send({ type: 'error', id, message: errorText(error) }),
        );
      });
      send({ type: 'ready', value: ready });
    },
    (error: unknown) => {
      send({ type: 'error', message: errorText(error) });
      process.exit(1);
    },
  );
}
