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

/**
 * Resolves to every promise's value, in order, as `Promise.all` does, while they keep settling:
 * rejects with "no `what` for `ms` ms (k of n settled)" once `ms` pass with none settling, counted
 * from the start and from each settlement. For a batch whose whole time grows with the machine's
 * load (many handshakes at once, each waiting its turn) while each step of it stays short: a bound
 * on the whole batch would fail a slow run that is making progress, and this still fails one that
 * has stopped.
 *
 * @example
 * const answers = await whileProgressing(handshakes, 5_000, 'a handshake of the burst');
 */
export function whileProgressing<T>(promises: readonly Promise<T>[], ms: number, what: string): Promise<T[]> {
  let settled = 0;
  let timer: NodeJS.Timeout | undefined;
  return new Promise<T[]>((resolve, reject) => {
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => reject(new Error(`no ${what} for ${ms} ms (${settled} of ${promises.length} settled)`)),
        ms,
      );
    };
    arm();
    for (const promise of promises) {
      void promise.then(
        () => {
          settled++;
          arm();
        },
        () => {},
      );
    }
    Promise.all(promises).then(resolve, reject);
  }).finally(() => clearTimeout(timer));
}
