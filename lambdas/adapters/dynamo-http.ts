/**
 * The hot-path DynamoDB client: DynamoDB's JSON protocol over {@link SignedHttp}, for the SDK's
 * low-level commands. A command goes out as its input, which is already in DynamoDB's wire form
 * (attribute values, numbers as strings), and comes back as DynamoDB's answer, which is the
 * low-level command's output. A refusal becomes an error named as the SDK names it
 * (`ConditionalCheckFailedException`, `ProvisionedThroughputExceededException`, ...) with
 * `$metadata.httpStatusCode`, so the adapters' error handling is the same for both clients.
 *
 * Retries are the SDK client's own: its retry strategy (attempts, backoff, the client-wide retry
 * quota that stops retrying when most calls fail; `AWS_MAX_ATTEMPTS` and `AWS_RETRY_MODE` apply)
 * decides on each failure, classified by the SDK's own rules (throttle, transient: timeouts,
 * broken connections, 500/502/503/504), exactly as its retry middleware does.
 *
 * Not supported (a `TypeError` before anything is sent): binary attributes (`B`, `BS`), which no
 * adapter writes; the SDK client's own clock-skew correction (Lambda's clock is kept in sync).
 */
import type {
  DynamoDBClient,
  DynamoDBClientResolvedConfig,
  ServiceInputTypes,
  ServiceOutputTypes,
} from '@aws-sdk/client-dynamodb';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import type { Command, RetryErrorType, RetryStrategyV2, SdkError } from '@smithy/types';
import {
  answerMetadata,
  endpointUrl,
  LazyTransport,
  operationOf,
  ServiceError,
  type SignedAnswer,
  SignedHttp,
} from './signed-http';

/**
 * What the DynamoDB adapters need of a client: sending a low-level command. Both this module's
 * client and the SDK's `DynamoDBClient` (the one tests mock) are one.
 */
export interface DynamoSender {
  send<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
    command: Command<ServiceInputTypes, I, ServiceOutputTypes, O, DynamoDBClientResolvedConfig>,
  ): Promise<O>;
  destroy(): void;
}

/** The service target prefix of every operation (API version 2012-08-10). */
const TARGET_PREFIX = 'DynamoDB_20120810.';
const CONTENT_TYPE = 'application/x-amz-json-1.0';

/** An error DynamoDB answered, shaped as the SDK's service exceptions are. */
export class DynamoServiceError extends ServiceError {
  /** The item a refused condition returned (`ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`). */
  readonly Item?: Record<string, unknown>;

  constructor(
    name: string,
    message: string,
    answer: Pick<SignedAnswer, 'status' | 'headers'>,
    item?: object,
  ) {
    super(name, message, answer);
    if (item !== undefined) this.Item = item as Record<string, unknown>;
  }
}

/** Reads DynamoDB's error body (`{"__type":"com.amazonaws.dynamodb.v20120810#Name","message":...}`). */
export function dynamoErrorOf(answer: SignedAnswer): DynamoServiceError {
  let type = '';
  let message = '';
  let item: object | undefined;
  try {
    const body = JSON.parse(answer.body.toString('utf8')) as {
      __type?: unknown;
      message?: unknown;
      Message?: unknown;
      Item?: unknown;
    };
    if (typeof body.__type === 'string') type = body.__type;
    const text = body.message ?? body.Message;
    if (typeof text === 'string') message = text;
    if (typeof body.Item === 'object' && body.Item !== null) item = body.Item;
  } catch {
    // Not JSON (a proxy's error page): named by its status below.
  }
  const name =
    type.slice(type.lastIndexOf('#') + 1) ||
    (answer.status >= 500 ? 'InternalServerError' : `UnknownError${answer.status}`);
  return new DynamoServiceError(name, message || `DynamoDB answered ${answer.status}`, answer, item);
}

/** A failure as the SDK's retry strategies classify it (its retry middleware's rules). */
export function retryErrorTypeOf(error: SdkError): RetryErrorType {
  if (isThrottlingError(error)) return 'THROTTLING';
  if (isTransientError(error)) return 'TRANSIENT';
  if (isServerError(error)) return 'SERVER_ERROR';
  return 'CLIENT_ERROR';
}

/** Options for {@link DynamoHttpClient}. */
export interface DynamoHttpOptions {
  /**
   * The SDK client whose settings this one takes once, at its first call: credentials provider,
   * region, and endpoint (its own, or the regional one its rules give).
   */
  readonly settings: DynamoDBClient;
  /** Sockets kept open. @default 50, as the SDK's */
  readonly maxSockets?: number;
  /** Bound on each attempt, queueing for a socket included. */
  readonly timeoutMs: number;
  /** Bound on opening a connection. @default timeoutMs */
  readonly connectTimeoutMs?: number;
}

/**
 * A JSON.stringify replacer refusing binary attributes (the JSON protocol would need them in
 * base64). The holder's own value is tested: a Buffer has already become its `toJSON()` here.
 */
function noBinary(this: unknown, key: string, value: unknown): unknown {
  if (
    typeof value === 'object' &&
    value !== null &&
    (this as Record<string, unknown>)[key] instanceof Uint8Array
  ) {
    throw new TypeError('the hot-path DynamoDB client sends no binary attributes; use the SDK client');
  }
  return value;
}

/** How deep {@link binaryIn} looks before it leaves the question to the replacer. */
const BINARY_WALK_DEPTH = 64;

/**
 * Whether `value` holds a binary attribute (a `Uint8Array`, a `Buffer`) where `JSON.stringify`
 * would reach it; `undefined` when it cannot tell without calling a `toJSON` or going deeper than
 * {@link BINARY_WALK_DEPTH} (a cycle, say), which the replacer ({@link noBinary}) then decides.
 * A walk over the input and a plain `JSON.stringify` cost about half of `JSON.stringify` with a
 * replacer, which V8 calls back for every key.
 */
function binaryIn(value: unknown, depth: number): boolean | undefined {
  if (typeof value !== 'object' || value === null) return false;
  if (value instanceof Uint8Array) return true;
  if (depth > BINARY_WALK_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return undefined;
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = binaryIn(item, depth + 1);
      if (found !== false) return found;
    }
    return false;
  }
  for (const key of Object.keys(value)) {
    const found = binaryIn((value as Record<string, unknown>)[key], depth + 1);
    if (found !== false) return found;
  }
  return false;
}

/** A command's input as DynamoDB's JSON; a binary attribute is refused ({@link noBinary}). */
function wireJson(input: unknown): string {
  const found = binaryIn(input, 0);
  if (found === false) return JSON.stringify(input);
  return JSON.stringify(input, noBinary);
}

/**
 * Sends the SDK's low-level DynamoDB commands as DynamoDB's JSON protocol.
 *
 * @example
 * const client = new DynamoHttpClient({ settings: new DynamoDBClient({}), timeoutMs: 5_000 });
 * const { Items } = await client.send(new QueryCommand({ TableName, KeyConditionExpression, ... }));
 */
export class DynamoHttpClient implements DynamoSender {
  readonly #options: DynamoHttpOptions;
  /** Transport and retries, made at the first call from the SDK client's settings. */
  readonly #transport: LazyTransport<Resolved>;

  constructor(options: DynamoHttpOptions) {
    this.#options = options;
    this.#transport = new LazyTransport(() => resolve(options));
  }

  async send<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
    command: Command<ServiceInputTypes, I, ServiceOutputTypes, O, DynamoDBClientResolvedConfig>,
  ): Promise<O> {
    const operation = operationOf(command);
    if (operation === undefined) {
      throw new TypeError('not a DynamoDB low-level command: its operation name is missing');
    }
    const target = TARGET_PREFIX + operation;
    const body = wireJson(command.input);
    const { http, retries } = await this.#transport.get();
    let token = await retries.acquireInitialRetryToken('');
    for (let attempt = 1; ; attempt++) {
      let failure: Error;
      try {
        const answer = await http.request(
          'POST',
          '/',
          { 'content-type': CONTENT_TYPE, 'x-amz-target': target },
          body,
        );
        if (answer.status === 200) {
          retries.recordSuccess(token);
          const output = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
          output.$metadata = answerMetadata(answer, attempt);
          return output as O;
        }
        failure = dynamoErrorOf(answer);
      } catch (error) {
        failure = error instanceof Error ? error : new Error(String(error));
      }
      try {
        // Waits out the backoff itself, or throws when the failure is not to be retried.
        token = await retries.refreshRetryTokenForRetry(token, {
          error: failure as SdkError,
          errorType: retryErrorTypeOf(failure as SdkError),
        });
      } catch {
        const failed = failure as { $metadata?: { attempts?: number } };
        failed.$metadata ??= {};
        failed.$metadata.attempts = attempt;
        throw failure;
      }
      const delay = token.getRetryDelay();
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  destroy(): void {
    this.#transport.destroy();
    this.#options.settings.destroy();
  }
}

/** What a client takes from its SDK client's settings, once. */
interface Resolved {
  readonly http: SignedHttp;
  readonly retries: RetryStrategyV2;
}

async function resolve(options: DynamoHttpOptions): Promise<Resolved> {
  const config = options.settings.config;
  const region = await config.region();
  const own = await config.endpoint?.();
  const endpoint =
    own === undefined
      ? config.endpointProvider({
          Region: region,
          UseFIPS: await config.useFipsEndpoint(),
          UseDualStack: await config.useDualstackEndpoint(),
        }).url
      : endpointUrl(own);
  const retries = await config.retryStrategy();
  if (!('acquireInitialRetryToken' in retries)) {
    throw new TypeError("the hot-path DynamoDB client needs a retry strategy of the SDK's current interface");
  }
  const http = new SignedHttp({
    endpoint,
    service: 'dynamodb',
    region,
    credentials: config.credentials,
    maxSockets: options.maxSockets ?? 50,
    timeoutMs: options.timeoutMs,
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
  });
  return { http, retries };
}
