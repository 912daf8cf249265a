/**
 * The handlers' DynamoDB clients against a real HTTP server on port 0 that holds its first request
 * forever, as a stuck socket or a stalled endpoint does: the attempt is cut after
 * LIMITS.dynamoRequestTimeoutMs and the SDK's retry, on another socket, gets the answer. Without a
 * request timeout the call waits for as long as the handler may run.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import { documentClientFromEnv, dynamoClientFromEnv } from '../../lambdas/wiring';

/** Holds the first request it gets; answers every later one as a GetItem that found nothing. */
class StallingDynamo {
  readonly held: ServerResponse[] = [];
  requests = 0;
  #server: Server | undefined;

  async start(): Promise<string> {
    this.#server = createServer((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        this.requests++;
        if (this.requests === 1) {
          this.held.push(res);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        res.end('{}');
      });
    });
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }
}

const started = new Set<StallingDynamo>();
afterAll(async () => {
  await Promise.all([...started].map((d) => d.stop()));
});

async function stalling(): Promise<{ dynamo: StallingDynamo; endpoint: string }> {
  const dynamo = new StallingDynamo();
  started.add(dynamo);
  return { dynamo, endpoint: await dynamo.start() };
}

// Long enough for one cut attempt and its retry, short of forever.
const WITHIN = LIMITS.dynamoRequestTimeoutMs + 10_000;

// Concurrent: each waits out one cut attempt.
describe.concurrent('a DynamoDB request that never gets an answer', () => {
  it('is cut on the hot-path client and retried, and the retry answers', { timeout: WITHIN }, async ({
    expect,
  }) => {
    const { dynamo, endpoint } = await stalling();
    const client = dynamoClientFromEnv({ [ENV.dynamodbEndpoint]: endpoint });
    const out = await client.send(new GetItemCommand({ TableName: 'Connections', Key: { pk: { S: 'a' } } }));
    expect(out.Item).toBeUndefined();
    expect(dynamo.requests).toBe(2);
    client.destroy();
  });

  it('is cut on the document client and retried, and the retry answers', { timeout: WITHIN }, async ({
    expect,
  }) => {
    const { dynamo, endpoint } = await stalling();
    const client = documentClientFromEnv({ [ENV.dynamodbEndpoint]: endpoint });
    const out = await client.send(new GetCommand({ TableName: 'Connections', Key: { pk: 'a' } }));
    expect(out.Item).toBeUndefined();
    expect(dynamo.requests).toBe(2);
    client.destroy();
  });
});
