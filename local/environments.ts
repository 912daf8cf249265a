/**
 * Execution environments. Lambda runs each concurrent invocation of a function in its own
 * environment, with its own module-scope state: clients, caches and, for the shard worker, its
 * token bucket holding `rateBudget / workerConcurrency`. One shared module instance would give all
 * concurrent workers one bucket (a fraction of the budget), so the stack hands each invocation an
 * idle instance of its own, and makes a new one (a cold start) when every instance is busy, up to
 * the most the function can run at once.
 */
import type { Context } from 'aws-lambda';
import type { LambdaHandler } from './lambda-types';

/**
 * One handler over several environments: an invocation takes an idle instance (the most recently
 * used, as Lambda prefers warm ones), else starts a new one with `create` while fewer than `max`
 * exist, else waits for one to be free.
 *
 * @example
 * const worker = environmentPool([instance0], 16, () => importWorkerInstance());
 */
export function environmentPool(
  instances: readonly LambdaHandler[],
  max: number = instances.length,
  create?: () => Promise<LambdaHandler>,
): LambdaHandler {
  if (instances.length === 0) throw new RangeError('an environment pool needs at least one instance');
  const idle = [...instances].reverse();
  let count = instances.length;
  const waiting: ((handler: LambdaHandler) => void)[] = [];
  const release = (handler: LambdaHandler) => {
    const next = waiting.shift();
    if (next !== undefined) next(handler);
    else idle.push(handler);
  };
  const acquire = async (): Promise<LambdaHandler> => {
    const warm = idle.pop();
    if (warm !== undefined) return warm;
    if (create !== undefined && count < max) {
      count++;
      try {
        return await create();
      } catch (error) {
        count--;
        throw error;
      }
    }
    return new Promise<LambdaHandler>((resolve) => waiting.push(resolve));
  };
  return async (event: unknown, context: Context) => {
    const handler = await acquire();
    try {
      return await handler(event, context);
    } finally {
      release(handler);
    }
  };
}
