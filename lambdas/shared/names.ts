/**
 * The one source of truth for names and limits shared by `infra/`, `lambdas/` and `local/`.
 *
 * Nothing in here imports an AWS package, so the CDK app, the handlers and the local stack can all
 * read it. Change a name here and every part follows.
 */

/** Environment variables read by the handlers (and set by the CDK stack and the local stack). */
export const ENV = {
  /** DynamoDB table holding one record per connection plus one per topic subscription. */
  connectionsTable: 'PUSH_CONNECTIONS_TABLE',
  /** Management API endpoint, `https://{api}.execute-api.{region}.amazonaws.com/{stage}`. */
  managementEndpoint: 'PUSH_MANAGEMENT_ENDPOINT',
  /** ARN of the Secrets Manager secret holding the token signing key (AWS). */
  tokenSecretArn: 'PUSH_TOKEN_SECRET_ARN',
  /** The token signing key itself (local stack and tests only). */
  tokenSecret: 'PUSH_TOKEN_SECRET',
  /** Optional `aud` every token must carry. */
  tokenAudience: 'PUSH_TOKEN_AUDIENCE',
  /** Deliveries in flight at once per publish. */
  fanoutConcurrency: 'PUSH_FANOUT_CONCURRENCY',
  /** Per-call timeout on the Management API, in milliseconds. */
  sendTimeoutMs: 'PUSH_SEND_TIMEOUT_MS',
  /** Attempts per delivery (first try included) when the Management API throttles or fails. */
  sendAttempts: 'PUSH_SEND_ATTEMPTS',
  /** DynamoDB table holding each uid's message log (and optional topic history). */
  messagesTable: 'PUSH_MESSAGES_TABLE',
  /** How long the message log keeps a message, in seconds. */
  logRetentionSeconds: 'PUSH_LOG_RETENTION_SECONDS',
  /** Most messages the log keeps per uid (or per topic). */
  logMaxMessages: 'PUSH_LOG_MAX_MESSAGES',
  /** Comma-separated topics (or `prefix*` patterns) whose messages are logged for resume. */
  topicHistory: 'PUSH_TOPIC_HISTORY',
  /** DynamoDB table holding one record per sharded publish and one per shard job. */
  publishesTable: 'PUSH_PUBLISHES_TABLE',
  /** SQS queue URL for shard jobs; unset means every publish is delivered inline. */
  shardQueueUrl: 'PUSH_SHARD_QUEUE_URL',
  /** Above this many target connections, a topic or broadcast publish becomes shard jobs. */
  shardThreshold: 'PUSH_SHARD_THRESHOLD',
  /** Deliveries per second the whole system may make (the account's @connections throttle is shared). */
  rateBudget: 'PUSH_RATE_BUDGET',
  /** Reserved concurrency of the worker function; each worker gets rateBudget / this. */
  workerConcurrency: 'PUSH_WORKER_CONCURRENCY',
  /** Milliseconds after connecting during which a 410 does not delete a connection's records. */
  connectGraceMs: 'PUSH_CONNECT_GRACE_MS',
  /** Overrides the DynamoDB endpoint (local stack, DynamoDB Local). */
  dynamodbEndpoint: 'DYNAMODB_ENDPOINT',
  /** Powertools service name and metrics namespace. */
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
} as const;

/** Attribute names of the connections table. */
export const ATTR = {
  pk: 'pk',
  sk: 'sk',
  connectionId: 'connectionId',
  uid: 'uid',
  shard: 'shard',
  topic: 'topic',
  topicShard: 'topicShard',
  subscriber: 'subscriber',
  connectedAt: 'connectedAt',
  lastSeenAt: 'lastSeenAt',
  expiresAt: 'expiresAt',
  grants: 'grants',
  /** String set of the topics a connection subscribed to, kept on its connection record for presence. */
  topics: 'topics',
  sourceIp: 'sourceIp',
  userAgent: 'userAgent',
} as const;

/** Attribute names of the messages table. */
export const LOG_ATTR = {
  stream: 'stream',
  seq: 'seq',
  latest: 'latest',
  id: 'id',
  topic: 'topic',
  data: 'data',
  ts: 'ts',
  expiresAt: 'expiresAt',
} as const;

/** Attribute names of the publishes table. */
export const PUBLISH_ATTR = {
  id: 'id',
  part: 'part',
  shards: 'shards',
  createdAt: 'createdAt',
  checkpoint: 'checkpoint',
  done: 'done',
  connections: 'connections',
  delivered: 'delivered',
  gone: 'gone',
  failed: 'failed',
  expiresAt: 'expiresAt',
} as const;

/** Index names of the connections table. */
export const INDEX = {
  /** `uid` → the connection records of one user: a uid push is one Query here. */
  byUid: 'byUid',
  /** `topic` + `topicShard` → the subscription records of one topic, readable one shard at a time. */
  byTopic: 'byTopic',
  /** `shard` → every connection record of one shard, for broadcasts without a hot key. */
  byShard: 'byShard',
} as const;

/** Sort-key values and prefixes inside one connection's item collection. */
export const SK = {
  connection: 'conn',
  topicPrefix: 'topic#',
} as const;

export type KeyType = 'S' | 'N';

/** A table key, in a form both CDK and the DynamoDB API can be built from. */
export interface KeyDefinition {
  readonly name: string;
  readonly type: KeyType;
}

/** A global secondary index, projecting all attributes. */
export interface IndexDefinition {
  readonly name: string;
  readonly partitionKey: KeyDefinition;
  readonly sortKey?: KeyDefinition;
}

/** A table definition: `infra/` turns it into a `TableV2`, `local/` into a `CreateTable` call. */
export interface TableDefinition {
  /** Logical id in the CDK stack and default physical name in the local stack. */
  readonly id: string;
  /** Environment variable through which handlers learn the physical name. */
  readonly envName: string;
  readonly partitionKey: KeyDefinition;
  readonly sortKey?: KeyDefinition;
  readonly ttlAttribute?: string;
  readonly indexes: readonly IndexDefinition[];
}

/** The connections table: one item collection per connection id. */
export const CONNECTIONS_TABLE: TableDefinition = {
  id: 'Connections',
  envName: ENV.connectionsTable,
  partitionKey: { name: ATTR.pk, type: 'S' },
  sortKey: { name: ATTR.sk, type: 'S' },
  ttlAttribute: ATTR.expiresAt,
  indexes: [
    { name: INDEX.byUid, partitionKey: { name: ATTR.uid, type: 'S' } },
    {
      name: INDEX.byTopic,
      partitionKey: { name: ATTR.topic, type: 'S' },
      sortKey: { name: ATTR.topicShard, type: 'N' },
    },
    { name: INDEX.byShard, partitionKey: { name: ATTR.shard, type: 'N' } },
  ],
};

/**
 * The message log: one stream per uid (`uid#<uid>`) or logged topic (`topic#<name>`), sorted by
 * `seq`. The item at `seq = 0` is the stream's counter, so a resume's `seq > since` never sees it.
 */
export const MESSAGES_TABLE: TableDefinition = {
  id: 'Messages',
  envName: ENV.messagesTable,
  partitionKey: { name: LOG_ATTR.stream, type: 'S' },
  sortKey: { name: LOG_ATTR.seq, type: 'N' },
  ttlAttribute: LOG_ATTR.expiresAt,
  indexes: [],
};

/**
 * Sharded publishes: `part = "summary"` holds the shard count; `part = "shard#NN"` holds one shard
 * job's checkpoint and counts. Status is the sum of the shard items, so no counter is written twice.
 */
export const PUBLISHES_TABLE: TableDefinition = {
  id: 'Publishes',
  envName: ENV.publishesTable,
  partitionKey: { name: PUBLISH_ATTR.id, type: 'S' },
  sortKey: { name: PUBLISH_ATTR.part, type: 'S' },
  ttlAttribute: PUBLISH_ATTR.expiresAt,
  indexes: [],
};

/** Every table the system needs. */
export const TABLES: readonly TableDefinition[] = [CONNECTIONS_TABLE, MESSAGES_TABLE, PUBLISHES_TABLE];

/** Limits, mostly API Gateway's own quotas, shared by the handlers, the emulator and the docs. */
export const LIMITS = {
  /** API Gateway closes any connection after 2 hours. */
  maxConnectionSeconds: 2 * 60 * 60,
  /** API Gateway closes a connection with no traffic for 10 minutes. */
  idleTimeoutSeconds: 10 * 60,
  /** Added to every expiry so clock skew never expires a live record. */
  expiryMarginSeconds: 5 * 60,
  /** API Gateway's frame limit; a larger frame closes the socket with 1009. */
  maxFrameBytes: 32 * 1024,
  /** API Gateway's message limit, for client messages and `@connections` posts alike. */
  maxMessageBytes: 128 * 1024,
  /** Largest serialized `data` a publish may carry (the frame around it must still fit). */
  maxDataBytes: 128 * 1024 - 1024,
  /** Largest client → server frame the `$default` route accepts: they are small control frames. */
  maxControlFrameBytes: 8 * 1024,
  /** API Gateway's cap on an authorizer result; tokens larger than this are refused outright. */
  maxTokenBytes: 8 * 1024,
  /** Most uids one publish may name. */
  maxUids: 100,
  /**
   * Largest publish body taken as JSON text (SNS, HTTP): Lambda's synchronous invoke payload
   * limit, which a batch of big items can approach. Each item's `data` has its own limit.
   */
  maxPublishBodyBytes: 6 * 1024 * 1024,
  /** Most publishes one batch may carry. */
  maxBatch: 100,
  /** Publishes of one batch in flight at once (they share one bound on posts in flight). */
  batchConcurrency: 10,
  /** A batch item is not started with less than this left of the invocation's timeout. */
  batchStartMarginMs: 5_000,
  /** Most topics a token may grant. */
  maxGrants: 100,
  /** Longest uid (`sub`). */
  maxUidLength: 128,
  /** Shards that spread broadcast and topic reads over many partitions. */
  shards: 16,
  /** Deliveries in flight at once per publish, unless configured. */
  fanoutConcurrency: 64,
  /** Per-call Management API timeout, unless configured. */
  sendTimeoutMs: 3_000,
  /** Attempts per delivery, unless configured. */
  sendAttempts: 4,
  /** How long the message log keeps a message, unless configured: 24 h. */
  logRetentionSeconds: 24 * 60 * 60,
  /** Most messages kept per stream, unless configured. */
  logMaxMessages: 1000,
  /** Most messages one resume replays; a client still behind resumes again from the last seq. */
  maxReplay: 1000,
  /**
   * A connection this young that answers 410 may still be inside `$connect`, so its record is
   * kept: it is about to open, not gone. `$connect` takes well under a second even cold; the
   * window is shorter than the 29 s integration timeout because every publish to the uid posts to
   * a dead connection again until the window has passed.
   */
  connectGraceMs: 10_000,
  /** Target connections above which a topic or broadcast publish is sharded, unless configured. */
  shardThreshold: 2000,
  /**
   * System-wide deliveries per second for shard workers, unless configured: half of API Gateway's
   * default 10,000 requests/s account throttle, which client traffic, inline publishes and resume
   * replays share.
   */
  rateBudget: 5_000,
  /** Worker reserved concurrency, unless configured. */
  workerConcurrency: 16,
  /** Connections a worker delivers between two checkpoints. */
  checkpointEvery: 250,
  /** How long a sharded publish's status stays readable: 7 days. */
  publishRecordSeconds: 7 * 24 * 60 * 60,
} as const;

/** Publish ids and topic names alike: 1–128 characters of `[A-Za-z0-9_.:-]`. */
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** What a value that fails {@link ID_PATTERN} is told: `to.topic must match …`. */
export const ID_RULE = 'must match [A-Za-z0-9_.:-]{1,128}';

/** Topic names: the same rule as publish ids. */
export const TOPIC_PATTERN = ID_PATTERN;

/**
 * Handler entry files, relative to the repository root, keyed by the route or role they serve:
 * the handlers that serve clients and backends, which the local stack hosts too.
 */
export const HANDLERS = {
  authorizer: 'lambdas/authorizer.ts',
  connect: 'lambdas/connect.ts',
  disconnect: 'lambdas/disconnect.ts',
  default: 'lambdas/default.ts',
  publish: 'lambdas/publish.ts',
  worker: 'lambdas/worker.ts',
} as const;

/** A handler's name, as {@link HANDLERS} keys it. */
export type HandlerId = keyof typeof HANDLERS;

/**
 * Every handler in {@link HANDLERS}, in its order: what the local stack hosts. The stack deploys
 * these and {@link AWS_ONLY_HANDLER_NAMES}.
 */
export const HANDLER_NAMES = Object.keys(HANDLERS) as readonly HandlerId[];

/**
 * Handlers only an AWS service invokes, kept out of {@link HANDLERS} so the local stack neither
 * hosts nor loads them (it has no Secrets Manager). The stack deploys them beside the others.
 */
export const AWS_ONLY_HANDLERS = {
  /** Secrets Manager's rotation function for the token signing secret. */
  rotateSecret: 'lambdas/rotate-secret.ts',
} as const;

/** A handler's name, as {@link AWS_ONLY_HANDLERS} keys it. */
export type AwsOnlyHandlerId = keyof typeof AWS_ONLY_HANDLERS;

/** Every handler in {@link AWS_ONLY_HANDLERS}, in its order. */
export const AWS_ONLY_HANDLER_NAMES = Object.keys(AWS_ONLY_HANDLERS) as readonly AwsOnlyHandlerId[];

/** Every handler's entry file, hosted locally or not: what the stack bundles. */
export const HANDLER_ENTRIES: Readonly<Record<HandlerId | AwsOnlyHandlerId, string>> = {
  ...HANDLERS,
  ...AWS_ONLY_HANDLERS,
};

/** Route keys of the WebSocket API. */
export const ROUTES = {
  connect: '$connect',
  disconnect: '$disconnect',
  default: '$default',
} as const;

/** Route selection expression: clients pick a route with `{"action": ...}`. */
export const ROUTE_SELECTION_EXPRESSION = '$request.body.action';

/** Query-string parameter carrying the client token on `$connect`. */
export const TOKEN_QUERY_PARAM = 'token';

/**
 * The token signing key, as CloudFormation generates it when the secret is made and the rotation
 * function generates each next one: 64 letters and digits (about 380 bits, above HS256's 256), no
 * punctuation so the value survives shells and .env files unquoted. A rotation refuses a pending
 * key shorter than `minBytes`, HS256's own key size.
 */
export const TOKEN_KEY = { length: 64, excludePunctuation: true, minBytes: 32 } as const;

/** Default stage name. */
export const DEFAULT_STAGE = 'prod';

/** CloudWatch metric names (EMF, through Powertools Metrics), shared with the dashboard. */
export const METRICS = {
  /** Namespace unless `POWERTOOLS_METRICS_NAMESPACE` says otherwise. */
  defaultNamespace: 'Push',
  connects: 'Connects',
  disconnects: 'Disconnects',
  authorizerDenials: 'AuthorizerDenials',
  publishes: 'Publishes',
  delivered: 'Delivered',
  gone: 'Gone',
  failed: 'Failed',
  stored: 'Stored',
  throttledRetries: 'ThrottledRetries',
  fanOutDuration: 'FanOutDuration',
  /** Shard queue messages that were not a shard job: dropped at once, never retried. */
  malformedShardJobs: 'MalformedShardJobs',
} as const;
