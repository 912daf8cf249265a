import { LIMITS } from '../shared/limits';
import { QUOTAS } from '../shared/quotas';

/** The settings a failed shard job's backoff is derived from: those the stack gave the worker. */
export interface ShardRetrySettings {
  /**
   * Age past which a job is late (`PUSH_SHARD_JOB_LATE_MS`, see `audienceOf`): its retries must
   * all come well before it.
   */
  readonly lateAfterMs: number;
  /**
   * The shard queue's redrive `maxReceiveCount` (`PUSH_SHARD_MAX_RECEIVE_COUNT`): the runs a job
   * gets, so it is retried at most one less.
   */
  readonly maxReceiveCount: number;
}

/**
 * The shortest backoff: the message must stay hidden until the invocation that failed it has
 * answered, or the event source could hand it to a second worker while the first still holds it.
 */
const MIN_DELAY_SECONDS = 1;

/**
 * How long a failed shard job stays hidden before SQS hands it out again, in whole seconds: what
 * the worker sets with ChangeMessageVisibility before it answers the job as a batch item failure.
 * Left to the queue's visibility timeout (6 worker timeouts, 30 min by default), the retry came
 * long after the job turned late (`lateAfterMs`, 10 min by default), and a late job skips every
 * connection made since its publish: a client that reconnected meanwhile never got the message.
 *
 * `receiveCount` is the SQS record's `ApproximateReceiveCount` of the run that failed (1 for the
 * first). Its retry waits between half and all of `min(shardRetryBaseMs × 2^(receiveCount − 1), cap)`
 * ("equal jitter"): the fixed half gives the failing dependency time and never lets a retry come
 * at once, the random half keeps the shards of one publish, which an outage fails together, from
 * coming back together. The cap is half the late threshold shared out over the retries a job gets,
 * `lateAfterMs / 2 / (maxReceiveCount − 1)`, so all its waits together take at most half the
 * threshold and leave the other half to its runs: a job whose every run but the last fails quickly
 * still runs in time, and reaches the clients that reconnected meanwhile. At the defaults (10 min,
 * 5 receives) the cap is 75 s and the retries come within 20, 40, 75 and 75 s: 210 s in all at
 * most. The cap is never more than `shardRetryCapMs`; the delay is never less than 1 s (which can
 * pass the share when the threshold is a few seconds: every job is late then anyway), nor more
 * than SQS accepts. The failure of a job's last receive needs no other rule: its delay only says
 * when SQS moves it to the dead-letter queue.
 *
 * `random` returns a number in [0, 1), as `Math.random` does; injectable for tests.
 *
 * @example
 * shardRetryDelaySeconds(1, { lateAfterMs: 600_000, maxReceiveCount: 5 }) // 10 to 19
 * shardRetryDelaySeconds(4, { lateAfterMs: 600_000, maxReceiveCount: 5 }) // 37 to 74
 */
export function shardRetryDelaySeconds(
  receiveCount: number,
  settings: ShardRetrySettings,
  random: () => number = Math.random,
): number {
  const retries = Math.max(1, settings.maxReceiveCount - 1);
  const capMs = Math.min(LIMITS.shardRetryCapMs, settings.lateAfterMs / 2 / retries);
  // A count Lambda did not pass, or garbage, is taken as the first receive: the shortest wait.
  const attempt = Number.isInteger(receiveCount) && receiveCount > 1 ? receiveCount : 1;
  const ceilingMs = Math.min(capMs, LIMITS.shardRetryBaseMs * 2 ** (attempt - 1));
  const delayMs = ceilingMs / 2 + random() * (ceilingMs / 2);
  return Math.min(QUOTAS.sqsMaxVisibilitySeconds, Math.max(MIN_DELAY_SECONDS, Math.floor(delayMs / 1000)));
}
