/**
 * What the local endpoints answer clients no one here wrote, where AWS answers differently from a
 * naive emulator: the AWS SDK v3, and Debian's AWS CLI v2 (`/usr/bin/aws`, botocore 1.29, which
 * still speaks SQS's query protocol).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { SNSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { QUOTAS } from '../../lambdas/shared/quotas';
import { SHARD_DLQ_NAME } from '../../local/shard-queue';
import { MAX_SNS_MESSAGE_BYTES } from '../../local/sns-publish';
import { connect, eventOf, nextInvocation, useTestStack } from './helpers';

const AWS_CLI = process.env.PUSH_AWS_CLI_PATH || '/usr/bin/aws';
/** In CI the AWS CLI cases must run, not skip (.ci/run installs the CLI). */
const CLI_MISSING = !existsSync(AWS_CLI) && process.env.CI !== 'true';
const CREDENTIALS = { accessKeyId: 'developer', secretAccessKey: 'developer' };
const REGION = 'us-east-1';

const stack = useTestStack();

/** Runs the AWS CLI against the stack; never throws, so a refusal can be asserted. */
async function aws(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: '/nonexistent',
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_DEFAULT_REGION: REGION,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
  try {
    const { stdout, stderr } = await promisify(execFile)(
      AWS_CLI,
      ['--endpoint-url', stack.httpUrl, '--output', 'json', ...args],
      { env, maxBuffer: 16 * 1024 * 1024 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const sns = () => new SNSClient({ endpoint: stack.httpUrl, region: REGION, credentials: CREDENTIALS });
const lambda = () => new LambdaClient({ endpoint: stack.httpUrl, region: REGION, credentials: CREDENTIALS });
const topicArn = `arn:aws:sns:${REGION}:000000000000:push-publish`;

describe('SNS Publish', () => {
  it('refuses MessageStructure=json without a default entry, as SNS does', async () => {
    const client = sns();
    const error = await client
      .send(
        new PublishCommand({
          TopicArn: topicArn,
          MessageStructure: 'json',
          Message: JSON.stringify({ lambda: '{"to":{"all":true},"data":1}' }),
        }),
      )
      .catch((e: unknown) => e);
    client.destroy();
    expect(error).toMatchObject({
      name: 'InvalidParameterException',
      $metadata: { httpStatusCode: 400 },
      message: 'Invalid parameter: Message Structure - No default entry in JSON message body',
    });
  });

  it.skipIf(CLI_MISSING)('refuses it to the AWS CLI with the same code', async () => {
    const out = await aws(
      'sns',
      'publish',
      '--topic-arn',
      topicArn,
      '--message-structure',
      'json',
      '--message',
      '{"lambda":"x"}',
    );
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain(
      'An error occurred (InvalidParameter) when calling the Publish operation: Invalid parameter: Message Structure - No default entry in JSON message body',
    );
  });

  it('measures the 256 KB limit on the message bytes, not their URL-encoded form', async () => {
    // 200,033 bytes of UTF-8, about 600 KB once form-encoded.
    const message = `${'é'.repeat(100_000)}${'x'.repeat(33)}`;
    expect(Buffer.byteLength(message)).toBe(200_033);
    const client = sns();
    const delivered = nextInvocation(stack, 'publish');
    const out = await client.send(new PublishCommand({ TopicArn: topicArn, Message: message }));
    expect(out.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(((await delivered).event as SNSEvent).Records[0]?.Sns.Message).toBe(message);

    const tooLong = await client
      .send(new PublishCommand({ TopicArn: topicArn, Message: 'é'.repeat(MAX_SNS_MESSAGE_BYTES / 2 + 1) }))
      .catch((e: unknown) => e);
    client.destroy();
    expect(tooLong).toMatchObject({
      name: 'InvalidParameterException',
      message: 'Invalid parameter: Message too long',
    });
  });
});

describe('Lambda Invoke', () => {
  it('refuses an Event invoke over the 1 MB asynchronous limit, and takes one at the limit', async () => {
    const client = lambda();
    const payload = (size: number) => `{"pad":"${'x'.repeat(size - 10)}"}`;
    expect(payload(QUOTAS.maxAsyncInvokeBytes + 1).length).toBe(QUOTAS.maxAsyncInvokeBytes + 1);
    const error = await client
      .send(
        new InvokeCommand({
          FunctionName: 'publish',
          InvocationType: 'Event',
          Payload: payload(QUOTAS.maxAsyncInvokeBytes + 1),
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'RequestEntityTooLargeException',
      $metadata: { httpStatusCode: 413 },
      message: `${QUOTAS.maxAsyncInvokeBytes + 1} byte payload is too large for the Event invocation type (limit ${QUOTAS.maxAsyncInvokeBytes} bytes)`,
    });
    const ran = nextInvocation(stack, 'publish');
    const accepted = await client.send(
      new InvokeCommand({
        FunctionName: 'publish',
        InvocationType: 'Event',
        Payload: payload(QUOTAS.maxAsyncInvokeBytes),
      }),
    );
    client.destroy();
    expect(accepted.StatusCode).toBe(202);
    await ran;
  });

  it('answers LogType Tail with the base64 tail of the invocation’s log', async () => {
    const client = lambda();
    const out = await client.send(
      new InvokeCommand({
        FunctionName: 'publish',
        LogType: 'Tail',
        Payload: JSON.stringify({ id: 'tail-1', to: { uid: 'nobody' }, data: 1 }),
      }),
    );
    client.destroy();
    const log = Buffer.from(out.LogResult ?? '', 'base64').toString('utf8');
    const requestId = out.$metadata.requestId;
    expect(log.startsWith(`START RequestId: ${requestId} Version: $LATEST\n`)).toBe(true);
    // The function's own output in between: here the EMF line its metrics are flushed in.
    expect(log).toContain('"Publishes":1');
    expect(log).toContain(`\nEND RequestId: ${requestId}\nREPORT RequestId: ${requestId}\tDuration: `);
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(4096);
  });

  it.skipIf(CLI_MISSING)('gives the AWS CLI its LogResult with --log-type Tail', async () => {
    const out = await aws(
      'lambda',
      'invoke',
      '--function-name',
      'publish',
      '--log-type',
      'Tail',
      '--cli-binary-format',
      'raw-in-base64-out',
      '--payload',
      '{"id":"tail-2","to":{"uid":"nobody"},"data":1}',
      '/dev/null',
    );
    expect(out.stderr).toBe('');
    const answer = JSON.parse(out.stdout) as { StatusCode: number; LogResult: string };
    expect(answer.StatusCode).toBe(200);
    expect(Buffer.from(answer.LogResult, 'base64').toString('utf8')).toMatch(/^START RequestId: \S+ Version/);
  });
});

describe('a service the stack does not run', () => {
  it('answers a Secrets Manager call with an error the SDK can name, saying what the stack serves', async () => {
    // As when AWS_ENDPOINT_URL points every client at the stack and a backend reads the token secret.
    const client = new SecretsManagerClient({
      endpoint: stack.httpUrl,
      region: REGION,
      credentials: CREDENTIALS,
    });
    const error = await client.send(new GetSecretValueCommand({ SecretId: 'push-token' })).then(
      () => undefined,
      (e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode?: number } },
    );
    expect(error?.name).toBe('UnknownOperationException');
    expect(error?.$metadata.httpStatusCode).toBe(400);
    expect(error?.message).toMatch(
      /^X-Amz-Target secretsmanager\.GetSecretValue: the local stack does not run/,
    );
    expect(error?.message).toContain('it has no Secrets Manager');
  });
});

describe('WebSocket events', () => {
  it('carry one request id under both names', async () => {
    const socket = await connect(stack, 'ids');
    const sent = nextInvocation(stack, 'default');
    socket.ws.send('{"action":"ping"}');
    const { requestContext } = eventOf(await sent);
    expect(requestContext.requestId).toMatch(/^[A-Za-z0-9_=-]+$/);
    expect(requestContext.requestId).toBe(requestContext.extendedRequestId);
    await socket.close();
  });

  it('gives $connect the client’s X-Forwarded-For with the peer address appended', async () => {
    const seen = nextInvocation(stack, 'connect');
    const socket = await connect(stack, 'xff2', { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    const event = eventOf(await seen);
    expect(event.headers?.['X-Forwarded-For']).toBe('203.0.113.9, 127.0.0.1');
    expect(event.multiValueHeaders?.['X-Forwarded-For']).toEqual(['203.0.113.9, 127.0.0.1']);
    expect(event.requestContext.requestId).toBe(event.requestContext.extendedRequestId);
    await socket.close();
  });
});

describe.skipIf(CLI_MISSING)('SQS in the query protocol (AWS CLI 2.9)', () => {
  const queueUrl = () => `${stack.httpUrl}/000000000000/${SHARD_DLQ_NAME}`;

  it('sends a message and answers as SQS does', async () => {
    const out = await aws('sqs', 'send-message', '--queue-url', queueUrl(), '--message-body', 'hello');
    expect(out.stderr).toBe('');
    expect(JSON.parse(out.stdout)).toEqual({
      MessageId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      MD5OfMessageBody: createHash('md5').update('hello').digest('hex'),
    });
  });

  it('finds a queue by name and reads its attributes', async () => {
    const url = await aws('sqs', 'get-queue-url', '--queue-name', SHARD_DLQ_NAME);
    expect(JSON.parse(url.stdout)).toEqual({ QueueUrl: queueUrl() });
    const attributes = await aws(
      'sqs',
      'get-queue-attributes',
      '--queue-url',
      queueUrl(),
      '--attribute-names',
      'QueueArn',
    );
    expect(JSON.parse(attributes.stdout)).toEqual({
      Attributes: { QueueArn: `arn:aws:sqs:${REGION}:000000000000:${SHARD_DLQ_NAME}` },
    });
  });

  it('receives and deletes a message, as a tool reading the dead-letter queue does', async () => {
    await aws('sqs', 'send-message', '--queue-url', queueUrl(), '--message-body', 'read <me> & delete');
    const out = await aws(
      'sqs',
      'receive-message',
      '--queue-url',
      queueUrl(),
      '--max-number-of-messages',
      '10',
      '--attribute-names',
      'ApproximateReceiveCount',
    );
    expect(out.stderr).toBe('');
    const messages = (JSON.parse(out.stdout) as { Messages: Record<string, unknown>[] }).Messages;
    const mine = messages.find((m) => m.Body === 'read <me> & delete');
    expect(mine).toEqual({
      MessageId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      ReceiptHandle: expect.any(String),
      MD5OfBody: createHash('md5').update('read <me> & delete').digest('hex'),
      Body: 'read <me> & delete',
      Attributes: { ApproximateReceiveCount: '1' },
    });
    const deleted = await aws(
      'sqs',
      'delete-message',
      '--queue-url',
      queueUrl(),
      '--receipt-handle',
      String(mine?.ReceiptHandle),
    );
    expect(deleted).toMatchObject({ code: 0, stderr: '' });
  });

  it('answers with SQS’s own error codes', async () => {
    const missing = await aws(
      'sqs',
      'send-message',
      '--queue-url',
      `${stack.httpUrl}/000000000000/nope`,
      '--message-body',
      'x',
    );
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(
      'An error occurred (AWS.SimpleQueueService.NonExistentQueue) when calling the SendMessage operation: The specified queue does not exist.',
    );
    const unsupported = await aws('sqs', 'purge-queue', '--queue-url', queueUrl());
    expect(unsupported.stderr).toContain('(AWS.SimpleQueueService.UnsupportedOperation)');
    // What it says fits every queue, the dead-letter and failure queues as well as the shard queue.
    expect(unsupported.stderr).toContain(
      'The local stack does not serve PurgeQueue; its SQS serves SendMessage, SendMessageBatch, GetQueueUrl, GetQueueAttributes, ReceiveMessage, DeleteMessage, ChangeMessageVisibility.',
    );
  });
});
