/**
 * API Gateway answers a frame over its route's throttle with `{"message":"Too Many Requests",…}`
 * and runs nothing, so a client sends that frame again. Tests that can outrun a throttle do the
 * same through this one loop.
 */

/** API Gateway's message for a frame refused by a throttle. */
export const TOO_MANY_REQUESTS = 'Too Many Requests';

/**
 * Sends with `send` until the answer is not a throttle's, and gives that answer; `onThrottled`
 * sees each throttle's answer first (to count it, or to check its shape).
 *
 * @example
 * const reply = await untilServed(() => socket.request({ action: 'subscribe', topic: 'news' }));
 */
export async function untilServed<R extends { readonly message?: unknown }>(
  send: () => Promise<R>,
  onThrottled?: (reply: R) => void,
): Promise<R> {
  let reply = await send();
  while (reply.message === TOO_MANY_REQUESTS) {
    onThrottled?.(reply);
    reply = await send();
  }
  return reply;
}
