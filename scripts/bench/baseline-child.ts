/**
 * The naive baseline (scan-baseline.ts) in a process of its own, as one Lambda would run on its own
 * CPU. Scenario b's shard workers run in child processes; a baseline left in the bench's process
 * would share its event loop with the emulator and dynalite, which no Lambda does.
 *
 * The parent side is {@link startBaselineProcess}; the child runs when this file is forked.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type NaiveResult, type NaiveTarget, naiveClients, naivePublish } from './scan-baseline';

/** One naive publish for the child to run. */
interface BaselineRequest {
  readonly id: number;
  readonly tableName: string;
  readonly to: NaiveTarget;
  readonly payload: string;
  readonly paginate: boolean;
}

type BaselineMessage =
  | { readonly type: 'progress'; readonly id: number; readonly settled: number; readonly total: number }
  | { readonly type: 'result'; readonly id: number; readonly result: NaiveResult }
  | { readonly type: 'error'; readonly id: number; readonly message: string };

/** The baseline's process, as the bench drives it. */
export interface BaselineProcess {
  publish(
    tableName: string,
    to: NaiveTarget,
    payload: string,
    options: { paginate: boolean; onSettled?: (settled: number, total: number) => void },
  ): Promise<NaiveResult>;
  stop(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);
/** Progress goes to the parent every this many settled posts (one IPC message per post is too many). */
const PROGRESS_EVERY = 250;

/**
 * Forks the baseline's process with the sample's clients pointed at the stack.
 *
 * @example
 * const baseline = startBaselineProcess(stack.dynamodbEndpoint, stack.managementEndpoint);
 * const result = await baseline.publish(stack.tableName, { topic: 't' }, payload, { paginate: true });
 */
export function startBaselineProcess(dynamodbEndpoint: string, managementEndpoint: string): BaselineProcess {
  const child: ChildProcess = fork(SELF, ['--baseline-child', dynamodbEndpoint, managementEndpoint], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<
    number,
    {
      resolve: (r: NaiveResult) => void;
      reject: (e: Error) => void;
      onSettled?: (s: number, t: number) => void;
    }
  >();
  let nextId = 1;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code) => {
      for (const w of waiting.values()) w.reject(new Error(`the baseline process exited (${code})`));
      waiting.clear();
      resolve();
    });
  });
  child.on('message', (message: BaselineMessage) => {
    const w = waiting.get(message.id);
    if (w === undefined) return;
    if (message.type === 'progress') w.onSettled?.(message.settled, message.total);
    else {
      waiting.delete(message.id);
      if (message.type === 'result') w.resolve(message.result);
      else w.reject(new Error(message.message));
    }
  });
  return {
    publish: (tableName, to, payload, { paginate, onSettled }) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, { resolve, reject, ...(onSettled === undefined ? {} : { onSettled }) });
        const request: BaselineRequest = { id, tableName, to, payload, paginate };
        child.send(request);
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}

function runChild(dynamodbEndpoint: string, managementEndpoint: string): void {
  const clients = naiveClients(dynamodbEndpoint, managementEndpoint);
  const send = (message: BaselineMessage) => process.send?.(message);
  process.on('message', (request: BaselineRequest) => {
    naivePublish(clients, request.tableName, request.to, request.payload, {
      paginate: request.paginate,
      onSettled: (settled, total) => {
        if (settled % PROGRESS_EVERY === 0 || settled === total)
          send({ type: 'progress', id: request.id, settled, total });
      },
    }).then(
      (result) => send({ type: 'result', id: request.id, result }),
      (error: unknown) => send({ type: 'error', id: request.id, message: String(error) }),
    );
  });
  process.on('disconnect', () => {
    clients.destroy();
    process.exit(0);
  });
}

if (process.argv[2] === '--baseline-child') runChild(process.argv[3] as string, process.argv[4] as string);
