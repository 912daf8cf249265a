/**
 * The hot-path SDK clients carry no logger middleware (they have no logger, and the middleware
 * would copy and mask every call's input and output for the SDK's no-op one), they sign with
 * one signer per auth scheme, built by the SDK's own provider, instead of one per call, and they
 * compute their user agent once, and their per-call middleware copy a config V8 copies quickly;
 * the Management API client, which makes one attempt, passes its
 * requests on without the SDK's retry machinery.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { createManagementClient, ManagementGateway } from '../../lambdas/adapters/management-gateway';
import {
  SDK_LOGGER_MIDDLEWARE,
  SDK_RETRY_MIDDLEWARE,
  SDK_USER_AGENT_MIDDLEWARE,
  withCachedUserAgent,
  withFastConfig,
  withoutSdkRetries,
  withReusedSigner,
} from '../../lambdas/adapters/sdk-client';
import { ENV } from '../../lambdas/shared/env';
import { dynamoClientFromEnv } from '../../lambdas/wiring';

const named = (client: { middlewareStack: { identify(): string[] } }) =>
  client.middlewareStack.identify().map((entry) => entry.split(' ')[0]);

/** Each middleware's name and step, in a stable order: replacing one may move it within its step. */
const placed = (client: { middlewareStack: { identify(): string[] } }) =>
  client.middlewareStack
    .identify()
    .map((entry) => `${entry.split(' ')[0]} ${entry.split(' - ').at(-1)}`)
    .sort();

describe('withoutSdkLogging', () => {
  it('names the middleware a stock client carries', () => {
    // Fails if the SDK renames it, which would leave the removal below silently doing nothing.
    expect(named(new DynamoDBClient({}))).toContain(SDK_LOGGER_MIDDLEWARE);
    expect(named(new ApiGatewayManagementApiClient({ endpoint: 'http://127.0.0.1:9/dev' }))).toContain(
      SDK_LOGGER_MIDDLEWARE,
    );
  });

  it('leaves it out of the hot-path DynamoDB client and keeps the rest of the chain', () => {
    const stock = placed(new DynamoDBClient({}));
    const ours = placed(dynamoClientFromEnv({ [ENV.dynamodbEndpoint]: 'http://127.0.0.1:9' }));
    expect(ours).toEqual(stock.filter((entry) => !entry.startsWith(`${SDK_LOGGER_MIDDLEWARE} `)));
  });

  it('leaves it out of the Management API client and keeps the rest of the chain', () => {
    const endpoint = 'http://127.0.0.1:9/dev';
    const stock = placed(new ApiGatewayManagementApiClient({ endpoint }));
    const ours = placed(createManagementClient({ endpoint }));
    expect(ours).toEqual(stock.filter((entry) => !entry.startsWith(`${SDK_LOGGER_MIDDLEWARE} `)));
  });
});

describe('the middleware names and places this file relies on', () => {
  it('are those of a stock client', () => {
    // Fails if the SDK renames or moves them, which would leave a replacement beside the original.
    const stock = placed(new ApiGatewayManagementApiClient({ endpoint: 'http://127.0.0.1:9/dev' }));
    expect(stock).toContain(`${SDK_RETRY_MIDDLEWARE.name} ${SDK_RETRY_MIDDLEWARE.step}`);
    expect(stock).toContain(`${SDK_USER_AGENT_MIDDLEWARE} build`);
  });
});

let server: Server | undefined;

afterEach(async () => {
  const open = server;
  server = undefined;
  if (open === undefined) return;
  open.closeAllConnections();
  await new Promise((resolve) => open.close(resolve));
});

/** What a test server saw of one request. */
type Seen = { method?: string; url?: string; headers: IncomingHttpHeaders; body: string };

/** A server on port 0 that answers each request with the next of `answers` and keeps what it saw. */
async function scriptedServer(seen: Seen[], answers: readonly [number, object][]): Promise<string> {
  let next = 0;
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      const [status, body] = answers[next++ % answers.length] ?? [500, {}];
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(body));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const credentialOf = (headers: IncomingHttpHeaders) =>
  /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\//.exec(headers.authorization ?? '')?.slice(1);

describe('withReusedSigner', () => {
  it('builds one signer for many calls, and it still asks for credentials at each signing', async () => {
    const seen: Seen[] = [];
    const endpoint = await scriptedServer(seen, [[200, {}]]);
    let issued = 0;
    // Each identity expires at once, so the SDK asks its provider again for every call.
    const credentials = async () => ({
      accessKeyId: `AKID${++issued}`,
      secretAccessKey: 'local-secret',
      expiration: new Date(Date.now() + 1_000),
    });
    const client = new DynamoDBClient({ endpoint, region: 'eu-west-1', credentials, cacheMiddleware: true });
    const sdkSigner = client.config.signer;
    let builds = 0;
    client.config.signer = (authScheme) => {
      builds++;
      return sdkSigner(authScheme);
    };
    withReusedSigner(client);
    for (let i = 0; i < 3; i++) {
      await client.send(new PutItemCommand({ TableName: 't', Item: { pk: { S: `k${i}` } } }));
    }
    expect(builds).toBe(1);
    const signed = seen.map((r) => credentialOf(r.headers));
    expect(signed.map((c) => c?.slice(1))).toEqual(Array(3).fill(['eu-west-1', 'dynamodb']));
    // A fresh key at every call (the SDK asks its provider more than once per call, so not 1, 2, 3).
    const keys = signed.map((c) => Number(c?.[0]?.replace('AKID', '')));
    expect(keys[0]).toBeGreaterThanOrEqual(1);
    expect(keys[1]).toBeGreaterThan(keys[0] ?? Number.POSITIVE_INFINITY);
    expect(keys[2]).toBeGreaterThan(keys[1] ?? Number.POSITIVE_INFINITY);
  });

  it("signs Management API posts for execute-api in the client's region", async () => {
    const seen: Seen[] = [];
    const endpoint = await scriptedServer(seen, [[200, {}]]);
    const client = createManagementClient({
      endpoint: `${endpoint}/dev`,
      region: 'ap-south-1',
      credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
    });
    const gateway = new ManagementGateway(client);
    await gateway.send('c1', 'one');
    await gateway.send('c2', 'two');
    expect(seen.map((r) => credentialOf(r.headers))).toEqual([
      ['AKIDLOCAL', 'ap-south-1', 'execute-api'],
      ['AKIDLOCAL', 'ap-south-1', 'execute-api'],
    ]);
  });

  it('keeps one signer per auth scheme and does not keep a build that failed', async () => {
    const built: (string | undefined)[] = [];
    let failNext = true;
    const host = {
      config: {
        signer: async (authScheme?: { signingRegion?: string }) => {
          built.push(authScheme?.signingRegion);
          if (failNext) {
            failNext = false;
            throw new Error('region not resolved yet');
          }
          return { region: authScheme?.signingRegion, n: built.length };
        },
      },
    };
    withReusedSigner(host);
    const sign = (signingRegion: string) => host.config.signer({ signingRegion });
    await expect(sign('eu-west-1')).rejects.toThrow('region not resolved yet');
    const first = await sign('eu-west-1');
    expect(await sign('eu-west-1')).toBe(first);
    const other = await sign('us-east-2');
    expect(other).not.toBe(first);
    expect(await sign('us-east-2')).toBe(other);
    expect(built).toEqual(['eu-west-1', 'eu-west-1', 'us-east-2']);
  });
});

const LOCAL_CREDENTIALS = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };

describe('withoutSdkRetries', () => {
  it('sends one attempt without the retry telemetry headers, and a 500 reaches the caller as the SDK reports it', async () => {
    const seen: Seen[] = [];
    const endpoint = await scriptedServer(seen, [[500, {}]]);
    const client = createManagementClient({ endpoint: `${endpoint}/dev`, credentials: LOCAL_CREDENTIALS });
    const failure = client.send(new PostToConnectionCommand({ ConnectionId: 'c1', Data: Buffer.from('x') }));
    await expect(failure).rejects.toMatchObject({ $metadata: { httpStatusCode: 500 } });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers['amz-sdk-invocation-id']).toBeUndefined();
    expect(seen[0]?.headers['amz-sdk-request']).toBeUndefined();
  });

  it('refuses a client allowed more than one attempt, at its first call, before sending', async () => {
    const seen: Seen[] = [];
    const endpoint = await scriptedServer(seen, [[200, {}]]);
    const client = withoutSdkRetries(
      new ApiGatewayManagementApiClient({ endpoint: `${endpoint}/dev`, credentials: LOCAL_CREDENTIALS }),
    );
    const call = client.send(new PostToConnectionCommand({ ConnectionId: 'c1', Data: Buffer.from('x') }));
    await expect(call).rejects.toThrow('withoutSdkRetries needs maxAttempts 1, not 3');
    expect(seen).toHaveLength(0);
  });
});

describe('withCachedUserAgent', () => {
  it("sends the SDK's own user-agent headers on every call, computed at the first", async () => {
    const seen: Seen[] = [];
    const endpoint = await scriptedServer(seen, [[200, {}]]);
    const config = { endpoint: `${endpoint}/dev`, credentials: LOCAL_CREDENTIALS, cacheMiddleware: true };
    const stock = new ApiGatewayManagementApiClient(config);
    const ours = new ApiGatewayManagementApiClient(config);
    const sdkProvider = ours.config.defaultUserAgentProvider;
    let computed = 0;
    ours.config.defaultUserAgentProvider = () => {
      computed++;
      return sdkProvider();
    };
    withCachedUserAgent(ours);
    const post = (client: ApiGatewayManagementApiClient) =>
      client.send(new PostToConnectionCommand({ ConnectionId: 'c1', Data: Buffer.from('x') }));
    await post(stock);
    for (let i = 0; i < 3; i++) await post(ours);
    expect(computed).toBe(1);
    const agents = seen.map(({ headers }) => [headers['user-agent'], headers['x-amz-user-agent']]);
    expect(agents[0]?.[0]).toMatch(/^aws-sdk-js\//);
    expect(agents.slice(1)).toEqual(Array(3).fill(agents[0]));
  });
});

describe('withFastConfig', () => {
  const item = { pk: { S: 'c1' }, uid: { S: 'u1' }, expiresAt: { N: '1900000000' } };
  const answers: [number, object][] = [
    [200, {}],
    [200, { Items: [item], Count: 1, ScannedCount: 1 }],
    [
      400,
      {
        __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
        message: 'The conditional request failed',
      },
    ],
  ];
  /** A put, a query and a refused conditional put, each answered from `answers` in turn. */
  const calls = async (client: DynamoDBClient) => {
    const put = await client.send(new PutItemCommand({ TableName: 't', Item: item }));
    const query = await client.send(
      new QueryCommand({
        TableName: 't',
        IndexName: 'byUid',
        KeyConditionExpression: '#k = :k',
        ExpressionAttributeNames: { '#k': 'uid' },
        ExpressionAttributeValues: { ':k': { S: 'u1' } },
      }),
    );
    const refused = await client
      .send(
        new PutItemCommand({ TableName: 't', Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
      )
      .then(
        () => undefined,
        (error: { name: string; message: string; $metadata: { httpStatusCode?: number } }) => ({
          name: error.name,
          message: error.message,
          status: error.$metadata.httpStatusCode,
        }),
      );
    return { put: put.$metadata.httpStatusCode, items: query.Items, refused };
  };

  it('sends the requests a stock client sends and reads its answers alike, errors included', async () => {
    const seen: Seen[] = [];
    const endpoint = await scriptedServer(seen, answers);
    const config = { endpoint, region: 'eu-west-1', credentials: LOCAL_CREDENTIALS, cacheMiddleware: true };
    const stock = await calls(new DynamoDBClient(config));
    const fast = await calls(withFastConfig(new DynamoDBClient(config)));
    expect(stock).toEqual({
      put: 200,
      items: [item],
      refused: {
        name: 'ConditionalCheckFailedException',
        message: 'The conditional request failed',
        status: 400,
      },
    });
    expect(fast).toEqual(stock);
    expect(seen).toHaveLength(6);
    // The same requests, but for what differs from call to call.
    const PER_CALL_HEADERS = ['authorization', 'x-amz-date', 'amz-sdk-invocation-id', 'amz-sdk-request'];
    const comparable = seen.map(({ headers, ...rest }) => ({
      ...rest,
      headers: Object.fromEntries(
        Object.entries(headers).filter(([name]) => !PER_CALL_HEADERS.includes(name)),
      ),
    }));
    expect(comparable.slice(3)).toEqual(comparable.slice(0, 3));
  });

  it("keeps every setting's value, and the signer reused before it stays the one used", async () => {
    const seen: Seen[] = [];
    const endpoint = await scriptedServer(seen, [[200, {}]]);
    const client = new DynamoDBClient({ endpoint, region: 'eu-west-1', credentials: LOCAL_CREDENTIALS });
    const original = client.config;
    const sdkSigner = original.signer;
    let builds = 0;
    original.signer = (authScheme) => {
      builds++;
      return sdkSigner(authScheme);
    };
    withFastConfig(withReusedSigner(client));
    expect(client.config).not.toBe(original);
    for (const key of Object.keys(original)) {
      expect([key, (client.config as unknown as Record<string, unknown>)[key]]).toEqual([
        key,
        (original as unknown as Record<string, unknown>)[key],
      ]);
    }
    for (let i = 0; i < 3; i++) await client.send(new PutItemCommand({ TableName: 't', Item: item }));
    expect(builds).toBe(1);
    expect(seen).toHaveLength(3);
  });
});
