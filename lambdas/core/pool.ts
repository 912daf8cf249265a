/**
 * Runs `worker` over `items` with at most `concurrency` calls in flight, in order of start.
 * Unlike an unbounded `Promise.all`, memory and sockets stay bounded for any number of items.
 * When a call rejects, no new one starts; the calls already running finish first, then the first
 * rejection is rethrown, so nothing the caller started is still writing when it hears of it.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  concurrency: number,
  worker: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const lanes = Math.max(1, Math.min(concurrency, items.length));
  const run = async (): Promise<void> => {
    while (next < items.length && failed === undefined) {
      const item = items[next++] as T;
      try {
        await worker(item);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, run));
  if (failed !== undefined) throw failed.error;
}

/**
 * A limit on tasks in flight, shared by every caller of the returned function: tasks past the
 * limit wait their turn, in order.
 *
 * @example
 * const limit = concurrencyLimit(64);
 * await Promise.all(ids.map((id) => limit(() => post(id))));
 */
export function concurrencyLimit(limit: number): <R>(task: () => Promise<R>) => Promise<R> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (running >= Math.max(1, limit)) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      // A finished task hands its slot straight to the next waiter, so no newcomer jumps the queue.
      const next = waiting.shift();
      if (next !== undefined) next();
      else running--;
    }
  };
}
