/**
 * Execution environments. Lambda runs each concurrent invocation of a function in its own
 * environment, with its own module-scope state: clients, caches and, for the shard worker, its
 * token bucket holding `rateBudget / workerConcurrency`. One shared module instance would give all
 * concurrent workers one bucket (a fraction of the budget), so the stack loads one instance per
 * environment and hands each invocation an idle one.
 */
import type { Context } from 'aws-lambda';
import type { LambdaHandler } from './lambda-types';

/**
 * One handler over several environments: an invocation takes an idle instance (the most recently
 * used, as Lambda prefers warm ones) and waits when all are busy.
 *
 * @example
 * const worker = environmentPool([instance0, instance1, instance2, instance3]);
 */
export function environmentPool(instances: readonly LambdaHandler[]): LambdaHandler {
  if (instances.length === 0) throw new RangeError('an environment pool needs at least one instance');
  const idle = [...instances].reverse();
  const waiting: ((handler: LambdaHandler) => void)[] = [];
  const release = (handler: LambdaHandler) => {
    const next = waiting.shift();
    if (next !== undefined) next(handler);
    else idle.push(handler);
  };
  return async (event: unknown, context: Context) => {
    const handler = idle.pop() ?? (await new Promise<LambdaHandler>((resolve) => waiting.push(resolve)));
    try {
      return await handler(event, context);
    } finally {
      release(handler);
    }
  };
}
