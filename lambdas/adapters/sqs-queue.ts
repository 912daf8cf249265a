import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { fullJitterDelay } from '../core/backoff';
import { type JobQueue, type ShardJob, shardJobBody } from '../core/shard-jobs';
import { GoneError, ThrottledError, UnavailableError } from '../shared/errors';
import { QUOTAS } from '../shared/quotas';

/** One SendMessageBatch entry: a shard job, serialized. */
interface Entry {
  readonly Id: string;
  readonly MessageBody: string;
}

/**
 * Packs jobs into SendMessageBatch requests SQS accepts: at most `sqsBatchEntries` entries, and
 * at most `sqsBatchBytes` of bodies together. A job carries the whole frame (up to 128 KB, more
 * once escaped again inside the job), so ten jobs of a big publish would exceed the byte limit and
 * SQS would refuse the whole request (`BatchRequestTooLong`), failing the publish on every retry.
 * A job bigger than the byte budget on its own goes alone.
 */
export function packBatches(jobs: readonly ShardJob[]): Entry[][] {
  const batches: Entry[][] = [];
  let batch: Entry[] = [];
  let bytes = 0;
  for (const job of jobs) {
    const entry = { Id: `s${job.shard}`, MessageBody: shardJobBody(job) };
    const size = Buffer.byteLength(entry.MessageBody, 'utf8');
    if (
      batch.length === QUOTAS.sqsBatchEntries ||
      (batch.length > 0 && bytes + size > QUOTAS.sqsBatchBytes)
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** SQS's answers to a ChangeMessageVisibility whose receipt handle no longer holds its message. */
const STALE_RECEIPT = new Set(['ReceiptHandleIsInvalid', 'MessageNotInflight']);

/**
 * {@link JobQueue} on SQS: batches within SQS's entry and byte limits ({@link packBatches}), with
 * entries SQS refused retried a few times; and, for its consumer, the visibility of a job received
 * from it ({@link SqsJobQueue.changeVisibility}).
 */
export class SqsJobQueue implements JobQueue {
  readonly #client: SQSClient;
  readonly #queueUrl: string;
  readonly #attempts: number;

  constructor(client: SQSClient, queueUrl: string, options: { attempts?: number } = {}) {
    this.#client = client;
    this.#queueUrl = queueUrl;
    this.#attempts = options.attempts ?? 4;
  }

  async enqueue(jobs: readonly ShardJob[]): Promise<void> {
    for (const batch of packBatches(jobs)) {
      let entries = batch;
      for (let attempt = 0; entries.length > 0; attempt++) {
        if (attempt >= this.#attempts) throw new ThrottledError(`SQS refused ${entries.length} shard jobs`);
        if (attempt > 0)
          await new Promise((r) => setTimeout(r, fullJitterDelay(attempt, { baseMs: 50, capMs: 1000 })));
        let out: SendMessageBatchCommandOutput;
        try {
          out = await this.#client.send(
            new SendMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: entries }),
          );
        } catch (error) {
          throw new UnavailableError('SQS SendMessageBatch failed', { cause: error });
        }
        const failed = new Set((out.Failed ?? []).map((f) => f.Id));
        entries = entries.filter((e) => failed.has(e.Id));
      }
    }
  }

  /**
   * Hides a received message for `seconds` from now (SQS ChangeMessageVisibility, 0 to 43,200):
   * a consumer that failed it sets when it comes back, instead of the queue's visibility timeout.
   * A receipt handle SQS no longer holds the message by (received again meanwhile, deleted, or no
   * longer in flight) is {@link GoneError}; any other failure {@link UnavailableError}.
   *
   * @example
   * await queue.changeVisibility(record.receiptHandle, 15); // back in 15 s
   */
  async changeVisibility(
    receiptHandle: string,
    seconds: number,
    options: { readonly abortSignal?: AbortSignal } = {},
  ): Promise<void> {
    try {
      await this.#client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.#queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: seconds,
        }),
        options.abortSignal === undefined ? {} : { abortSignal: options.abortSignal },
      );
    } catch (error) {
      if (error instanceof Error && STALE_RECEIPT.has(error.name))
        throw new GoneError('SQS no longer holds the message by this receipt handle', { cause: error });
      throw new UnavailableError('SQS ChangeMessageVisibility failed', { cause: error });
    }
  }
}

/**
 * A dead-letter queue a consumer writes to itself: a message no retry can cure (a malformed shard
 * job) goes there at once, body unchanged, instead of spending every receive before SQS's
 * redrive moves it.
 */
export class SqsDeadLetterQueue {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(client: SQSClient, queueUrl: string) {
    this.#client = client;
    this.#queueUrl = queueUrl;
  }

  /** Sends `body` as it came; an SQS failure becomes {@link UnavailableError}. */
  async send(body: string): Promise<void> {
    try {
      await this.#client.send(new SendMessageCommand({ QueueUrl: this.#queueUrl, MessageBody: body }));
    } catch (error) {
      throw new UnavailableError('SQS SendMessage to the dead-letter queue failed', { cause: error });
    }
  }
}
