/**
 * The local push stack: one HTTP server on one port serving the API Gateway WebSocket emulator,
 * the Management API, the publish endpoints (HTTP, Lambda Invoke, SNS Publish, publish status),
 * SQS for the shard queue, dev tokens and the demo page, over DynamoDB (dynalite in-process by
 * default), running the real handler modules, the shard worker included.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type HostedHandlerId, STAGE_PATTERN, STAGE_RULE } from '../lambdas/shared/deployment';
import { ENV } from '../lambdas/shared/env';
import { LIMITS } from '../lambdas/shared/limits';
import { CONNECTIONS_TABLE, TABLES, type TableDefinition } from '../lambdas/shared/tables';
import { handleDev } from './dev-endpoints';
import { resolveTokenSecret } from './dev-secret';
import { ensureTables, externalDynamo, startDynalite } from './dynamo';
import {
  type EmulatorFaults,
  type EmulatorStats,
  type SocketlessConnections,
  WebSocketEmulator,
} from './emulator/gateway';
import { type InvocationRecord, type InvocationStats, LocalFunctions } from './functions';
import { captureHandlerOutput, metricsSince, metricTotals } from './handler-output';
import { holdEnvironment, LOCAL_HANDLERS, loadHandlers } from './handlers';
import { sendJson } from './http-util';
import type { IamStats } from './iam/enforcer';
import { type LocalIamOptions, startLocalIam } from './iam/local-iam';
import { handleLambdaInvoke, INVOKE_PREFIX } from './lambda-invoke';
import type { EnvChanges, LambdaHandler } from './lambda-types';
import { type Logger, silentLogger } from './logger';
import { createManagementApi, type ManagementStats } from './management-api';
import type { ProcessPoolStats } from './process-environment';
import { handlePublish, handlePublishStatus, STATUS_PREFIX } from './publish-endpoints';
import { createShardQueue, type LocalShardQueue, SHARD_QUEUE_NAME } from './shard-queue';
import { handleSnsQuery } from './sns-publish';
import { handleSqs, SQS_TARGET_PREFIX } from './sqs-endpoint';
import { handleSqsQuery, isSqsQuery } from './sqs-query';
import { createStaticSite } from './static-site';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ACCOUNT_ID = '000000000000';

/**
 * Topics the demo page (local/public/app.ts) follows. `npm start` keeps their history, so a
 * back office reopened after a while gets the topic orders it missed (PUSH_TOPIC_HISTORY overrides).
 */
export const DEMO_TOPIC_HISTORY: readonly string[] = ['orders', 'orders.*'];

/** Options for {@link startLocalStack}. Every field is optional. */
export interface LocalStackOptions {
  /** Port for everything; 0 picks a free one. @default 3000 (`npm start` reads --port / PORT) */
  readonly port?: number;
  /** Interface to bind. Loopback on purpose: dev tokens are signed with a public secret. @default '127.0.0.1' */
  readonly host?: string;
  /** Stage name, the first path segment of the WebSocket and Management API URLs. @default 'local' */
  readonly stage?: string;
  /** Keep dynalite's data in this directory. @default in memory */
  readonly dataDir?: string;
  /** Use this DynamoDB (DynamoDB Local, a real table) instead of in-process dynalite. */
  readonly dynamodbEndpoint?: string;
  /** Physical table names by table id (`Connections`, ...). @default each table's id */
  readonly tableNames?: Readonly<Record<string, string>>;
  /** Token signing secret. @default DEV_TOKEN_SECRET (`npm start` reads PUSH_TOKEN_SECRET) */
  readonly tokenSecret?: string;
  /** `aud` the authorizer requires and dev tokens carry. @default none */
  readonly tokenAudience?: string;
  /**
   * Topics (names or `prefix*` patterns) whose messages are logged for resume, as the deployed
   * stack's `topicHistory` (`PUSH_TOPIC_HISTORY`). @default PUSH_TOPIC_HISTORY from the environment, else none
   */
  readonly topicHistory?: readonly string[];
  /** AWS region the handlers' SDK clients use. @default 'us-east-1' */
  readonly region?: string;
  /** Idle timeout. @default 10 min, as API Gateway */
  readonly idleTimeoutMs?: number;
  /** Maximum connection age. @default 2 h, as API Gateway */
  readonly maxConnectionMs?: number;
  /** Integration (handler) timeout. @default 29 s, as API Gateway */
  readonly integrationTimeoutMs?: number;
  /** Handler invocations in flight at once. @default 64 */
  readonly concurrency?: number;
  /**
   * Milliseconds added to every `@connections` call, for measurements that should feel AWS's
   * round trip (roughly 25 ms from a Lambda in the same region; the bench passes 25). @default 0
   */
  readonly managementLatencyMs?: number;
  /**
   * Target connections above which a topic or broadcast publish becomes shard jobs for the
   * worker (`PUSH_SHARD_THRESHOLD`). @default LIMITS.shardThreshold
   */
  readonly shardThreshold?: number;
  /** Deliveries per second all shard workers together may make (`PUSH_RATE_BUDGET`). @default LIMITS.rateBudget */
  readonly rateBudget?: number;
  /**
   * Shard workers at once: the worker's reserved concurrency, each with its own execution
   * environment and `rateBudget / workerConcurrency` of the budget (`PUSH_WORKER_CONCURRENCY`).
   * @default 4 (the deployed default is 16; the budget is the same either way)
   */
  readonly workerConcurrency?: number;
  /**
   * Functions whose execution environments run in child processes instead of the stack's own,
   * and over how many processes each spreads them: `{ worker: 4 }` gives the shard workers their
   * own event loops and the machine's other cores, as Lambda gives each environment its own CPU;
   * `{ publish: 1 }` isolates the publish handler so its CPU per invocation can be measured. The
   * bench uses both. @default {} (every function in process)
   */
  readonly processes?: Partial<Record<HostedHandlerId, number>>;
  /** Shard worker timeout. @default 5 min, as deployed */
  readonly workerTimeoutMs?: number;
  /**
   * How long a received shard job stays hidden; a failed job is retried once it passes.
   * @default six worker timeouts (30 min), as deployed: shorter, and a long broadcast's jobs come
   * back while still running and are delivered twice
   */
  readonly shardVisibilityTimeoutMs?: number;
  /** Receives of one shard job before it moves to the dead-letter queue. @default 5, as deployed */
  readonly shardMaxReceiveCount?: number;
  /** Directory with the demo page (index.html, app.ts). @default local/public */
  readonly publicDir?: string;
  /** The stack's own log lines. @default silentLogger */
  readonly logger?: Logger;
  /** Print the handlers' JSON log lines readably (`npm start` does on a terminal). @default false */
  readonly prettyLogs?: boolean;
  /**
   * IAM on the local endpoints (local/iam/local-iam.ts): a call signed with a function's
   * credentials is refused when its role does not allow it; `false` turns it off.
   * @default on
   */
  readonly iam?: false | LocalIamOptions;
}

/** The emulator as tests and tools see it: fault switches, handler overrides, observers. */
export interface LocalEmulator {
  /** Fault switches: `dropDisconnects`, `managementRateLimit`/`managementBurst`, `management`. */
  readonly faults: EmulatorFaults;
  /** Counters of the gateway, of invocations, and (`management`) of the Management API. */
  readonly stats: EmulatorStats &
    InvocationStats & { readonly management: ManagementStats; readonly iam: IamStats };
  /** Milliseconds added to every `@connections` call; starts at `managementLatencyMs`. */
  managementLatencyMs: number;
  /** The emulated API's id, as in the `requestContext.apiId` of every event. */
  readonly apiId: string;
  /**
   * Plugs in connections with no socket behind them, which the Management API then treats as
   * open: posts to them, GetConnection and DeleteConnection (which runs `$disconnect`) go to
   * `connections`. The extension point for virtual connections (test/support/virtual/), which
   * the bench and the fan-out tests use to count deliveries to 100k connections.
   */
  attachSocketless(connections: SocketlessConnections): void;
  /** Replaces a handler until the returned function is called (tests only). */
  setHandler(name: HostedHandlerId, handler: LambdaHandler): () => void;
  /** Observes every invocation; returns the unsubscribe function. */
  onInvoke(listener: (record: InvocationRecord) => void): () => void;
  /** Ids of the open connections. */
  connectionIds(): string[];
}

/** A running local stack. */
export interface LocalStack {
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly httpUrl: string;
  /** `ws://127.0.0.1:PORT/<stage>` (add `?token=...`) */
  readonly wsUrl: string;
  /** `http://127.0.0.1:PORT/<stage>`: the `endpoint` of an ApiGatewayManagementApiClient. */
  readonly managementEndpoint: string;
  readonly dynamodbEndpoint: string;
  /** The DynamoDB endpoint the functions use: the IAM gate in front of `dynamodbEndpoint` when enforced. */
  readonly functionsDynamodbEndpoint: string;
  /** How DynamoDB runs, for humans (`dynalite, in memory`). */
  readonly dynamodbDescription: string;
  /** Physical name of the connections table. */
  readonly tableName: string;
  /** Physical names of every table, by table id. */
  readonly tableNames: Readonly<Record<string, string>>;
  readonly stage: string;
  readonly region: string;
  /** The account id in ARNs and queue URLs. */
  readonly accountId: string;
  readonly tokenSecret: string;
  readonly emulator: LocalEmulator;
  /** The shard queue, its dead-letter queue and the worker's event source. */
  readonly shardQueue: LocalShardQueue;
  /** The sharding settings the handlers run with. */
  readonly sharding: {
    readonly threshold: number;
    readonly rateBudget: number;
    readonly workerConcurrency: number;
  };
  /** Milliseconds from the call to ready. */
  readonly startupMs: number;
  /** Invocations, CPU and pids of a function run in processes ({@link LocalStackOptions.processes}). */
  processStats(name: HostedHandlerId): ProcessPoolStats | undefined;
  /** Closes every connection (running `$disconnect`), then the server and DynamoDB. Idempotent. */
  stop(): Promise<void>;
}

const SDK_VERSION_WARNING = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

function isLoopback(endpoint: string): boolean {
  const host = new URL(endpoint).hostname;
  return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}

/** The shard queue's URL, on the stack's own origin. */
function shardQueueUrl(origin: string): string {
  return `${origin}/${ACCOUNT_ID}/${SHARD_QUEUE_NAME}`;
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The environment the handlers run under. Against a DynamoDB on this machine, credentials are
 * fake (and AWS_PROFILE is hidden: it would make the SDK skip them), so nobody ever meets a
 * CredentialsProviderError locally; against a remote DynamoDB, the user's credentials are kept.
 */
function handlerEnvironment(input: {
  dynamodbEndpoint: string;
  tables: readonly { definition: TableDefinition; tableName: string }[];
  managementEndpoint: string;
  tokenSecret: string;
  tokenAudience: string | undefined;
  region: string;
  origin: string;
  shardQueueUrl: string;
  shardThreshold: number;
  rateBudget: number;
  workerConcurrency: number;
  topicHistory: readonly string[] | undefined;
}): EnvChanges {
  const local = isLoopback(input.dynamodbEndpoint);
  return {
    [ENV.dynamodbEndpoint]: input.dynamodbEndpoint,
    ...Object.fromEntries(input.tables.map(({ definition, tableName }) => [definition.envName, tableName])),
    [ENV.managementEndpoint]: input.managementEndpoint,
    [ENV.tokenSecret]: input.tokenSecret,
    // The local secret must win over a Secrets Manager ARN left in the shell.
    [ENV.tokenSecretArn]: undefined,
    [ENV.tokenAudience]: input.tokenAudience,
    [ENV.shardQueueUrl]: input.shardQueueUrl,
    [ENV.shardThreshold]: String(input.shardThreshold),
    [ENV.rateBudget]: String(input.rateBudget),
    [ENV.workerConcurrency]: String(input.workerConcurrency),
    // Left out when not given, so PUSH_TOPIC_HISTORY set in the environment reaches the handlers.
    ...(input.topicHistory === undefined ? {} : { [ENV.topicHistory]: input.topicHistory.join(',') }),
    // The SDK already sends to the queue URL's host, but warns on every call when that differs
    // from its endpoint; this names the same host, so it stays quiet.
    AWS_ENDPOINT_URL_SQS: input.origin,
    AWS_REGION: input.region,
    AWS_EC2_METADATA_DISABLED: 'true',
    // EMF metric lines are captured into GET /metrics (local/handler-output.ts), not printed.
    POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'false',
    ...(local
      ? {
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          AWS_SESSION_TOKEN: undefined,
          AWS_PROFILE: undefined,
        }
      : {}),
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

async function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Starts the local stack and resolves once every endpoint answers.
 *
 * @example
 * const stack = await startLocalStack({ port: 0 });
 * const ws = new WebSocket(`${stack.wsUrl}?token=${token}`);
 * // ...
 * await stack.stop();
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const started = performance.now();
  const logger = options.logger ?? silentLogger;
  const host = options.host ?? '127.0.0.1';
  const stage = options.stage ?? 'local';
  if (!STAGE_PATTERN.test(stage)) throw new Error(`stage name ${JSON.stringify(stage)} ${STAGE_RULE}`);
  const region = options.region ?? 'us-east-1';
  const tokenSecret = resolveTokenSecret(options.tokenSecret);
  const tables = TABLES.map((definition) => ({
    definition,
    tableName: options.tableNames?.[definition.id] ?? definition.id,
  }));
  const shardThreshold = positiveInteger('shardThreshold', options.shardThreshold ?? LIMITS.shardThreshold);
  const rateBudget = positiveInteger('rateBudget', options.rateBudget ?? LIMITS.rateBudget);
  const workerConcurrency = positiveInteger('workerConcurrency', options.workerConcurrency ?? 4);
  for (const [name, count] of Object.entries(options.processes ?? {})) {
    if (!LOCAL_HANDLERS.includes(name as HostedHandlerId))
      throw new RangeError(`processes names an unknown function: ${name}`);
    positiveInteger(`processes.${name}`, count);
  }
  const shardMaxReceiveCount = positiveInteger('shardMaxReceiveCount', options.shardMaxReceiveCount ?? 5);
  // Options are checked above, before anything is held that a throw would leak.
  // The SDK's own switch for its Node-version notice, noise in a local stack's output; set before
  // the first client is built, since the notice is printed from a client constructor.
  const releaseQuiet = holdEnvironment({ [SDK_VERSION_WARNING]: 'true' });
  const releaseOutput = captureHandlerOutput({ prettyLogs: options.prettyLogs ?? false });
  const startedAt = Date.now();
  const metricsBaseline = metricTotals();

  // Requests and upgrades that arrive before the handlers are loaded wait for them.
  let route: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  let upgrade: ((req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>) | undefined;
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const server = createServer((req, res) => {
    void readyPromise.then(() => route?.(req, res));
  });
  server.on('upgrade', (req, socket, head) => {
    void readyPromise.then(() => upgrade?.(req, socket, head));
  });
  server.keepAliveTimeout = 5_000;

  const [dynamoStarted, listening] = await Promise.allSettled([
    options.dynamodbEndpoint === undefined
      ? startDynalite({ ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }) })
      : Promise.resolve(externalDynamo(options.dynamodbEndpoint)),
    listen(server, options.port ?? 3000, host),
  ]);
  if (dynamoStarted.status === 'rejected' || listening.status === 'rejected') {
    if (dynamoStarted.status === 'fulfilled') await dynamoStarted.value.stop();
    if (listening.status === 'fulfilled') server.close();
    releaseQuiet();
    releaseOutput();
    throw dynamoStarted.status === 'rejected'
      ? dynamoStarted.reason
      : (listening as PromiseRejectedResult).reason;
  }
  const dynamo = dynamoStarted.value;
  const port = listening.value;

  if (!isLoopback(`http://${host.includes(':') ? `[${host}]` : host}`)) {
    // Dev tokens are signed with a secret published in this repository.
    logger.warn('listening beyond loopback: anyone who can reach this port can mint tokens at /dev/token', {
      host,
    });
  }
  const httpUrl = `http://${urlHost(host)}:${port}`;
  const wsUrl = `ws://${urlHost(host)}:${port}/${stage}`;
  const managementEndpoint = `${httpUrl}/${stage}`;
  const local = isLoopback(dynamo.endpoint);
  const dynamoClient = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region,
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });

  let release: (() => Promise<void>) | undefined;
  /** What stop() and a failed start both give back once the server is closed. */
  let iam: Awaited<ReturnType<typeof startLocalIam>> | undefined;
  const freeResources = async () => {
    dynamoClient.destroy();
    await iam?.stop();
    await dynamo.stop();
    await release?.();
    releaseQuiet();
    releaseOutput();
  };
  try {
    const site = createStaticSite(
      options.publicDir ?? join(ROOT, 'local', 'public'),
      {
        WebSocket: `${wsUrl}?token=<JWT>`,
        'Dev token': `${httpUrl}/dev/token?uid=u1`,
        Publish: `POST ${httpUrl}/publish`,
        'Publish status': `GET ${httpUrl}/publish/<id>`,
      },
      logger,
    );
    iam = await startLocalIam(options.iam !== false, {
      region,
      accountId: ACCOUNT_ID,
      dynamo: dynamo.endpoint,
      logger,
    });
    iam.enforce(options.iam || undefined);
    const [loaded] = await Promise.all([
      loadHandlers(
        ROOT,
        handlerEnvironment({
          dynamodbEndpoint: iam.dynamodbEndpoint,
          tables,
          managementEndpoint,
          tokenSecret,
          tokenAudience: options.tokenAudience,
          region,
          origin: httpUrl,
          shardQueueUrl: shardQueueUrl(httpUrl),
          shardThreshold,
          rateBudget,
          workerConcurrency,
          topicHistory: options.topicHistory,
        }),
        {
          environments: { worker: workerConcurrency },
          ...(options.processes === undefined ? {} : { processes: options.processes }),
        },
      ),
      ensureTables(dynamoClient, tables, logger),
    ]);
    release = loaded.release;

    const functions = new LocalFunctions(loaded.handlers, {
      region,
      logger,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.integrationTimeoutMs === undefined ? {} : { timeoutMs: options.integrationTimeoutMs }),
    });
    const gateway = new WebSocketEmulator({
      functions,
      stage,
      port,
      region,
      logger,
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
      ...(options.maxConnectionMs === undefined ? {} : { maxConnectionMs: options.maxConnectionMs }),
      ...(options.integrationTimeoutMs === undefined
        ? {}
        : { integrationTimeoutMs: options.integrationTimeoutMs }),
    });
    const shards = createShardQueue({
      functions,
      origin: httpUrl,
      region,
      accountId: ACCOUNT_ID,
      workerConcurrency,
      workerTimeoutMs: options.workerTimeoutMs ?? 5 * 60_000,
      // As deployed: six worker timeouts, so a long job never comes back while it still runs.
      visibilityTimeoutMs: options.shardVisibilityTimeoutMs ?? 6 * (options.workerTimeoutMs ?? 5 * 60_000),
      maxReceiveCount: shardMaxReceiveCount,
      logger,
      workerProcessStats: () => loaded.processStats('worker'),
    });
    const managementApi = createManagementApi({
      emulator: gateway,
      logger,
      ...(iam.enforcer === undefined ? {} : { iam: iam.enforcer }),
      ...(options.managementLatencyMs === undefined ? {} : { latencyMs: options.managementLatencyMs }),
    });
    const devConfig = { stage, wsUrl, httpUrl, managementEndpoint, tokenQueryParam: 'token' };

    route = async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const { pathname } = url;
      try {
        if (await managementApi.handle(req, res, pathname)) return;
        const target = req.headers['x-amz-target'];
        if (req.method === 'POST' && typeof target === 'string' && target.startsWith(SQS_TARGET_PREFIX))
          return await handleSqs(req, res, target, shards, iam?.enforcer);
        if (isSqsQuery(req)) return await handleSqsQuery(req, res, shards, iam?.enforcer);
        if (pathname === '/publish') return await handlePublish(req, res, functions, logger);
        if (pathname === '/metrics' && req.method === 'GET') {
          req.resume();
          sendJson(res, 200, { since: startedAt, metrics: metricsSince(metricsBaseline) });
          return;
        }
        if (pathname.startsWith(STATUS_PREFIX))
          return await handlePublishStatus(req, res, pathname, functions, logger);
        if (pathname.startsWith(INVOKE_PREFIX))
          return await handleLambdaInvoke(req, res, pathname, functions, iam?.enforcer);
        if (pathname === '/' && req.method === 'POST')
          return await handleSnsQuery(req, res, functions, iam?.enforcer);
        if (pathname.startsWith('/dev/')) {
          const dev = {
            tokenSecret,
            config: devConfig,
            ...(options.tokenAudience === undefined ? {} : { tokenAudience: options.tokenAudience }),
          };
          if (await handleDev(req, res, url, dev)) return;
        }
        req.resume();
        if (pathname.replace(/\/+$/, '') === `/${stage}`) {
          sendJson(res, 426, { message: 'Upgrade Required' }, { Upgrade: 'websocket' });
          return;
        }
        if (req.method === 'GET' && (await site.serve(res, pathname))) return;
        sendJson(res, 404, { message: 'Not Found' });
      } catch (error) {
        logger.error('request failed', {
          path: pathname,
          error: error instanceof Error ? error.message : String(error),
        });
        if (!res.headersSent) sendJson(res, 500, { message: 'Internal server error' });
        else res.destroy();
      }
    };
    upgrade = (req, socket, head) => gateway.handleUpgrade(req, socket, head);
    shards.start();
    ready();

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Workers deliver through this server, so they finish before it closes.
        await shards.stop();
        await gateway.close();
        await functions.drain();
        server.closeAllConnections();
        await closed;
        await freeResources();
      })();
      return stopping;
    };

    const emulator: LocalEmulator = {
      faults: gateway.faults,
      get stats() {
        return {
          ...gateway.stats,
          ...functions.stats,
          management: { ...managementApi.stats },
          iam: iam?.stats() as IamStats,
        };
      },
      get managementLatencyMs() {
        return managementApi.latencyMs;
      },
      set managementLatencyMs(ms: number) {
        managementApi.latencyMs = ms;
      },
      apiId: gateway.apiId,
      attachSocketless: (connections) => gateway.attachSocketless(connections),
      setHandler: (name, handler) => functions.override(name, handler),
      onInvoke: (listener) => functions.onInvoke(listener),
      connectionIds: () => gateway.connectionIds(),
    };
    const tableNames = Object.fromEntries(
      tables.map(({ definition, tableName }) => [definition.id, tableName]),
    );
    return {
      port,
      httpUrl,
      wsUrl,
      managementEndpoint,
      dynamodbEndpoint: dynamo.endpoint,
      functionsDynamodbEndpoint: iam.dynamodbEndpoint,
      dynamodbDescription: dynamo.description,
      tableName: tableNames[CONNECTIONS_TABLE.id] as string,
      tableNames,
      stage,
      region,
      accountId: ACCOUNT_ID,
      tokenSecret,
      emulator,
      shardQueue: shards.facade,
      sharding: { threshold: shardThreshold, rateBudget, workerConcurrency },
      startupMs: performance.now() - started,
      processStats: (name) => loaded.processStats(name),
      stop,
    };
  } catch (error) {
    server.closeAllConnections();
    server.close();
    await freeResources();
    throw error;
  }
}
