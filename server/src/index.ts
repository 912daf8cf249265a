/**
 * The server side of apigw-push for Node backends: publish, batch, presence, kick and status
 * through the publish function ({@link lambdaPublisher}, {@link snsPublisher}, or the local
 * stack's {@link httpPublisher}), and client tokens ({@link createTokenSigner}). Failures are
 * thrown as {@link PushApiError}s with the wire's stable `code`.
 *
 * @packageDocumentation
 */
export type { AwsClient, AwsClientConfig, AwsClientOptions } from './aws.js';
export { DEV_TOKEN_SECRET } from './dev-secret.js';
export { PushApiError } from './errors.js';
export {
  type AbortSignalLike,
  type ByteStreamLike,
  createPublisher,
  type FetchLike,
  HTTP_PUBLISH_TIMEOUT_MS,
  type HttpPublisherOptions,
  httpPublisher,
  type Invoke,
  type KickOptions,
  type LambdaPublisherOptions,
  lambdaPublisher,
  MAX_ANSWER_BYTES,
  MAX_BATCH,
  type Publisher,
  type SnsPublisher,
  type SnsPublisherOptions,
  type SnsReceipt,
  snsPublisher,
} from './publisher.js';
export {
  createTokenSigner,
  MAX_SECRET_CACHE_MS,
  MAX_STALE_SECRET_MS,
  MAX_TOKEN_LIFETIME_SECONDS,
  SECRET_RETRY_AFTER_MS,
  SECRET_STALE_WAIT_MS,
  SECRETS_CLIENT_DEFAULTS,
  type SecretSource,
  type SecretsManagerSecretOptions,
  secretsManagerSecret,
  type TokenGrant,
  type TokenSigner,
  type TokenSignerOptions,
} from './token.js';
export type {
  BatchResult,
  ErrorBody,
  ErrorCode,
  KickResult,
  PresenceQuery,
  PublishBody,
  PublishOutcome,
  PublishResult,
  PublishStatus,
  PublishTarget,
  QueuedResult,
  TopicPresence,
  UidPresence,
  UidsPresence,
} from './wire.js';
