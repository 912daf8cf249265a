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
  /** How long publish ids (and a sharded publish's status) are remembered, in seconds. */
  idRetentionSeconds: 'PUSH_ID_RETENTION_SECONDS',
  /** SQS queue URL for shard jobs; unset means every publish is delivered inline. */
  shardQueueUrl: 'PUSH_SHARD_QUEUE_URL',
  /**
   * SQS queue URL of the shard queue's dead-letter queue: the worker sends a message that is not a
   * shard job there at once, since no retry can cure it.
   */
  shardDeadLetterQueueUrl: 'PUSH_SHARD_DLQ_URL',
  /** Above this many target connections, a topic or broadcast publish becomes shard jobs. */
  shardThreshold: 'PUSH_SHARD_THRESHOLD',
  /** Deliveries per second the whole system may make (the account's @connections throttle is shared). */
  rateBudget: 'PUSH_RATE_BUDGET',
  /** Reserved concurrency of the worker function; each worker gets rateBudget / this. */
  workerConcurrency: 'PUSH_WORKER_CONCURRENCY',
  /** Age (ms) past which a shard job reaches only connections made by its publish: `shardQueueMaxAge`. */
  shardJobLateMs: 'PUSH_SHARD_JOB_LATE_MS',
  /**
   * Receives of one shard job before SQS moves it to the dead-letter queue (the shard queue's
   * redrive policy): the worker spreads a failed job's retries over them (`shardRetryDelaySeconds`).
   */
  shardMaxReceiveCount: 'PUSH_SHARD_MAX_RECEIVE_COUNT',
  /** Topics one connection may subscribe to at once. */
  maxSubscriptions: 'PUSH_MAX_SUBSCRIPTIONS',
  /** Open connections one uid may hold; a new one past it evicts one of its own client instance first, else the least recently seen. */
  maxConnectionsPerUid: 'PUSH_MAX_CONNECTIONS_PER_UID',
  /** Milliseconds after connecting during which a 410 does not delete a connection's records. */
  connectGraceMs: 'PUSH_CONNECT_GRACE_MS',
  /** Resumes one connection may start per resume window; beyond, `rate_limited`. */
  resumesPerWindow: 'PUSH_RESUMES_PER_WINDOW',
  /** Resumes all of one uid's connections together may start per resume window. */
  resumesPerUidPerWindow: 'PUSH_RESUMES_PER_UID_PER_WINDOW',
  /** The window the resume budget counts in, in whole seconds. */
  resumeWindowSeconds: 'PUSH_RESUME_WINDOW_SECONDS',
  /**
   * The publish function's timeout in ms, given to `$default`: how long a seq a publish took may
   * still be missing from the log before a resume takes it as lost.
   */
  publishTimeoutMs: 'PUSH_PUBLISH_TIMEOUT_MS',
  /** Frames one connection may send at once to `$default` (per Lambda environment); beyond, `rate_limited`. */
  frameBurst: 'PUSH_FRAME_BURST',
  /** Frames per second a connection's allowance refills with. */
  framesPerSecond: 'PUSH_FRAMES_PER_SECOND',
  /** Refused frames (since the connection's allowance was last full) at which `$default` closes it. */
  frameRefusalsToClose: 'PUSH_FRAME_REFUSALS_TO_CLOSE',
  /** Frames one uid's connections may send at once together to `$default` (per Lambda environment). */
  uidFrameBurst: 'PUSH_UID_FRAME_BURST',
  /** Frames per second a uid's shared allowance refills with. */
  uidFramesPerSecond: 'PUSH_UID_FRAMES_PER_SECOND',
  /** Seconds a uid closed for flooding may not connect again; 0 for none. */
  floodCoolOffSeconds: 'PUSH_FLOOD_COOL_OFF_SECONDS',
  /** Overrides the DynamoDB endpoint (local stack, DynamoDB Local). */
  dynamodbEndpoint: 'DYNAMODB_ENDPOINT',
  /**
   * Overrides the per-attempt DynamoDB request and connect timeouts (`LIMITS.dynamoRequestTimeoutMs`,
   * `LIMITS.dynamoConnectTimeoutMs`): set by the local stack only, as dynalite answers a burst far
   * slower than DynamoDB.
   */
  dynamoRequestTimeoutMs: 'PUSH_DYNAMO_REQUEST_TIMEOUT_MS',
  /** Powertools service name and metrics namespace. */
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  /** The lowest level the handlers' Powertools loggers print. */
  logLevel: 'POWERTOOLS_LOG_LEVEL',
} as const;

/** Powertools service name unless `POWERTOOLS_SERVICE_NAME` says otherwise. */
export const SERVICE_NAME = 'push';
