/**
 * What the hot-path SDK clients share: no per-call work for output that goes nowhere.
 */

/** The part of an SDK v3 client that {@link withoutSdkLogging} touches. */
export interface SdkMiddlewareHost {
  readonly middlewareStack: { remove(toRemove: string): boolean };
}

/** The name the SDK gives its logger middleware (`@aws-sdk/core`'s `loggerMiddlewareOptions`). */
export const SDK_LOGGER_MIDDLEWARE = 'loggerMiddleware';

/**
 * Takes the SDK's logger middleware out of a client that was built without a `logger`. Such a
 * client logs to the SDK's no-op logger, yet the middleware still builds, on every call, a copy of
 * the input and of the output with sensitive members masked (walking the operation's schema) to
 * hand to that logger: in a CPU profile of the publish handler it was about 3% of the CPU per uid
 * push, for nothing. Only for clients given no `logger`: one given a logger needs the middleware.
 *
 * @example
 * const client = withoutSdkLogging(new DynamoDBClient({ cacheMiddleware: true }));
 */
export function withoutSdkLogging<C extends SdkMiddlewareHost>(client: C): C {
  client.middlewareStack.remove(SDK_LOGGER_MIDDLEWARE);
  return client;
}
