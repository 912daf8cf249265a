import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DynamoHttpClient } from './adapters/dynamo-http';
import { DynamoMessageLog } from './adapters/dynamo-log';
import { DynamoPublishIds } from './adapters/dynamo-publish-ids';
import { DynamoPublishRecords } from './adapters/dynamo-publishes';
import { DynamoRevocations } from './adapters/dynamo-revocations';
import { DynamoConnectionStore } from './adapters/dynamo-store';
import { createManagementClient, ManagementGateway } from './adapters/management-gateway';
import { createSecretsClient, secretsManagerKeyRing, staticKeyRing } from './adapters/secret';
import { SqsJobQueue } from './adapters/sqs-queue';
import type { DeliveryDeps } from './core/delivery';
import type { FrameRateSettings } from './core/frame-rate';
import { type LogSettings, parseTopicHistory } from './core/log';
import type { ReplayBudget } from './core/ports';
import type { KeyRing } from './core/token';
import { type Env, intEnv, nonNegativeIntEnv, optionalEnv, requireEnv } from './shared/config';
import { METRICS } from './shared/deployment';
import { ENV, SERVICE_NAME } from './shared/env';
import {
  frameBurstFor,
  frameRefusalsToCloseFor,
  LIMITS,
  minFrameBurstFor,
  uidFrameBurstFor,
} from './shared/limits';

/**
 * Builds the adapters from the environment. Handlers call these once, at module scope, so a
 * missing variable fails the cold start with its name, and clients are reused while warm.
 */

/**
 * The DynamoDB clients of one execution environment, which every adapter its handler builds sends
 * through: each client is a pool of kept-alive connections, and in AWS each new connection is a
 * TCP and TLS handshake. With a client per adapter, a publish's first push opened a connection for
 * the id claim, one for the uid lookup, and then a third, on the push's sequential path, for the
 * log's counter; and every idle pool held sockets of its own. A handler builds them once, at
 * module scope ({@link dynamoClientsFromEnv}), and passes them to each builder: not a singleton
 * here, since the local stack runs several functions' module instances in one process, each with
 * its own credentials, over these shared modules.
 */
export interface DynamoClients {
  /** The hot-path client ({@link dynamoClientFromEnv}): index reads, the message log, publish ids. */
  readonly hotPath: DynamoHttpClient;
  /** The document client ({@link documentClientFromEnv}): every other DynamoDB call. */
  readonly document: DynamoDBDocumentClient;
}

/**
 * One hot-path and one document client for `env`'s endpoint and timeouts.
 *
 * @example
 * const dynamo = dynamoClientsFromEnv();
 * const store = connectionStoreFromEnv(dynamo);
 * const log = messageLogFromEnv(dynamo, logSettingsFromEnv());
 */
export function dynamoClientsFromEnv(env: Env = process.env): DynamoClients {
  return {
    hotPath: dynamoClientFromEnv(env, SHARED_HOT_PATH_SOCKETS),
    document: documentClientFromEnv(env),
  };
}

/**
 * Sockets of the shared hot-path client: the three clients of 50 it replaced (publish ids, index
 * reads, the message log), so a batch's calls queue no longer for a socket than before. The
 * queueing counts against each attempt's timeout.
 */
const SHARED_HOT_PATH_SOCKETS = 150;

/**
 * The hot-path DynamoDB client: the SDK's low-level commands sent as DynamoDB's JSON protocol on
 * a signed keep-alive connection (dynamo-http.ts), with the SDK's standard retries. Its settings
 * (credentials, region, endpoint) are an SDK client's, read once. Each attempt is cut after
 * {@link LIMITS.dynamoRequestTimeoutMs} and each connect after {@link LIMITS.dynamoConnectTimeoutMs};
 * `PUSH_DYNAMO_REQUEST_TIMEOUT_MS` overrides both (only the local stack sets it).
 * `DYNAMODB_ENDPOINT` points it at dynalite or DynamoDB Local. The adapters share one per
 * environment ({@link DynamoClients}).
 */
export function dynamoClientFromEnv(env: Env = process.env, maxSockets?: number): DynamoHttpClient {
  const endpoint = optionalEnv(ENV.dynamodbEndpoint, env);
  const { connectionTimeout, requestTimeout } = dynamoTimeouts(env);
  return new DynamoHttpClient({
    settings: new DynamoDBClient(endpoint === undefined ? {} : { endpoint }),
    timeoutMs: requestTimeout,
    connectTimeoutMs: connectionTimeout,
    ...(maxSockets === undefined ? {} : { maxSockets }),
  });
}

/** Per-attempt bounds on a DynamoDB request and on its connect. */
function dynamoTimeouts(env: Env): { connectionTimeout: number; requestTimeout: number } {
  const local = optionalEnv(ENV.dynamoRequestTimeoutMs, env);
  const requestTimeout = nonNegativeIntEnv(ENV.dynamoRequestTimeoutMs, LIMITS.dynamoRequestTimeoutMs, env);
  // Locally a connect is bounded as a request is: in a process whose event loop a burst keeps
  // busy, an expired timer runs before the connect it raced is even seen.
  return {
    connectionTimeout: local === undefined ? LIMITS.dynamoConnectTimeoutMs : requestTimeout,
    requestTimeout,
  };
}

/**
 * The HTTP handler of the document client (the cold paths): each attempt is cut after
 * {@link LIMITS.dynamoRequestTimeoutMs} (smithy only warns on its request timeout unless told to
 * throw) and each connect after {@link LIMITS.dynamoConnectTimeoutMs}, so a stuck socket costs one
 * attempt, which the SDK retries, instead of the whole invocation. Keep-alive, as the SDK's own.
 * `PUSH_DYNAMO_REQUEST_TIMEOUT_MS` overrides both; only the local stack sets it.
 */
function dynamoRequestHandler(env: Env): NodeHttpHandler {
  return new NodeHttpHandler({ ...dynamoTimeouts(env), throwOnRequestTimeout: true });
}

/** How long publish ids and sharded publish records are kept (`PUSH_ID_RETENTION_SECONDS`). */
export function idRetentionFromEnv(env: Env = process.env): number {
  return intEnv(ENV.idRetentionSeconds, LIMITS.publishRecordSeconds, env);
}

/** Publish ids on `PUSH_PUBLISHES_TABLE`, when configured: without it ids are not checked. */
export function publishIdsFromEnv(
  clients: DynamoClients,
  env: Env = process.env,
): DynamoPublishIds | undefined {
  const table = optionalEnv(ENV.publishesTable, env);
  if (table === undefined) return undefined;
  return new DynamoPublishIds(clients.hotPath, table, idRetentionFromEnv(env));
}

/**
 * A DynamoDB document client; `DYNAMODB_ENDPOINT` points it at dynalite or DynamoDB Local. The
 * adapters share one per environment ({@link DynamoClients}).
 */
export function documentClientFromEnv(env: Env = process.env): DynamoDBDocumentClient {
  const endpoint = optionalEnv(ENV.dynamodbEndpoint, env);
  const client = new DynamoDBClient({
    requestHandler: dynamoRequestHandler(env),
    ...(endpoint === undefined ? {} : { endpoint }),
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** The connection store on the table named by `PUSH_CONNECTIONS_TABLE`. */
export function connectionStoreFromEnv(
  clients: DynamoClients,
  env: Env = process.env,
): DynamoConnectionStore {
  return new DynamoConnectionStore(clients.document, requireEnv(ENV.connectionsTable, env), {
    reads: clients.hotPath,
  });
}

/** Token revocations, kept in the table named by `PUSH_CONNECTIONS_TABLE`. */
export function revocationsFromEnv(clients: DynamoClients, env: Env = process.env): DynamoRevocations {
  return new DynamoRevocations(clients.document, requireEnv(ENV.connectionsTable, env));
}

/** Message-log settings: retention, size cap and which topics keep history. */
export function logSettingsFromEnv(env: Env = process.env): LogSettings {
  return {
    retentionSeconds: intEnv(ENV.logRetentionSeconds, LIMITS.logRetentionSeconds, env),
    maxMessages: intEnv(ENV.logMaxMessages, LIMITS.logMaxMessages, env),
    topicHistory: parseTopicHistory(optionalEnv(ENV.topicHistory, env)),
  };
}

/** The message log on the table named by `PUSH_MESSAGES_TABLE`. */
export function messageLogFromEnv(
  clients: DynamoClients,
  settings: LogSettings,
  env: Env = process.env,
): DynamoMessageLog {
  return new DynamoMessageLog(clients.hotPath, requireEnv(ENV.messagesTable, env), settings);
}

/** Sharded-publish settings; `queue` and `records` are absent when sharding is not configured. */
export interface ShardingSettings {
  readonly queue?: SqsJobQueue;
  readonly records?: DynamoPublishRecords;
  readonly shardThreshold: number;
}

/**
 * The SQS client of the publish function and the shard worker: each attempt is cut after
 * {@link LIMITS.sqsRequestTimeoutMs} (smithy only warns on its request timeout unless told to
 * throw) and each connect after {@link LIMITS.sqsConnectTimeoutMs}, and the SDK retries it. The
 * SDK sends to the queue URL's own host, so the local stack's queues need no endpoint.
 */
export function sqsClient(): SQSClient {
  return new SQSClient({
    requestHandler: new NodeHttpHandler({
      connectionTimeout: LIMITS.sqsConnectTimeoutMs,
      requestTimeout: LIMITS.sqsRequestTimeoutMs,
      throwOnRequestTimeout: true,
    }),
  });
}

/** Shard queue (`PUSH_SHARD_QUEUE_URL`) and publish records (`PUSH_PUBLISHES_TABLE`), when configured. */
export function shardingFromEnv(clients: DynamoClients, env: Env = process.env): ShardingSettings {
  const queueUrl = optionalEnv(ENV.shardQueueUrl, env);
  const table = optionalEnv(ENV.publishesTable, env);
  return {
    ...(queueUrl === undefined ? {} : { queue: new SqsJobQueue(sqsClient(), queueUrl) }),
    ...(table === undefined
      ? {}
      : { records: new DynamoPublishRecords(clients.document, table, idRetentionFromEnv(env)) }),
    shardThreshold: intEnv(ENV.shardThreshold, LIMITS.shardThreshold, env),
  };
}

/** The publish records on `PUSH_PUBLISHES_TABLE` (required). */
export function publishRecordsFromEnv(clients: DynamoClients, env: Env = process.env): DynamoPublishRecords {
  return new DynamoPublishRecords(
    clients.document,
    requireEnv(ENV.publishesTable, env),
    idRetentionFromEnv(env),
  );
}

/** Fan-out settings. */
export interface FanOutSettings {
  readonly concurrency: number;
  readonly attempts: number;
  readonly timeoutMs: number;
  readonly connectGraceMs: number;
}

/** Reads the fan-out settings, with the defaults from LIMITS. */
export function fanOutSettingsFromEnv(env: Env = process.env): FanOutSettings {
  return {
    concurrency: intEnv(ENV.fanoutConcurrency, LIMITS.fanoutConcurrency, env),
    attempts: intEnv(ENV.sendAttempts, LIMITS.sendAttempts, env),
    timeoutMs: intEnv(ENV.sendTimeoutMs, LIMITS.sendTimeoutMs, env),
    connectGraceMs: nonNegativeIntEnv(ENV.connectGraceMs, LIMITS.connectGraceMs, env),
  };
}

/**
 * The publish function's timeout in ms (`PUSH_PUBLISH_TIMEOUT_MS`, which the stack gives
 * `$default`): how long a resume waits on a seq missing below a stored message.
 */
export function publishTimeoutMsFromEnv(env: Env = process.env): number {
  return intEnv(ENV.publishTimeoutMs, LIMITS.publishTimeoutMs, env);
}

/**
 * The resume budget: resumes one connection may start (`PUSH_RESUMES_PER_WINDOW`), and all of one
 * uid's connections together (`PUSH_RESUMES_PER_UID_PER_WINDOW`), per window of
 * `PUSH_RESUME_WINDOW_SECONDS`, with the defaults from LIMITS. The window is at most a
 * connection's lifetime, as the stack's `resumeWindow` prop is.
 */
export function resumeBudgetFromEnv(env: Env = process.env): ReplayBudget {
  const perWindow = intEnv(ENV.resumesPerWindow, LIMITS.resumesPerWindow, env);
  const perUid = intEnv(ENV.resumesPerUidPerWindow, LIMITS.resumesPerUidPerWindow, env);
  const windowSeconds = intEnv(ENV.resumeWindowSeconds, LIMITS.resumeWindowSeconds, env);
  if (windowSeconds > LIMITS.maxResumeWindowSeconds) {
    throw new Error(
      `environment variable ${ENV.resumeWindowSeconds} must be at most ${LIMITS.maxResumeWindowSeconds} ` +
        `(seconds, a connection's lifetime), got ${JSON.stringify(optionalEnv(ENV.resumeWindowSeconds, env))}`,
    );
  }
  return { perWindow, perUid, windowMs: windowSeconds * 1000 };
}

/**
 * The subscription cap per connection (`PUSH_MAX_SUBSCRIPTIONS`), at most
 * `LIMITS.maxSubscriptionsCeiling` as the stack's `maxSubscriptions` prop is: the connection record
 * lists every subscribed topic, so a larger cap could outgrow DynamoDB's item.
 */
export function maxSubscriptionsFromEnv(env: Env = process.env): number {
  const cap = intEnv(ENV.maxSubscriptions, LIMITS.maxSubscriptions, env);
  if (cap > LIMITS.maxSubscriptionsCeiling) {
    throw new Error(
      `environment variable ${ENV.maxSubscriptions} must be at most ${LIMITS.maxSubscriptionsCeiling} ` +
        `(the connection record lists every subscribed topic, within DynamoDB's 400 KB per item), ` +
        `got ${JSON.stringify(optionalEnv(ENV.maxSubscriptions, env))}`,
    );
  }
  return cap;
}

/**
 * Each connection's frame allowance on `$default`: `PUSH_FRAME_BURST` at once, refilled at
 * `PUSH_FRAMES_PER_SECOND`, closed at `PUSH_FRAME_REFUSALS_TO_CLOSE` refusals. Unset, they default
 * as the stack's props do: the burst from the subscription cap and the resume budget in force
 * (`frameBurstFor`), the refusals to twice the burst. The burst must hold a reconnect's handshake
 * at that cap (`minFrameBurstFor`), as the stack's `frameBurst` prop must: below it the client
 * library would be refused on every reconnect.
 */
export function frameRateFromEnv(env: Env = process.env): FrameRateSettings {
  const maxSubscriptions = maxSubscriptionsFromEnv(env);
  const resumesPerWindow = intEnv(ENV.resumesPerWindow, LIMITS.resumesPerWindow, env);
  const burst = intEnv(ENV.frameBurst, frameBurstFor(maxSubscriptions, resumesPerWindow), env);
  const min = minFrameBurstFor(maxSubscriptions);
  if (burst < min) {
    throw new Error(
      `environment variable ${ENV.frameBurst} must be at least ${min} (a reconnect's subscribe for each of ` +
        `${ENV.maxSubscriptions}=${maxSubscriptions} topics, its resume and a ping), got ${JSON.stringify(optionalEnv(ENV.frameBurst, env))}`,
    );
  }
  return {
    burst,
    perSecond: intEnv(ENV.framesPerSecond, LIMITS.framesPerSecond, env),
    refusalsToClose: intEnv(ENV.frameRefusalsToClose, frameRefusalsToCloseFor(burst), env),
  };
}

/**
 * The allowance a uid's connections share on `$default`: `PUSH_UID_FRAME_BURST` at once, refilled
 * at `PUSH_UID_FRAMES_PER_SECOND`, all of the uid's connections closed at the connection's
 * `PUSH_FRAME_REFUSALS_TO_CLOSE` refusals. Unset, they default as the stack's props do: every
 * connection the uid may hold reconnecting at once (`uidFrameBurstFor`), twice a connection's
 * rate. Neither may be below the connection's own, which it would make meaningless: a single
 * connection's handshake would meet the uid's limit first.
 */
export function uidFrameRateFromEnv(
  env: Env = process.env,
  connection: FrameRateSettings = frameRateFromEnv(env),
): FrameRateSettings {
  const maxConnectionsPerUid = intEnv(ENV.maxConnectionsPerUid, LIMITS.maxConnectionsPerUid, env);
  const burst = intEnv(
    ENV.uidFrameBurst,
    uidFrameBurstFor(maxConnectionsPerUid, maxSubscriptionsFromEnv(env), connection.burst),
    env,
  );
  const perSecond = intEnv(
    ENV.uidFramesPerSecond,
    Math.max(LIMITS.uidFramesPerSecond, connection.perSecond),
    env,
  );
  for (const [name, value, min] of [
    [ENV.uidFrameBurst, burst, connection.burst],
    [ENV.uidFramesPerSecond, perSecond, connection.perSecond],
  ] as const) {
    if (value < min) {
      throw new Error(
        `environment variable ${name} must be at least ${min} (one connection's own allowance), got ${JSON.stringify(optionalEnv(name, env))}`,
      );
    }
  }
  return { burst, perSecond, refusalsToClose: connection.refusalsToClose };
}

/**
 * How long, in ms, a uid whose connection `$default` closed for flooding may not connect again:
 * `PUSH_FLOOD_COOL_OFF_SECONDS`, whole seconds, 0 for no cool-off. Unset,
 * {@link LIMITS.floodCoolOffSeconds}.
 */
export function floodCoolOffMsFromEnv(env: Env = process.env): number {
  const seconds = nonNegativeIntEnv(ENV.floodCoolOffSeconds, LIMITS.floodCoolOffSeconds, env);
  if (seconds > LIMITS.maxFloodCoolOffSeconds) {
    throw new Error(
      `environment variable ${ENV.floodCoolOffSeconds} must be at most ${LIMITS.maxFloodCoolOffSeconds}, got ${JSON.stringify(optionalEnv(ENV.floodCoolOffSeconds, env))}`,
    );
  }
  return seconds * 1000;
}

/** The Management API gateway on `PUSH_MANAGEMENT_ENDPOINT`, pooled to the fan-out concurrency. */
export function gatewayFromEnv(settings: FanOutSettings, env: Env = process.env): ManagementGateway {
  const client = createManagementClient({
    endpoint: requireEnv(ENV.managementEndpoint, env),
    maxSockets: settings.concurrency,
    requestTimeoutMs: settings.timeoutMs,
  });
  // The gateway's own bound starts before signing, so it gets a margin: the client's timeout should
  // fire first and destroy the request, so a retry never races an original still on its socket.
  return new ManagementGateway(client, { timeoutMs: settings.timeoutMs + LIMITS.sendTimeoutGraceMs });
}

/**
 * The keys tokens are verified against: in AWS (`PUSH_TOKEN_SECRET_ARN`) the secret's current and
 * previous versions, so tokens signed before a rotation keep working; locally `PUSH_TOKEN_SECRET`.
 */
export function keyRingFromEnv(env: Env = process.env): KeyRing {
  const arn = optionalEnv(ENV.tokenSecretArn, env);
  if (arn !== undefined) return secretsManagerKeyRing(createSecretsClient(), arn);
  const secret = optionalEnv(ENV.tokenSecret, env);
  if (secret !== undefined) return staticKeyRing(secret);
  throw new Error(`missing required environment variable ${ENV.tokenSecretArn} (or ${ENV.tokenSecret})`);
}

/** The structured JSON logger every handler uses. */
export function createLogger(env: Env = process.env): Logger {
  return new Logger({ serviceName: optionalEnv(ENV.serviceName, env) ?? SERVICE_NAME });
}

/** CloudWatch metrics as EMF log lines; flushed by each handler at the end of an invocation. */
export function createMetrics(env: Env = process.env): Metrics {
  return new Metrics({
    namespace: optionalEnv(ENV.metricsNamespace, env) ?? METRICS.defaultNamespace,
    serviceName: optionalEnv(ENV.serviceName, env) ?? SERVICE_NAME,
  });
}

/** Flushes the stored metrics, if any: an empty flush only prints a warning. */
export function flushMetrics(metrics: Metrics): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/** What every delivering handler ($default resumes, publish, worker) shares: store, gateway, settings. */
export type DeliveryBase = Required<Pick<DeliveryDeps, 'concurrency' | 'attempts' | 'connectGraceMs'>> & {
  readonly store: DynamoConnectionStore;
  readonly gateway: ManagementGateway;
  /** The gateway's per-call timeout, for a handler that must leave a call's room before its end. */
  readonly sendTimeoutMs: number;
};

/**
 * The store, the pooled Management API gateway and the fan-out settings, built once, so every
 * delivering handler passes the same settings to the core.
 */
export function deliveryFromEnv(clients: DynamoClients, env: Env = process.env): DeliveryBase {
  const settings = fanOutSettingsFromEnv(env);
  return {
    store: connectionStoreFromEnv(clients, env),
    gateway: gatewayFromEnv(settings, env),
    concurrency: settings.concurrency,
    attempts: settings.attempts,
    connectGraceMs: settings.connectGraceMs,
    sendTimeoutMs: settings.timeoutMs,
  };
}
