/**
 * The local push stack: one HTTP server on one port serving the API Gateway WebSocket emulator,
 * the Management API, the publish endpoints (HTTP, Lambda Invoke, SNS Publish, publish status),
 * SQS for the shard queue, dev tokens and the demo page, over DynamoDB (dynalite in-process by
 * default), running the real handler modules, the shard worker included.
 *
 * What it runs is read from the CDK app's synthesized template (local/deployment/): the routes,
 * their integrations and the authorizer, the stage and route throttles, and for each function its
 * environment, timeout, memory and reserved concurrency. Options that change the deployment
 * (`shardThreshold`, `topicHistory`, ...) are passed to the CDK app as props, so the local stack
 * runs what that deployment would.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { PushStackProps } from '../infra/push-stack';
import { HANDLER_NAMES, type HostedHandlerId, STAGE_PATTERN, STAGE_RULE } from '../lambdas/shared/deployment';
import { ENV } from '../lambdas/shared/env';
import { ERROR_CODES } from '../lambdas/shared/errors';
import { LIMITS } from '../lambdas/shared/limits';
import { CONNECTIONS_TABLE } from '../lambdas/shared/tables';
import type { Callers } from './deployment/callers';
import { deploymentIam } from './deployment/enforcement';
import { type LocalFunctionSet, localFunctions } from './deployment/local-functions';
import {
  type DeploymentModel,
  DeploymentModelError,
  type EventSourceModel,
  type QueueModel,
} from './deployment/model';
import { type LoadStackOptions, loadStack } from './deployment/template-cache';
import { handleDev } from './dev-endpoints';
import { resolveTokenSecret } from './dev-secret';
import { type DynaliteProcess, type StartedDynalite, startDynalite, startDynaliteProcess } from './dynalite';
import { type DynamoEndpoint, ensureTables, externalDynamo } from './dynamo';
import {
  type EmulatorFaults,
  type EmulatorStats,
  type SocketlessConnections,
  WebSocketEmulator,
} from './emulator/gateway';
import { refuseHandshake } from './emulator/handshake';
import { type FunctionStats, type InvocationRecord, type InvocationStats, LocalFunctions } from './functions';
import { captureHandlerOutput, metricsSince, metricTotals } from './handler-output';
import { holdEnvironment, LOCAL_HANDLERS, loadHandlers } from './handlers';
import { requestUrl, sendAwsJsonError, sendJson } from './http-util';
import { LOCAL_DYNAMO_ACCESS_KEY_ID } from './iam/dynamo-gate';
import type { IamStats } from './iam/enforcer';
import { type LocalIamOptions, startLocalIam } from './iam/local-iam';
import { startIndexLag } from './index-lag';
import { invokeDestinations } from './invoke-destinations';
import { handleLambdaInvoke, INVOKE_PREFIX } from './lambda-invoke';
import type { LambdaHandler } from './lambda-types';
import { type Logger, silentLogger } from './logger';
import { createManagementApi, type ManagementStats } from './management-api';
import { crossSiteRefusal, ownOrigins, requestKind, socketRefusal } from './origin-guard';
import type { ProcessPoolStats } from './process-environment';
import { handlePublish, handlePublishStatus, STATUS_PREFIX } from './publish-endpoints';
import { createShardQueue, type LocalShardQueue, SHARD_DLQ_NAME, SHARD_QUEUE_NAME } from './shard-queue';
import { handleSnsQuery } from './sns-publish';
import { handleSqs, SQS_TARGET_PREFIX, SqsQueueDirectory } from './sqs-endpoint';
import { handleSqsQuery, isSqsQuery } from './sqs-query';
import { createStaticSite } from './static-site';
import { type StackTable, stackTables, tableInputs, ttlAttributes } from './table-input';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ACCOUNT_ID = '000000000000';
/** The emulated API's id, ten characters like a real one. */
const API_ID = 'localpush0';

/** Distinct reasons for refused handshakes logged at warn in one minute; the rest go to debug. */
const REFUSALS_TOLD_PER_MINUTE = 20;

/** Options for {@link startLocalStack}. Every field is optional. */
export interface LocalStackOptions {
  /** Port for everything; 0 picks a free one. @default 3000 (`npm start` reads --port / PORT) */
  readonly port?: number;
  /** Interface to bind. Loopback on purpose: dev tokens are signed with a public secret. @default '127.0.0.1' */
  readonly host?: string;
  /**
   * Origins, besides pages on this machine, whose pages may open WebSocket connections on a
   * loopback bind (`--allow-origin`; `socketRefusal` in origin-guard.ts), e.g. `http://app.test:8080`
   * or `null` for `file:` pages. @default none
   */
  readonly allowedOrigins?: readonly string[];
  /** Stage name, the first path segment of the WebSocket and Management API URLs. @default 'local' */
  readonly stage?: string;
  /** Keep dynalite's data in this directory. @default in memory */
  readonly dataDir?: string;
  /** Use this DynamoDB (DynamoDB Local, a real table) instead of dynalite. */
  readonly dynamodbEndpoint?: string;
  /**
   * Run dynalite in a child process of its own instead of the stack's (see
   * `startDynaliteProcess`): the stack's process then holds no record, and the database's work runs
   * beside it, as `npm start` runs it (which forks it itself and hands it over as `dynalite`). If
   * that process ends unasked, the stack logs an error and `dynamoLost` settles. @default false
   * (in this process: one process fewer to start, as tests want)
   */
  readonly dynaliteProcess?: boolean;
  /**
   * A dynalite process already starting (`startDynaliteProcess`), which the stack then runs on and
   * stops as its own, also when its start fails: `npm start` forks it before it loads the stack's
   * modules, so the two starts overlap. Takes the place of `dynaliteProcess`, `dataDir` and
   * `dynamodbEndpoint`. @default none
   */
  readonly dynalite?: Promise<DynaliteProcess>;
  /**
   * Milliseconds a newly put item stays out of index queries, as DynamoDB's asynchronously
   * updated indexes can leave it (see `index-lag.ts`): a publish's uid lookup then misses a
   * connection that has just been stored. @default 0 (indexes current at once, as dynalite)
   */
  readonly indexLagMs?: number;
  /** Physical table names by table id (`Connections`, ...). @default each table's id */
  readonly tableNames?: Readonly<Record<string, string>>;
  /**
   * The CDK app to run: context (as `-c key=value`) and PushStack props, and where its template
   * is cached. The options below that change the deployment are laid over `cdk.props`.
   * @default cdk.json's context, no props, the cache in node_modules/.cache
   */
  readonly cdk?: LoadStackOptions;
  /**
   * Token signing key. The authorizer reads its key from Secrets Manager
   * (`PUSH_TOKEN_SECRET_ARN`); there is none locally, so it gets this key itself in
   * `PUSH_TOKEN_SECRET` instead. @default DEV_TOKEN_SECRET (`npm start` reads PUSH_TOKEN_SECRET)
   */
  readonly tokenSecret?: string;
  /** `aud` the authorizer requires and dev tokens carry: the `tokenAudience` prop. @default none */
  readonly tokenAudience?: string;
  /**
   * Topics (names or `prefix*` patterns) whose messages are logged for resume: the
   * `topicHistory` prop. @default none
   */
  readonly topicHistory?: readonly string[];
  /** AWS region the handlers' SDK clients use. @default 'us-east-1' */
  readonly region?: string;
  /** Idle timeout. @default 10 min, as API Gateway */
  readonly idleTimeoutMs?: number;
  /** Maximum connection age. @default 2 h, as API Gateway */
  readonly maxConnectionMs?: number;
  /** API Gateway's integration timeout. @default QUOTAS.integrationTimeoutSeconds (29 s), as API Gateway */
  readonly integrationTimeoutMs?: number;
  /**
   * The account's Lambda concurrency: functions without reserved concurrency share what the
   * reservations leave, and are throttled past it. @default QUOTAS.lambdaAccountConcurrency (1,000)
   */
  readonly concurrency?: number;
  /**
   * Bytes a connection may hold unsent before frames to it are refused (a `@connections` post
   * answers 429): what keeps a client that sends without reading from growing the stack's memory.
   * @default 1 MiB
   */
  readonly maxBufferedBytes?: number;
  /**
   * Resolve once the servers listen and the tables exist, and import the in-process functions in
   * the background: each function's first invocation waits for its import, as Lambda runs a
   * function's Init phase on its first invocation (not counted in its timeout). A function that
   * fails to import is logged, and its invocations fail with that error. `npm start` sets it, so
   * it is ready sooner. @default false: every function is imported before the stack resolves
   */
  readonly deferFunctionInit?: boolean;
  /**
   * How long `stop()` waits for invocations in flight (a publish, a shard job, a `$disconnect`)
   * before cutting them. @default 5 s
   */
  readonly stopGraceMs?: number;
  /** Variables laid over every function's environment, after the template's (tests). @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /** Function timeouts that replace the template's, in ms (tests). @default the template's */
  readonly timeoutsMs?: Partial<Record<HostedHandlerId, number>>;
  /**
   * Milliseconds added to every `@connections` call, for measurements that should feel AWS's
   * round trip (roughly 25 ms from a Lambda in the same region; the bench passes 25). @default 0
   */
  readonly managementLatencyMs?: number;
  /**
   * Target connections above which a topic or broadcast publish becomes shard jobs for the
   * worker: the `shardThreshold` prop. @default the template's
   */
  readonly shardThreshold?: number;
  /** Deliveries per second all shard workers together may make: the `rateBudget` prop. @default the template's */
  readonly rateBudget?: number;
  /**
   * Shard workers at once, each with its own execution environment and
   * `rateBudget / workerConcurrency` of the budget: the `workerConcurrency` prop (the worker's
   * reserved concurrency). @default the template's
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
  /** Shard worker timeout, in ms (tests; the template counts whole seconds). @default the template's */
  readonly workerTimeoutMs?: number;
  /**
   * How long a received shard job stays hidden; a failed job is retried once it passes.
   * @default the template's (six worker timeouts): shorter, and a long broadcast's jobs come
   * back while still running and are delivered twice
   */
  readonly shardVisibilityTimeoutMs?: number;
  /** Receives of one shard job before it moves to the dead-letter queue: the `shardMaxReceiveCount` prop. @default the template's */
  readonly shardMaxReceiveCount?: number;
  /**
   * How long the shard queue's event source gathers a batch, in ms (tests; the template counts
   * whole seconds). The batch size and partial batch responses always come from the template.
   * @default the template's `MaximumBatchingWindowInSeconds`
   */
  readonly shardBatchingWindowMs?: number;
  /**
   * How fast Lambda's asynchronous invocation queue runs (tests): the waits before a failed
   * `Event` invoke or SNS delivery is retried (Lambda's 1 and 2 minutes) and the event ages
   * (the template's `MaximumEventAgeInSeconds`) are multiplied by it, so 0.01 retries after
   * 0.6 s and 1.2 s. The number of retries and the destination stay the template's. @default 1
   */
  readonly asyncTimeScale?: number;
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
  /**
   * Counters of the gateway, of invocations, (`management`) of the Management API, and (`sqs`)
   * the SQS endpoint's long polls waiting now.
   */
  readonly stats: EmulatorStats &
    InvocationStats & {
      readonly management: ManagementStats;
      readonly iam: IamStats;
      readonly sqs: { readonly longPolls: number };
    };
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
  /** One function's concurrency, throttles and timeouts. */
  functionStats(name: HostedHandlerId): FunctionStats;
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
  /**
   * dynalite's own process, when {@link LocalStackOptions.dynaliteProcess} started one: its pid,
   * `lost`, which settles with why if it ends before `stop` asks it to, its memory after a full
   * collection (what the records hold), and the tables it made at its start.
   */
  readonly dynaliteProcess?: Pick<DynaliteProcess, 'pid' | 'lost' | 'memory' | 'tables'>;
  /** Physical name of the connections table. */
  readonly tableName: string;
  /** Physical names of every table, by table id. */
  readonly tableNames: Readonly<Record<string, string>>;
  readonly stage: string;
  readonly region: string;
  /** The account id in ARNs and queue URLs. */
  readonly accountId: string;
  readonly tokenSecret: string;
  /** The `aud` every token must carry (the authorizer's `PUSH_TOKEN_AUDIENCE`), if the stack has one. */
  readonly tokenAudience: string | undefined;
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
  /** The deployment the stack runs, as read from the template. */
  readonly deployment: DeploymentModel;
  /** Whether the template came from the cache or was synthesized for this start. */
  readonly templateSource: 'cache' | 'synth';
  /** Each function's credentials, and which function a request's access key id names. */
  readonly callers: Callers;
  /** Each function's whole environment, as its code sees `process.env`. */
  environmentOf(name: HostedHandlerId): Readonly<Record<string, string>>;
  /** Invocations, CPU and pids of a function run in processes ({@link LocalStackOptions.processes}). */
  processStats(name: HostedHandlerId): ProcessPoolStats | undefined;
  /**
   * Stops in order: the shard queue and the gateway (every connection closed with 1001, its
   * `$disconnect` run), then the functions (invocations in flight settle, or are cut after
   * `stopGraceMs`), then the endpoints, then DynamoDB. Idempotent.
   */
  stop(): Promise<void>;
}

const SDK_VERSION_WARNING = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

function isLoopback(endpoint: string): boolean {
  const host = new URL(endpoint).hostname;
  return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * Connections the listening socket queues before the stack accepts them (the kernel caps it at
 * `net.core.somaxconn`). Node's default, 511, is less than the shard workers open at once: each of
 * the 16 environments opens up to its fan-out concurrency (64) of keep-alive connections to the
 * Management API when a job starts, and with the stack's loop busy the queue overflowed, the
 * kernel dropped the SYNs, and each such post waited for the client's SYN retransmit, one second
 * then three (bench row b: shards that had read their first page posted nothing for 1–2 s).
 * API Gateway drops no connection for that.
 */
const LISTEN_BACKLOG = 4096;

async function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
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
  try {
    return await startStack(options);
  } catch (error) {
    // A dynalite handed in already starting is the stack's to stop, however far the start got
    // (stopping it twice is harmless).
    await options.dynalite?.then(
      (own) => own.stop(),
      () => {},
    );
    throw error;
  }
}

/**
 * The tables dynalite's process did not make at its start (all of them when it made none, or when
 * DynamoDB is not such a process); those it made are logged as ensureTables would log them.
 */
function notMadeBy(dynalite: DynaliteProcess | undefined, tables: readonly StackTable[], logger: Logger) {
  reportFinished(dynalite, logger);
  const made = new Set([...(dynalite?.tables.created ?? []), ...(dynalite?.tables.found ?? [])]);
  for (const table of dynalite?.tables.created ?? []) logger.debug('table created', { table });
  return tables.filter(({ tableName }) => !made.has(tableName));
}

/** Says what dynalite ended, as its store opened, of the table changes a killed process left. */
function reportFinished(dynalite: StartedDynalite | undefined, logger: Logger): void {
  for (const table of dynalite?.finished.activated ?? []) {
    logger.warn('table left mid-change by a process that was killed (CREATING or UPDATING): made ACTIVE', {
      table,
    });
  }
  for (const table of dynalite?.finished.deleted ?? []) {
    logger.warn('table left DELETING by a process that was killed: deleted, with its records', { table });
  }
}

async function startStack(options: LocalStackOptions): Promise<LocalStack> {
  const started = performance.now();
  const logger = options.logger ?? silentLogger;
  const host = options.host ?? '127.0.0.1';
  const stage = options.stage ?? 'local';
  if (!STAGE_PATTERN.test(stage)) throw new Error(`stage name ${JSON.stringify(stage)} ${STAGE_RULE}`);
  const region = options.region ?? 'us-east-1';
  const tokenSecret = resolveTokenSecret(options.tokenSecret);
  const tables = stackTables(options.tableNames);
  for (const [name, count] of Object.entries(options.processes ?? {})) {
    if (!LOCAL_HANDLERS.includes(name as HostedHandlerId))
      throw new RangeError(`processes names an unknown function: ${name}`);
    positiveInteger(`processes.${name}`, count);
  }
  // What the options change in the deployment goes to the CDK app, as a prop would.
  const props: PushStackProps = {
    ...options.cdk?.props,
    ...(options.shardThreshold === undefined
      ? {}
      : { shardThreshold: positiveInteger('shardThreshold', options.shardThreshold) }),
    ...(options.rateBudget === undefined
      ? {}
      : { rateBudget: positiveInteger('rateBudget', options.rateBudget) }),
    ...(options.workerConcurrency === undefined
      ? {}
      : { workerConcurrency: positiveInteger('workerConcurrency', options.workerConcurrency) }),
    ...(options.shardMaxReceiveCount === undefined
      ? {}
      : { shardMaxReceiveCount: positiveInteger('shardMaxReceiveCount', options.shardMaxReceiveCount) }),
    ...(options.topicHistory === undefined ? {} : { topicHistory: options.topicHistory }),
    ...(options.tokenAudience === undefined ? {} : { tokenAudience: options.tokenAudience }),
  };
  if (
    options.shardBatchingWindowMs !== undefined &&
    !(Number.isFinite(options.shardBatchingWindowMs) && options.shardBatchingWindowMs >= 0)
  )
    throw new RangeError(
      `shardBatchingWindowMs must be a number of ms from 0, got ${options.shardBatchingWindowMs}`,
    );
  // The template first: a CDK app that does not synthesize fails the start before anything is held.
  const loadedStack = await loadStack({ ...options.cdk, props });
  const isShardSource = (source: EventSourceModel) =>
    source.handler === 'worker' && source.queue === loadedStack.index.shardQueue;
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
  // A route answers every failure itself; one that escapes it is a bug of the stack, which must
  // cost that request only: logged, answered 500 or cut, never an unhandled rejection.
  const escaped = (error: unknown, path: string | undefined) =>
    logger.error('request failed outside its route', {
      path,
      error: error instanceof Error ? error.message : String(error),
    });
  const server = createServer((req, res) => {
    readyPromise
      .then(() => route?.(req, res))
      .catch((error: unknown) => {
        escaped(error, req.url);
        if (!res.headersSent) sendJson(res, 500, { message: 'Internal server error' });
        else res.destroy();
      });
  });
  server.on('upgrade', (req, socket, head) => {
    readyPromise
      .then(() => upgrade?.(req, socket, head))
      .catch((error: unknown) => {
        escaped(error, req.url);
        socket.destroy();
      });
  });
  server.keepAliveTimeout = 5_000;

  let ownDynalite: DynaliteProcess | undefined;
  const startDynamo = async (): Promise<DynamoEndpoint> => {
    if (options.dynalite !== undefined) {
      ownDynalite = await options.dynalite;
      return ownDynalite;
    }
    if (options.dynamodbEndpoint !== undefined) return externalDynamo(options.dynamodbEndpoint);
    const where = options.dataDir === undefined ? {} : { dataDir: options.dataDir };
    if (options.dynaliteProcess !== true) {
      const started = await startDynalite(where);
      reportFinished(started, logger);
      return started;
    }
    ownDynalite = await startDynaliteProcess({
      ...where,
      tables: tableInputs(tables),
      ttlAttributes: ttlAttributes(tables),
      logger,
    });
    return ownDynalite;
  };
  const [dynamoStarted, listening] = await Promise.allSettled([
    startDynamo(),
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
  let dynamo = dynamoStarted.value;
  /**
   * Gives back what a start that fails before the functions load holds: the server, the IAM gate
   * when started, DynamoDB (dynalite may be a process of its own), the environment and output hooks.
   */
  const abandonStart = async (iamStarted?: { stop(): Promise<void> }) => {
    server.close();
    await iamStarted?.stop();
    await dynamo.stop();
    releaseQuiet();
    releaseOutput();
  };
  void ownDynalite?.lost.then((why) =>
    logger.error('DynamoDB is gone, and every record with it: stop the stack and start it again', { why }),
  );
  const port = listening.value;
  if ((options.indexLagMs ?? 0) > 0) {
    try {
      dynamo = await startIndexLag({ target: dynamo, lagMs: options.indexLagMs ?? 0, tables });
    } catch (error) {
      await abandonStart();
      throw error;
    }
  }

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
  const iam = await startLocalIam(options.iam !== false, {
    region,
    accountId: ACCOUNT_ID,
    dynamo: dynamo.endpoint,
    logger,
    // The gate goes beside dynalite, unless index lag puts a proxy between them, or the caller's
    // own IAM options may answer differently later (a copy of them would not follow).
    ...(ownDynalite === undefined || dynamo !== ownDynalite || options.iam !== undefined
      ? {}
      : { dynalite: ownDynalite, tableNames: tables.map(({ tableName }) => tableName) }),
  }).catch(async (error: unknown) => {
    await abandonStart();
    throw error;
  });
  let deployed: LocalFunctionSet;
  try {
    deployed = localFunctions({
      stack: loadedStack,
      origin: httpUrl,
      managementEndpoint,
      region,
      accountId: ACCOUNT_ID,
      names: {
        ...Object.fromEntries(
          tables.map(({ definition, tableName }) => [loadedStack.index.tables[definition.id], tableName]),
        ),
        [loadedStack.index.shardQueue]: SHARD_QUEUE_NAME,
        [loadedStack.index.shardDeadLetterQueue]: SHARD_DLQ_NAME,
        [loadedStack.index.api]: API_ID,
      },
      dynamodbEndpoint: iam.dynamodbEndpoint,
      dynamodbIsLocal: local,
      tokenSecret,
      ...(options.environment === undefined ? {} : { environment: options.environment }),
      timeoutsMs: {
        ...options.timeoutsMs,
        ...(options.workerTimeoutMs === undefined ? {} : { worker: options.workerTimeoutMs }),
      },
    });
    // The local shard queue moves a job to its dead-letter queue as the deployed one does.
    if (deployed.model.queues[loadedStack.index.shardQueue]?.redrive === undefined)
      throw new DeploymentModelError('the shard queue has no redrive policy to its dead-letter queue');
    // ...and hands jobs to the worker in the batches, and by the answer rules, its mapping sets.
    if (!deployed.model.eventSources.some(isShardSource))
      throw new DeploymentModelError('the worker has no event source mapping on the shard queue');
  } catch (error) {
    await abandonStart(iam);
    throw error;
  }
  const { model, functions: hosted } = deployed;
  try {
    await iam.enforce(
      { callerFor: deployed.callers.callerFor, ...deploymentIam(model) },
      options.iam || undefined,
    );
  } catch (error) {
    await abandonStart(iam);
    throw error;
  }
  const worker = hosted.worker;
  const workerSource = model.eventSources.find(isShardSource) as EventSourceModel;
  const workerConcurrency =
    workerSource.maximumConcurrency ?? worker.settings.reservedConcurrency ?? LIMITS.workerConcurrency;
  const shardQueueModel = model.queues[loadedStack.index.shardQueue] as QueueModel & {
    redrive: NonNullable<QueueModel['redrive']>;
  };
  const dynamoClient = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region,
    ...(local ? { credentials: { accessKeyId: LOCAL_DYNAMO_ACCESS_KEY_ID, secretAccessKey: 'local' } } : {}),
  });

  let release: (() => Promise<void>) | undefined;
  /** What stop() and a failed start both give back once the server is closed. */
  const freeResources = async () => {
    // The functions' child processes, then the IAM gate in front of DynamoDB, then DynamoDB (which
    // stops the gate too when it runs in dynalite's process).
    await release?.();
    dynamoClient.destroy();
    await iam?.stop();
    await dynamo.stop();
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
    const [loaded] = await Promise.all([
      loadHandlers(
        ROOT,
        Object.fromEntries(
          HANDLER_NAMES.map((name) => {
            const fn = hosted[name];
            const processes = options.processes?.[name];
            return [
              name,
              {
                environment: fn.environment,
                memorySizeMb: fn.settings.memorySizeMb,
                // Each shard worker keeps its own share of the rate budget in module scope, so it
                // gets an environment of its own; other functions share one instance.
                ...(name === 'worker' ? { environments: workerConcurrency } : {}),
                ...(processes === undefined ? {} : { processes }),
              },
            ];
          }),
        ) as Parameters<typeof loadHandlers>[1],
        {
          deferred: options.deferFunctionInit === true,
          onInitFailed: (name, error) =>
            logger.error('function failed to initialize: its invocations fail', {
              function: name,
              error: error instanceof Error ? (error.stack ?? error.message) : String(error),
            }),
        },
      ),
      // What dynalite's own process made already (as npm start forks it) is not asked again.
      ensureTables(dynamoClient, notMadeBy(ownDynalite, tables, logger), logger),
    ]);
    release = loaded.release;

    const destinations = invokeDestinations(model, { region, accountId: ACCOUNT_ID, origin: httpUrl });
    const functions = new LocalFunctions(loaded.handlers, {
      settings: Object.fromEntries(HANDLER_NAMES.map((name) => [name, hosted[name].settings])) as Record<
        HostedHandlerId,
        (typeof hosted)[HostedHandlerId]['settings']
      >,
      region,
      accountId: ACCOUNT_ID,
      logger,
      initialized: (name) => loaded.initialized(name),
      destination: (arn) => destinations.destination(arn),
      ...(options.asyncTimeScale === undefined ? {} : { asyncTimeScale: options.asyncTimeScale }),
      ...(options.concurrency === undefined ? {} : { accountConcurrency: options.concurrency }),
    });
    const gateway = new WebSocketEmulator({
      functions,
      routes: model.api.routes,
      routeSelectionExpression: model.api.routeSelectionExpression,
      stageThrottle: model.api.stageThrottle,
      apiId: API_ID,
      stage,
      port,
      region,
      accountId: ACCOUNT_ID,
      logger,
      ...(options.maxBufferedBytes === undefined ? {} : { maxBufferedBytes: options.maxBufferedBytes }),
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
      visibilityTimeoutMs:
        options.shardVisibilityTimeoutMs ?? shardQueueModel.visibilityTimeoutSeconds * 1000,
      maxReceiveCount: shardQueueModel.redrive.maxReceiveCount,
      eventSource: {
        batchSize: workerSource.batchSize,
        batchingWindowMs: options.shardBatchingWindowMs ?? workerSource.maximumBatchingWindowSeconds * 1000,
        reportBatchItemFailures: workerSource.reportBatchItemFailures,
      },
      logger,
      workerProcessStats: () => loaded.processStats('worker'),
    });
    // The SQS endpoint serves the shard queues and the failure queues alike.
    const sqsQueues = new SqsQueueDirectory([...shards.queues, ...destinations.queues]);
    const managementApi = createManagementApi({
      emulator: gateway,
      logger,
      ...(iam.enforcer === undefined ? {} : { iam: iam.enforcer }),
      ...(options.managementLatencyMs === undefined ? {} : { latencyMs: options.managementLatencyMs }),
    });
    const devConfig = { stage, wsUrl, httpUrl, managementEndpoint, tokenQueryParam: 'token' };

    const own = ownOrigins(port, host, isLoopback(`http://${host.includes(':') ? `[${host}]` : host}`));
    route = async (req, res) => {
      const url = requestUrl(req.url);
      if (url === undefined) {
        req.resume();
        sendJson(res, 400, { message: 'Bad Request' });
        return;
      }
      const { pathname } = url;
      const refused = crossSiteRefusal(req.headers, own, requestKind(req.method, pathname));
      if (refused !== undefined) {
        req.resume();
        sendJson(res, 403, { error: { code: ERROR_CODES.forbidden, message: refused } });
        return;
      }
      try {
        if (await managementApi.handle(req, res, pathname)) return;
        const target = req.headers['x-amz-target'];
        if (req.method === 'POST' && typeof target === 'string' && target.startsWith(SQS_TARGET_PREFIX))
          return await handleSqs(req, res, target, sqsQueues, iam?.enforcer);
        // Any other JSON-protocol call names a service this stack does not run (Secrets Manager,
        // when AWS_ENDPOINT_URL sends every client here): answer in that protocol, naming what is
        // served, not with the SNS endpoint's XML, which the SDK reports as a JSON parse error.
        if (req.method === 'POST' && typeof target === 'string') {
          req.resume();
          sendAwsJsonError(res, 400, 'UnknownOperationException', {
            message:
              `X-Amz-Target ${target}: the local stack does not run that service. It answers Lambda ` +
              'Invoke, SNS Publish, SQS and the Management API here, and DynamoDB on the port its banner ' +
              'names; it has no Secrets Manager (tokens are signed with PUSH_TOKEN_SECRET or the dev secret)',
          });
          return;
        }
        if (isSqsQuery(req)) return await handleSqsQuery(req, res, sqsQueues, iam?.enforcer);
        if (pathname === '/publish') return await handlePublish(req, res, functions, logger);
        if (pathname === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
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
        // HEAD as GET (RFC 9110 9.3.2): Node leaves the body out.
        if ((req.method === 'GET' || req.method === 'HEAD') && (await site.serve(res, pathname))) return;
        sendJson(res, 404, { message: 'Not Found' });
      } catch (error) {
        // The client went away mid-request (its body cut short): nothing failed here.
        if (req.readableAborted) {
          logger.debug('request abandoned by its client', { path: pathname });
          res.destroy();
          return;
        }
        logger.error('request failed', {
          path: pathname,
          error: error instanceof Error ? error.message : String(error),
        });
        if (!res.headersSent) sendJson(res, 500, { message: 'Internal server error' });
        else res.destroy();
      }
    };
    const allowedOrigins = new Set((options.allowedOrigins ?? []).map((origin) => origin.toLowerCase()));
    if (own.hosts === undefined && allowedOrigins.size > 0) {
      logger.warn('--allow-origin has no effect beyond loopback: every origin may open a socket', { host });
    }
    // Each reason at warn once a minute, and at most REFUSALS_TOLD_PER_MINUTE reasons a minute
    // (a page's WebSocket error says nothing of why; the log does), the rest at debug: a page
    // looping on new WebSocket(), even from many origins, cannot fill the log, nor silence for
    // good the refusal of a page the developer is trying to connect.
    let toldSince = 0;
    let toldRefusals = new Set<string>();
    upgrade = async (req, socket, head) => {
      const refused = socketRefusal(req.headers, own, allowedOrigins);
      if (refused === undefined) return gateway.handleUpgrade(req, socket, head);
      const now = Date.now();
      if (now - toldSince >= 60_000) {
        toldSince = now;
        toldRefusals = new Set();
      }
      const tell = toldRefusals.size < REFUSALS_TOLD_PER_MINUTE && !toldRefusals.has(refused);
      if (tell) toldRefusals.add(refused);
      logger[tell ? 'warn' : 'debug']('WebSocket handshake refused', { reason: refused });
      socket.on('error', () => {});
      refuseHandshake(socket, 403, refused);
    };
    shards.start();
    ready();
    // Deferred functions initialize once the caller has seen the stack ready (its banner is
    // printed before this runs), so the start is not slowed by them.
    if (options.deferFunctionInit === true) setImmediate(() => loaded.warm());

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        // What brings work stops first: no asynchronous retry falls due any more, the shard queue
        // hands out no more jobs, and the gateway closes its sockets (1001) and refuses
        // handshakes, their $disconnects still running.
        functions.stopRetries();
        await shards.stop();
        await gateway.close();
        // Then the functions, while everything their handlers call (this server's Management API
        // and SQS, DynamoDB) is still up: in-flight invocations settle, or are cut after the grace
        // so that nothing they do later reaches an endpoint.
        await functions.stop(options.stopGraceMs);
        // Then the endpoints, and last DynamoDB. Long polls still waiting answer with nothing
        // first (their answers written once this turn's callbacks ran): left waiting, each kept
        // its listener on its queue, and its timer later received from the stopped stack's queue.
        sqsQueues.stop();
        await new Promise<void>((resolve) => setImmediate(resolve));
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
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
          sqs: { longPolls: sqsQueues.longPolls },
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
      functionStats: (name) => functions.functionStats(name),
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
      ...(ownDynalite === undefined
        ? {}
        : {
            dynaliteProcess: {
              pid: ownDynalite.pid,
              lost: ownDynalite.lost,
              memory: ownDynalite.memory,
              tables: ownDynalite.tables,
            },
          }),
      tableName: tableNames[CONNECTIONS_TABLE.id] as string,
      tableNames,
      stage,
      region,
      accountId: ACCOUNT_ID,
      tokenSecret,
      tokenAudience: hosted.authorizer.environment[ENV.tokenAudience],
      emulator,
      shardQueue: shards.facade,
      sharding: {
        threshold: Number(hosted.publish.environment[ENV.shardThreshold] ?? LIMITS.shardThreshold),
        rateBudget: Number(worker.environment[ENV.rateBudget] ?? LIMITS.rateBudget),
        workerConcurrency,
      },
      startupMs: performance.now() - started,
      deployment: model,
      templateSource: loadedStack.source,
      callers: deployed.callers,
      environmentOf: (name) => ({ ...hosted[name].environment }),
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
