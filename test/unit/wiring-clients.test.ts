/**
 * The DynamoDB clients a handler's adapters send through: one hot-path client and one document
 * client per execution environment (`dynamoClientsFromEnv`, built once by the handler and passed to
 * every builder in wiring.ts). Each client is its own pool of connections, and in AWS each new
 * connection is a TCP and TLS handshake: with a client per adapter, a publish's first push in a
 * fresh environment opened a connection for the id claim, one for the uid lookup and a third, on
 * its sequential path, for the log's counter. Checked against a real HTTP server on port 0
 * standing in as DynamoDB, which numbers the connections it accepts.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import type { WebSocketEvent } from '../../lambdas/shared/events';
import { LOG_ATTR } from '../../lambdas/shared/tables';
import {
  connectionStoreFromEnv,
  dynamoClientsFromEnv,
  logSettingsFromEnv,
  messageLogFromEnv,
  publishIdsFromEnv,
  publishRecordsFromEnv,
  revocationsFromEnv,
} from '../../lambdas/wiring';

/** Which client sent a request: the SDK's (the document client) names itself in its user agent. */
type Kind = 'hot-path' | 'document';

/** One request as the server saw it: its operation, and the connection (numbered from 1) it came on. */
type Seen = { readonly operation: string; readonly connection: number };

const servers: Server[] = [];

afterEach(async () => {
  vi.unstubAllEnvs();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/**
 * A stand-in for DynamoDB that numbers each TCP connection it accepts, notes which kind of client
 * opened it, and answers every operation as an empty table would (a counter update as the
 * counter's first one).
 */
async function countingDynamo(hold: () => Promise<void> = async () => {}) {
  const seen: Seen[] = [];
  const numbers = new WeakMap<Socket, number>();
  const kinds: Kind[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      const operation = String(req.headers['x-amz-target']).split('.').pop() ?? '';
      const connection = numbers.get(req.socket) ?? 0;
      kinds[connection - 1] ??= /aws-sdk-js/.test(String(req.headers['user-agent']))
        ? 'document'
        : 'hot-path';
      seen.push({ operation, connection });
      await hold();
      const body =
        operation === 'UpdateItem'
          ? { Attributes: { [LOG_ATTR.latest]: { N: '1' }, [LOG_ATTR.epoch]: { S: 'e1' } } }
          : operation === 'Query'
            ? { Items: [], Count: 0 }
            : {};
      const text = JSON.stringify(body);
      res.writeHead(200, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    });
  });
  let accepted = 0;
  server.on('connection', (socket: Socket) => numbers.set(socket, ++accepted));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    /** Connections opened, in all. */
    get connections() {
      return accepted;
    },
    /** Connections opened by one kind of client. */
    opened: (kind: Kind) => kinds.filter((k) => k === kind).length,
  };
}

/** The environment of a function whose DynamoDB is `endpoint`. */
const functionEnv = (endpoint: string) => ({
  [ENV.dynamodbEndpoint]: endpoint,
  [ENV.connectionsTable]: 'Connections',
  [ENV.messagesTable]: 'Messages',
  [ENV.publishesTable]: 'Publishes',
  [ENV.managementEndpoint]: 'http://127.0.0.1:9/local',
  [ENV.tokenSecret]: 'unit-test-secret-of-sufficient-length',
});

/** A fresh module instance of a handler (a cold start), its variables from `env`. */
async function coldStart<T>(env: Record<string, string>, load: () => Promise<T>): Promise<T> {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  vi.resetModules();
  return load();
}

/** The adapters a publish sends its hot-path calls through, built as the handler builds them. */
function publishAdapters(endpoint: string) {
  const env = functionEnv(endpoint);
  const clients = dynamoClientsFromEnv(env);
  return {
    ids: publishIdsFromEnv(clients, env),
    store: connectionStoreFromEnv(clients, env),
    log: messageLogFromEnv(clients, logSettingsFromEnv(env), env),
  };
}

describe('the adapters built from one set of clients', () => {
  it("send a publish's hot-path calls, one after another, on one connection", async () => {
    const dynamo = await countingDynamo();
    const { ids, store, log } = publishAdapters(dynamo.endpoint);
    const now = Date.now();

    await ids?.claim('p-1', 'hash', 'attempt-1', now + 10_000, now);
    await store.byUid('u1', now);
    const { seq, epoch } = await log.reserve('uid#u1');
    await log.store('uid#u1', { id: 'p-1', dataJson: '{}', ts: now, seq, epoch }, now);

    expect(dynamo.seen.map((s) => s.operation)).toEqual(['PutItem', 'Query', 'UpdateItem', 'PutItem']);
    expect(dynamo.connections).toBe(1);
  });

  it("send the log's counter update on a connection the claim or the lookup opened", async () => {
    const dynamo = await countingDynamo();
    const { ids, store, log } = publishAdapters(dynamo.endpoint);
    const now = Date.now();

    // As publishToUids runs them: the claim beside the lookup, then the counter.
    await Promise.all([ids?.claim('p-1', 'hash', 'attempt-1', now + 10_000, now), store.byUid('u1', now)]);
    await log.reserve('uid#u1');

    expect(dynamo.seen.find((s) => s.operation === 'UpdateItem')?.connection).toBeLessThanOrEqual(2);
    expect(dynamo.connections).toBe(2);
  });

  it("send the document client's calls of every adapter on one connection", async () => {
    const dynamo = await countingDynamo();
    const env = functionEnv(dynamo.endpoint);
    const clients = dynamoClientsFromEnv(env);
    const now = Date.now();

    await revocationsFromEnv(clients, env).standing('u1', now);
    await connectionStoreFromEnv(clients, env).isStored('c-1');
    await publishRecordsFromEnv(clients, env).planned('p-1');

    expect(dynamo.seen.map((s) => s.operation)).toEqual(['GetItem', 'GetItem', 'GetItem']);
    expect(dynamo.connections).toBe(1);
  });
});

describe('the shared hot-path client', () => {
  it('keeps as many calls in flight as the three clients of 50 it replaced, and opens no more', async () => {
    let arrived = 0;
    let full!: () => void;
    const allArrived = new Promise<void>((resolve) => {
      full = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Every answer waits until 150 requests are in: a pool of 50 could never get there.
    const dynamo = await countingDynamo(() => {
      if (++arrived === 150) full();
      return released;
    });
    const env = functionEnv(dynamo.endpoint);
    const store = connectionStoreFromEnv(dynamoClientsFromEnv(env), env);
    const now = Date.now();

    const reads = Array.from({ length: 160 }, (_, i) => store.byUid(`u${i}`, now));
    await allArrived;
    expect(dynamo.connections).toBe(150);
    release();
    await Promise.all(reads);

    // The 10 beyond them waited for a socket and went out on one of the 150.
    expect(dynamo.seen).toHaveLength(160);
    expect(dynamo.connections).toBe(150);
  });
});

describe('a cold start', () => {
  it("of the publish function makes its first push's counter update on a connection already open", async () => {
    const dynamo = await countingDynamo();
    const { handler } = await coldStart(functionEnv(dynamo.endpoint), () => import('../../lambdas/publish'));

    const result = await handler({ to: { uid: 'u1' }, data: { n: 1 }, id: 'first' });

    expect(result).toMatchObject({ id: 'first', connections: 0, stored: 1 });
    expect(dynamo.seen.find((s) => s.operation === 'UpdateItem')?.connection).toBeLessThanOrEqual(2);
    expect(dynamo.opened('hot-path')).toBe(2);
    expect(dynamo.opened('document')).toBe(0);
  });

  it('of $connect stores the record and reads the revocation on one connection', async () => {
    const dynamo = await countingDynamo();
    const { handler } = await coldStart(functionEnv(dynamo.endpoint), () => import('../../lambdas/connect'));
    const event = {
      requestContext: {
        routeKey: '$connect',
        eventType: 'CONNECT',
        connectionId: 'c-1',
        connectedAt: Date.now(),
        authorizer: { uid: 'u1', grants: '[]', principalId: 'u1' },
        identity: { sourceIp: '203.0.113.9' },
      },
    } as unknown as WebSocketEvent;

    await expect(handler(event)).resolves.toEqual({ statusCode: 200 });

    // The store's PutItem, then the revocation's GetItem, then the uid's connections.
    expect(dynamo.seen.map((s) => s.operation)).toEqual(['PutItem', 'GetItem', 'Query']);
    expect(dynamo.opened('document')).toBe(1);
    expect(dynamo.opened('hot-path')).toBe(1);
  });
});
