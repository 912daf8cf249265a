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

/** Where a publisher or signer gets its AWS SDK client. */
export interface AwsClientOptions {
  /**
   * The client to use, e.g. `new LambdaClient({})` shared with the rest of the backend.
   * @default a client created from `clientConfig`
   */
  readonly client?: AwsClient;
  /**
   * Config for the client created when none is passed: `region`, `credentials`, `endpoint` (the
   * local stack's `http://127.0.0.1:3000`), and so on.
   * @default {} (the SDK's own defaults: region and credentials from the environment)
   */
  readonly clientConfig?: Readonly<Record<string, unknown>>;
}

type Sender = (command: unknown) => Promise<unknown>;

/**
 * A `send` over the injected client, or over one `create` makes from the SDK module on first use,
 * and the module itself for its command classes. The module is imported lazily, and a missing one
 * fails with a {@link PushApiError} (`internal`) naming the package to install.
 */
export function lazySender<M>(
  pkg: string,
  load: () => Promise<M>,
  create: (module: M, config: Readonly<Record<string, unknown>>) => AwsClient,
  options: AwsClientOptions,
): { send: Sender; module: () => Promise<M> } {
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
