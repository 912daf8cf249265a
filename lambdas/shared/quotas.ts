/**
 * Quotas of the services the system runs on: API Gateway's WebSocket limits, Lambda's payload
 * and concurrency limits, and SQS's batch limits. None can be configured; the handlers, the local emulator and the docs all read them here.
 */
export const QUOTAS = {
  /** API Gateway closes any connection after 2 hours. */
  maxConnectionSeconds: 2 * 60 * 60,
  /** API Gateway closes a connection with no traffic for 10 minutes. */
  idleTimeoutSeconds: 10 * 60,
  /** API Gateway's frame limit; a larger frame closes the socket with 1009. */
  maxFrameBytes: 32 * 1024,
  /** API Gateway's message limit, for client messages and `@connections` posts alike. */
  maxMessageBytes: 128 * 1024,
  /**
   * API Gateway's limit on the length, in characters, of a WebSocket API's URL (`wss://`, host,
   * stage path and query string, the token included).
   */
  maxUrlChars: 4096,
  /**
   * The longest token that fits that URL with room to spare: 512 characters are left for
   * `wss://`, an execute-api host (about 50) or a custom domain, the stage, `?token=` and the
   * client library's `&instance=` (34). A longer token signs but never connects on AWS.
   */
  maxUrlTokenChars: 4096 - 512,
  /** API Gateway's cap on an authorizer result; tokens larger than this are refused outright. */
  maxTokenBytes: 8 * 1024,
  /**
   * Largest publish body taken as JSON text (SNS, HTTP): Lambda's synchronous invoke payload
   * limit, which a batch of big items can approach. Each item's `data` has its own limit.
   */
  maxPublishBodyBytes: 6 * 1024 * 1024,
  /** Lambda's payload limit for an asynchronous (`Event`) invoke: 1 MB since 2025, 256 KB before. */
  maxAsyncInvokeBytes: 1024 * 1024,
  /**
   * Most bytes of message bodies one SQS SendMessageBatch carries, all entries together. The SQS
   * API reference gives 1 MiB today and gave 256 KiB for years; packing to the smaller is safe
   * under either and costs extra calls only for publishes of big data.
   */
  sqsBatchBytes: 256 * 1024,
  /** Most entries in one SQS SendMessageBatch. */
  sqsBatchEntries: 10,
  /**
   * SQS's limit for one message (1 MiB since 2025; 256 KiB before). The local SQS refuses a bigger
   * one, as SQS does; shard jobs are packed to {@link QUOTAS.sqsBatchBytes}, which fits either.
   */
  maxSqsMessageBytes: 1024 * 1024,
  /**
   * The longest visibility timeout SQS takes, from a queue's setting, a ReceiveMessage or a
   * ChangeMessageVisibility (0 to 43,200 s: 12 hours).
   */
  sqsMaxVisibilitySeconds: 12 * 60 * 60,
  /** API Gateway's integration timeout: a route whose Lambda has not answered by then gets a 504. */
  integrationTimeoutSeconds: 29,
  /** Lambda's default concurrency per account and Region, which unreserved functions share. */
  lambdaAccountConcurrency: 1000,
} as const;
