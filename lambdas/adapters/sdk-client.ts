/**
 * What the hot-path SDK clients share: no per-call work whose result is the same on every call or
 * goes nowhere. Each is a setting of the SDK's own machinery, not a replacement for it.
 */
import { getUserAgentMiddlewareOptions, userAgentMiddleware } from '@aws-sdk/core/client';
import { getSchemaSerdePlugin } from '@smithy/core/schema';

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

/**
 * Where the SDK puts its retry middleware (`@smithy/core`'s `retryMiddlewareOptions`). The signing
 * middleware is placed relative to it, so it is replaced, never removed.
 */
export const SDK_RETRY_MIDDLEWARE = {
  name: 'retryMiddleware',
  step: 'finalizeRequest',
  tags: ['RETRY'],
  priority: 'high',
  override: true,
} as const;

/** The part of an SDK v3 client that {@link withoutSdkRetries} touches. */
export interface RetryHost {
  readonly config: { maxAttempts: () => Promise<number> };
  /** The SDK's stack, whose `add` is overloaded per step; this adds to the finalize step. */
  readonly middlewareStack: { add(...args: never[]): void };
}

/**
 * Replaces the SDK's retry middleware with one that passes each request on, in a client built
 * with `maxAttempts: 1`, whose callers retry with their own budget and backoff. With one attempt
 * the SDK's middleware never retries, yet on every call it still asks the retry strategy for a
 * token, draws a random invocation id and writes two telemetry headers (`amz-sdk-invocation-id`,
 * `amz-sdk-request`) that no service needs: about 4% of the shard worker's CPU per delivery in a
 * profile of bench row c. A client allowed more attempts keeps the SDK's middleware: this one
 * checks, at the first call, and throws rather than drop retries someone configured.
 *
 * @example
 * const client = withoutSdkRetries(new ApiGatewayManagementApiClient({ endpoint, maxAttempts: 1 }));
 */
export function withoutSdkRetries<C extends RetryHost>(client: C): C {
  let verified = false;
  const verify = async () => {
    const attempts = await client.config.maxAttempts();
    if (attempts !== 1) throw new RangeError(`withoutSdkRetries needs maxAttempts 1, not ${attempts}`);
    verified = true;
  };
  const passOn =
    (next: (args: unknown) => Promise<unknown>) =>
    (args: unknown): Promise<unknown> =>
      verified ? next(args) : verify().then(() => next(args));
  const stack = client.middlewareStack as unknown as { add(m: typeof passOn, o: object): void };
  stack.add(passOn, SDK_RETRY_MIDDLEWARE);
  return client;
}

/** The name the SDK gives its user-agent middleware (`@aws-sdk/core`'s `getUserAgentMiddlewareOptions`). */
export const SDK_USER_AGENT_MIDDLEWARE = getUserAgentMiddlewareOptions.name as string;

const USER_AGENT_HEADERS = ['user-agent', 'x-amz-user-agent'] as const;

type UserAgentOptions = Parameters<typeof userAgentMiddleware>[0];
type BuildHandler = ReturnType<ReturnType<typeof userAgentMiddleware>>;
type BuildArgs = Parameters<BuildHandler>[0];

type BuildContext = Parameters<ReturnType<typeof userAgentMiddleware>>[1];
type Middleware = (next: BuildHandler, context: BuildContext) => BuildHandler;

/** The part of an SDK v3 client that {@link withCachedUserAgent} touches. */
export interface UserAgentHost {
  readonly config: object;
  /** The SDK's stack, whose `add` is overloaded per step; this adds to the build step. */
  readonly middlewareStack: { add(...args: never[]): void };
}

function headersOf(args: BuildArgs): Record<string, string> | undefined {
  const request = args.request as { headers?: Record<string, string> } | undefined;
  return request?.headers;
}

/**
 * Makes a client compute its `User-Agent` headers once instead of on every call. The SDK's
 * user-agent middleware escapes every pair of its default user agent, awaits the retry strategy
 * and the app id and encodes the feature list on each call, though for one client they come out
 * the same every time: about 5% of the shard worker's CPU per delivery in a profile of bench
 * row c. Here the SDK's own middleware runs until one call has gone through it, and its headers
 * are kept and set on every later request, per command class (one client sends few kinds).
 *
 * @example
 * const client = withCachedUserAgent(new ApiGatewayManagementApiClient({ endpoint }));
 */
export function withCachedUserAgent<C extends UserAgentHost>(client: C): C {
  const sdk = userAgentMiddleware(client.config as UserAgentOptions);
  const cached = new Map<string, readonly (readonly [string, string])[]>();
  const middleware: Middleware = (next, context) => {
    const key = String((context as { commandName?: unknown }).commandName);
    const capture: BuildHandler = (args) => {
      const headers = headersOf(args);
      if (headers !== undefined && !cached.has(key)) {
        cached.set(
          key,
          USER_AGENT_HEADERS.flatMap((name) => {
            const value = headers[name];
            return value === undefined ? [] : [[name, value] as const];
          }),
        );
      }
      return next(args);
    };
    // The SDK's handler is built only while this command's headers are not known yet.
    let computing: BuildHandler | undefined;
    return (args) => {
      const known = cached.get(key);
      const headers = headersOf(args);
      if (known === undefined || headers === undefined) {
        computing ??= sdk(capture, context);
        return computing(args);
      }
      for (const [name, value] of known) headers[name] = value;
      return next(args);
    };
  };
  // `override: true` in the SDK's own options: this takes the place of its middleware.
  const stack = client.middlewareStack as unknown as { add(m: Middleware, o: object): void };
  stack.add(middleware, getUserAgentMiddlewareOptions);
  return client;
}

/** The part of an SDK v3 client that {@link withFastConfig} touches. */
export interface ConfigHost {
  config: object;
  readonly middlewareStack: { use(plugin: never): void };
}

type SerdeConfig = Parameters<typeof getSchemaSerdePlugin>[0];

/**
 * Gives the per-call middleware a copy of the client's resolved config that V8 copies quickly. The
 * SDK builds a client's config by adding some fifty settings to one object, resolver after
 * resolver, which leaves it in V8's dictionary mode; its serializer, deserializer and endpoint
 * middleware then spread that whole object into a new one on every call. Measured here, a spread
 * of it took about 16 µs, against about 2 µs for the same settings copied once into a fresh
 * literal, and the three of them were about 8% of a DynamoDB call's CPU. The copy is made once:
 * the SDK's own serde plugin is applied again over it (its middleware replace the first ones by
 * name), and it becomes `client.config`, which the command-level middleware (the endpoint's) are
 * built from at a command's first call. Accessors are copied as their current values (the
 * credentials provider): an accessor would put the copy back in dictionary mode.
 *
 * Apply it last, before the first call: the client-level middleware (signing, retries, user
 * agent) keep the original config, so a setting changed on `client.config` afterwards reaches
 * only the copy.
 *
 * @example
 * const client = withFastConfig(withReusedSigner(new DynamoDBClient({ cacheMiddleware: true })));
 */
export function withFastConfig<C extends ConfigHost>(client: C): C {
  const copy = { ...client.config };
  (client.middlewareStack as unknown as { use(plugin: object): void }).use(
    getSchemaSerdePlugin(copy as SerdeConfig),
  );
  client.config = copy;
  return client;
}

/**
 * Every setting above that suits a hot-path client built without a logger: no logger middleware,
 * one signer per auth scheme, the user agent computed once, a config copied quickly (last, as it
 * must be). Retries are the caller's to drop ({@link withoutSdkRetries}), as only a one-attempt
 * client may, before this.
 *
 * @example
 * const client = forHotPath(new DynamoDBClient({ cacheMiddleware: true }));
 */
export function forHotPath<C extends SdkMiddlewareHost & SignerHost & UserAgentHost & ConfigHost>(
  client: C,
): C {
  return withFastConfig(withCachedUserAgent(withReusedSigner(withoutSdkLogging(client))));
}
