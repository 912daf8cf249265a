import {
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { fullJitterDelay } from '../core/backoff';
import type { JobQueue, ShardJob } from '../core/shard-jobs';
import { ThrottledError, UnavailableError } from '../shared/errors';

/** {@link JobQueue} on SQS: batches of 10, with entries SQS refused retried a few times. */
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
    for (let i = 0; i < jobs.length; i += 10) {
      let entries = jobs
        .slice(i, i + 10)
        .map((job) => ({ Id: `s${job.shard}`, MessageBody: JSON.stringify(job) }));
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
