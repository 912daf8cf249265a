/**
 * What the publishers throw for each kind of AWS error answer, with the real AWS SDK clients
 * talking to `node:http` servers on port 0 that answer as SNS (query protocol, XML) and Lambda
 * (REST-JSON) do. SNS's own throttling (`Throttled`, 429) used to come out as `internal`, not
 * retryable, so a backend that retries what `retryable` says dropped the push; so did Lambda's 409
 * while the function is being created or updated.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { lambdaPublisher, snsPublisher } from '../../server/src/index';
import { refusal } from '../support/push-api-refusal';

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A server on port 0 that answers every request with `status`, `headers` and `body`. */
async function answering(status: number, headers: Record<string, string>, body: string): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      res.writeHead(status, headers);
      res.end(body);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const clientConfig = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1,
});

describe('snsPublisher, for each error SNS answers', () => {
  it.each([
    [429, 'Throttled', 'throttled', true],
    [400, 'KMSThrottling', 'throttled', true],
    [500, 'InternalError', 'unavailable', true],
    [403, 'AuthorizationError', 'internal', false],
    [404, 'NotFound', 'internal', false],
  ])('%i %s is %s (retryable: %s)', async (status, code, expected, retryable) => {
    const xml = `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>refused: ${code}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`;
    const endpoint = await answering(status, { 'content-type': 'text/xml' }, xml);
    const topic = snsPublisher({
      topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
      clientConfig: clientConfig(endpoint),
    });
    const error = await refusal(topic.publish({ to: { uid: 'u1' }, data: 1, id: 'sns-error-1' }));
    expect(error).toMatchObject({ code: expected, retryable });
    expect(error.message).toContain(`refused: ${code}`);
  });
});

describe('lambdaPublisher, for each error the Invoke answers', () => {
  it.each([
    [429, 'TooManyRequestsException', 'throttled', true],
    [409, 'ResourceConflictException', 'unavailable', true],
    [502, 'ResourceNotReadyException', 'unavailable', true],
    [404, 'ResourceNotFoundException', 'internal', false],
    [403, 'AccessDeniedException', 'internal', false],
  ])('%i %s is %s (retryable: %s)', async (status, type, expected, retryable) => {
    const endpoint = await answering(
      status,
      { 'content-type': 'application/json', 'x-amzn-errortype': type },
      JSON.stringify({ Type: 'User', message: `refused: ${type}` }),
    );
    const push = lambdaPublisher({ functionName: 'push-publish', clientConfig: clientConfig(endpoint) });
    const error = await refusal(push.publish({ to: { uid: 'u1' }, data: 1, id: 'invoke-error-1' }));
    expect(error).toMatchObject({ code: expected, retryable });
    expect(error.message).toContain(`refused: ${type}`);
  });
});
