/** What {@link settleBefore} came to: the work's value, or `done: false` when the deadline came first. */
export type BeforeDeadline<T> = { readonly done: true; readonly value: T } | { readonly done: false };

/**
 * Waits for `work` until `deadlineMs` (epoch ms) at most, so that a handler still answers before
 * its invocation times out when a call it could do without is slow. The work is not cancelled: it
 * may still finish (or fail) after; the race has handled it, so a late failure is dropped, never an
 * unhandled rejection.
 * A failure before the deadline rejects as the work did.
 *
 * @example
 * const reread = await settleBefore(store.read(id), Date.now() + 1_000);
 * if (!reread.done) logger.warn('not read in time');
 */
export async function settleBefore<T>(
  work: Promise<T>,
  deadlineMs: number,
  now: () => number = Date.now,
): Promise<BeforeDeadline<T>> {
  if (deadlineMs === Number.POSITIVE_INFINITY) return { done: true, value: await work };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<BeforeDeadline<T>>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), Math.max(0, deadlineMs - now()));
  });
  try {
    return await Promise.race([work.then((value) => ({ done: true, value }) as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
