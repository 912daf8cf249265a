/**
 * The bench's child processes, one protocol for all: numbered requests over IPC, each answered by
 * a result or an error and optionally preceded by progress. A child that dies fails every call.
 */
import { fork } from 'node:child_process';

/** What a child sends: `value` is an error's message for `error`; no `id` means it is about the start. */
type Reply = { type: 'ready' | 'progress' | 'result' | 'error'; id?: number; value: unknown };

/** A running child: what it said when ready, and calls to it. */
export interface Worker<Ready, Request, Result, Progress = never> {
  readonly ready: Ready;
  readonly pid: number;
  call(request: Request, onProgress?: (progress: Progress) => void): Promise<Result>;
  /** Ends the child (SIGKILL after 5 s) and waits for it to go. */
  stop(): Promise<void>;
}

/** Forks `entry` with tsx (with `env` added to this process's) and resolves once it is ready (within 60 s). */
export function forkWorker<Ready, Request, Result, Progress = never>(
  entry: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<Worker<Ready, Request, Result, Progress>> {
  const child = fork(entry, [...args], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  type Call = { resolve(v: Result): void; reject(e: Error): void; onProgress?(p: Progress): void };
  const waiting = new Map<number, Call>();
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
    child.on('message', ({ type, id, value }: Reply) => {
      const w = waiting.get(id ?? 0);
      if (type === 'ready') {
        clearTimeout(timer);
        const call = (request: Request, onProgress?: (progress: Progress) => void) =>
          new Promise<Result>((done, fail) => {
            const id = nextId++;
            waiting.set(id, { resolve: done, reject: fail, ...(onProgress ? { onProgress } : {}) });
            child.send({ id, request });
          });
        resolve({ ready: value as Ready, pid: child.pid as number, call, stop });
      } else if (type === 'progress') {
        w?.onProgress?.(value as Progress);
      } else if (id === undefined) {
        clearTimeout(timer);
        reject(new Error(`the ${entry} child failed: ${value}`));
      } else {
        waiting.delete(id);
        if (type === 'result') w?.resolve(value as Result);
        else w?.reject(new Error(String(value)));
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
export function serveWorker<Request, Result, Progress = never>(
  start: () => Promise<{
    ready?: unknown;
    handle?: (request: Request, progress: (value: Progress) => void) => Promise<Result>;
  }>,
): void {
  const send = (reply: Reply) => process.send?.(reply);
  process.on('disconnect', () => process.exit(0));
  start().then(
    ({ ready = null, handle }) => {
      process.on('message', ({ id, request }: { id: number; request: Request }) => {
        handle?.(request, (value) => send({ type: 'progress', id, value })).then(
          (value) => send({ type: 'result', id, value }),
          (error: unknown) => send({ type: 'error', id, value: errorText(error) }),
        );
      });
      send({ type: 'ready', value: ready });
    },
    (error: unknown) => {
      send({ type: 'error', value: errorText(error) });
      process.exit(1);
    },
  );
}
