/**
 * The CPU floor of a push: the requests one publish sent, replayed as bare SigV4-signed calls on a
 * keep-alive agent by a function of their own (floor-function.ts) in an execution environment
 * process, forked and invoked as the local stack forks and invokes the publish handler (same
 * harness, same heap flags). What is left above it is the handler's own work and its clients'
 * per-call work. To tell the two apart, the same process also replays the requests through the
 * clients the handlers build (`dynamoClientFromEnv`, `createManagementClient`): the calls alone,
 * without the handler.
 *
 * A round is sent one invocation at a time, as a push is: a process woken for each piece of work
 * pays CPU for the waking on this machine, which the same calls sent back to back in one
 * invocation's loop do not, so a floor sent that way would charge the waking to the handler. That
 * figure is still taken (`loop`) and reported beside the ratio, so the two can be compared.
 */
import { fileURLToPath } from 'node:url';
import { lambdaContext } from '../../local/lambda-context';
import { type EnvironmentProcess, startEnvironmentProcess } from '../../local/process-environment';
import type { FloorAnswer, FloorEvent, Replayed, ReplayVia } from './floor-function';
import type { RecordedCall } from './http-recorder';

export type { ReplayVia } from './floor-function';

/** How rounds are sent: one invocation each (as pushes are), or all in one invocation's loop. */
export type FloorPacing = 'invocations' | 'loop';

/** CPU (user + system) per round of one call's rounds, and how the requests were answered. */
export interface FloorWindow {
  readonly perRoundMs: number;
  readonly rounds: number;
  readonly statuses: Readonly<Record<string, number>>;
}

/** A floor process holding the recorded requests. */
export interface SignedFloor {
  /** The number of requests one round sends. */
  readonly calls: number;
  /**
   * Replays the requests `rounds` times, as bare signed calls unless `via` says `clients`, one
   * invocation per round unless `pacing` says `loop`, and gives the process's CPU per round.
   */
  run(rounds: number, via?: ReplayVia, pacing?: FloorPacing): Promise<FloorWindow>;
  stop(): Promise<void>;
}

/** Options for {@link startSignedFloor}. */
export interface SignedFloorOptions {
  /** The publish function's memory, which sizes the process's heap as it sizes the handler's. */
  readonly heapMb: number;
}

const FUNCTION = fileURLToPath(new URL('./floor-function.ts', import.meta.url));

/**
 * Starts a floor process for `calls` (a conditional write replayed answers 400, as it would in AWS).
 *
 * @example
 * const floor = await startSignedFloor(calls, { heapMb: 1024 });
 * await floor.run(500); // warm-up
 * const { perRoundMs } = await floor.run(100);
 */
export async function startSignedFloor(
  calls: readonly RecordedCall[],
  options: SignedFloorOptions,
): Promise<SignedFloor> {
  const environment: EnvironmentProcess = await startEnvironmentProcess({
    modulePath: FUNCTION,
    functionName: 'floor',
    env: process.env,
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    heapMb: options.heapMb,
  });
  let invocations = 0;
  const invoke = async (event: FloorEvent) => {
    const [handler] = environment.handlers;
    if (handler === undefined) throw new Error('the floor process has no environment');
    const context = lambdaContext({
      functionName: 'floor',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:floor',
      memoryLimitInMB: String(options.heapMb),
      awsRequestId: `floor-${++invocations}`,
      deadline: Date.now() + 900_000,
      logStreamName: 'bench',
    });
    return (await handler(event, context)) as FloorAnswer | null;
  };
  try {
    const replayed: Replayed[] = calls.map(({ method, url, headers, body, kind }) => ({
      method,
      url,
      headers,
      body,
      kind,
    }));
    await invoke({ calls: replayed });
  } catch (error) {
    await environment.stop();
    throw error;
  }
  return {
    calls: calls.length,
    run: async (rounds, via = 'bare', pacing = 'invocations') => {
      const statuses: Record<string, number> = {};
      const add = (answer: FloorAnswer | null) => {
        if (answer === null) throw new Error('the floor process answered a run with nothing');
        for (const [status, n] of Object.entries(answer.statuses))
          statuses[status] = (statuses[status] ?? 0) + n;
      };
      // Read as the handler's is: the CPU the process measured at its latest answer.
      const before = environment.stats.cpuMs;
      if (pacing === 'loop') add(await invoke({ rounds, via }));
      else for (let i = 0; i < rounds; i++) add(await invoke({ rounds: 1, via }));
      return { perRoundMs: (environment.stats.cpuMs - before) / rounds, rounds, statuses };
    },
    stop: () => environment.stop(),
  };
}
