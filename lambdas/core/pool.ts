/**
 * Runs `worker` over `items` with at most `concurrency` calls in flight, in order of start.
 * Unlike an unbounded `Promise.all`, memory and sockets stay bounded for any number of items.
 * `worker` must not reject: each caller turns its own failures into outcomes.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  concurrency: number,
  worker: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Math.max(1, Math.min(concurrency, items.length));
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await worker(item);
    }
  };
  await Promise.all(Array.from({ length: lanes }, run));
}
