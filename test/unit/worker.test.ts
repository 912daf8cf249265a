import { Logger } from '@aws-lambda-powertools/logger';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.PUSH_CONNECTIONS_TABLE = 'unit-connections';
  process.env.PUSH_PUBLISHES_TABLE = 'unit-publishes';
  process.env.PUSH_MANAGEMENT_ENDPOINT = 'https://api.example.com/prod';
  delete process.env.DYNAMODB_ENDPOINT;
});

import { handler } from '../../lambdas/worker';

const ddb = mockClient(DynamoDBDocumentClient);
const api = mockClient(ApiGatewayManagementApiClient);

beforeEach(() => {
  ddb.reset();
  api.reset();
});

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
  it('drops a message that is not a shard job at once: no batch item failure, no read', async () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const errors = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const result = await handler(
        sqsEvent('not json', '{"id":"p1","shard":99,"to":{"all":true},"payload":""}'),
      );

      expect(result).toEqual({ batchItemFailures: [] });
      expect(ddb.calls()).toHaveLength(0);
      expect(errors.mock.calls).toEqual([
        [
          'malformed shard job dropped',
          { messageId: 'm0', code: 'bad_request', reason: 'shard job is not valid JSON' },
        ],
        [
          'malformed shard job dropped',
          { messageId: 'm1', code: 'bad_request', reason: 'shard job shard must be an integer from 0 to 15' },
        ],
      ]);
      const emf = stdout.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('"_aws"'));
      expect(emf.map((line) => JSON.parse(line).MalformedShardJobs)).toEqual([[1, 1]]);
    } finally {
      stdout.mockRestore();
      errors.mockRestore();
    }
  });

  it('reports a job that fails on a store read as a batch item failure, so SQS retries it', async () => {
    ddb.on(QueryCommand).rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const result = await handler(sqsEvent('{"id":"p1","shard":2,"to":{"topic":"news"},"payload":"{}"}'));

      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
    } finally {
      stdout.mockRestore();
    }
  });
});
