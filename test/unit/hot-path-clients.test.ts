/**
 * The hot-path clients (lambdas/adapters/signed-http.ts, dynamo-http.ts, management-http.ts)
 * against real HTTP servers on port 0: what goes on the wire (signed, with the stage and the
 * encoded connection id), how each answer becomes an output or an error named as the SDK names it,
 * which failures are retried and how often, and the bounds that free a hung socket.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoHttpClient } from '../../lambdas/adapters/dynamo-http';
import { createManagementClient, ManagementGateway } from '../../lambdas/adapters/management-gateway';

const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };

type Seen = { method: string; path: string; headers: IncomingMessage['headers']; body: string };
type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hold';

const servers: Server[] = [];
const clients: { destroy(): void }[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A server that records each request and answers it with `answer(n)`, n counting from 0. */
async function serve(answer: (n: number, seen: Seen) => Answer) {
  const seen: Seen[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      seen.push(request);
      const reply = answer(seen.length - 1, request);
      if (reply === 'hold') {
        held.push(res);
        return;
      }
      const body = reply.body ?? '';
      res.writeHead(reply.status, { 'content-length': Buffer.byteLength(body), ...reply.headers });
      res.end(body);
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, held };
}

/** A retry strategy of the SDK's that never waits and records each retry it grants. */
function recordingRetries(maxAttempts = 4): ConfiguredRetryStrategy & { retries: number[] } {
  const retries: number[] = [];
  const strategy = new ConfiguredRetryStrategy(maxAttempts, (attempt: number) => {
    retries.push(attempt);
    return 0;
  });
  return Object.assign(strategy, { retries });
}

/** The hot-path client on `endpoint`, its settings (and retries, unless given) an SDK client's. */
function dynamo(
  endpoint: string,
  retryStrategy?: ConfiguredRetryStrategy,
  timeoutMs = 2_000,
  maxAttempts?: number,
): DynamoHttpClient {
  const client = new DynamoHttpClient({
    settings: new DynamoDBClient({
      endpoint,
      region: 'eu-west-1',
      credentials,
      ...(retryStrategy === undefined ? {} : { retryStrategy }),
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
    }),
    timeoutMs,
  });
  clients.push(client);
  return client;
}

const GET = new GetItemCommand({ TableName: 'Connections', Key: { pk: { S: 'a' }, sk: { S: 'b' } } });
const json = (status: number, body: object, headers: Record<string, string> = {}): Answer => ({
  status,
  headers: { 'content-type': 'application/x-amz-json-1.0', ...headers },
  body: JSON.stringify(body),
});
const refusal = (status: number, type: string, message: string) =>
  json(status, { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message });

describe('the hot-path DynamoDB client', () => {
  it('sends the command input as the JSON protocol, signed, and answers the body as the output', async () => {
    const item = { pk: { S: 'a' }, sk: { S: 'b' }, n: { N: '7' }, tags: { SS: ['x', 'y'] } };
    const server = await serve(() => json(200, { Item: item }, { 'x-amzn-requestid': 'REQ1' }));
    const out = await dynamo(server.url).send(GET);
    expect(out).toEqual({ Item: item, $metadata: { httpStatusCode: 200, attempts: 1, requestId: 'REQ1' } });
    const [request] = server.seen;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/');
    expect(request?.headers['x-amz-target']).toBe('DynamoDB_20120810.GetItem');
    expect(request?.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(JSON.parse(request?.body ?? '')).toEqual(GET.input);
    expect(request?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDLOCAL\/\d{8}\/eu-west-1\/dynamodb\/aws4_request, SignedHeaders=[^ ]*host[^ ]*x-amz-target/,
    );
  });

  it('signs with the credentials the SDK client’s provider holds, refreshed as they near expiry', async () => {
    const server = await serve(() => json(200, {}));
    let n = 0;
    // A role's credentials, a minute from expiry: the SDK's provider refreshes them at each ask.
    const rotating = async () => ({
      accessKeyId: `AKID${++n}`,
      secretAccessKey: 's',
      sessionToken: `T${n}`,
      expiration: new Date(Date.now() + 60_000),
    });
    const client = new DynamoHttpClient({
      settings: new DynamoDBClient({ endpoint: server.url, region: 'eu-west-1', credentials: rotating }),
      timeoutMs: 2_000,
    });
    clients.push(client);
    await client.send(GET);
    await client.send(GET);
    const ids = server.seen.map((s) => s.headers.authorization?.match(/Credential=(\w+)\//)?.[1]);
    const tokens = server.seen.map((s) => s.headers['x-amz-security-token']);
    // The SDK's provider was asked once more than the two signings (when the client was built).
    expect(ids).toEqual([`AKID${n - 1}`, `AKID${n}`]);
    expect(tokens).toEqual([`T${n - 1}`, `T${n}`]);
  });

  it('names a refusal as the SDK does, with its status, and does not retry it', async () => {
    const server = await serve(() =>
      refusal(400, 'ConditionalCheckFailedException', 'The conditional request failed'),
    );
    const retries = recordingRetries();
    const put = new PutItemCommand({
      TableName: 'T',
      Item: { pk: { S: 'a' } },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    const error = await dynamo(server.url, retries)
      .send(put)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'ConditionalCheckFailedException',
      message: 'The conditional request failed',
      $fault: 'client',
      $metadata: { httpStatusCode: 400, attempts: 1 },
    });
    expect(server.seen).toHaveLength(1);
    expect(retries.retries).toEqual([]);
  });

  it.each([
    ['a throttle', refusal(400, 'ProvisionedThroughputExceededException', 'slow down')],
    ['a 500', refusal(500, 'InternalServerError', 'oops')],
    ['a 503 that is not JSON', { status: 503, body: '<html>busy</html>' } as Answer],
  ])('retries %s as the SDK client’s retry strategy grants, then answers', async (_, failure) => {
    const server = await serve((n) => (n < 2 ? failure : json(200, {})));
    const retries = recordingRetries();
    const out = await dynamo(server.url, retries).send(GET);
    expect(out.$metadata).toMatchObject({ httpStatusCode: 200, attempts: 3 });
    expect(server.seen).toHaveLength(3);
    expect(retries.retries).toEqual([1, 2]);
  });

  it('makes as many attempts as the SDK’s DynamoDB client would, then throws the last error', async () => {
    const server = await serve(() => ({ status: 502, body: 'bad gateway' }));
    // The SDK's own default for DynamoDB (4 in SDK v3 3.11xx), backoff included.
    const sdkAttempts = await new DynamoDBClient({ region: 'eu-west-1' }).config.maxAttempts();
    const error = await dynamo(server.url)
      .send(GET)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'InternalServerError',
      $fault: 'server',
      $metadata: { httpStatusCode: 502, attempts: sdkAttempts },
    });
    expect(server.seen).toHaveLength(sdkAttempts);
  });

  it('takes its attempts from the SDK client’s settings (maxAttempts, AWS_MAX_ATTEMPTS)', async () => {
    const server = await serve(() => refusal(500, 'InternalServerError', 'down'));
    await expect(dynamo(server.url, undefined, 2_000, 2).send(GET)).rejects.toMatchObject({
      $metadata: { attempts: 2 },
    });
    expect(server.seen).toHaveLength(2);
  });

  it('stops retrying when the strategy’s retry quota is spent, and earns it back with successes', async () => {
    let failing = true;
    const server = await serve(() => (failing ? refusal(500, 'InternalServerError', 'down') : json(200, {})));
    const client = dynamo(server.url, recordingRetries());
    const attemptsOf = () =>
      client.send(GET).then(
        () => 0,
        (e: { $metadata: { attempts: number } }) => e.$metadata.attempts,
      );
    // An outage: retries stop once the client-wide quota is spent, well before 100 calls.
    let calls = 0;
    while ((await attemptsOf()) > 1) {
      calls++;
      expect(calls).toBeLessThan(100);
    }
    expect(await attemptsOf()).toBe(1);
    failing = false;
    for (let i = 0; i < 50; i++) await client.send(GET);
    failing = true;
    expect(await attemptsOf()).toBeGreaterThan(1);
  });

  it('retries a refused connection, then fails with its code', async () => {
    const server = await serve(() => json(200, {}));
    const { url } = server;
    const closing = servers.pop() as Server;
    await new Promise((resolve) => closing.close(resolve));
    const retries = recordingRetries(3);
    await expect(dynamo(url, retries).send(GET)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
      $metadata: { attempts: 3 },
    });
    expect(retries.retries).toEqual([1, 2]);
  });

  it('cuts an attempt that gets no answer, frees its socket and retries it', async () => {
    const server = await serve((n) => (n === 0 ? 'hold' : json(200, { Item: { pk: { S: 'late' } } })));
    const out = await dynamo(server.url, undefined, 200).send(GET);
    expect(out.Item).toEqual({ pk: { S: 'late' } });
    expect(server.seen).toHaveLength(2);
    const socket = server.held[0]?.socket;
    if (socket && !socket.destroyed) await once(socket, 'close');
  });

  /**
   * A server whose first answer sends its head and a part of its body, then `then(res)`; every
   * later answer is a whole, empty GetItem. Its URL, and how many requests it answered.
   */
  async function halfAnsweringFirst(then: (res: ServerResponse) => void) {
    let answered = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        answered++;
        if (answered === 1) {
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': 100 });
          res.write('{"Item":', () => then(res));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        res.end('{}');
      });
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, answered: () => answered };
  }

  it('bounds an answer whose body stops half-way, and retries it', async () => {
    const server = await halfAnsweringFirst(() => {});
    const out = await dynamo(server.url, recordingRetries(), 200).send(GET);
    expect(out.$metadata).toMatchObject({ httpStatusCode: 200, attempts: 2 });
    expect(server.answered()).toBe(2);
  });

  it('retries an answer whose connection closes half-way through its body', async () => {
    const server = await halfAnsweringFirst((res) => res.socket?.destroy());
    // A 10 s bound: the retry must come from the closed connection, not from the bound.
    const out = await dynamo(server.url, recordingRetries(), 10_000).send(GET);
    expect(out.$metadata).toMatchObject({ httpStatusCode: 200, attempts: 2 });
    expect(server.answered()).toBe(2);
  });

  it('refuses a binary attribute before sending anything', async () => {
    const server = await serve(() => json(200, {}));
    const put = new PutItemCommand({
      TableName: 'T',
      Item: { pk: { S: 'a' }, blob: { B: Buffer.from('xyz') } },
    });
    await expect(dynamo(server.url).send(put)).rejects.toThrow(TypeError);
    const raw = new PutItemCommand({
      TableName: 'T',
      Item: { pk: { S: 'a' }, blob: { B: new Uint8Array([1]) } },
    });
    await expect(dynamo(server.url).send(raw)).rejects.toThrow(TypeError);
    const nested = new PutItemCommand({
      TableName: 'T',
      Item: { pk: { S: 'a' }, list: { L: [{ M: { deep: { BS: [new Uint8Array([2])] } } }] } },
    });
    await expect(dynamo(server.url).send(nested)).rejects.toThrow(TypeError);
    expect(server.seen).toHaveLength(0);
  });

  it('refuses an input JSON cannot write, as JSON.stringify does, before sending anything', async () => {
    const server = await serve(() => json(200, {}));
    const cyclic: Record<string, unknown> = { S: 'a' };
    cyclic.self = cyclic;
    const put = new PutItemCommand({ TableName: 'T', Item: { pk: cyclic as never } });
    await expect(dynamo(server.url).send(put)).rejects.toThrow(TypeError);
    expect(server.seen).toHaveLength(0);
  });

  it('takes the regional endpoint from the SDK client’s rules when none is set', async () => {
    // Nothing listens there from this sandbox; the request's target is what is checked.
    const client = new DynamoHttpClient({
      settings: new DynamoDBClient({ region: 'eu-west-1', credentials }),
      timeoutMs: 50,
    });
    clients.push(client);
    const error = (await client.send(new QueryCommand({ TableName: 'T' })).catch((e: unknown) => e)) as Error;
    expect(`${error.message} ${(error as { hostname?: string }).hostname ?? ''}`).toMatch(
      /dynamodb\.eu-west-1\.amazonaws\.com/,
    );
  });
});

function gatewayFor(endpoint: string, timeoutMs: number): ManagementGateway {
  const client = createManagementClient({
    endpoint,
    region: 'us-east-1',
    credentials,
    requestTimeoutMs: timeoutMs,
  });
  clients.push(client);
  return new ManagementGateway(client, { timeoutMs: 10_000 });
}

describe('the hot-path Management API client', () => {
  it('posts each message to its connection below the stage, signed anew', async () => {
    const server = await serve(() => ({ status: 200 }));
    const gateway = gatewayFor(`${server.url}/dev`, 1_000);
    for (const id of ['a1', 'b2=', 'c(3)!']) await gateway.send(id, `{"to":"${id}"}`);
    await gateway.send('bytes', new Uint8Array([0x7b, 0x7d]));
    expect(server.seen.map((s) => [s.method, s.path, s.body])).toEqual([
      ['POST', '/dev/@connections/a1', '{"to":"a1"}'],
      ['POST', '/dev/@connections/b2%3D', '{"to":"b2="}'],
      ['POST', '/dev/@connections/c%283%29%21', '{"to":"c(3)!"}'],
      ['POST', '/dev/@connections/bytes', '{}'],
    ]);
    for (const s of server.seen) {
      expect(s.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDLOCAL\/\d{8}\/us-east-1\/execute-api\//,
      );
    }
    expect(new Set(server.seen.map((s) => s.headers.authorization)).size).toBe(4);
  });

  it('answers GetConnection and DeleteConnection as the SDK client does', async () => {
    const info = {
      connectedAt: '2026-12-03T10:00:00.000Z',
      identity: { sourceIp: '203.0.113.9', userAgent: 'probe/1' },
      lastActiveAt: '2026-12-03T10:05:00.000Z',
    };
    const server = await serve((_, s) =>
      s.method === 'GET'
        ? { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(info) }
        : { status: 204 },
    );
    const endpoint = `${server.url}/prod`;
    const ours = createManagementClient({ endpoint, region: 'us-east-1', credentials });
    const sdk = new ApiGatewayManagementApiClient({ endpoint, region: 'us-east-1', credentials });
    clients.push(ours, sdk);
    const strip = ({ $metadata: _, ...rest }: { $metadata: unknown }) => rest;
    const get = new GetConnectionCommand({ ConnectionId: 'c1' });
    expect(strip(await ours.send(get))).toEqual(strip(await sdk.send(get)));
    expect(strip(await ours.send(get))).toEqual({
      ConnectedAt: new Date(info.connectedAt),
      Identity: { SourceIp: '203.0.113.9', UserAgent: 'probe/1' },
      LastActiveAt: new Date(info.lastActiveAt),
    });
    const del = new DeleteConnectionCommand({ ConnectionId: 'c1' });
    expect((await ours.send(del)).$metadata.httpStatusCode).toBe(204);
    expect(server.seen.map((s) => [s.method, s.path])).toEqual([
      ['GET', '/prod/@connections/c1'],
      ['GET', '/prod/@connections/c1'],
      ['GET', '/prod/@connections/c1'],
      ['DELETE', '/prod/@connections/c1'],
    ]);
  });

  it.each([
    [
      'x-amzn-ErrorType',
      410,
      { 'x-amzn-errortype': 'GoneException:http://internal.amazon.com/coral/' },
      'GoneException',
      'gone',
    ],
    ['its status alone', 410, {}, 'GoneException', 'gone'],
    [
      'x-amzn-ErrorType',
      429,
      { 'x-amzn-errortype': 'LimitExceededException' },
      'LimitExceededException',
      'throttled',
    ],
    ['its status alone', 413, {}, 'PayloadTooLargeException', 'payload_too_large'],
    ['its status alone', 403, {}, 'ForbiddenException', 'forbidden'],
    ['its status alone', 500, {}, 'InternalServerError', 'unavailable'],
  ])('names a refusal by %s (%i) and the gateway translates it', async (_, status, headers, name, code) => {
    const server = await serve(() => ({ status, headers, body: JSON.stringify({ message: 'no' }) }));
    const client = createManagementClient({
      endpoint: `${server.url}/dev`,
      region: 'us-east-1',
      credentials,
    });
    clients.push(client);
    const post = new PostToConnectionCommand({ ConnectionId: 'c1', Data: 'x' });
    await expect(client.send(post)).rejects.toMatchObject({
      name,
      message: 'no',
      $metadata: { httpStatusCode: status },
    });
    const gateway = new ManagementGateway(client);
    await expect(gateway.send('c1', 'x')).rejects.toMatchObject({ code });
    // One attempt each: the fan-out retries, not the client.
    expect(server.seen).toHaveLength(2);
  });

  /**
   * A server that answers every request 200 and keeps its connections, so a test can close them
   * as a server's keep-alive timeout does; and how many requests reached it on each connection.
   */
  async function keptAliveServer(options: { resetUnread?: boolean } = {}) {
    const sockets: import('node:net').Socket[] = [];
    const perConnection = new Map<import('node:net').Socket, number>();
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        perConnection.set(req.socket, (perConnection.get(req.socket) ?? 0) + 1);
        res.writeHead(200, { 'content-length': 0 });
        res.end();
      });
    });
    server.on('connection', (socket) => sockets.push(socket));
    if (options.resetUnread) {
      // Every connection after the first is reset as it opens: a new connection's reset.
      server.on('connection', (socket) => {
        if (sockets.length > 1) socket.resetAndDestroy();
      });
    }
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      /** Closes every connection at once, as the server's idle timeout would. */
      closeIdle: () => {
        for (const socket of sockets) socket.destroy();
      },
      connections: () => sockets.length,
      requests: () => [...perConnection.values()],
    };
  }

  it('sends a post again on a new connection when its kept-alive one was closed by the server while idle', async () => {
    const server = await keptAliveServer();
    const gateway = gatewayFor(`${server.url}/dev`, 10_000);
    await gateway.send('c1', 'first');
    // The server closes the idle connection; the client has not read that yet when it posts,
    // so the post goes out on the closed connection and is reset before any answer.
    server.closeIdle();
    await gateway.send('c1', 'second');
    expect(server.connections()).toBe(2);
    expect(server.requests()).toEqual([1, 1]);
  });

  it('does not send again a post whose new connection was reset: that is the caller’s to retry', async () => {
    const server = await keptAliveServer({ resetUnread: true });
    const gateway = gatewayFor(`${server.url}/dev`, 10_000);
    await gateway.send('c1', 'first');
    server.closeIdle();
    // The stale connection's reset is sent again once; the new connection's reset is not.
    await expect(gateway.send('c1', 'second')).rejects.toMatchObject({ code: 'unavailable' });
    expect(server.connections()).toBe(2);
    expect(server.requests()).toEqual([1]);
  });

  it('rejects a post that never answers at the request timeout and closes its socket', async () => {
    const server = await serve(() => 'hold');
    const gateway = gatewayFor(`${server.url}/dev`, 200);
    const started = performance.now();
    await expect(gateway.send('hung', 'x')).rejects.toMatchObject({ code: 'unavailable' });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    // Well before the gateway's own 10 s bound: the client's timeout fired.
    expect(elapsed).toBeLessThan(5_000);
    const socket = server.held[0]?.socket;
    if (socket && !socket.destroyed) await once(socket, 'close');
  });
});
