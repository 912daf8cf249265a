/**
 * The hot-path DynamoDB client: DynamoDB's JSON protocol over {@link SignedHttp}, for the SDK's
 * low-level commands. A command goes out as its input, which is already in DynamoDB's wire form
 * (attribute values, numbers as strings), and comes back as DynamoDB's answer, which is the
 * low-level command's output. A refusal becomes an error named as the SDK names it
 * (`ConditionalCheckFailedException`, `ProvisionedThroughputExceededException`, ...) with
 * `$metadata.httpStatusCode`, so the adapters' error handling is the same for both clients.
 *
 * Retries follow the SDK's standard mode: three attempts; throttles, 5xx answers, timeouts and
 * broken connections are retried after a full-jitter backoff (500 ms base for a throttle, 100 ms
 * otherwise, 20 s at most); a client-wide quota (500, 5 per retry, 10 per retry of a timeout, 1
 * back per success) stops retries when most calls are failing, so an outage is not multiplied.
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
import type { Command } from '@smithy/types';
import { type SignedAnswer, SignedHttp } from './signed-http';

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
export class DynamoServiceError extends Error {
  override readonly name: string;
  readonly $fault: 'client' | 'server';
  readonly $metadata: { readonly httpStatusCode: number; readonly requestId?: string; attempts?: number };
  /** The item a refused condition returned (`ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`). */
  readonly Item?: Record<string, unknown>;

  constructor(
    name: string,
    message: string,
    answer: Pick<SignedAnswer, 'status' | 'headers'>,
    item?: object,
  ) {
    super(message);
    this.name = name;
    this.$fault = answer.status >= 500 ? 'server' : 'client';
    const requestId = answer.headers['x-amzn-requestid'];
    this.$metadata = {
      httpStatusCode: answer.status,
      ...(typeof requestId === 'string' ? { requestId } : {}),
    };
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

/** The SDK's throttling error names (`@smithy/service-error-classification`). */
const THROTTLES = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);
const TRANSIENT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
const TRANSIENT_STATUSES = new Set([500, 502, 503, 504]);

/** Why a failed attempt may be tried again, or undefined when it may not. */
export function retryKindOf(error: unknown): 'throttle' | 'timeout' | 'transient' | undefined {
  const e = error as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  if (typeof e !== 'object' || e === null) return undefined;
  const status = e.$metadata?.httpStatusCode;
  if ((typeof e.name === 'string' && THROTTLES.has(e.name)) || status === 429) return 'throttle';
  if (typeof e.name === 'string' && TRANSIENT_NAMES.has(e.name)) return 'timeout';
  if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return 'transient';
  if (status !== undefined && TRANSIENT_STATUSES.has(status)) return 'transient';
  return undefined;
}

/** The SDK standard mode's numbers. */
export const DYNAMO_RETRY = {
  maxAttempts: 3,
  baseDelayMs: 100,
  throttleBaseDelayMs: 500,
  maxDelayMs: 20_000,
  quota: 500,
  retryCost: 5,
  timeoutRetryCost: 10,
  successRefund: 1,
} as const;

/** How retries wait and draw their jitter; tests replace both. */
export interface RetryClock {
  sleep(ms: number): Promise<void>;
  random(): number;
}

const realClock: RetryClock = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

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
  /** @default the real timer and Math.random */
  readonly clock?: RetryClock;
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

/**
 * Sends the SDK's low-level DynamoDB commands as DynamoDB's JSON protocol.
 *
 * @example
 * const client = new DynamoHttpClient({ settings: new DynamoDBClient({}), timeoutMs: 5_000 });
 * const { Items } = await client.send(new QueryCommand({ TableName, KeyConditionExpression, ... }));
 */
export class DynamoHttpClient implements DynamoSender {
  readonly #options: DynamoHttpOptions;
  readonly #clock: RetryClock;
  #http: Promise<SignedHttp> | undefined;
  #quota: number = DYNAMO_RETRY.quota;

  constructor(options: DynamoHttpOptions) {
    this.#options = options;
    this.#clock = options.clock ?? realClock;
  }

  async send<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
    command: Command<ServiceInputTypes, I, ServiceOutputTypes, O, DynamoDBClientResolvedConfig>,
  ): Promise<O> {
    const target = TARGET_PREFIX + operationOf(command);
    const body = JSON.stringify(command.input, noBinary);
    const http = await this.#connect();
    for (let attempt = 1; ; attempt++) {
      let answer: SignedAnswer;
      try {
        answer = await http.request(
          'POST',
          '/',
          { 'content-type': CONTENT_TYPE, 'x-amz-target': target },
          body,
        );
      } catch (error) {
        await this.#beforeRetry(error, attempt);
        continue;
      }
      if (answer.status === 200) {
        this.#quota = Math.min(DYNAMO_RETRY.quota, this.#quota + DYNAMO_RETRY.successRefund);
        const output = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
        const requestId = answer.headers['x-amzn-requestid'];
        output.$metadata = {
          httpStatusCode: 200,
          attempts: attempt,
          ...(typeof requestId === 'string' ? { requestId } : {}),
        };
        return output as O;
      }
      await this.#beforeRetry(dynamoErrorOf(answer), attempt);
    }
  }

  /** Throws `error` unless it may be retried now; else waits its backoff and takes its quota. */
  async #beforeRetry(error: unknown, attempt: number): Promise<void> {
    const kind = retryKindOf(error);
    const cost = kind === 'timeout' ? DYNAMO_RETRY.timeoutRetryCost : DYNAMO_RETRY.retryCost;
    if (kind === undefined || attempt >= DYNAMO_RETRY.maxAttempts || this.#quota < cost) {
      const metadata = (error as { $metadata?: { attempts?: number } } | null)?.$metadata;
      if (metadata !== undefined) metadata.attempts = attempt;
      throw error;
    }
    this.#quota -= cost;
    const base = kind === 'throttle' ? DYNAMO_RETRY.throttleBaseDelayMs : DYNAMO_RETRY.baseDelayMs;
    const ceiling = Math.min(DYNAMO_RETRY.maxDelayMs, base * 2 ** (attempt - 1));
    await this.#clock.sleep(Math.floor(this.#clock.random() * ceiling));
  }

  /** The transport, made at the first call from the SDK client's settings; a failure is not kept. */
  #connect(): Promise<SignedHttp> {
    this.#http ??= resolveHttp(this.#options).catch((error: unknown) => {
      this.#http = undefined;
      throw error;
    });
    return this.#http;
  }

  destroy(): void {
    const http = this.#http;
    this.#http = undefined;
    void http?.then(
      (h) => h.destroy(),
      () => {},
    );
    this.#options.settings.destroy();
  }
}

function operationOf(command: object): string {
  // The SDK's operation schema: [kind, namespace, operation name, traits, input, output].
  const schema = (command as { schema?: unknown }).schema;
  const name = Array.isArray(schema) ? schema[2] : undefined;
  if (typeof name !== 'string' || name === '') {
    throw new TypeError('not a DynamoDB low-level command: its operation name is missing');
  }
  return name;
}

async function resolveHttp(options: DynamoHttpOptions): Promise<SignedHttp> {
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
      : new URL(`${own.protocol}//${own.hostname}${own.port === undefined ? '' : `:${own.port}`}${own.path}`);
  return new SignedHttp({
    endpoint,
    service: 'dynamodb',
    region,
    credentials: config.credentials,
    maxSockets: options.maxSockets ?? 50,
    timeoutMs: options.timeoutMs,
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
  });
}
