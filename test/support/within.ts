/**
 * The one timeout every test wait goes through: waits resolve on events, and a wait that never
 * comes fails the test with what it was waiting for instead of hanging until vitest's timeout.
 */

/**
 * Rejects with "timed out after `ms` ms waiting for `what`" unless `promise` settles first.
 *
 * @example
 * await within(socket.closed, 5_000, 'the socket to close');
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
