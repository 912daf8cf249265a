/**
 * SqsJobQueue against SQS's SendMessageBatch limits, which the local queue does not enforce: at
 * most 10 entries and a byte budget for all bodies together. A shard job carries the whole frame,
 * so a big publish's jobs must not be packed ten to a request.
 */
import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { packBatches, SqsJobQueue } from '../../lambdas/adapters/sqs-queue';
import { encodeFrame, messageFrame } from '../../lambdas/core/frames';
import { planShardJobs } from '../../lambdas/core/shard-jobs';
import { LIMITS } from '../../lambdas/shared/limits';
import { MAX_ID_LENGTH } from '../../lambdas/shared/protocol';
import { QUOTAS } from '../../lambdas/shared/quotas';

const sqs = mockClient(SQSClient);
const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/111122223333/shards';

/** The 16 shard jobs of a topic publish of `data`. */
function jobsOf(data: unknown, id = 'launch-1', topic = 'news') {
  const frame = encodeFrame(messageFrame(id, data, 1_700_000_000_000, topic));
  return planShardJobs(id, { topic }, frame, new Array(LIMITS.shards).fill(1));
}

/** Bytes of the bodies of one SendMessageBatch request. */
const bodyBytes = (entries: readonly { MessageBody?: string }[]) =>
  entries.reduce((sum, entry) => sum + Buffer.byteLength(entry.MessageBody ?? '', 'utf8'), 0);

beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

describe('SqsJobQueue', () => {
  it('keeps every request of a publish near the data limit within the entry and byte limits', async () => {
    // Prepare: data of ~120 KB, below the 127 KB a publish may carry.
    const jobs = jobsOf({ text: 'x'.repeat(120_000) });

    // Act
    await new SqsJobQueue(new SQSClient({}), QUEUE_URL).enqueue(jobs);

    // Assess
    const requests = sqs
      .commandCalls(SendMessageBatchCommand)
      .map((call) => call.args[0].input.Entries ?? []);
    for (const entries of requests) {
      expect(entries.length).toBeLessThanOrEqual(QUOTAS.sqsBatchEntries);
      expect(bodyBytes(entries)).toBeLessThanOrEqual(QUOTAS.sqsBatchBytes);
    }
    expect(requests.flat().map((entry) => entry.Id)).toEqual(jobs.map((job) => `s${job.shard}`));
  });

  it('still sends small jobs ten to a request', async () => {
    await new SqsJobQueue(new SQSClient({}), QUEUE_URL).enqueue(jobsOf({ orderId: 42 }));

    expect(
      sqs.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.Entries?.length),
    ).toEqual([10, 6]);
  });
});

describe('SqsJobQueue.changeVisibility', () => {
  it("sends ChangeMessageVisibility for the message's receipt handle", async () => {
    sqs.on(ChangeMessageVisibilityCommand).resolves({});

    await new SqsJobQueue(new SQSClient({}), QUEUE_URL).changeVisibility('handle-1', 15);

    expect(sqs.commandCalls(ChangeMessageVisibilityCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: QUEUE_URL, ReceiptHandle: 'handle-1', VisibilityTimeout: 15 },
    ]);
  });

  it.each([
    ['ReceiptHandleIsInvalid', 'GoneError'],
    ['MessageNotInflight', 'GoneError'],
    ['AccessDenied', 'UnavailableError'],
    ['InternalError', 'UnavailableError'],
  ])('translates SQS %s into %s', async (name, translated) => {
    const cause = Object.assign(new Error(name), { name });
    sqs.on(ChangeMessageVisibilityCommand).rejects(cause);

    const call = new SqsJobQueue(new SQSClient({}), QUEUE_URL).changeVisibility('handle-1', 15);

    await expect(call).rejects.toMatchObject({ name: translated, cause });
  });
});

describe('packBatches', () => {
  it('fits the largest job a publish can make within the byte budget on its own', () => {
    // Every character of the data a quote: escaped once in the frame and again in the job.
    const data = '"'.repeat(Math.floor((LIMITS.maxDataBytes - 2) / 2));
    const id = 'i'.repeat(MAX_ID_LENGTH);
    const jobs = jobsOf(data, id, 't'.repeat(128));

    const batches = packBatches(jobs);

    expect(batches.map((batch) => batch.length)).toEqual(jobs.map(() => 1));
    for (const batch of batches) expect(bodyBytes(batch)).toBeLessThanOrEqual(QUOTAS.sqsBatchBytes);
  });

  it('fits a job whose data is all U+FFFF, escaped to 6 bytes a character, within the byte budget on its own', () => {
    const data = '\uffff'.repeat(Math.floor((LIMITS.maxDataBytes - 2) / 3));
    const jobs = jobsOf(data, 'i'.repeat(MAX_ID_LENGTH), 't'.repeat(128));

    const batches = packBatches(jobs);

    expect(batches.map((batch) => batch.length)).toEqual(jobs.map(() => 1));
    for (const batch of batches) {
      expect(bodyBytes(batch)).toBeLessThanOrEqual(QUOTAS.sqsBatchBytes);
      expect(bodyBytes(batch)).toBeGreaterThan(2 * LIMITS.maxDataBytes);
    }
  });
});
