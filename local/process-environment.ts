/**
 * Execution environments in Node processes. In AWS every concurrent invocation of a function has
 * its own environment on its own share of CPU; in one local process, sixteen shard workers and the
 * emulator they post to all share one event loop and one core. Spreading the environments over a
 * few child processes gives them their own loops and lets the stack use every core. One process per
 * environment is not better on a small machine: sixteen processes on two cores each pay their own
 * JIT warm-up and GC (measured: 1.35 ms of CPU per delivery against 0.5 ms with four processes).
 * Each environment is still its own module instance (environment-child.ts), with the variables
 * the stack set for the in-process handlers.
 *
 * The child's stdout lines are written to this process's stdout, where the handler-output capture
 * turns EMF lines into `GET /metrics` totals as it does for in-process handlers, and its stderr
 * lines to this process's stderr, where the capture takes the handlers' WARN and ERROR lines to
 * stdout with the rest.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';
import { currentInvocation } from './invocation-scope';
import type { LambdaHandler } from './lambda-types';
import { NEEDS_TSX, runnableModule } from './runnable';

/** What the parent sends a child. */
export type ChildRequest = InvokeRequest | CutRequest;

/** Cuts an invocation the child runs: its timeout passed (invocation-scope.ts). */
export interface CutRequest {
  readonly type: 'cut';
  readonly id: number;
}

/** Runs one invocation. */
export type InvokeRequest = {
  readonly type: 'invoke';
  readonly id: number;
  /** Which of the process's environments runs it. */
  readonly environment: number;
  readonly event: unknown;
  readonly context: {
    readonly functionName: string;
    readonly invokedFunctionArn: string;
    readonly memoryLimitInMB: string;
    readonly awsRequestId: string;
    /** Epoch ms at which the invocation times out. */
    readonly deadline: number;
  };
};

/** What a child sends back. */
export type ChildResponse =
  | { readonly type: 'ready'; readonly functionName: string; readonly cpuMicros: number }
  | { readonly type: 'failed'; readonly error: { readonly name: string; readonly message: string } }
  | { readonly type: 'result'; readonly id: number; readonly result: unknown; readonly cpuMicros: number }
  | {
      readonly type: 'error';
      readonly id: number;
      readonly error: {
        readonly name: string;
        readonly message: string;
        readonly code?: string;
        readonly stack?: string;
      };
      readonly cpuMicros: number;
    };

/** Thrown for an invocation whose environment process died before answering. */
export class EnvironmentExitedError extends Error {
  override readonly name = 'EnvironmentExitedError';
  readonly code = 'environment_exited';
}

/** Invocations and CPU time since the process was ready. */
export interface EnvironmentProcessStats {
  readonly invocations: number;
  /**
   * CPU (user + system) the process used after its modules were imported, in ms, measured inside
   * it at its latest answer: the invocations' work, its GC and JIT included; summed over restarts.
   */
  readonly cpuMs: number;
  /** Times the process died unasked and was started again. */
  readonly restarts: number;
}

/** A function's processes together. */
export interface ProcessPoolStats extends EnvironmentProcessStats {
  /** The processes running now. */
  readonly pids: readonly number[];
}

/**
 * One forked process and its environments. A process that dies unasked fails the invocations it
 * was running ({@link EnvironmentExitedError}) and is started again for the next ones, as Lambda
 * replaces a crashed environment.
 */
export interface EnvironmentProcess {
  /** One handler per environment; call each once at a time (the environment pool does). */
  readonly handlers: readonly LambdaHandler[];
  /** The running process's pid (a restart changes it). */
  readonly pid: number;
  readonly stats: EnvironmentProcessStats;
  /** Ends the child; pending invocations reject with {@link EnvironmentExitedError}. */
  stop(): Promise<void>;
}

/** Options for {@link startEnvironmentProcess}. */
export interface EnvironmentProcessOptions {
  /** Absolute path of the handler module. */
  readonly modulePath: string;
  readonly functionName: string;
  /** The child's whole environment. */
  readonly env: NodeJS.ProcessEnv;
  /** Working directory, where `tsx` resolves from. */
  readonly cwd: string;
  /**
   * The function's memory, as the process's V8 heap limit (`--max-old-space-size`): a function
   * that outgrows it dies with a heap OOM, as Lambda ends one that exceeds its memory. Lambda's
   * limit covers the whole environment, so this is looser by the runtime's own footprint. It also
   * sizes the young generation as Lambda's Node.js runtime does (see {@link semiSpaceMb}).
   * @default Node's own limits
   */
  readonly heapMb?: number;
  /** Environments (module instances) the process hosts. @default 1 */
  readonly environments?: number;
  /** How long the process may take to import its modules. @default 60 s */
  readonly startTimeoutMs?: number;
}

const CHILD = runnableModule(join(dirname(fileURLToPath(import.meta.url)), 'environment-child.ts'));

/**
 * The V8 semi-space (`--max-semi-space-size`, MB) of a process hosting `environments` environments
 * of a function with `memoryMb` of memory. Lambda's Node.js runtime starts node with a semi-space
 * of a twentieth of the function's memory (its bootstrap gives a tenth to the young generation,
 * split into two halves), and each environment has its own. Node's default (16 MB), shared by
 * several environments, made the shard workers scavenge about every hundred deliveries, each
 * scavenge copying every request in flight: broadcasting to 30,000 virtual connections as bench
 * row c does (four 512 MB environments a process), the workers' 355 scavenges and 51
 * mark-compacts took 9.8 s, against 200 and 18 taking 6.0–6.4 s with this size (100 MB).
 */
export function semiSpaceMb(memoryMb: number, environments: number): number {
  return Math.max(1, Math.floor(memoryMb / 20)) * environments;
}

type Waiter = { resolve: (value: unknown) => void; reject: (error: unknown) => void };

/** One running child: its process, its invocations in flight, and how it ended. */
interface Incarnation {
  readonly child: ChildProcess;
  readonly pending: Map<number, Waiter>;
  readonly exit: Promise<void>;
  exited: boolean;
  /** Takes no more invocations: it exited, or a send to it failed and it is being ended. */
  closed: boolean;
  cpuAtReady: number;
  cpuMs: number;
}

function errorFrom(message: Extract<ChildResponse, { type: 'error' }>): Error {
  const { name, message: text, code, stack } = message.error;
  const error = Object.assign(new Error(text), { name, ...(code === undefined ? {} : { code }) });
  if (stack !== undefined) error.stack = stack;
  return error;
}

/**
 * Forks one process hosting `environments` environments and resolves once every one has imported
 * its handler module.
 *
 * @example
 * const p = await startEnvironmentProcess({ modulePath, functionName: 'worker', env: process.env, cwd: root, environments: 4 });
 * await p.handlers[0](sqsEvent, context);
 */
export async function startEnvironmentProcess(
  options: EnvironmentProcessOptions,
): Promise<EnvironmentProcess> {
  const environments = options.environments ?? 1;
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const name = options.functionName;
  const totals = { invocations: 0, cpuMsBefore: 0, restarts: 0 };
  let nextId = 1;
  let stopping = false;

  /** Forks a child and waits until it is ready; a child that fails to start is killed. */
  const spawn = async (): Promise<Incarnation> => {
    const child: ChildProcess = fork(CHILD, [options.modulePath, name, String(environments)], {
      cwd: options.cwd,
      env: options.env,
      execArgv: [
        ...(options.heapMb === undefined
          ? []
          : [
              `--max-old-space-size=${options.heapMb}`,
              `--max-semi-space-size=${semiSpaceMb(options.heapMb, environments)}`,
            ]),
        ...(NEEDS_TSX ? ['--import', 'tsx'] : []),
      ],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    // Line by line, as CloudWatch would split it: the capture parses whole lines only.
    for (const [from, to] of [
      [child.stdout, process.stdout],
      [child.stderr, process.stderr],
    ] as const) {
      if (from === null) continue;
      createInterface({ input: from, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
        to.write(`${line}\n`);
      });
    }
    const pending = new Map<number, Waiter>();
    let markExited!: () => void;
    const incarnation: Incarnation = {
      child,
      pending,
      exit: new Promise<void>((resolve) => {
        markExited = resolve;
      }),
      exited: false,
      closed: false,
      cpuAtReady: 0,
      cpuMs: 0,
    };
    child.once('exit', (code, signal) => {
      incarnation.exited = true;
      incarnation.closed = true;
      for (const { reject } of pending.values()) {
        reject(
          new EnvironmentExitedError(
            `${name} environment (pid ${child.pid}) exited (${signal ?? code}) during an invocation`,
          ),
        );
      }
      pending.clear();
      markExited();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name} environment did not start within ${startTimeoutMs} ms`)),
          startTimeoutMs,
        );
        const settle = (error?: Error) => {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('error', settle);
          if (error === undefined) resolve();
          else reject(error);
        };
        const onMessage = (message: ChildResponse) => {
          if (message.type === 'ready') {
            incarnation.cpuAtReady = message.cpuMicros;
            settle();
          } else if (message.type === 'failed') {
            settle(new Error(`${name} environment failed to start: ${message.error.message}`));
          }
        };
        child.on('message', onMessage);
        child.once('error', settle);
        void incarnation.exit.then(() => settle(new Error(`${name} environment exited while starting`)));
      });
    } catch (error) {
      // Nothing else holds this child yet: end it here, or it outlives the stack.
      if (!incarnation.exited) {
        child.kill('SIGKILL');
        await incarnation.exit;
      }
      throw error;
    }
    child.on('error', (error) => {
      // A failed send is reported to its invocation; anything else ends the environment.
      if (!incarnation.exited) child.kill('SIGKILL');
      process.stderr.write(`${name} environment (pid ${child.pid}): ${error.message}\n`);
    });
    child.on('message', (message: ChildResponse) => {
      if (message.type !== 'result' && message.type !== 'error') return;
      const waiter = pending.get(message.id);
      if (waiter === undefined) return;
      pending.delete(message.id);
      incarnation.cpuMs = Math.max(incarnation.cpuMs, (message.cpuMicros - incarnation.cpuAtReady) / 1000);
      if (message.type === 'result') waiter.resolve(message.result);
      else waiter.reject(errorFrom(message));
    });
    return incarnation;
  };

  let current = await spawn();
  // The next ready incarnation: a restart replaces it; invocations wait for it.
  let ready: Promise<Incarnation> = Promise.resolve(current);
  const watch = (incarnation: Incarnation) => {
    void incarnation.exit.then(() => {
      if (stopping) return;
      totals.restarts++;
      totals.cpuMsBefore += incarnation.cpuMs;
      ready = spawn();
      ready.then(
        (next) => {
          current = next;
          if (stopping) void next.child.kill('SIGTERM');
          else watch(next);
        },
        () => {
          // Left rejected: every later invocation fails with why the restart failed.
        },
      );
    });
  };
  watch(current);

  const invoke = async (environment: number, event: unknown, context: Context): Promise<unknown> => {
    if (stopping) throw new EnvironmentExitedError(`${name} environment has been stopped`);
    let incarnation = await ready;
    // A process that died (or whose channel broke) is being replaced: the invocation goes to the
    // replacement, as Lambda sends the next invocation after a crash to a fresh environment. The
    // restart is queued on the exit before this wait, so `ready` is the replacement once it ends.
    while (incarnation.closed) {
      await incarnation.exit;
      if (stopping) throw new EnvironmentExitedError(`${name} environment has been stopped`);
      incarnation = await ready;
    }
    const id = nextId++;
    totals.invocations++;
    const request: ChildRequest = {
      type: 'invoke',
      id,
      environment,
      event,
      context: {
        functionName: context.functionName,
        invokedFunctionArn: context.invokedFunctionArn,
        memoryLimitInMB: context.memoryLimitInMB,
        awsRequestId: context.awsRequestId,
        deadline: Date.now() + context.getRemainingTimeInMillis(),
      },
    };
    return new Promise((resolve, reject) => {
      incarnation.pending.set(id, { resolve, reject });
      incarnation.child.send(request, (error) => {
        if (error === null || !incarnation.pending.has(id)) return;
        // The channel is closed (EPIPE, ERR_IPC_CHANNEL_CLOSED): the process is dying or dead, even
        // when its exit event has not arrived yet. Its environment is gone either way, so the
        // invocation fails as one whose process exited, and a process left without a channel is
        // ended so that it is replaced.
        incarnation.pending.delete(id);
        incarnation.closed = true;
        reject(
          new EnvironmentExitedError(
            `${name} environment (pid ${incarnation.child.pid}) is gone: ${error.message}`,
            {
              cause: error,
            },
          ),
        );
        if (!incarnation.exited) incarnation.child.kill('SIGKILL');
      });
      // A cut here (the function's timeout) cuts the invocation in the child too, after the
      // invoke message, as IPC keeps their order.
      currentInvocation()?.onCut(() => {
        if (!incarnation.pending.has(id) || incarnation.closed) return;
        // A failed send means the process is going: nothing of the invocation runs any more.
        incarnation.child.send({ type: 'cut', id } satisfies CutRequest, () => {});
      });
    });
  };

  return {
    handlers: Array.from(
      { length: environments },
      (_, environment): LambdaHandler =>
        (event, context) =>
          invoke(environment, event, context),
    ),
    get pid() {
      return current.child.pid as number;
    },
    get stats() {
      return {
        invocations: totals.invocations,
        cpuMs: totals.cpuMsBefore + current.cpuMs,
        restarts: totals.restarts,
      };
    },
    stop: async () => {
      stopping = true;
      const last = await ready.catch(() => current);
      for (const incarnation of new Set([current, last])) {
        if (!incarnation.exited) incarnation.child.kill('SIGTERM');
        await incarnation.exit;
      }
    },
  };
}
