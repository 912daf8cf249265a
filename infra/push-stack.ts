import {
  Annotations,
  ArnFormat,
  type CfnElement,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import type { ThrottleSettings, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ArnPrincipal, Grant, type IGrantable, type IPrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { CfnPermission } from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type RotationSchedule, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import {
  DEFAULT_STAGE,
  DEPLOYED_HANDLERS,
  type HandlerId,
  METRICS,
  STAGE_PATTERN,
  STAGE_RULE,
  TOKEN_KEY,
} from '../lambdas/shared/deployment';
import { ENV, SERVICE_NAME } from '../lambdas/shared/env';
import {
  frameBurstFor,
  frameRefusalsToCloseFor,
  LIMITS,
  minFrameBurstFor,
  perWorkerRate,
  uidFrameBurstFor,
  workerStopMarginMs,
} from '../lambdas/shared/limits';
import {
  CONNECTIONS_TABLE,
  INDEX,
  MESSAGES_TABLE,
  PUBLISHES_TABLE,
  REVOCATION_PK_PREFIX,
  type TableDefinition,
} from '../lambdas/shared/tables';
import { PushAlarms } from './alarms';
import { CONTEXT, contextBoolean, contextList, contextString } from './context';
import { PushDashboard, serviceMetric } from './dashboard';
import { nagPseudo } from './nag';
import { admitServiceToKey, PublishIngress } from './publish-ingress';
import {
  DEFAULT_FUNCTION_TIMEOUT,
  isLogLevel,
  LOG_LEVELS,
  type LogLevel,
  PushFunction,
  type PushFunctionProps,
} from './push-function';
import { ShardFanOut } from './shard-fanout';
import { PushTables, type TableUse } from './tables';
import { DEFAULT_THROTTLE, PushWebSocketApi } from './websocket-api';

/**
 * The handlers this stack deploys: every one the local stack hosts (`HANDLERS`), then the ones
 * only AWS invokes (`AWS_ONLY_HANDLERS`: the token secret's rotation function).
 */
export { DEPLOYED_HANDLERS };

/** A table a handler uses, and how. */
export interface TableGrant extends TableUse {
  readonly table: TableDefinition;
}

const { byUid, byTopic, byShard } = INDEX;

/**
 * Reserved concurrency of `$default`, unless configured. A frame's work is a few milliseconds
 * (ping, subscribe) up to a few seconds (a resume replay), so 50 at once handles the route's
 * throttled rate while leaving the rest of the account to the handlers that deliver.
 */
export const DEFAULT_ROUTE_CONCURRENCY = 50;

/**
 * Least privilege per handler: exactly the DynamoDB calls its code makes (lambdas/adapters), on
 * the table or on the one index it queries. Removing a connection (disconnect, an eviction, and a
 * 410 during any delivery) is a consistent Query of its item collection on the table, then
 * DeleteItem or BatchWriteItem.
 * - the authorizer reads the token secret and gets the uid's revocation record (one GetItem),
 *   and no other record: its grant is limited to revocation partition keys;
 * - connect puts the connection record, reads the uid's revocation record again (a revoke made
 *   while the handshake ran), lists the uid's connections through the uid index and, past the
 *   per-uid cap, removes the evicted ones;
 * - disconnect removes the connection;
 * - $default touches, subscribes and unsubscribes (conditional updates, a put and a delete), takes
 *   and gives back the replay lease (updates; a GetItem tells why one was refused), a resume
 *   reads the message log (its counter and a Query) and removes the connection on a 410, and a
 *   uid closed for flooding has its connections listed through the uid index;
 * - publish finds targets and presence through the uid, topic and shard indexes, removes gone
 *   connections, records a revocation (an update, and a GetItem of the line that refused it: the
 *   same kick sent again), appends to the message log (counter update,
 *   put, trim), claims and completes publish ids, and, for a sharded publish, writes the summary
 *   record (an update) and reads the status (a Query);
 * - the shard worker reads its shard through the topic or shard index, removes gone connections,
 *   and reads (Query) and advances (update) its shard's checkpoint record;
 * - the rotation function touches only the token secret.
 */
export const TABLE_GRANTS: Readonly<Record<HandlerId, readonly TableGrant[]>> = {
  authorizer: [
    {
      table: CONNECTIONS_TABLE,
      actions: ['dynamodb:GetItem'],
      leadingKeys: [`${REVOCATION_PK_PREFIX}*`],
    },
  ],
  connect: [
    {
      table: CONNECTIONS_TABLE,
      actions: [
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:GetItem',
      ],
      queries: [byUid],
    },
  ],
  disconnect: [
    {
      table: CONNECTIONS_TABLE,
      actions: ['dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
    },
  ],
  default: [
    {
      table: CONNECTIONS_TABLE,
      actions: [
        'dynamodb:UpdateItem',
        'dynamodb:PutItem',
        'dynamodb:DeleteItem',
        'dynamodb:Query',
        'dynamodb:BatchWriteItem',
        'dynamodb:GetItem',
      ],
      queries: [byUid],
    },
    { table: MESSAGES_TABLE, actions: ['dynamodb:GetItem', 'dynamodb:Query'] },
  ],
  publish: [
    {
      table: CONNECTIONS_TABLE,
      actions: [
        'dynamodb:Query',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:UpdateItem',
        'dynamodb:GetItem',
      ],
      queries: [byUid, byTopic, byShard],
    },
    { table: MESSAGES_TABLE, actions: ['dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'] },
    // Sharded status (UpdateItem, Query; a retry reads the shards planned before: GetItem) and the
    // id records that make ids idempotency keys (claim: PutItem, read on a repeat: GetItem, give
    // back: DeleteItem, complete: UpdateItem).
    {
      table: PUBLISHES_TABLE,
      actions: [
        'dynamodb:UpdateItem',
        'dynamodb:Query',
        'dynamodb:PutItem',
        'dynamodb:GetItem',
        'dynamodb:DeleteItem',
      ],
    },
  ],
  worker: [
    {
      table: CONNECTIONS_TABLE,
      actions: ['dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
      queries: [byTopic, byShard],
    },
    { table: PUBLISHES_TABLE, actions: ['dynamodb:UpdateItem', 'dynamodb:Query'] },
  ],
  rotateSecret: [],
};

/**
 * The Management API methods each handler calls, each granted on its own
 * `{stage}/{METHOD}/@connections/*` ARN: every delivery POSTs, and a connection whose token has
 * expired is closed (DELETE) wherever a delivery finds it; connect DELETEs the connections it
 * evicts past the per-uid cap, publish those it kicks, and `$default` one that keeps flooding it
 * after its frames were refused. No handler GETs a connection:
 * presence reads the connections table.
 */
export const MANAGEMENT_API_METHODS: Readonly<
  Partial<Record<HandlerId, readonly ('POST' | 'GET' | 'DELETE')[]>>
> = {
  connect: ['POST', 'DELETE'],
  default: ['POST', 'DELETE'],
  publish: ['POST', 'DELETE'],
  worker: ['POST', 'DELETE'],
};

/**
 * The token key's rotation interval, within Secrets Manager's bounds. CDK takes zero as "never
 * rotate", which would leave one key signing for good while the docs promise a rotated one.
 */
function rotationInterval(interval: Duration): Duration {
  const hours = interval.toHours({ integral: false });
  if (!(hours >= 4 && hours <= 1000 * 24)) {
    throw new Error(
      `tokenRotationInterval must be from 4 hours to 1000 days, got ${interval.toHumanString()}`,
    );
  }
  return interval;
}

/** A positive integer prop, checked at synth: the handlers refuse anything else at cold start. */
function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * `$default`'s per-connection frame allowance, checked at synth as its handler checks it at cold
 * start: the burst holds a reconnect's handshake at the subscription cap in force. Its defaults
 * follow that cap and the resume budget (`frameBurstFor`), and the refusals that close a
 * connection default to twice the burst.
 */
function frameRateEnvironmentOf(
  props: Pick<
    PushStackProps,
    | 'maxSubscriptions'
    | 'resumesPerWindow'
    | 'frameBurst'
    | 'framesPerSecond'
    | 'frameRefusalsToClose'
    | 'maxConnectionsPerUid'
    | 'uidFrameBurst'
    | 'uidFramesPerSecond'
  >,
): Record<string, string> {
  const maxSubscriptions = props.maxSubscriptions ?? LIMITS.maxSubscriptions;
  const burst = positiveInteger(
    'frameBurst',
    props.frameBurst ?? frameBurstFor(maxSubscriptions, props.resumesPerWindow ?? LIMITS.resumesPerWindow),
  );
  const min = minFrameBurstFor(maxSubscriptions);
  if (burst < min) {
    throw new Error(
      `frameBurst must be at least ${min} (a reconnect's subscribe for each of maxSubscriptions ` +
        `${maxSubscriptions} topics, its resume and a ping), got ${burst}`,
    );
  }
  const perSecond = positiveInteger('framesPerSecond', props.framesPerSecond ?? LIMITS.framesPerSecond);
  const uidBurst = positiveInteger(
    'uidFrameBurst',
    props.uidFrameBurst ??
      uidFrameBurstFor(props.maxConnectionsPerUid ?? LIMITS.maxConnectionsPerUid, maxSubscriptions, burst),
  );
  const uidPerSecond = positiveInteger(
    'uidFramesPerSecond',
    props.uidFramesPerSecond ?? Math.max(LIMITS.uidFramesPerSecond, perSecond),
  );
  for (const [name, value, own, min] of [
    ['uidFrameBurst', uidBurst, 'frameBurst', burst],
    ['uidFramesPerSecond', uidPerSecond, 'framesPerSecond', perSecond],
  ] as const) {
    if (value < min) {
      throw new Error(
        `${name} must be at least ${own} (${min}): one connection's own allowance, got ${value}`,
      );
    }
  }
  return {
    [ENV.frameBurst]: String(burst),
    [ENV.framesPerSecond]: String(perSecond),
    [ENV.uidFrameBurst]: String(uidBurst),
    [ENV.uidFramesPerSecond]: String(uidPerSecond),
    [ENV.frameRefusalsToClose]: String(
      positiveInteger('frameRefusalsToClose', props.frameRefusalsToClose ?? frameRefusalsToCloseFor(burst)),
    ),
  };
}

/** `value`, refused at synth when above `max`, saying why the bound exists. */
function atMost(name: string, value: number, max: number, why: string): number {
  if (value > max) throw new Error(`${name} must be at most ${max} (${why}), got ${value}`);
  return value;
}

/**
 * A prop in whole seconds (the handlers read seconds), checked at synth against the same bounds
 * the handlers hold their environment variable to; `why`, when given, says where the upper bound
 * comes from.
 */
function wholeSeconds(
  name: string,
  value: Duration,
  bounds: { min: number; max: number; why?: string },
): number {
  const seconds = value.toMilliseconds({ integral: false }) / 1000;
  if (!Number.isInteger(seconds) || seconds < bounds.min || seconds > bounds.max) {
    const why = bounds.why === undefined ? '' : ` (${bounds.why})`;
    throw new Error(
      `${name} must be a whole number of seconds from ${bounds.min} to ${bounds.max}${why}, got ${value.toHumanString()}`,
    );
  }
  return seconds;
}

/**
 * A function timeout prop, checked at synth against the least the function's own code needs:
 * `floorMs`, explained by `why`. Below it the function works in a quiet test and fails under load,
 * so the mistake is caught at synth instead.
 */
function timeoutAtLeast(name: string, value: Duration, floorMs: number, why: string): Duration {
  if (value.toMilliseconds({ integral: false }) < floorMs) {
    throw new Error(
      `${name} must be at least ${Duration.millis(floorMs).toHumanString()} (${why}), got ${value.toHumanString()}`,
    );
  }
  return value;
}

/** What a service name may hold: it names roles and functions in their descriptions and is a metric dimension. */
const SERVICE_NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** Properties of {@link PushStack}. */
export interface PushStackProps extends StackProps {
  /** Stage name: the last path segment of the wss:// and callback URLs. @default context `push:stage`, else 'prod' */
  readonly stageName?: string;
  /**
   * Delete the tables, token secret, key, queues and log groups with the stack. Only for
   * dev stacks: with the default they survive `cdk destroy` and a mistaken deletion.
   * Refused on the prod stage unless `allowProdRemoval` is set too.
   * @default context `push:removeOnDelete`, else false
   */
  readonly removeOnDelete?: boolean;
  /**
   * Let `removeOnDelete` apply to the prod stage. Without it such a synth fails, so a dev flag
   * copied onto a prod command cannot make production data go with the stack.
   * @default context `push:allowProdRemoval`, else false
   */
  readonly allowProdRemoval?: boolean;
  /** Stage throttling for client traffic. @default { rateLimit: 1000, burstLimit: 500 } */
  readonly throttle?: ThrottleSettings;
  /** Throttling of the `$default` route, where every client frame lands. @default DEFAULT_ROUTE_THROTTLE (500/s, burst 250) */
  readonly defaultRouteThrottle?: ThrottleSettings;
  /**
   * Reserved concurrency of the `$default` function: the most client frames (resumes above all)
   * handled at once, so a flood of them can never take the concurrency the authorizer,
   * `$connect`, publish and the worker need. Past it, a frame's invocation is throttled and the
   * client gets API Gateway's error frame. The account must keep at least 100 unreserved
   * executions besides it and the worker's.
   * @default DEFAULT_ROUTE_CONCURRENCY (50)
   */
  readonly defaultConcurrency?: number;
  /** Retention of every log group (functions and access logs). @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Principals the publish topic's policy lets publish. @default context `push:publisherArns`, else none */
  readonly publishers?: readonly IPrincipal[];
  /** `aud` every client token must carry. @default context `push:tokenAudience`, else no audience check */
  readonly tokenAudience?: string;
  /**
   * Time between two automatic rotations of the token signing key, from 4 hours to 1000 days
   * (Secrets Manager's bounds; `Duration.days(0)` would turn rotation off, and is refused). A key stays
   * valid for one more interval after it is replaced, so tokens signed just before a rotation keep
   * working; backends must re-read the key well within it (docs/deploy.md).
   * @default Duration.days(30)
   */
  readonly tokenRotationInterval?: Duration;
  /**
   * Powertools service name of every function: the `service` dimension of every handler metric,
   * which the dashboard reads. Stages share the metrics namespace, so each other stage gets its own
   * name, or one account's dev traffic would show on the prod dashboard.
   * Two stacks of one stage side by side (moving from `PushStack`, docs/deploy.md) need their own.
   * 1 to 128 characters of `[A-Za-z0-9._-]`.
   * @default context `push:serviceName`, else 'push' on the prod stage, `push-<stage>` on any other
   */
  readonly serviceName?: string;
  /**
   * The lowest level every function logs. `INFO` logs each publish and shard job; at high volume
   * `WARN` saves most of the CloudWatch Logs bytes a push costs (docs/cost.md).
   * @default context `push:logLevel`, else 'INFO'
   */
  readonly logLevel?: LogLevel;
  /** X-Ray active tracing on every function. @default true */
  readonly tracing?: boolean;
  /** Deliveries in flight at once per publish. @default LIMITS.fanoutConcurrency (64) */
  readonly fanoutConcurrency?: number;
  /**
   * Per-call timeout on the Management API; at most 4.5 s (half the route functions' 10 s timeout,
   * less the send's 0.5 s grace), else synth fails: `$default` keeps one send's time in reserve for
   * a resume's last post. @default Duration.millis(LIMITS.sendTimeoutMs) (3 s)
   */
  readonly sendTimeout?: Duration;
  /** Attempts per delivery, first included. @default LIMITS.sendAttempts (4) */
  readonly sendAttempts?: number;
  /**
   * How long after connecting a connection that answers 410 keeps its records: it may still be
   * inside `$connect`, about to open. Every delivering handler applies it. Zero removes them at once.
   * @default Duration.millis(LIMITS.connectGraceMs) (10 s)
   */
  readonly connectGrace?: Duration;
  /**
   * Topics one connection may be subscribed to at once; a subscribe past it is refused. It also
   * bounds the connection record, which lists them (see `LIMITS.maxSubscriptions`), so it is at
   * most `LIMITS.maxSubscriptionsCeiling` (1,000).
   * @default LIMITS.maxSubscriptions (100)
   */
  readonly maxSubscriptions?: number;
  /**
   * Open connections one uid may hold; a new one past it evicts one of its own client instance first, else the uid's least recently seen.
   * @default LIMITS.maxConnectionsPerUid (20)
   */
  readonly maxConnectionsPerUid?: number;
  /**
   * Resumes one connection may start per `resumeWindow`; a resume beyond answers `rate_limited`.
   * Each resume costs `@connections` posts from the account's shared API Gateway budget.
   * @default LIMITS.resumesPerWindow (30)
   */
  readonly resumesPerWindow?: number;
  /**
   * Resumes all of one uid's connections together may start per `resumeWindow` (fixed windows
   * counted from the epoch); a resume beyond answers `rate_limited`. Without it a uid would get
   * a fresh budget with each connection it opens, or by reconnecting.
   * @default LIMITS.resumesPerUidPerWindow (150)
   */
  readonly resumesPerUidPerWindow?: number;
  /**
   * The window `resumesPerWindow` counts in; it opens at a connection's first resume (and the
   * fixed windows `resumesPerUidPerWindow` counts in have this length). Whole
   * seconds, from 1 s to a connection's lifetime (`LIMITS.maxResumeWindowSeconds`, 2 h), since a
   * longer window would count the same.
   * @default Duration.seconds(LIMITS.resumeWindowSeconds) (60 s)
   */
  readonly resumeWindow?: Duration;
  /**
   * Frames one connection may send at once to `$default` before its frames are answered
   * `rate_limited` and run nothing: a token bucket per connection, kept by each `$default` Lambda
   * environment in memory (no DynamoDB write per frame). Unlike `defaultRouteThrottle`, one bucket
   * for the whole route, it holds back one flooding connection only. At least `maxSubscriptions`
   * + 2, a reconnect's handshake (a subscribe per topic, the uid's resume, a ping).
   * @default 2 × maxSubscriptions + resumesPerWindow + 20 (`frameBurstFor`; LIMITS.frameBurst, 250, with their defaults)
   */
  readonly frameBurst?: number;
  /**
   * Frames per second each connection's `frameBurst` refills with: the rate it may keep up.
   * @default LIMITS.framesPerSecond (10)
   */
  readonly framesPerSecond?: number;
  /**
   * Refused frames (counted since the connection's bucket was last full) at which `$default`
   * closes the connection through the Management API, logs a warning and counts
   * `FloodedConnections`. Closing is what stops a flooder taking the route throttle's tokens from
   * every other client: a refused frame still passed that throttle.
   * @default twice frameBurst (LIMITS.frameRefusalsToClose, 500, with the defaults)
   */
  readonly frameRefusalsToClose?: number;
  /**
   * Frames one uid's connections may send at once together to `$default`, past which their
   * frames are answered `rate_limited` and run nothing: a token bucket per uid, beside each
   * connection's own, kept by each `$default` environment in memory. It holds back a flood spread
   * over many connections of one uid, each within its own `frameBurst` and `framesPerSecond`; at
   * `frameRefusalsToClose` refusals all of the uid's connections are closed and the uid cools off.
   * At least `frameBurst`.
   * @default maxConnectionsPerUid × (2 × maxSubscriptions + 2), every connection reconnecting at once, resuming each topic it holds (`uidFrameBurstFor`; 4,040 with the defaults)
   */
  readonly uidFrameBurst?: number;
  /**
   * Frames per second a uid's `uidFrameBurst` refills with: the rate its connections may keep up
   * together. At least `framesPerSecond`.
   * @default LIMITS.uidFramesPerSecond (20), twice a connection's
   */
  readonly uidFramesPerSecond?: number;
  /**
   * How long the uid of a connection closed for flooding may open no new connection: the
   * authorizer refuses its handshakes (401) meanwhile, from the record it reads for revocations
   * anyway, and `$connect`'s second read of that record refuses one it let through just before. Whole seconds, from 0 (none) to LIMITS.maxFloodCoolOffSeconds (4 min); a longer hold
   * on a uid is a kick with `revoke`.
   * @default Duration.seconds(LIMITS.floodCoolOffSeconds) (60 s)
   */
  readonly floodCoolOff?: Duration;
  /**
   * How long a publish id is remembered (a repeat with the same body gets the first answer) and a
   * sharded publish's status stays readable.
   * @default Duration.seconds(LIMITS.publishRecordSeconds) (7 days)
   */
  readonly publishIdRetention?: Duration;
  /** How long the message log keeps a message for resume. @default LIMITS.logRetentionSeconds (24 h) */
  readonly messageLogRetention?: Duration;
  /** Most messages the log keeps per uid or topic. @default LIMITS.logMaxMessages (1000) */
  readonly messageLogMaxMessages?: number;
  /** Topics (or `prefix*` patterns) whose messages are logged for resume. @default none */
  readonly topicHistory?: readonly string[];
  /** CloudWatch namespace of the handlers' EMF metrics. @default METRICS.defaultNamespace ('Push') */
  readonly metricsNamespace?: string;
  /** Timeout of the publish function: a broadcast to many connections takes a while. @default Duration.minutes(1) */
  readonly publishTimeout?: Duration;
  /** Memory of the publish function; more memory is also more CPU for the fan-out. @default 512 */
  readonly publishMemorySize?: number;
  /**
   * Reserved concurrency of the publish function: the most publishes (and presence, kick and status
   * calls) run at once. Unset, publishes draw on the account's unreserved concurrency, which the
   * authorizer, `$connect` and `$disconnect` share: a backend that floods publishes (a retry loop)
   * can then leave no room for clients to connect. Set, a publish past it is throttled (Invoke's
   * 429 `TooManyRequestsException`, which the server package reports as `throttled`; SNS and
   * asynchronous invokes are retried by Lambda) and the rest of the stage runs on. It adds to what
   * the stage reserves (see `defaultConcurrency`).
   * @default none (unreserved)
   */
  readonly publishConcurrency?: number;
  /** Oldest asynchronous publish still delivered. @default Duration.hours(1) */
  readonly publishMaxEventAge?: Duration;
  /** Times Lambda retries a failed asynchronous publish (0 to 2) before its failure queue. @default 2 */
  readonly publishRetryAttempts?: number;
  /**
   * Target connections above which a topic or broadcast publish becomes shard jobs for the workers
   * instead of being delivered by the publish function itself.
   * @default LIMITS.shardThreshold (2,000)
   */
  readonly shardThreshold?: number;
  /**
   * Deliveries per second all shard workers together may make. Each worker gets
   * `rateBudget / workerConcurrency`, so the budget holds by construction. It shares the account's
   * API Gateway throttle (10,000 req/s by default) with client traffic and inline publishes.
   * @default LIMITS.rateBudget (5,000)
   */
  readonly rateBudget?: number;
  /**
   * Reserved concurrency of the shard worker, and the number the rate budget is split by. The
   * account must keep at least 100 unreserved executions besides it.
   * @default LIMITS.workerConcurrency (16)
   */
  readonly workerConcurrency?: number;
  /**
   * Timeout of one shard worker run; the shard queue's visibility timeout is six times this. A run
   * stops starting deliveries its stop margin before it (`workerStopMarginMs`: one delivery's
   * attempts, backoff and rate tokens, plus 7 s to wind up; 22.2 s at the defaults), checkpoints, and sends
   * the rest of its shard to the shard queue again, so a shard bigger than one run goes on at once
   * in the next. A run that fails is retried from its last checkpoint after a backoff of seconds;
   * only a run cut off all the same waits out the visibility timeout. Must cover the stop margin
   * plus one more delivery.
   * @default Duration.minutes(5)
   */
  readonly workerTimeout?: Duration;
  /** Memory of the shard worker (more memory is also more CPU). @default 512 */
  readonly workerMemorySize?: number;
  /**
   * Receives of one shard job before it moves to the shard dead-letter queue. A failed run's job
   * comes back after a backoff; the worker spreads the backoffs over these receives, so that
   * together they take at most half of `shardQueueMaxAge`.
   * @default LIMITS.shardMaxReceiveCount (5)
   */
  readonly shardMaxReceiveCount?: number;
  /**
   * Age of the shard queue's oldest job that alarms: the workers are saturated or a job keeps failing.
   * A job run later than this after its publish (a redrive from the dead-letter queue) reaches only
   * the connections made by its publish (`PUSH_SHARD_JOB_LATE_MS` on the worker).
   * @default twice the worker timeout
   */
  readonly shardQueueMaxAge?: Duration;
  /** Existing topic every alarm notifies. @default none */
  readonly alarmTopic?: ITopic;
  /** Email address every alarm notifies, through a topic made here. @default context `push:alarmEmail`, else none */
  readonly alarmEmail?: string;
  /** 4xx answered by API Gateway per 5 minutes that alarm. @default 100 */
  readonly apiClientErrorThreshold?: number;
  /** Integration and execution errors per 5 minutes that alarm. @default 5 */
  readonly apiServerErrorThreshold?: number;
  /**
   * Point the Region's API Gateway account setting at a CloudWatch Logs role made here, without
   * which API Gateway refuses a stage with access logging.
   * @default context `push:configureAccountLogging`, else true
   */
  readonly configureAccountLogging?: boolean;
}

/**
 * The whole push service in one stack: WebSocket API, handlers, tables, token secret, publish
 * topic, failure queues, sharded fan-out (shard queue, worker, DLQ), alarms and a dashboard.
 *
 * Other stacks reuse it through `grantPublish`, `grantTokenSigning` and the public members.
 *
 * @example
 * const push = new PushStack(app, 'Push', { alarmEmail: 'oncall@example.com' });
 * push.grantPublish(orderService);
 * orderService.addEnvironment('PUSH_PUBLISH_FUNCTION', push.publishFunction.functionName);
 */
export class PushStack extends Stack {
  /** The WebSocket API. */
  readonly api: WebSocketApi;
  /** Its stage: `stage.url` (wss://) and `stage.callbackUrl` (Management API). */
  readonly stage: WebSocketStage;
  /** Every table, built from lambdas/shared/tables.ts. */
  readonly tables: PushTables;
  /** Every handler's function, by handler name. */
  readonly functions: Readonly<Record<HandlerId, NodejsFunction>>;
  /** Delivers a publish: invoke it directly, or publish to `publishTopic`. */
  readonly publishFunction: NodejsFunction;
  /** SNS way in to `publishFunction`. */
  readonly publishTopic: Topic;
  /** The HS256 key client tokens are signed with; only the authorizer (and `grantTokenSigning`) may read it. */
  readonly tokenSecret: Secret;
  /** Rotates `tokenSecret` every `tokenRotationInterval` with the `rotateSecret` function. */
  readonly tokenRotation: RotationSchedule;
  /** The topic, SNS dead-letter queue and invoke failure queue. */
  readonly publishIngress: PublishIngress;
  /**
   * Encrypts message bodies at rest: the message log table, the shard queues, the publish topic,
   * the alarm topic and the SNS dead-letter queue.
   */
  readonly messageKey: Key;
  /** The shard worker: delivers one shard of a big topic or broadcast publish per invocation. */
  readonly workerFunction: NodejsFunction;
  /** The shard queue feeding the worker, and its dead-letter queue. */
  readonly shardFanOut: ShardFanOut;
  /** The alarms; `alarms.watch*` adds more for later parts. */
  readonly alarms: PushAlarms;
  /** The CloudWatch dashboard of handler, API, shard queue and worker metrics. */
  readonly dashboard: PushDashboard;

  constructor(scope: Construct, id: string, props: PushStackProps = {}) {
    super(scope, id, props);
    const node = this.node;
    const stageName = props.stageName ?? contextString(node, CONTEXT.stage) ?? DEFAULT_STAGE;
    // API Gateway's own rule; failing here beats a rollback halfway through a deploy.
    if (!STAGE_PATTERN.test(stageName)) {
      throw new Error(`stage name ${JSON.stringify(stageName)} ${STAGE_RULE}`);
    }
    const removeOnDelete =
      props.removeOnDelete ?? contextBoolean(node, CONTEXT.removeOnDelete, stageName) ?? false;
    const allowProdRemoval =
      props.allowProdRemoval ?? contextBoolean(node, CONTEXT.allowProdRemoval, stageName) ?? false;
    if (removeOnDelete && stageName === DEFAULT_STAGE && !allowProdRemoval) {
      throw new Error(
        `${CONTEXT.removeOnDelete} would delete the ${DEFAULT_STAGE} stage's tables, token secret, key, ` +
          `queues and logs with the stack: deploy another stage (-c ${CONTEXT.stage}=dev), or add ` +
          `-c ${CONTEXT.allowProdRemoval}=true if this ${DEFAULT_STAGE} stage really is disposable`,
      );
    }
    const removalPolicy = removeOnDelete ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    // A bare `cdk destroy` aims at the default stage: CloudFormation refuses to delete it. The data
    // would survive (RETAIN), but the wss URL, the functions and the API would not, and a deploy
    // after it makes new, empty tables and a new token secret beside the old ones. A prod stage
    // declared disposable, and every other stage, can be destroyed as before.
    if (stageName === DEFAULT_STAGE && !removeOnDelete) this.terminationProtection = true;
    const namedService = props.serviceName ?? contextString(node, CONTEXT.serviceName, stageName);
    // It lands in every role's and function's description (Lambda takes 256 characters) and in
    // each metric's dimension: checked here, before a deploy would roll back halfway.
    if (namedService !== undefined && !SERVICE_NAME_PATTERN.test(namedService)) {
      throw new Error(
        `serviceName ${JSON.stringify(namedService)} must be 1 to 128 characters of [A-Za-z0-9._-]`,
      );
    }
    const serviceName =
      namedService ?? (stageName === DEFAULT_STAGE ? SERVICE_NAME : `${SERVICE_NAME}-${stageName}`);
    const logLevel: string = props.logLevel ?? contextString(node, CONTEXT.logLevel, stageName) ?? 'INFO';
    if (!isLogLevel(logLevel)) {
      throw new Error(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
    }
    const metricsNamespace = props.metricsNamespace ?? METRICS.defaultNamespace;
    const shardThreshold = positiveInteger('shardThreshold', props.shardThreshold ?? LIMITS.shardThreshold);
    const rateBudget = positiveInteger('rateBudget', props.rateBudget ?? LIMITS.rateBudget);
    const workerConcurrency = positiveInteger(
      'workerConcurrency',
      props.workerConcurrency ?? LIMITS.workerConcurrency,
    );
    // One delivery may take every attempt, each up to the send timeout, before it counts as failed.
    // Each checked here as the handlers check it at cold start, so a bad value fails the synth, not
    // every invocation of the deployed functions.
    const sendTimeoutMs = positiveInteger(
      'sendTimeout (in milliseconds)',
      (props.sendTimeout ?? Duration.millis(LIMITS.sendTimeoutMs)).toMilliseconds(),
    );
    const sendAttempts = positiveInteger('sendAttempts', props.sendAttempts ?? LIMITS.sendAttempts);
    const oneDelivery = `${sendAttempts} sends of up to ${sendTimeoutMs} ms each: sendAttempts × sendTimeout`;
    // A run stops starting deliveries its stop margin before the timeout; a timeout within the
    // margin would stop every run before its first delivery, and the job would fail each receive
    // until it landed in the dead-letter queue. Past the margin, a run has time for one delivery.
    const workerStopMargin = workerStopMarginMs({
      sendAttempts,
      sendTimeoutMs,
      concurrency: props.fanoutConcurrency ?? LIMITS.fanoutConcurrency,
      ratePerSecond: perWorkerRate(rateBudget, workerConcurrency),
    });
    const workerTimeout = timeoutAtLeast(
      'workerTimeout',
      props.workerTimeout ?? Duration.minutes(5),
      // Lambda counts its timeout in whole seconds.
      Math.ceil((workerStopMargin + sendAttempts * sendTimeoutMs) / 1000) * 1000,
      `the worker's ${workerStopMargin} ms stop margin, plus ${oneDelivery}`,
    );
    // The age at which a shard job alarms is also the age past which it counts as late: one
    // running after it is a redrive, and reaches only the connections made by its publish.
    const shardQueueMaxAge = props.shardQueueMaxAge ?? Duration.seconds(workerTimeout.toSeconds() * 2);
    // A batch item starts only with LIMITS.batchStartMarginMs left, so a shorter timeout fails
    // every batch; past the margin, one slow connection must not time the whole publish out.
    const publishTimeout = timeoutAtLeast(
      'publishTimeout',
      props.publishTimeout ?? Duration.millis(LIMITS.publishTimeoutMs),
      LIMITS.batchStartMarginMs + sendAttempts * sendTimeoutMs,
      `the ${LIMITS.batchStartMarginMs} ms a batch item needs left to start, plus ${oneDelivery}`,
    );
    // `$default` starts no post of a resume with less than one send (the send timeout and its
    // grace) left of its timeout, and `$connect` ends an evicted connection the same way: a send
    // timeout past half the route functions' timeout would leave a resume less time to post than
    // it keeps in reserve, and past all of it, none (every resume answered `more`, none replayed).
    atMost(
      'sendTimeout (in milliseconds)',
      sendTimeoutMs,
      DEFAULT_FUNCTION_TIMEOUT.toMilliseconds() / 2 - LIMITS.sendTimeoutGraceMs,
      `half the route functions' ${DEFAULT_FUNCTION_TIMEOUT.toSeconds()} s timeout, less the send's ${LIMITS.sendTimeoutGraceMs} ms grace: a resume or an eviction keeps one send's time in reserve`,
    );
    const tokenAudience = props.tokenAudience ?? contextString(node, CONTEXT.tokenAudience, stageName);
    const alarmEmail = props.alarmEmail ?? contextString(node, CONTEXT.alarmEmail, stageName);
    const publishers =
      props.publishers ??
      (contextList(node, CONTEXT.publisherArns, stageName) ?? []).map((arn) => new ArnPrincipal(arn));

    this.messageKey = new Key(this, 'MessageKey', {
      description:
        'Encrypts push messages at rest: message log table, shard queues, publish topic, SNS dead-letter queue, alarm topic',
      enableKeyRotation: true,
      removalPolicy,
    });
    this.tables = new PushTables(this, 'Tables', {
      removalPolicy,
      // The message log holds message bodies; the other tables hold ids, uids and counts.
      encryption: { key: this.messageKey, tables: [MESSAGES_TABLE] },
    });

    const fn = (handler: HandlerId, extra: Partial<PushFunctionProps> = {}) =>
      new PushFunction(this, `${handler[0]?.toUpperCase()}${handler.slice(1)}Handler`, {
        handler,
        serviceName,
        logLevel,
        tracing: props.tracing,
        logRetention: props.logRetention,
        logRemovalPolicy: removalPolicy,
        ...extra,
        environment: {
          [ENV.metricsNamespace]: metricsNamespace,
          ...extra.environment,
        },
      });
    // $connect (evictions past the per-uid cap), $default (resume replays), publish and the worker
    // all deliver the same way.
    const sendEnvironment = {
      [ENV.fanoutConcurrency]: String(
        positiveInteger('fanoutConcurrency', props.fanoutConcurrency ?? LIMITS.fanoutConcurrency),
      ),
      [ENV.sendTimeoutMs]: String(sendTimeoutMs),
      [ENV.sendAttempts]: String(sendAttempts),
      // Duration refuses a negative or fractional grace itself; zero is allowed.
      [ENV.connectGraceMs]: String(
        (props.connectGrace ?? Duration.millis(LIMITS.connectGraceMs)).toMilliseconds(),
      ),
    };
    // Publish and the worker both write publish records, which must live equally long.
    const idRetentionEnvironment = {
      [ENV.idRetentionSeconds]: String(
        positiveInteger(
          'publishIdRetention',
          (props.publishIdRetention ?? Duration.seconds(LIMITS.publishRecordSeconds)).toSeconds(),
        ),
      ),
    };
    // $default and publish both use the message log, and must agree on what it keeps.
    const deliveryEnvironment = {
      ...sendEnvironment,
      [ENV.logRetentionSeconds]: String(
        positiveInteger(
          'messageLogRetention (in seconds)',
          (props.messageLogRetention ?? Duration.seconds(LIMITS.logRetentionSeconds)).toSeconds(),
        ),
      ),
      [ENV.logMaxMessages]: String(
        positiveInteger('messageLogMaxMessages', props.messageLogMaxMessages ?? LIMITS.logMaxMessages),
      ),
      ...(props.topicHistory === undefined || props.topicHistory.length === 0
        ? {}
        : { [ENV.topicHistory]: props.topicHistory.join(',') }),
    };
    const handlers = {
      authorizer: fn('authorizer', {
        environment: tokenAudience === undefined ? {} : { [ENV.tokenAudience]: tokenAudience },
      }),
      connect: fn('connect', {
        environment: {
          ...sendEnvironment,
          [ENV.maxConnectionsPerUid]: String(
            positiveInteger(
              'maxConnectionsPerUid',
              props.maxConnectionsPerUid ?? LIMITS.maxConnectionsPerUid,
            ),
          ),
        },
      }),
      disconnect: fn('disconnect'),
      default: fn('default', {
        reservedConcurrentExecutions: positiveInteger(
          'defaultConcurrency',
          props.defaultConcurrency ?? DEFAULT_ROUTE_CONCURRENCY,
        ),
        environment: {
          ...deliveryEnvironment,
          [ENV.maxSubscriptions]: String(
            atMost(
              'maxSubscriptions',
              positiveInteger('maxSubscriptions', props.maxSubscriptions ?? LIMITS.maxSubscriptions),
              LIMITS.maxSubscriptionsCeiling,
              "the connection record lists every subscribed topic, and DynamoDB's items hold 400 KB",
            ),
          ),
          // A resume waits on a seq missing below a stored one for as long as a publish may
          // still store it, which the publish function's timeout bounds.
          [ENV.publishTimeoutMs]: String(publishTimeout.toMilliseconds()),
          // Only $default runs resumes, so only it carries their budget.
          [ENV.resumesPerWindow]: String(
            positiveInteger('resumesPerWindow', props.resumesPerWindow ?? LIMITS.resumesPerWindow),
          ),
          [ENV.resumesPerUidPerWindow]: String(
            positiveInteger(
              'resumesPerUidPerWindow',
              props.resumesPerUidPerWindow ?? LIMITS.resumesPerUidPerWindow,
            ),
          ),
          [ENV.resumeWindowSeconds]: String(
            wholeSeconds('resumeWindow', props.resumeWindow ?? Duration.seconds(LIMITS.resumeWindowSeconds), {
              min: 1,
              max: LIMITS.maxResumeWindowSeconds,
            }),
          ),
          // After the caps it follows, so a bad cap is named as itself.
          ...frameRateEnvironmentOf(props),
          [ENV.floodCoolOffSeconds]: String(
            wholeSeconds('floodCoolOff', props.floodCoolOff ?? Duration.seconds(LIMITS.floodCoolOffSeconds), {
              min: 0,
              max: LIMITS.maxFloodCoolOffSeconds,
              why: "it shares the uid's revocation record, which a kick may set to expire 5 minutes on",
            }),
          ),
        },
      }),
      publish: fn('publish', {
        timeout: publishTimeout,
        memorySize: props.publishMemorySize ?? 512,
        reservedConcurrentExecutions:
          props.publishConcurrency === undefined
            ? undefined
            : positiveInteger('publishConcurrency', props.publishConcurrency),
        environment: {
          ...deliveryEnvironment,
          ...idRetentionEnvironment,
          [ENV.shardThreshold]: String(shardThreshold),
        },
      }),
      // The worker splits the rate budget by PUSH_WORKER_CONCURRENCY, which is only a guarantee
      // while it is also the reserved concurrency: both come from the one value here.
      worker: fn('worker', {
        timeout: workerTimeout,
        memorySize: props.workerMemorySize ?? 512,
        reservedConcurrentExecutions: workerConcurrency,
        environment: {
          ...sendEnvironment,
          ...idRetentionEnvironment,
          [ENV.rateBudget]: String(rateBudget),
          [ENV.workerConcurrency]: String(workerConcurrency),
          [ENV.shardJobLateMs]: String(shardQueueMaxAge.toMilliseconds()),
        },
      }),
      // Secrets Manager names the secret in every event, so it needs no setting; the rotation
      // schedule below grants it the secret.
      rotateSecret: fn('rotateSecret', {
        timeout: Duration.seconds(30),
        wildcardActions: {
          'secretsmanager:GetRandomPassword': 'Generating each next signing key (createSecret)',
        },
      }),
    } satisfies Record<HandlerId, PushFunction>;
    this.functions = {
      authorizer: handlers.authorizer.function,
      connect: handlers.connect.function,
      disconnect: handlers.disconnect.function,
      default: handlers.default.function,
      publish: handlers.publish.function,
      worker: handlers.worker.function,
      rotateSecret: handlers.rotateSecret.function,
    };
    this.publishFunction = handlers.publish.function;
    this.workerFunction = handlers.worker.function;

    for (const [handler, grants] of Object.entries(TABLE_GRANTS) as [HandlerId, TableGrant[]][]) {
      for (const { table, ...use } of grants) this.tables.bind(this.functions[handler], table, use);
    }
    this.tables.warnUnbound();

    this.shardFanOut = new ShardFanOut(this, 'ShardFanOut', {
      worker: this.workerFunction,
      workerConcurrency,
      maxReceiveCount: props.shardMaxReceiveCount,
      removalPolicy,
      encryptionKey: this.messageKey,
    });
    this.shardFanOut.grantEnqueue(this.publishFunction);
    this.publishFunction.addEnvironment(ENV.shardQueueUrl, this.shardFanOut.queue.queueUrl);

    this.tokenSecret = new Secret(this, 'TokenSecret', {
      description: 'HS256 key that signs push client tokens',
      // The rotation function generates each next key the same way (TOKEN_KEY in lambdas/shared/deployment.ts).
      generateSecretString: {
        passwordLength: TOKEN_KEY.length,
        excludePunctuation: TOKEN_KEY.excludePunctuation,
      },
      removalPolicy,
    });
    handlers.authorizer.function.addEnvironment(ENV.tokenSecretArn, this.tokenSecret.secretArn);
    // GetSecretValue alone: grantRead adds DescribeSecret, which the authorizer never calls.
    Grant.addToPrincipal({
      grantee: handlers.authorizer.function,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [this.tokenSecret.secretArn],
    });
    // The schedule grants the function DescribeSecret, GetSecretValue, PutSecretValue and
    // UpdateSecretVersionStage on this secret only, GetRandomPassword on "*", and lets Secrets
    // Manager invoke it.
    this.tokenRotation = this.tokenSecret.addRotationSchedule('Rotation', {
      rotationLambda: handlers.rotateSecret.function,
      automaticallyAfter: rotationInterval(props.tokenRotationInterval ?? Duration.days(30)),
      // By default a created or changed schedule rotates at once, during the deploy: backends that
      // read the secret once (the old advice) would sign with a key refused from the next
      // rotation on, and an update rolled back after the rotation would leave the old single-key
      // authorizer reading only AWSCURRENT, the new key. Instead the deploy only has Secrets
      // Manager run testSecret on a temporary AWSPENDING version, and the first rotation comes one
      // interval later (docs/deploy.md). As no deploy moves a key, the schedule needs no ordering
      // against the authorizer's update.
      rotateImmediatelyOnUpdate: false,
    });
    // The schedule lets secretsmanager.amazonaws.com invoke the function from any account; scoped
    // to this one, no other account's secret can have Secrets Manager call it (confused deputy).
    for (const child of handlers.rotateSecret.function.node.findAll()) {
      if (child instanceof CfnPermission && child.principal === 'secretsmanager.amazonaws.com') {
        child.sourceAccount = this.account;
      }
    }

    const websocket = new PushWebSocketApi(this, 'WebSocket', {
      handlers: this.functions,
      stageName,
      throttle: props.throttle ?? DEFAULT_THROTTLE,
      ...(props.defaultRouteThrottle === undefined
        ? {}
        : { defaultRouteThrottle: props.defaultRouteThrottle }),
      accessLogRetention: props.logRetention,
      removalPolicy,
      configureAccountLogging:
        props.configureAccountLogging ??
        contextBoolean(node, CONTEXT.configureAccountLogging, stageName) ??
        true,
    });
    this.api = websocket.api;
    this.stage = websocket.stage;
    const apiLogicalId = this.getLogicalId(this.api.node.defaultChild as CfnElement);
    for (const [handler, methods] of Object.entries(MANAGEMENT_API_METHODS) as [HandlerId, string[]][]) {
      this.functions[handler].addEnvironment(ENV.managementEndpoint, this.stage.callbackUrl);
      // Not stage.grantManagementApiAccess, which allows every method on every connection.
      Grant.addToPrincipal({
        grantee: this.functions[handler],
        actions: ['execute-api:ManageConnections'],
        resourceArns: methods.map((method) =>
          this.formatArn({
            service: 'execute-api',
            resource: this.api.apiId,
            resourceName: `${stageName}/${method}/@connections/*`,
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          }),
        ),
      });
      for (const method of methods) {
        const connectionsArn = [
          `arn:${nagPseudo(this, 'Partition')}:execute-api:${nagPseudo(this, 'Region')}`,
          `${nagPseudo(this, 'AccountId')}:<${apiLogicalId}>/${stageName}/${method}/@connections/*`,
        ].join(':');
        Validations.of(handlers[handler].role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${connectionsArn}]`,
          reason:
            'Connection ids exist only at run time, so @connections/* is as narrow as ManageConnections ' +
            `gets; the ARN is scoped to this API's one stage and to ${method}, a method this handler calls.`,
        });
      }
    }

    this.publishIngress = new PublishIngress(this, 'PublishIngress', {
      publishFunction: this.publishFunction,
      encryptionKey: this.messageKey,
      publishers,
      maxEventAge: props.publishMaxEventAge,
      retryAttempts: props.publishRetryAttempts,
      removalPolicy,
    });
    this.publishTopic = this.publishIngress.topic;

    const actions: IAlarmAction[] = [];
    if (props.alarmTopic !== undefined) actions.push(new SnsAction(props.alarmTopic));
    if (alarmEmail !== undefined) {
      const alarmTopic = new Topic(this, 'AlarmTopic', {
        displayName: 'Push service alarms',
        masterKey: this.messageKey,
        enforceSSL: true,
      });
      alarmTopic.addSubscription(new EmailSubscription(alarmEmail));
      // CloudWatch publishes alarms as its service identity, which only the key policy can admit.
      admitServiceToKey(this.messageKey, 'cloudwatch.amazonaws.com');
      actions.push(new SnsAction(alarmTopic));
    }
    if (actions.length === 0) {
      // Deployed as documented but without push:alarmEmail, every alarm only changes state.
      Annotations.of(this).addWarningV2(
        'apigw-push:alarmsNotifyNoOne',
        `no alarm notifies anyone: pass -c ${CONTEXT.alarmEmail}=<address> (or the alarmTopic prop) to be told when pushes fail`,
      );
    }
    this.alarms = new PushAlarms(this, 'Alarms', { actions });
    const handlerMetrics = { namespace: metricsNamespace, serviceName };
    this.alarms.watchErrors('Publish', this.publishFunction, 'The publish function');
    // The authorizer throws to deny a token (API Gateway's 401), so its Errors count denials too.
    this.alarms.watchCount(
      'AuthorizerFailures',
      serviceMetric(handlerMetrics, 'authorizerFailures', Duration.minutes(5)),
      'The authorizer failed on a handshake for another reason than its token (the signing key ' +
        'could not be read, DynamoDB refused the revocation read): clients got 500 and reconnect; ' +
        'check its logs (authorizer failed).',
    );
    // A refused SNS message is answered to no one and held in no failure queue (a retry could not
    // cure it): this count is the only trace of a push that was never delivered.
    this.alarms.watchCount(
      'RejectedSnsMessages',
      serviceMetric(handlerMetrics, 'rejectedSnsMessages', Duration.minutes(5)),
      'The publish function refused an SNS message for its input (a bad body, an id reused for ' +
        'another body, a presence, kick or status query): it was not delivered, and it is in no ' +
        'failure queue, since no retry could cure it. Find it in its logs (SNS message rejected, ' +
        'with its snsMessageId and reason), fix the publisher, and publish again.',
    );
    // Failed jobs are batch item failures, not errors: what errors here is a whole run (timeout,
    // crash, missing configuration).
    this.alarms.watchErrors(
      'Worker',
      this.workerFunction,
      'The shard worker',
      'the job it held returns to the shard queue after the visibility timeout and resumes from its checkpoint',
    );
    // A timeout is already an error above; these say a run came close, before work is lost.
    this.alarms.watchDuration(
      'Publish',
      this.publishFunction,
      publishTimeout,
      'A publish invocation',
      'an inline fan-out or a batch is near the timeout, past which items not yet started fail and so ' +
        'does the invocation; raise publishTimeout or publishMemorySize, or lower shardThreshold',
    );
    // A run of a shard too big for one run lasts until its stop, the margin before its timeout, by
    // design: what alarms is a run still winding up halfway through the margin.
    this.alarms.watchDuration(
      'Worker',
      this.workerFunction,
      workerTimeout,
      'A shard worker run',
      'it went on past its stop (the stop margin before its timeout, where it hands the rest of its ' +
        'shard on) by half the margin: its last deliveries, checkpoint or hand-over were slow, and a ' +
        'slower one is cut off by the timeout and retried from its checkpoint 6 timeouts later; look ' +
        'for slow Management API or DynamoDB calls in its logs',
      workerTimeout.toMilliseconds() - Math.ceil(workerStopMargin / 2),
    );
    this.alarms.watchErrors(
      'TokenRotation',
      handlers.rotateSecret.function,
      'A step of the token secret rotation',
      'the current key stays in use and Secrets Manager retries the rotation; a version left labelled ' +
        'AWSPENDING blocks the next rotation until this one completes',
    );
    /** The prop behind each function's reserved concurrency, where one is reserved. */
    const reservedBy: Partial<Record<string, string>> = {
      default: 'defaultConcurrency',
      worker: 'workerConcurrency',
      ...(props.publishConcurrency === undefined ? {} : { publish: 'publishConcurrency' }),
    };
    for (const [name, handler] of Object.entries(handlers)) {
      this.alarms.watchThrottles(handler.node.id, handler.function, `The ${name} function`, reservedBy[name]);
    }
    this.alarms.watchDeadLetterQueue(
      'SubscriptionDeadLetterQueue',
      this.publishIngress.subscriptionDeadLetterQueue,
      'The SNS subscription dead-letter queue',
    );
    this.alarms.watchDeadLetterQueue(
      'InvokeFailureQueue',
      this.publishIngress.invokeFailureQueue,
      'The publish invoke failure queue',
    );
    this.alarms.watchDeadLetterQueue(
      'ShardDeadLetterQueue',
      this.shardFanOut.deadLetterQueue,
      'The shard dead-letter queue',
    );
    this.alarms.watchDestinationDelivery('Publish', this.publishFunction, 'An asynchronous publish');
    this.alarms.watchTopicRedrive('PublishTopic', this.publishTopic, 'The publish topic');
    this.alarms.watchQueueAge('ShardQueue', this.shardFanOut.queue, shardQueueMaxAge, 'The shard queue');
    this.alarms.watchApi(this.stage, {
      clientErrors: props.apiClientErrorThreshold ?? 100,
      serverErrors: props.apiServerErrorThreshold ?? 5,
    });

    this.dashboard = new PushDashboard(this, 'Dashboard', {
      namespace: metricsNamespace,
      serviceName,
      stage: this.stage,
      shardQueue: this.shardFanOut.queue,
      shardDeadLetterQueue: this.shardFanOut.deadLetterQueue,
      worker: this.workerFunction,
      workerConcurrency,
      alarms: this.alarms.alarms,
    });

    this.#outputs();
  }

  /**
   * Lets `grantee` publish both ways: invoke the publish function, and publish to the topic
   * (with its key). Tell it where through `PUSH_PUBLISH_FUNCTION` / `PUSH_TOPIC_ARN`, from
   * `publishFunction.functionName` and `publishTopic.topicArn` (docs/deploy.md).
   */
  grantPublish(grantee: IGrantable): Grant {
    return this.publishFunction.grantInvoke(grantee).combine(this.publishIngress.grantPublish(grantee));
  }

  /** Lets `grantee` read the token secret, to sign client tokens. Give it only to the backend that mints them. */
  grantTokenSigning(grantee: IGrantable): Grant {
    return this.tokenSecret.grantRead(grantee);
  }

  #outputs(): void {
    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out('WebSocketUrl', this.stage.url, 'Clients connect here: wss://…/{stage}?token=<JWT>');
    out(
      'ManagementCallbackUrl',
      this.stage.callbackUrl,
      'API Gateway Management API endpoint (@connections)',
    );
    out('PublishFunctionName', this.publishFunction.functionName, 'Invoke with a publish body to push');
    out('PublishFunctionArn', this.publishFunction.functionArn, 'Invoke with a publish body to push');
    out('PublishTopicArn', this.publishTopic.topicArn, 'Publish a publish body here to push asynchronously');
    out('TokenSecretArn', this.tokenSecret.secretArn, 'HS256 key that signs client tokens');
    out(
      'MessageKeyArn',
      this.messageKey.keyArn,
      'KMS key of the publish topic and message log: publishers in other accounts allow kms:GenerateDataKey* and kms:Decrypt on it',
    );
    for (const [def, table] of this.tables.entries()) {
      out(`${def.id}TableName`, table.tableName, `DynamoDB table read through ${def.envName}`);
    }
    out(
      'SubscriptionDeadLetterQueueUrl',
      this.publishIngress.subscriptionDeadLetterQueue.queueUrl,
      'SNS messages that never reached the publish function',
    );
    out(
      'InvokeFailureQueueUrl',
      this.publishIngress.invokeFailureQueue.queueUrl,
      'Asynchronous publishes that failed after retries',
    );
    out(
      'ShardQueueUrl',
      this.shardFanOut.queue.queueUrl,
      'Shard jobs of big publishes, waiting for a worker',
    );
    out(
      'ShardDeadLetterQueueUrl',
      this.shardFanOut.deadLetterQueue.queueUrl,
      'Shard jobs that failed every retry: redrive after fixing the cause',
    );
    out('DashboardName', this.dashboard.dashboard.dashboardName, 'CloudWatch dashboard of the service');
  }
}
