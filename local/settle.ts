/**
 * Waits for every promise to settle, then resolves with their values in order, or rejects with the
 * first rejection in order. Unlike `Promise.all`, nothing is still running behind a failure, so a
 * caller that cleans up on the rejection (stops the processes it started, stops dynalite) cleans
 * up after all of them; raced, a sibling still starting would be left behind unseen, or a table
 * left CREATING in a kept store.
 *
 * Imports nothing: dynalite's own process (dynalite-tables.ts) loads it.
 */
export async function settleAll<T>(promises: Iterable<T | PromiseLike<T>>): Promise<Awaited<T>[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<Awaited<T>>).value);
}
