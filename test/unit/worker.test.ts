import { Logger } from '@aws-lambda-powertools/logger';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';

vi.hoisted(() => {
  process.env.PUSH_CONNECTIONS_TABLE = 'unit-connections';
  process.env.PUSH_PUBLISHES_TABLE = 'unit-publishes';
  process.env.PUSH_MANAGEMENT_ENDPOINT = 'https://api.example.com/prod';
  process.env.PUSH_SHARD_DLQ_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/shards-dlq';
  process.env.PUSH_SHARD_QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/shards';
  // One delivery at a time, so a test can move the clock past the stop inside one of them.
  process.env.PUSH_FANOUT_CONCURRENCY = '1';
  delete process.env.DYNAMODB_ENDPOINT;
});

import { LIMITS, perWorkerRate, workerStopMarginMs } from '../../lambdas/shared/limits';
import { ATTR } from '../../lambdas/shared/tables';
import { handler } from '../../lambdas/worker';
import { bridgeToDocumentMock, mockHotDynamo, mockHotManagement } from './document-bridge';

const ddb = mockClient(DynamoDBDocumentClient);
// The store's shard reads use the low-level client: their calls reach `ddb`.
const raw = mockHotDynamo();
const api = mockHotManagement();
const sqs = mockClient(SQSClient);
const DLQ_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/shards-dlq';
const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/shards';

/** The worker's error log lines, kept off the test output. */
let errors: MockInstance<Logger['error']>;

beforeEach(() => {
  ddb.reset();
  raw.reset();
  bridgeToDocumentMock(raw);
  api.reset();
  sqs.reset();
  errors = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
});

afterEach(() => {
  errors.mockRestore();
});

/** The EMF lines written while `act` ran, and what it returned. */
async function withEmf<T>(act: () => Promise<T>): Promise<{ result: T; emf: Record<string, unknown>[] }> {
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    const result = await act();
    const emf = stdout.mock.calls
      .map(([line]) => String(line))
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    return { result, emf };
  } finally {
    stdout.mockRestore();
  }
}

/** The ChangeMessageVisibility calls the worker made: each failed job's backoff. */
function backoffs(): { QueueUrl?: string; ReceiptHandle?: string; VisibilityTimeout?: number }[] {
  return sqs.commandCalls(ChangeMessageVisibilityCommand).map((call) => call.args[0].input);
}

/** `event` with every record at receive `count`, as Lambda passes a job SQS handed out again. */
function atReceive(event: SQSEvent, count: number): SQSEvent {
  return {
    Records: event.Records.map((r) => ({
      ...r,
      attributes: { ...r.attributes, ApproximateReceiveCount: String(count) },
    })),
  };
}

function sqsEvent(...bodies: string[]): SQSEvent {
  return {
    Records: bodies.map((body, i) => ({
      messageId: `m${i}`,
      receiptHandle: `r${i}`,
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '1700000000000',
        SenderId: 'publisher',
        ApproximateFirstReceiveTimestamp: '1700000000000',
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:shards',
      awsRegion: 'us-east-1',
    })),
  };
}

describe('worker handler', () => {
  it('sends a message that is not a shard job to the DLQ at once, as it came, and reports it done', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'dlq-1' });
    const bad = '{"id":"p1","shard":99,"to":{"all":true},"payload":""}';
    const { result, emf } = await withEmf(() => handler(sqsEvent('not json', bad)));

    expect(result).toEqual({ batchItemFailures: [] });
    expect(ddb.calls()).toHaveLength(0);
    expect(sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: DLQ_URL, MessageBody: 'not json' },
      { QueueUrl: DLQ_URL, MessageBody: bad },
    ]);
    expect(errors.mock.calls).toEqual([
      [
        'malformed shard job moved to the dead-letter queue',
        { messageId: 'm0', code: 'bad_request', reason: 'shard job is not valid JSON' },
      ],
      [
        'malformed shard job moved to the dead-letter queue',
        { messageId: 'm1', code: 'bad_request', reason: 'shard job shard must be an integer from 0 to 15' },
      ],
    ]);
    expect(emf.map((line) => line.MalformedShardJobs)).toEqual([[1, 1]]);
    expect(emf.map((line) => line.ShardJobRetries)).toEqual([undefined]);
  });

  it('reports a malformed job as a batch item failure when the DLQ refuses it, so SQS keeps it', async () => {
    sqs.on(SendMessageCommand).rejects(Object.assign(new Error('slow down'), { name: 'RequestThrottled' }));
    const { result, emf } = await withEmf(() => handler(sqsEvent('not json')));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
    expect(errors.mock.calls).toEqual([
      [
        'malformed shard job left for a retry: the dead-letter queue refused it',
        {
          messageId: 'm0',
          code: 'bad_request',
          reason: 'shard job is not valid JSON',
          error: expect.objectContaining({ name: 'UnavailableError', code: 'unavailable' }),
        },
      ],
    ]);
    expect(emf.map((line) => line.MalformedShardJobs)).toEqual([1]);
    expect(emf.map((line) => line.ShardJobRetries)).toEqual([1]);
    expect(backoffs()).toEqual([
      { QueueUrl: QUEUE_URL, ReceiptHandle: 'r0', VisibilityTimeout: expect.any(Number) },
    ]);
  });

  it('still runs the valid job of a batch whose other job is malformed', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'dlq-1' });
    ddb.on(QueryCommand).resolves({ Items: [] });
    const { result, emf } = await withEmf(() =>
      handler(
        sqsEvent(
          '{"id":"p1","shard":2,"to":{"topic":"news"},"payload":"{\\"type\\":\\"message\\",\\"id\\":\\"p1\\",\\"topic\\":\\"news\\"}"}',
          '[]',
        ),
      ),
    );

    expect(result).toEqual({ batchItemFailures: [] });
    expect(ddb.commandCalls(QueryCommand).length).toBeGreaterThan(0);
    expect(sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: DLQ_URL, MessageBody: '[]' },
    ]);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ MalformedShardJobs: 1, Delivered: 0, Failed: 0 });
  });

  it('reports a job that fails on a store read as a batch item failure, so SQS retries it', async () => {
    ddb.on(QueryCommand).rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const result = await handler(
        sqsEvent(
          '{"id":"p1","shard":2,"to":{"topic":"news"},"payload":"{\\"type\\":\\"message\\",\\"id\\":\\"p1\\",\\"topic\\":\\"news\\"}"}',
        ),
      );

      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
    } finally {
      stdout.mockRestore();
    }
  });
});

describe('worker handler backoff for a failed job', () => {
  const JOB =
    '{"id":"p1","shard":2,"to":{"topic":"news"},"payload":"{\\"type\\":\\"message\\",\\"id\\":\\"p1\\",\\"topic\\":\\"news\\"}"}';
  let infos: MockInstance<Logger['info']>;

  /** DynamoDB fails every read: each run of the job fails. */
  const failReads = () =>
    ddb.on(QueryCommand).rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));

  beforeEach(() => {
    infos = vi.spyOn(Logger.prototype, 'info').mockImplementation(() => undefined);
  });

  afterEach(() => {
    infos.mockRestore();
  });

  it.each([
    // The defaults: late after 10 min, 5 receives, so the cap is 75 s (shardRetryDelaySeconds).
    [1, 10, 19],
    [2, 20, 39],
    [4, 37, 74],
  ])(
    'hides the message of a job failed at receive %d for %d to %d s before answering the failure',
    async (receive, lowest, highest) => {
      failReads();
      sqs.on(ChangeMessageVisibilityCommand).resolves({});
      const { result, emf } = await withEmf(() => handler(atReceive(sqsEvent(JOB), receive)));

      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
      expect(emf.map((line) => line.ShardJobRetries)).toEqual([1]);
      const [backoff, ...more] = backoffs();
      expect(more).toEqual([]);
      expect(backoff).toEqual({
        QueueUrl: QUEUE_URL,
        ReceiptHandle: 'r0',
        VisibilityTimeout: expect.any(Number),
      });
      expect(backoff?.VisibilityTimeout).toBeGreaterThanOrEqual(lowest);
      expect(backoff?.VisibilityTimeout).toBeLessThanOrEqual(highest);
      expect(infos.mock.calls).toEqual([
        [
          'shard job retries after a backoff',
          { messageId: 'm0', receiveCount: receive, retryInSeconds: backoff?.VisibilityTimeout },
        ],
      ]);
    },
  );

  it('still answers the failure when SQS refuses the backoff, leaving the visibility timeout to apply', async () => {
    failReads();
    sqs
      .on(ChangeMessageVisibilityCommand)
      .rejects(Object.assign(new Error('gone'), { name: 'MessageNotInflight' }));
    const { result, emf } = await withEmf(() => handler(sqsEvent(JOB)));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
    expect(emf.map((line) => line.ShardJobRetries)).toEqual([1]);
    expect(errors.mock.calls.map(([message]) => message)).toEqual([
      'shard job failed',
      'shard job left for the visibility timeout: its retry backoff could not be set',
    ]);
    expect(errors.mock.calls[1]?.[1]).toEqual({
      messageId: 'm0',
      receiveCount: 1,
      retryInSeconds: expect.any(Number),
      error: expect.objectContaining({ name: 'GoneError', code: 'gone' }),
    });
    expect(infos.mock.calls).toEqual([]);
  });

  it('sets no backoff for a job that succeeds', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(UpdateCommand).resolves({});
    const { result, emf } = await withEmf(() => handler(sqsEvent(JOB)));

    expect(result).toEqual({ batchItemFailures: [] });
    expect(backoffs()).toEqual([]);
    expect(emf.map((line) => line.ShardJobRetries)).toEqual([undefined]);
  });
});

describe('worker handler at its deadline', () => {
  const JOB =
    '{"id":"p1","shard":2,"to":{"topic":"news"},"payload":"{\\"type\\":\\"message\\",\\"id\\":\\"p1\\",\\"topic\\":\\"news\\"}"}';
  /** The stop margin the worker derives from its settings: the defaults, but for one delivery at a time. */
  const MARGIN = workerStopMarginMs({
    sendAttempts: LIMITS.sendAttempts,
    sendTimeoutMs: LIMITS.sendTimeoutMs,
    concurrency: 1,
    ratePerSecond: perWorkerRate(LIMITS.rateBudget, LIMITS.workerConcurrency),
  });
  /** Lambda's context with this much left once the stop margin is taken off. */
  const context = (beforeStopMs: number) => ({ getRemainingTimeInMillis: () => MARGIN + beforeStopMs });
  let infos: MockInstance<Logger['info']>;

  beforeEach(() => {
    // Only Date moves by hand: timers and promises run as usual.
    vi.useFakeTimers({ toFake: ['Date'] });
    infos = vi.spyOn(Logger.prototype, 'info').mockImplementation(() => undefined);
    const nowS = Math.floor(Date.now() / 1000);
    ddb.on(QueryCommand, { TableName: 'unit-publishes' }).resolves({ Items: [] });
    ddb.on(QueryCommand, { TableName: 'unit-connections' }).resolves({
      Items: ['c0', 'c1', 'c2', 'c3'].map((connectionId) => ({
        [ATTR.connectionId]: connectionId,
        [ATTR.subscriber]: `u-${connectionId}`,
        [ATTR.connectedAt]: Date.now(),
        [ATTR.expiresAt]: nowS + 3600,
      })),
    });
    ddb.on(UpdateCommand).resolves({});
    // The first post takes the clock past the stop: no other delivery may start after it.
    api.on(PostToConnectionCommand).callsFake(() => {
      if (api.commandCalls(PostToConnectionCommand).length === 1) vi.setSystemTime(Date.now() + 2_000);
      return {};
    });
  });

  afterEach(() => {
    infos.mockRestore();
    vi.useRealTimers();
  });

  it('sends a job that reached its stop time to the shard queue again, unchanged, and answers it done', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolves({ Successful: [{ Id: 's2', MessageId: 'm9', MD5OfMessageBody: '' }] });
    const { result, emf } = await withEmf(() => handler(sqsEvent(JOB), context(1_000)));

    expect(result).toEqual({ batchItemFailures: [] });
    expect(api.commandCalls(PostToConnectionCommand).map((call) => call.args[0].input.ConnectionId)).toEqual([
      'c0',
    ]);
    expect(sqs.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: QUEUE_URL, Entries: [{ Id: 's2', MessageBody: JOB }] },
    ]);
    expect(infos.mock.calls).toEqual([
      [
        'shard job continued',
        { publishId: 'p1', shard: 2, connections: 1, delivered: 1, gone: 0, failed: 0 },
      ],
    ]);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ ShardJobsContinued: 1, Delivered: 1 });
    expect(emf[0]?.ShardJobRetries).toBeUndefined();
  });

  it('reports the job as a batch item failure when its continuation cannot be sent, so SQS keeps it', async () => {
    sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
    const { result, emf } = await withEmf(() => handler(sqsEvent(JOB), context(1_000)));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
    expect(errors.mock.calls).toEqual([
      [
        'shard job left for a retry: its continuation could not be queued',
        {
          publishId: 'p1',
          shard: 2,
          connections: 1,
          delivered: 1,
          gone: 0,
          failed: 0,
          error: expect.objectContaining({ name: 'UnavailableError' }),
        },
      ],
    ]);
    expect(emf[0]?.ShardJobsContinued).toBeUndefined();
    expect(emf[0]?.ShardJobRetries).toBe(1);
    expect(backoffs()).toEqual([
      { QueueUrl: QUEUE_URL, ReceiptHandle: 'r0', VisibilityTimeout: expect.any(Number) },
    ]);
  });

  it('finishes a job whose shard fits before its stop, and sends nothing to the queue', async () => {
    const { result } = await withEmf(() => handler(sqsEvent(JOB), context(60_000)));

    expect(result).toEqual({ batchItemFailures: [] });
    expect(api.commandCalls(PostToConnectionCommand)).toHaveLength(4);
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
    expect(infos.mock.calls.map(([message]) => message)).toEqual(['shard job finished']);
  });
});
