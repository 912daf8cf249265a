/*
 * What the deployment is made of: the handlers' entry files, the stage, the token signing key's
 * format and the CloudWatch metric names the handlers emit and the dashboard graphs.
 */

/**
 * Entry files, relative to the repository root, of the handlers that serve clients and backends,
 * keyed by the route or role they serve: the local stack hosts these.
 */
export const HANDLERS = {
  authorizer: 'lambdas/authorizer.ts',
  connect: 'lambdas/connect.ts',
  disconnect: 'lambdas/disconnect.ts',
  default: 'lambdas/default.ts',
  publish: 'lambdas/publish.ts',
  worker: 'lambdas/worker.ts',
} as const;

/**
 * Entry files of the handlers only an AWS service invokes, kept out of {@link HANDLERS} so the
 * local stack neither hosts nor loads them (it has no Secrets Manager).
 */
export const AWS_ONLY_HANDLERS = {
  /** Secrets Manager's rotation function for the token signing secret. */
  rotateSecret: 'lambdas/rotate-secret.ts',
} as const;

/** Every handler's entry file, hosted locally or not: what the stack bundles and deploys. */
export const HANDLER_ENTRIES = { ...HANDLERS, ...AWS_ONLY_HANDLERS } as const;

/** A handler's name, as {@link HANDLER_ENTRIES} keys it. */
export type HandlerId = keyof typeof HANDLER_ENTRIES;

/** The handlers the local stack hosts: those of {@link HANDLERS}. */
export type HostedHandlerId = keyof typeof HANDLERS & HandlerId;

/** Every handler in {@link HANDLERS}, in its order: what the local stack hosts. */
export const HANDLER_NAMES = Object.keys(HANDLERS) as readonly HostedHandlerId[];

/** Every handler the stack deploys, those the local stack hosts first. */
export const DEPLOYED_HANDLERS = Object.keys(HANDLER_ENTRIES) as readonly HandlerId[];

/** Default stage name. */
export const DEFAULT_STAGE = 'prod';

/** Stage names API Gateway accepts. */
export const STAGE_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** What a stage name that fails {@link STAGE_PATTERN} is told: `stage name "x" must be …`. */
export const STAGE_RULE = 'must be 1-128 of [A-Za-z0-9_-]';

/**
 * The token signing key, as CloudFormation generates it when the secret is made and the rotation
 * function generates each next one: 64 letters and digits (about 380 bits, above HS256's 256), no
 * punctuation so the value survives shells and .env files unquoted. A rotation refuses a pending
 * key shorter than `minBytes`, HS256's own key size.
 */
export const TOKEN_KEY = { length: 64, excludePunctuation: true, minBytes: 32 } as const;

/** CloudWatch metric names (EMF, through Powertools Metrics), shared with the dashboard. */
export const METRICS = {
  /** Namespace unless `POWERTOOLS_METRICS_NAMESPACE` says otherwise. */
  defaultNamespace: 'Push',
  connects: 'Connects',
  disconnects: 'Disconnects',
  authorizerDenials: 'AuthorizerDenials',
  /**
   * Handshakes the authorizer failed on for another reason than the token (its key could not be
   * read, DynamoDB refused the revocation read): the client got 500. Lambda's `Errors` counts
   * these and every denial alike (a denial is a thrown `Unauthorized`), so this is what alarms.
   */
  authorizerFailures: 'AuthorizerFailures',
  publishes: 'Publishes',
  delivered: 'Delivered',
  gone: 'Gone',
  failed: 'Failed',
  stored: 'Stored',
  throttledRetries: 'ThrottledRetries',
  fanOutDuration: 'FanOutDuration',
  /** Publishes whose id had been used for the same body: the first result was answered, nothing sent. */
  repeatedPublishes: 'RepeatedPublishes',
  /**
   * SNS messages refused for their input (bad JSON, a bad field, another body under a used id, or
   * a presence, kick or status query, which need a direct invoke): logged, never retried.
   */
  rejectedSnsMessages: 'RejectedSnsMessages',
  /**
   * Direct invokes of the publish function refused for their input (every error code but
   * `unavailable` and `internal`). A synchronous caller gets the error back; an asynchronous one
   * (`InvocationType: Event`) gets nothing, and this count and the log line are all that is left.
   */
  rejectedRequests: 'RejectedRequests',
  /**
   * Connections `$default` closed because they kept sending after their frames were answered
   * `rate_limited` (`LIMITS.frameRefusalsToClose` refusals): each is also logged as a warning.
   */
  floodedConnections: 'FloodedConnections',
  /** Shard queue messages that were not a shard job: sent to the shard dead-letter queue at once. */
  malformedShardJobs: 'MalformedShardJobs',
  /**
   * Shard job runs that stopped before their timeout with connections left and sent the job to the
   * shard queue again, to go on from their checkpoint: normal for a shard bigger than one run.
   */
  shardJobsContinued: 'ShardJobsContinued',
  /**
   * Shard jobs answered to SQS as failed, to be handed out again after a backoff (or the
   * visibility timeout, when the backoff could not be set): a run that failed (a DynamoDB error,
   * say), a run whose continuation could not be queued, or a malformed job the dead-letter queue
   * refused. A run cut off by its timeout fails as a whole and is not counted here (Lambda's
   * `Errors`). A job past the queue's receive limit goes to the shard dead-letter queue instead.
   */
  shardJobRetries: 'ShardJobRetries',
} as const;
