/**
 * The AWS SDK v3 as the server SDK uses it: clients are passed in, or created from their config
 * on first use. The SDK packages are optional peer dependencies, imported only when a publisher
 * or signer that needs one runs, so a backend that publishes over HTTP installs none of them.
 */

import { PushApiError } from './errors.js';

/**
 * Any AWS SDK v3 client: `LambdaClient`, `SNSClient` and `SecretsManagerClient` all fit. Declared
 * here rather than imported so the package's types stand alone when a peer is not installed.
 */
export interface AwsClient {
  send(command: never): Promise<unknown>;
}

/** A value the AWS SDK takes as is or as a function giving it. */
type Provided<T> = T | (() => Promise<T>);

/**
 * The config of an AWS SDK v3 client, as `LambdaClient`, `SNSClient` and `SecretsManagerClient`
 * take it: every field they share (and Lambda's one more), so a misspelt field is a type error.
 * Declared here rather than imported, so the package's types stand alone when a peer is not
 * installed; the fields a backend sets are typed, the SDK's internals are `unknown`.
 */
export interface AwsClientConfig {
  /** The Region, e.g. `'eu-west-1'`. @default from the environment (`AWS_REGION`, the profile) */
  readonly region?: Provided<string>;
  /** An `AwsCredentialIdentity`, or a provider of one (`fromIni()` and the like). */
  readonly credentials?: object | (() => Promise<object>);
  /**
   * Where calls go: the local stack's `http://127.0.0.1:3000`, an endpoint object, or a provider.
   * @default AWS's endpoint for the Region
   */
  readonly endpoint?: string | object | (() => Promise<object>);
  /** The shared config profile to read. */
  readonly profile?: string;
  /** Attempts per call, the first included. @default 3 */
  readonly maxAttempts?: Provided<number>;
  /** `'standard'` or `'adaptive'`. @default 'standard' */
  readonly retryMode?: Provided<string>;
  /** A `NodeHttpHandler` or `FetchHttpHandler`, or their options: timeouts, sockets, agents. */
  readonly requestHandler?: unknown;
  /** Where the SDK logs: `console` or a logger of your own. */
  readonly logger?: unknown;
  readonly useFipsEndpoint?: Provided<boolean>;
  readonly useDualstackEndpoint?: Provided<boolean>;
  readonly customUserAgent?: unknown;
  readonly userAgentAppId?: Provided<string | undefined>;
  readonly defaultsMode?: unknown;
  readonly systemClockOffset?: unknown;
  readonly disableClockSkewCorrection?: unknown;
  readonly ignoreConfiguredEndpointUrls?: Provided<boolean>;
  readonly signingRegion?: unknown;
  readonly retryStrategy?: unknown;
  readonly extensions?: unknown;
  readonly apiVersion?: unknown;
  readonly authSchemePreference?: unknown;
  readonly base64Decoder?: unknown;
  readonly base64Encoder?: unknown;
  readonly bodyLengthChecker?: unknown;
  readonly cacheMiddleware?: unknown;
  readonly credentialDefaultProvider?: unknown;
  readonly defaultUserAgentProvider?: unknown;
  readonly disableHostPrefix?: unknown;
  readonly endpointProvider?: unknown;
  readonly eventStreamSerdeProvider?: unknown;
  readonly httpAuthSchemeProvider?: unknown;
  readonly httpAuthSchemes?: unknown;
  readonly protocol?: unknown;
  readonly protocolSettings?: unknown;
  readonly runtime?: unknown;
  readonly serviceConfiguredEndpoint?: unknown;
  readonly serviceId?: unknown;
  readonly sha256?: unknown;
  readonly signer?: unknown;
  readonly signerConstructor?: unknown;
  readonly signingEscapePath?: unknown;
  readonly streamCollector?: unknown;
  readonly tls?: unknown;
  readonly urlParser?: unknown;
  readonly utf8Decoder?: unknown;
  readonly utf8Encoder?: unknown;
}

/** Where a publisher or signer gets its AWS SDK client: `client`, or `clientConfig`, not both. */
export interface AwsClientOptions {
  /**
   * The client to use, e.g. `new LambdaClient({})` shared with the rest of the backend: a client
   * of the service the publisher or signer calls (checked when it is made).
   * @default a client created from `clientConfig`
   */
  readonly client?: AwsClient;
  /**
   * Config for the client created when none is passed: `region`, `credentials`, `endpoint` (the
   * local stack's `http://127.0.0.1:3000`), and so on.
   * @default {} (the SDK's own defaults: region and credentials from the environment)
   */
  readonly clientConfig?: AwsClientConfig;
}

/** The AWS service a publisher or signer calls, as its SDK client names it in `config.serviceId`. */
export interface AwsService {
  /** The SDK package, named in the error when it is not installed. */
  readonly pkg: string;
  /** The client's class, named in the error when another service's client is passed. */
  readonly clientClass: string;
  /** `config.serviceId` of that class's clients: `'Lambda'`, `'SNS'`, `'Secrets Manager'`. */
  readonly serviceId: string;
}

/** `config.serviceId` of the SDK clients a publisher or signer can be given. */
const KNOWN_SERVICE_IDS: ReadonlySet<string> = new Set(['Lambda', 'SNS', 'Secrets Manager']);

/**
 * Checks `client` and `clientConfig` when the publisher or signer is made. An SNS client passed
 * to a Lambda publisher would otherwise fail only at the first call, with an error about the
 * command; and a `clientConfig` beside a `client` would be ignored without a word. A client that
 * does not carry the SDK's `config.serviceId` (a wrapper, a test double) is taken as it is.
 */
function checkClientOptions(service: AwsService, options: AwsClientOptions): void {
  const { client } = options;
  if (client === undefined) return;
  if (options.clientConfig !== undefined) {
    throw new TypeError(
      'pass client or clientConfig, not both: clientConfig only configures the client made when none is passed',
    );
  }
  if (typeof (client as { send?: unknown }).send !== 'function') {
    throw new TypeError(`client must be an AWS SDK v3 ${service.clientClass}: it has no send method`);
  }
  const serviceId = (client as { config?: { serviceId?: unknown } }).config?.serviceId;
  // Only another known service's id is refused: `serviceId` is a config field a client may set.
  if (typeof serviceId === 'string' && serviceId !== service.serviceId && KNOWN_SERVICE_IDS.has(serviceId)) {
    throw new TypeError(
      `client must be a ${service.clientClass} (${service.pkg}), not a client of ${serviceId}`,
    );
  }
}

/**
 * `config` as an SDK client's constructor takes it. {@link AwsClientConfig} has the SDK's field
 * names, not its types (the package does not depend on the peers' types): the SDK checks the
 * values when it builds the client.
 */
export function sdkConfig(config: AwsClientConfig): never {
  return config as never;
}

type Sender = (command: unknown) => Promise<unknown>;

/**
 * A `send` over the injected client, or over one `create` makes from the SDK module on first use,
 * and the module itself for its command classes. The module is imported lazily, and a missing one
 * fails with a {@link PushApiError} (`internal`) naming the package to install.
 *
 * @throws TypeError when `options` passes another service's client, or a client and a config.
 */
export function lazySender<M>(
  service: AwsService,
  load: () => Promise<M>,
  create: (module: M, config: AwsClientConfig) => AwsClient,
  options: AwsClientOptions,
): { send: Sender; module: () => Promise<M> } {
  checkClientOptions(service, options);
  const { pkg } = service;
  let loaded: Promise<M> | undefined;
  const module = () => {
    loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      // The caller's own setup, which no retry mends: `internal`, as a refused permission is.
      throw new PushApiError('internal', `${pkg} is not installed: npm install ${pkg}`, { cause: error });
    });
    return loaded;
  };
  let client: Promise<AwsClient> | undefined;
  const send: Sender = async (command) => {
    client ??= (async () => options.client ?? create(await module(), { ...options.clientConfig }))().catch(
      (error: unknown) => {
        client = undefined;
        throw error;
      },
    );
    const ready = await client;
    return (ready.send as Sender).call(ready, command);
  };
  return { send, module };
}

/**
 * Checks an option that names an AWS resource, when the publisher or signer is made: an unset
 * environment variable (`process.env.X!`) would otherwise reach the SDK as `undefined` or `''` and
 * fail at the first call, where the SDK's message (`No value provided for input HTTP label`) says
 * neither which option nor what to set, and reads as a failure worth retrying.
 */
export function requireName(option: string, value: unknown, output: string): void {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new TypeError(
      `${option} must be set: the stack's ${output} output (got ${value === '' ? 'an empty string' : String(value)})`,
    );
  }
}
