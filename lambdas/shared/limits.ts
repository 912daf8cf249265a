import { QUOTAS } from './quotas';

/**
 * The system's own limits and the defaults of its settings (an `ENV` variable overrides those that
 * say "unless configured"). The services' fixed quotas are in {@link QUOTAS}.
 */
export const LIMITS = {
  /** Added to every expiry so clock skew never expires a live record. */
  expiryMarginSeconds: 5 * 60,
  /** Largest serialized `data` a publish may carry (the frame around it must still fit). */
  maxDataBytes: QUOTAS.maxMessageBytes - 1024,
  /**
   * Deepest nesting of arrays and objects a publish's `data` may have (`{"a":[1]}` is 2). Checked
   * before `data` is serialized; JSON documents in real use stay far below it.
   */
  maxDataDepth: 32,
  /** Largest client → server frame the `$default` route accepts: they are small control frames. */
  maxControlFrameBytes: 8 * 1024,
  /** Most uids one publish may name. */
  maxUids: 100,
  /**
   * Most distinct subscribing uids a topic's presence reads. It reads each one's connections (one
   * Query per uid, 16 at a time), so a topic the size of a broadcast would outlast the publish
   * function and reach the caller as a timeout, which reads as retryable; past this it answers
   * `limit_exceeded` at once.
   */
  maxPresenceTopicUids: 1_000,
  /** Longest `kick.reason`, in UTF-16 code units: it is sent to each kicked connection. */
  maxKickReasonLength: 256,
  /** Most publishes one batch may carry. */
  maxBatch: 100,
  /** Publishes of one batch in flight at once (they share one bound on posts in flight). */
  batchConcurrency: 10,
  /** A batch item is not started with less than this left of the invocation's timeout. */
  batchStartMarginMs: 5_000,
  /**
   * What a publish still does after its last send before it answers: its log writes (started
   * before its sends) settle and its id record is written. A publish starts no send, and tries
   * none again, unless one send (`sendTimeout` and its grace) and this still fit before its
   * invocation's timeout: cut off halfway, it would be retried whole, into the same trouble.
   */
  publishWrapUpMs: 1_500,
  /** Most topics a token may grant. */
  maxGrants: 100,
  /** Longest uid (`sub`), in code points. */
  maxUidLength: 128,
  /**
   * Topics one connection may be subscribed to at once, unless configured. It also bounds the
   * connection record, which lists them: 100 topics of at most 128 characters, 100 grants of the
   * same and a user agent of {@link LIMITS.maxUserAgentLength} keep it near 26 KB, far below
   * DynamoDB's 400 KB item limit, so presence answers and uid reads stay small.
   */
  maxSubscriptions: 100,
  /**
   * The most `maxSubscriptions` may be configured to: 1,000 topic names of 128 characters put the
   * record near 141 KB. Past about 3,000 it would pass DynamoDB's 400 KB item limit, and every
   * subscribe from then on would fail as `internal`; synth refuses such a value instead.
   */
  maxSubscriptionsCeiling: 1_000,
  /**
   * Open connections one uid may hold, unless configured. A new connection past it evicts the
   * uid's least recently seen one (`{"type":"kicked","reason":"connection_limit"}`), because a
   * record whose `$disconnect` was lost must not lock its user out.
   */
  maxConnectionsPerUid: 20,
  /** Longest user agent kept on a connection record; longer ones are cut. */
  maxUserAgentLength: 512,
  /**
   * Longest token lifetime the authorizer accepts (`exp - iat`, or `exp - now` without `iat`): 24 h.
   * A revocation is kept this long, after which every token it refused has expired anyway.
   */
  maxTokenLifetimeSeconds: 24 * 60 * 60,
  /** How far in the future a token's `iat` may be (clock skew between the signer and us). */
  tokenClockSkewSeconds: 60,
  /** Shards that spread broadcast and topic reads over many partitions. */
  shards: 16,
  /** Deliveries in flight at once per publish, unless configured. */
  fanoutConcurrency: 64,
  /** Per-call Management API timeout, unless configured. */
  sendTimeoutMs: 3_000,
  /**
   * How far apart two AWS clocks are taken to be (API Gateway's `connectedAt` against a function's
   * `Date.now()`) where a time of one is compared with a time of the other: a late shard job's
   * audience, and a kick with `revoke`, which ends the uid's connections made up to this long after
   * its revocation was written (a later one passed `$connect`'s re-read of the revocation, so its
   * token is newer, and it stays, also when the same kick is sent again).
   */
  clockSkewMs: 1_000,
  /**
   * Age past which a shard job is late, unless the stack sets it (the shard queue's age alarm,
   * `shardQueueMaxAge`: twice the worker's 5-minute timeout by default). See `audienceOf`.
   */
  shardJobLateMs: 10 * 60_000,
  /**
   * Receives of one shard job before SQS moves it to the shard dead-letter queue, unless the stack
   * sets it (the `shardMaxReceiveCount` prop, the queue's redrive policy).
   */
  shardMaxReceiveCount: 5,
  /**
   * Delay scale of a failed shard job's first retry: it comes back between half this and this
   * after the failure, each later retry twice as late, within the caps of `shardRetryDelaySeconds`.
   * A failure the SDK's own retries (within a second or so) did not cure is an outage of seconds at
   * least, so an earlier retry would mostly fail again and spend one of the job's receives.
   */
  shardRetryBaseMs: 20_000,
  /**
   * Longest delay before a failed shard job's retry, whatever the late threshold and receive count
   * allow: past a few minutes, waiting longer spares the failing dependency nothing a broadcast
   * should pay for.
   */
  shardRetryCapMs: 5 * 60_000,
  /**
   * Per-attempt bound on a DynamoDB request, after which it is retried on another socket (as the
   * SDK's retry strategy decides). A DynamoDB call answers in milliseconds and the largest page
   * (1 MB) in well under a second; an attempt past this is a stuck socket or a stalled endpoint,
   * which would otherwise hold the handler until its own timeout (10 s for the WebSocket routes
   * and the authorizer). Generous, as dynalite on a loaded developer machine is far slower than
   * DynamoDB.
   */
  dynamoRequestTimeoutMs: 5_000,
  /** Bound on opening a connection to DynamoDB. */
  dynamoConnectTimeoutMs: 1_000,
  /**
   * Per-attempt bound on an SQS request (a shard job's SendMessageBatch from the publish function,
   * a continuation or dead letter from the worker), after which the SDK retries it on another
   * socket: SQS answers in milliseconds, and a stuck attempt would otherwise hold a publish until
   * its timeout, or a worker past its stop margin and into a kill. A retried send that had landed
   * queues the job twice, which its checkpoint makes harmless.
   */
  sqsRequestTimeoutMs: 5_000,
  /** Bound on opening a connection to SQS. */
  sqsConnectTimeoutMs: 1_000,
  /** Attempts per delivery, unless configured. */
  sendAttempts: 4,
  /**
   * Delay scale of a delivery's first retry: retry `k` (from 0) sleeps a uniform time below
   * `min(sendBackoffCapMs, sendBackoffBaseMs × 2^k)` ("full jitter").
   */
  sendBackoffBaseMs: 50,
  /** Longest sleep before one retry of a delivery. */
  sendBackoffCapMs: 2_000,
  /** How long the message log keeps a message, unless configured: 24 h. */
  logRetentionSeconds: 24 * 60 * 60,
  /** Most messages kept per stream, unless configured. */
  logMaxMessages: 1000,
  /** Most messages one resume replays; a client still behind resumes again from the last seq. */
  maxReplay: 1000,
  /**
   * Most bytes of stored messages (their `data` as JSON) one resume reads and replays; a client
   * still behind resumes again (`more`). A full log of the largest messages is 127 MB: read whole,
   * it would be held at once in a function of 256 MB (locally, in the stack every client shares),
   * and a read that outlasts the function's time leaves the replay nothing to post: it would answer
   * `more` from where it started, every time.
   */
  maxReplayBytes: 8 * 1024 * 1024,
  /**
   * Largest `messages` frame a replay packs: API Gateway's frame size, the unit it bills and
   * meters, so one post carries as many replayed messages as one frame holds.
   */
  maxReplayFrameBytes: QUOTAS.maxFrameBytes,
  /**
   * A replay posts nothing more, and tries no post again, with less than this left of the
   * invocation: room for one post at the default send timeout and the `resumed` reply, which must
   * reach the client before the function times out (else API Gateway answers "Endpoint request
   * timed out" instead).
   */
  replayMarginMs: 4_000,
  /**
   * How long a replay waits, in all, for a seq missing below a stored message that may still be
   * written (two publishes store out of order), reading the log again every 100 ms. Past it the
   * replay stops before the hole and answers `latest`, and the client looks again. Short: the wait
   * holds a `$default` instance, whose reserved concurrency every client shares.
   */
  holeWaitMs: 300,
  /** The publish function's timeout, unless the stack sets it (`publishTimeout`). */
  publishTimeoutMs: 60_000,
  /**
   * `$connect` starts nothing it can do without (the second revocation read, the connection cap)
   * with less than this left of its invocation, and stops waiting for it then: the handshake's
   * answer must reach API Gateway before the function times out, or the client is refused while
   * the record just stored stays behind.
   */
  connectMarginMs: 1_000,
  /**
   * `$default` stops waiting for the closes of a uid closed for flooding with less than this left
   * of its invocation, so it still logs and counts what it closed before the function times out
   * (a close that hangs takes up to the send timeout, and a uid may have 20 connections or more).
   */
  floodCloseMarginMs: 1_000,
  /**
   * How long a replay holds a connection's lease when the invocation's own timeout is unknown:
   * API Gateway's integration timeout, past which no handler can still be replaying.
   */
  replayLeaseMs: 29_000,
  /**
   * Resumes one connection may start per {@link LIMITS.resumeWindowSeconds}; beyond,
   * `rate_limited`. Unless configured.
   */
  resumesPerWindow: 30,
  /**
   * Resumes all of one uid's connections together may start per resume window; beyond,
   * `rate_limited`. Without it a uid would get a fresh budget with every connection it opens (a
   * reconnect is enough), and one per connection at once. Unless configured.
   */
  resumesPerUidPerWindow: 150,
  /** The window the resume budget counts in, unless configured. */
  resumeWindowSeconds: 60,
  /**
   * Longest resume window that may be configured: a connection's whole life. The window opens at
   * a connection's first resume and API Gateway closes every connection within this, so a longer
   * window would count exactly the same; a value past it is a mistake (milliseconds given as
   * seconds, say) and is refused.
   */
  maxResumeWindowSeconds: QUOTAS.maxConnectionSeconds,
  /**
   * Frames one connection may send at once to `$default` before its frames are answered
   * `rate_limited` without running, unless configured (a token bucket per connection, kept in each
   * Lambda environment's memory). Sized from what the client library sends at most in one go: a
   * new socket's handshake is the uid's resume and one `subscribe` per topic, all at once (100 at
   * {@link LIMITS.maxSubscriptions}); then each topic's resume, one at a time, of which
   * {@link LIMITS.resumesPerWindow} (30) run per window before `rate_limited`; and a ping. The
   * client library keeps 10 frames in flight, but a client that sends its whole handshake at once
   * outruns `$default`'s reserved concurrency (50), API Gateway answers the frames over it itself,
   * and a client that sends every subscribe still unanswered again counts one whose first frame
   * ran after all twice (a reconnect with 100 topics sent at once ran 131 to 141 subscribes on the
   * local stack). Hence twice the topics, the resumes and 20 frames of room for an app changing
   * its topics meanwhile: 250. The stack derives the default from its own
   * `maxSubscriptions` and `resumesPerWindow` the same way ({@link frameBurstFor}), and refuses a
   * burst below a handshake ({@link minFrameBurstFor}).
   */
  frameBurst: 250,
  /**
   * Frames per second a connection's bucket refills with, unless configured. A client library's
   * steady traffic is far below it: a ping per heartbeat (5 min), resumes held to 30 per 60 s
   * (0.5/s) by the resume budget, and a subscribe or unsubscribe when the app's views change.
   * 10/s is twenty times the resume budget's rate and refills a whole burst in 25 s (a reconnect's
   * handshake on a new connection gets a bucket of its own anyway); a flooder gets at most this many frames per second
   * of DynamoDB work out of each environment.
   */
  framesPerSecond: 10,
  /**
   * Refused frames (counted since the connection's bucket was last full) at which `$default`
   * closes the connection, unless configured. A client is told `rate_limited` on its first
   * refusal, but may have a whole burst in flight by then (a handshake of every topic) and then
   * sends again what was refused after a backoff: twice the burst is more than such a client ever
   * adds up (the stack's default is twice the burst it sets, {@link frameRefusalsToCloseFor}). A
   * client that keeps sending at the route throttle's 500 frames/s reaches it about a second
   * after its burst. A client that backs off until its bucket is full again starts from zero.
   */
  frameRefusalsToClose: 500,
  /**
   * Frames per second a uid's shared allowance refills with, unless configured: twice one
   * connection's. Each connection keeps to its own rate, but a flood spread over a uid's many
   * connections (20 at 9 frames/s each) stays under every connection's limit while it takes the
   * route throttle's tokens from everyone; the uid's connections together keep up no more than
   * two connections flooding at the limit. Honest traffic is far below either: a uid of 20
   * connections pings about once every 15 s in all.
   */
  uidFramesPerSecond: 20,
  /**
   * Connections whose frame buckets one Lambda environment keeps; past it the least recently seen
   * one is forgotten (and starts again with a full bucket). An entry is a connection id and three
   * numbers, about 200 bytes, so 10,000 hold about 2 MB of a 256 MB function; an environment runs
   * one frame at a time, so evicting a flooder's bucket takes 10,000 other connections' frames
   * between two of its own.
   */
  frameRateTrackedConnections: 10_000,
  /**
   * How long a uid whose connection `$default` closed for flooding may open no new connection,
   * unless configured: the authorizer refuses its handshakes (401) meanwhile, and `$connect`'s
   * second read one the authorizer let through just before. Without it the
   * flooder reconnects at once with the same token, gets a fresh allowance in every environment,
   * and takes the route throttle's tokens again. A minute makes a reconnect loop cost the uid
   * far more than it gets through, while a client library that somehow tripped the limit is back
   * within its reconnect backoff's cap. One write per flood closed, one attribute read with the
   * revocation the authorizer reads anyway.
   */
  floodCoolOffSeconds: 60,
  /**
   * Longest flood cool-off that may be configured: 4 minutes. The cool-off shares the uid's
   * revocation record, whose expiry a kick may set as early as {@link LIMITS.expiryMarginSeconds}
   * (5 min) from its own clock (a line 24 h behind, the most a kick's `before` may be); a cool-off
   * ending a minute before that is never cut short by a kick written after it. A longer hold on a
   * uid is a kick with `revoke`.
   */
  maxFloodCoolOffSeconds: 4 * 60,
  /**
   * A uid that floods again within this long of its last cool-off's end cools off twice as long
   * as that one did, up to {@link LIMITS.maxFloodCoolOffSeconds}: a token lives up to a day, and
   * with a fixed cool-off its holder could take the route throttle's tokens from everyone for the
   * ~20 s its allowance lasts, every time the cool-off ends. Ten minutes, so a client library that
   * once tripped the limit by some accident starts from the plain cool-off again soon.
   */
  floodRepeatWindowSeconds: 10 * 60,
  /**
   * A connection this young that answers 410 may still be inside `$connect`, so its record is
   * kept: it is about to open, not gone. `$connect` takes well under a second even cold; the
   * window is shorter than the 29 s integration timeout because every publish to the uid posts to
   * a dead connection again until the window has passed.
   */
  connectGraceMs: 10_000,
  /**
   * How long a kick with `revoke` waits before it looks up the uid's connections a second time.
   * The `byUid` index is updated asynchronously (typically well under a second), so a connection
   * stored just before the revocation may be missing from the first lookup (`$connect` refuses one
   * whose own re-read of the revocation, after storing its record, finds it). The second lookup
   * closes those the first missed.
   */
  revokeRecheckMs: 1_000,
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
  /**
   * What a shard worker keeps of its stop margin ({@link workerStopMarginMs}) beyond its last
   * deliveries: a gone connection's record removal, the final checkpoint write (with the read that
   * settles a refused one), the continuation's SendMessage and the answer to SQS. Each is a call of
   * milliseconds; 7 s is one stuck DynamoDB or SQS attempt, cut at its bound
   * ({@link LIMITS.dynamoRequestTimeoutMs}, {@link LIMITS.sqsRequestTimeoutMs}: 5 s) and retried,
   * and 2 s for the rest.
   */
  workerWrapUpMs: 7_000,
  /**
   * How much later than the Management API client's own request timeout (`sendTimeout`) a
   * delivery's own bound fires: that bound starts before signing, and the client's timeout should
   * fire first and destroy the request, so a retry never races an original still on its socket.
   */
  sendTimeoutGraceMs: 500,
  /**
   * How long a publish id is remembered (same body: the first result is answered; another body:
   * `conflict`), and a sharded publish's status stays readable, unless configured: 7 days.
   */
  publishRecordSeconds: 7 * 24 * 60 * 60,
  /**
   * How long a publish attempt may hold its id when the invocation's remaining time is unknown:
   * Lambda's longest timeout. Past its deadline a `running` attempt is dead and a retry takes over.
   */
  publishAttemptMs: 15 * 60 * 1000,
  /** Added to an attempt's deadline so clock skew between two invocations never cuts it short. */
  publishAttemptMarginMs: 5_000,
} as const;

/** The deliveries per second one worker may make: the system budget split over the workers. */
export function perWorkerRate(budget: number, workers: number): number {
  return budget / Math.max(1, workers);
}

/** What one shard worker's deliveries are bounded by: the settings {@link workerStopMarginMs} reads. */
export interface WorkerDeliverySettings {
  /** Attempts per delivery, first included (`sendAttempts`). */
  readonly sendAttempts: number;
  /** Per-call Management API timeout (`sendTimeout`). */
  readonly sendTimeoutMs: number;
  /** Deliveries in flight at once (`fanoutConcurrency`). */
  readonly concurrency: number;
  /** The worker's share of the rate budget: `rateBudget / workerConcurrency` deliveries/s. */
  readonly ratePerSecond: number;
}

/**
 * How long before its invocation's deadline a shard worker stops starting deliveries, so that it
 * still finishes those in flight, writes its checkpoint and hands the rest of its shard on before
 * Lambda cuts it off. A delivery started just before the stop may take every attempt, each up to
 * the send timeout and its grace ({@link LIMITS.sendTimeoutGraceMs}), with the longest backoff
 * sleep before each retry, and each attempt first waits
 * its turn for a rate token behind every other delivery in flight (`concurrency` of them,
 * `sendAttempts` tokens each, at the worker's rate); then {@link LIMITS.workerWrapUpMs} for the
 * rest. The stack derives its `workerTimeout` floor and the worker's duration alarm from the same sum.
 *
 * @example
 * workerStopMarginMs({ sendAttempts: 4, sendTimeoutMs: 3_000, concurrency: 64, ratePerSecond: 312.5 })
 * // 22_170: 14 s of attempts, 0.35 s of backoff, 0.82 s of rate tokens, 7 s to wind up
 */
export function workerStopMarginMs(settings: WorkerDeliverySettings): number {
  const { sendAttempts, sendTimeoutMs, concurrency, ratePerSecond } = settings;
  let backoffMs = 0;
  for (let retry = 0; retry < sendAttempts - 1; retry++) {
    backoffMs += Math.min(LIMITS.sendBackoffCapMs, LIMITS.sendBackoffBaseMs * 2 ** retry);
  }
  const tokensMs = Math.ceil((sendAttempts * concurrency * 1000) / ratePerSecond);
  const attemptsMs = sendAttempts * (sendTimeoutMs + LIMITS.sendTimeoutGraceMs);
  return attemptsMs + backoffMs + tokensMs + LIMITS.workerWrapUpMs;
}

/**
 * Room a frame burst leaves above twice a reconnect's subscribes and the resumes the resume budget
 * lets run, for the uid's resume, a ping and an app changing its topics meanwhile:
 * `frameBurstFor(100, 30)` is {@link LIMITS.frameBurst}.
 */
const FRAME_BURST_MARGIN = LIMITS.frameBurst - 2 * LIMITS.maxSubscriptions - LIMITS.resumesPerWindow;

/**
 * The frame burst a deployment with these caps gets unless it sets one: a client library that
 * reconnects holding `maxSubscriptions` topics, and resumes as many as `resumesPerWindow` lets,
 * is never refused.
 */
export function frameBurstFor(maxSubscriptions: number, resumesPerWindow: number): number {
  return 2 * maxSubscriptions + resumesPerWindow + FRAME_BURST_MARGIN;
}

/**
 * The smallest frame burst that still serves a reconnect's handshake all at once: one `subscribe`
 * per topic, the uid's resume and a ping. Below it the client library, with its defaults, would be
 * refused on every reconnect.
 */
export function minFrameBurstFor(maxSubscriptions: number): number {
  return maxSubscriptions + 2;
}

/**
 * The frames the client library sends on a new socket that holds `maxSubscriptions` topics keeping
 * history: the uid's resume, each topic's subscribe and its resume (the client has a place in the
 * topic's stream), and a ping. Twice a topic's frames, unlike {@link minFrameBurstFor}, which
 * counts topics without history: a reconnect after a network drop resumes each one it has seen.
 */
export function fullHandshakeFramesFor(maxSubscriptions: number): number {
  return 2 * maxSubscriptions + 2;
}

/**
 * The frames a uid's connections may send together at once, for a deployment that sets none:
 * every connection the uid may hold reconnecting at the same moment, each with a whole handshake
 * ({@link fullHandshakeFramesFor}): 4,040 with the defaults. Never below one connection's
 * `frameBurst`, or a single connection's handshake would meet the uid's limit before its own.
 */
export function uidFrameBurstFor(
  maxConnectionsPerUid: number,
  maxSubscriptions: number,
  frameBurst: number,
): number {
  return Math.max(frameBurst, maxConnectionsPerUid * fullHandshakeFramesFor(maxSubscriptions));
}

/**
 * The refusals that close a connection, for a deployment whose frame burst is `burst` and that
 * sets none: in the same proportion to the burst as {@link LIMITS.frameRefusalsToClose} to
 * {@link LIMITS.frameBurst} (twice it), so a larger handshake is forgiven as many resends.
 */
export function frameRefusalsToCloseFor(burst: number): number {
  return Math.ceil((burst * LIMITS.frameRefusalsToClose) / LIMITS.frameBurst);
}
