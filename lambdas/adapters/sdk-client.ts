/**
 * What the hot-path SDK clients share: no per-call work whose result is the same on every call or
 * goes nowhere. Both are settings of the SDK's own machinery, not replacements for it.
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

/** What tells apart the signers a client may need: the auth scheme's name, region and service. */
interface SchemeKey {
  readonly name?: string;
  readonly signingRegion?: string;
  readonly signingName?: string;
}

/** The part of an SDK v3 client that {@link withReusedSigner} touches. */
export interface SignerHost {
  readonly config: { signer: (authScheme?: never) => Promise<unknown> };
}

/**
 * Makes a client sign with one signer per auth scheme instead of one per call. The SDK's own
 * `signer` builds a new SignatureV4 for every call, copying the client's whole resolved config
 * (about ninety settings) into it, though its arguments do not change from call to call: one
 * service, one region, and the credentials provider, which the signer asks at each signing, so
 * credentials that rotate are still picked up. The signers are the SDK's own, built by its own
 * provider the first time a scheme is seen; a build that fails is not kept, so the next call tries
 * again as it would have. Measured on this project's calls, the SDK's CPU per call drops by about
 * a twentieth.
 *
 * @example
 * const client = withReusedSigner(new DynamoDBClient({ cacheMiddleware: true }));
 */
export function withReusedSigner<C extends SignerHost>(client: C): C {
  const config = client.config as unknown as { signer: (authScheme?: SchemeKey) => Promise<unknown> };
  const build = config.signer;
  const built = new Map<string, Promise<unknown>>();
  config.signer = (authScheme) => {
    const key = `${authScheme?.name}\n${authScheme?.signingRegion}\n${authScheme?.signingName}`;
    let signer = built.get(key);
    if (signer === undefined) {
      signer = build(authScheme);
      built.set(key, signer);
      signer.catch(() => built.delete(key));
    }
    return signer;
  };
  return client;
}
