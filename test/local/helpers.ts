/**
 * Helpers for integration tests against a running local stack: real `ws` clients, real SDK
 * clients, and waits on events instead of sleeps. Every wait has a timeout that fails loudly.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import {
  ApiGatewayManagementApiClient,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { WebSocket } from 'ws';
import { HANDLERS, type HostedHandlerId } from '../../lambdas/shared/deployment';
import type { WebSocketEvent } from '../../lambdas/shared/events';
import { ATTR, LOG_ATTR, MESSAGES_TABLE, STREAM } from '../../lambdas/shared/tables';
import type { InvocationRecord } from '../../local/functions';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack';
import { type DynamoFaultProxy, startDynamoFaultProxy } from '../support/dynamo-faults';
import { tokenFor } from '../support/tokens';
import { within } from '../support/within';
import { type BackingDynamo, startBackingDynamo } from './backing-dynamo';

export { tokenFor };

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** How long any single wait may take before the test fails. */
export const WAIT_MS = 5_000;

/** Starts a stack on a random port with test-friendly defaults. */
export function startTestStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  return startLocalStack({ port: 0, ...options });
}

/** What {@link stackPerTest} gives a test file. */
export interface StackPerTest {
  /** Starts this test's stack (again, after a stop: a restart on the same port keeps its URL). */
  start(options?: LocalStackOptions): Promise<LocalStack>;
  /** The stack the test started last, while it runs. */
  readonly stack: LocalStack | undefined;
}

/**
 * A stack each test starts for itself, with its own options, stopped after the test; `cleanup`
 * runs first (closing the test's client, say), so nothing outlives the stack it used.
 *
 * @example
 * let client: PushClient | undefined;
 * const own = stackPerTest(() => client?.close());
 * it('...', async () => { const stack = await own.start({ indexLagMs: 100 }); ... });
 */
export function stackPerTest(cleanup?: () => void): StackPerTest {
  let running: LocalStack | undefined;
  afterEach(async () => {
    cleanup?.();
    await running?.stop();
    running = undefined;
  });
  return {
    async start(options = {}) {
      running = await startTestStack(options);
      return running;
    },
    get stack() {
      return running;
    },
  };
}

/**
 * One stack for a whole test file: started before its first test, stopped after its last, with
 * the sockets each test opened closed after it. The returned object stands for the running stack
 * (every property is read from it), so it can be used as a `LocalStack` in tests and in hooks
 * registered after this call.
 *
 * @example
 * const stack = useTestStack({ idleTimeoutMs: 1_000 });
 * it('...', async () => { const socket = await connect(stack, 'u1'); ... });
 */
export function useTestStack(options: LocalStackOptions = {}): LocalStack {
  let running: LocalStack | undefined;
  beforeAll(async () => {
    running = await startTestStack(options);
  });
  afterEach(closeOpenSockets);
  afterAll(async () => {
    await running?.stop();
  });
  return standIn(() => running, 'the test stack');
}

/**
 * An object that stands for what `current` returns once a `beforeAll` has made it: every property
 * is read from it and written to it, and any use before then throws, naming `what`.
 */
function standIn<T extends object>(current: () => T | undefined, what: string): T {
  const target = () => {
    const value = current();
    if (value === undefined) throw new Error(`${what} is used before beforeAll started it`);
    return value;
  };
  return new Proxy({} as T, {
    get: (_, key) => Reflect.get(target(), key, target()),
    set: (_, key, value) => Reflect.set(target(), key, value),
  });
}

/** What {@link useFaultProxyStack} gives a test file. */
export interface FaultProxyStack {
  readonly stack: LocalStack;
  /** The proxy between the stack and its DynamoDB: set `proxy.faults` to fail or delay calls. */
  readonly proxy: DynamoFaultProxy;
}

/**
 * {@link useTestStack} with the stack's DynamoDB behind the fault proxy: a private backing store
 * (dynalite, or a database of its own on the shared DynamoDB Local), the proxy, then the stack.
 *
 * @example
 * const { stack, proxy } = useFaultProxyStack({ shardThreshold: 5 });
 * it('...', async () => { proxy.faults.delayMs = 500; ... });
 */
export function useFaultProxyStack(options: LocalStackOptions = {}): FaultProxyStack {
  let backing: BackingDynamo | undefined;
  let proxy: DynamoFaultProxy | undefined;
  let stack: LocalStack | undefined;
  beforeAll(async () => {
    backing = await startBackingDynamo();
    proxy = await startDynamoFaultProxy({ target: backing.endpoint });
    stack = await startTestStack({ ...options, dynamodbEndpoint: proxy.endpoint });
  });
  afterEach(closeOpenSockets);
  afterAll(async () => {
    await stack?.stop();
    await proxy?.stop();
    await backing?.stop();
  });
  return { stack: standIn(() => stack, 'the test stack'), proxy: standIn(() => proxy, 'the fault proxy') };
}

/** One received frame. */
export interface Frame {
  readonly data: Buffer;
  readonly isBinary: boolean;
  readonly text: string;
}

/** How a socket closed. */
export interface Closed {
  readonly code: number;
  readonly reason: string;
}

/**
 * A real `ws` client that queues every frame from the moment it is created, so no message is
 * missed between two awaits, and records how it closed.
 */
export class TestSocket {
  readonly ws: WebSocket;
  /** Set by {@link connect}: the id API Gateway gave this connection. */
  connectionId = '';
  readonly closed: Promise<Closed>;
  readonly #frames: Frame[] = [];
  readonly #waiters: ((frame: Frame) => void)[] = [];
  readonly #stack: LocalStack | undefined;

  constructor(ws: WebSocket, stack?: LocalStack) {
    this.ws = ws;
    this.#stack = stack;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = { data, isBinary, text: data.toString('utf8') };
      const waiter = this.#waiters.shift();
      if (waiter !== undefined) waiter(frame);
      else this.#frames.push(frame);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') }));
    });
    ws.on('error', () => {});
  }

  /** Frames received and not yet taken. */
  get pending(): number {
    return this.#frames.length;
  }

  /** The next frame. */
  next(ms = WAIT_MS): Promise<Frame> {
    const frame = this.#frames.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    return within(new Promise<Frame>((resolve) => this.#waiters.push(resolve)), ms, 'a frame');
  }

  /** The next frame, parsed as JSON. */
  async nextJson(ms = WAIT_MS): Promise<Record<string, unknown>> {
    const frame = await this.next(ms);
    return JSON.parse(frame.text) as Record<string, unknown>;
  }

  /** Sends a JSON frame and resolves to the next frame, parsed. */
  async request(frame: unknown): Promise<Record<string, unknown>> {
    this.ws.send(JSON.stringify(frame));
    return this.nextJson();
  }

  /** Resolves once closed. */
  waitForClose(ms = WAIT_MS): Promise<Closed> {
    return within(this.closed, ms, 'the socket to close');
  }

  /**
   * Closes (if open) and waits for the close and for the connection's `$disconnect` to finish,
   * so no invocation of this socket spills into the next test.
   */
  async close(code?: number): Promise<Closed> {
    const open = this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING;
    const stack = this.#stack;
    const disconnected =
      open && stack !== undefined && this.connectionId !== '' && !stack.emulator.faults.dropDisconnects
        ? disconnectOf(stack, this.connectionId)
        : undefined;
    if (open) this.ws.close(code);
    const closed = await this.waitForClose();
    await disconnected;
    return closed;
  }
}

const openSockets = new Set<TestSocket>();

/**
 * Closes every socket {@link connect} opened that a test left open (a failed assertion skips the
 * test's own cleanup); use it in `afterEach`, so one failure never cascades into the next test.
 */
export async function closeOpenSockets(): Promise<void> {
  await Promise.all([...openSockets].map((socket) => socket.close()));
}

/** Resolves with the first invocation of `name` that satisfies `predicate` from now on. */
export function nextInvocation(
  stack: LocalStack,
  name: HostedHandlerId,
  predicate: (record: InvocationRecord) => boolean = () => true,
  ms = WAIT_MS,
): Promise<InvocationRecord> {
  let off: () => void = () => {};
  const seen = new Promise<InvocationRecord>((resolve) => {
    off = stack.emulator.onInvoke((record) => {
      if (record.functionName === name && predicate(record)) resolve(record);
    });
  });
  return within(seen, ms, `an invocation of ${name}`).finally(off);
}

/** The event of an invocation record, typed. */
export function eventOf(record: InvocationRecord): WebSocketEvent {
  return record.event as WebSocketEvent;
}

/** The `$disconnect` invocation of `connectionId`. */
export function disconnectOf(
  stack: LocalStack,
  connectionId: string,
  ms = WAIT_MS,
): Promise<InvocationRecord> {
  return nextInvocation(
    stack,
    'disconnect',
    (r) => eventOf(r).requestContext.connectionId === connectionId,
    ms,
  );
}

/** Options for {@link connect}. */
export interface ConnectOptions {
  readonly topics?: readonly string[];
  readonly headers?: Record<string, string>;
  /** More handshake query parameters beside the token, such as `instance`. */
  readonly query?: Record<string, string>;
}

/** Resolves once `ws` is open; a refused handshake or a socket error rejects, naming it. */
export function whenOpen(ws: WebSocket, what: string): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res: IncomingMessage) =>
        reject(new Error(`handshake answered ${res.statusCode}`)),
      );
      ws.once('error', reject);
    }),
    WAIT_MS,
    what,
  );
}

/**
 * Opens an authorized socket for `uid` and learns its connection id from the `$connect`
 * invocation (matched on a per-socket header), so tests can address it through the SDK.
 */
export async function connect(
  stack: LocalStack,
  uid: string,
  options: ConnectOptions = {},
): Promise<TestSocket> {
  const tag = randomUUID();
  const connected = nextInvocation(stack, 'connect', (r) => eventOf(r).headers?.['x-test-socket'] === tag);
  const token = await tokenFor(stack, uid, options.topics ?? []);
  const query = new URLSearchParams({ token, ...options.query });
  const ws = new WebSocket(`${stack.wsUrl}?${query}`, {
    headers: { 'x-test-socket': tag, ...options.headers },
  });
  const socket = new TestSocket(ws, stack);
  openSockets.add(socket);
  void socket.closed.then(() => openSockets.delete(socket));
  await whenOpen(ws, `${uid}'s socket to open`);
  socket.connectionId = eventOf(await connected).requestContext.connectionId;
  return socket;
}

/** A `$connect` held where the authorizer has let the handshake through and nothing is stored. */
export interface HeldConnect {
  /** Resolves once a handshake reaches `$connect` and is held there. */
  readonly reached: Promise<void>;
  /** Lets every held handshake, and every later one, on into the real `$connect`. */
  release(): void;
  /** Puts the stack's own `$connect` back. */
  restore(): void;
}

/** The stack's real `$connect`, imported apart under `tag` with the stack's variables. */
async function realConnectOf(stack: LocalStack, tag: string) {
  const { importEnvironment } = await import('../../local/handlers');
  return importEnvironment(
    fileURLToPath(new URL(`../../${HANDLERS.connect}`, import.meta.url)),
    `?${tag}`,
    stack.environmentOf('connect'),
  );
}

/** A promise and the function that resolves it (Node 20 has no `Promise.withResolvers`). */
function signal(): { readonly promise: Promise<void>; readonly fire: () => void } {
  let fire: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { promise, fire };
}

/**
 * Holds every `$connect` from now on until `release()`, then runs the real handler in its own
 * environment (the stack's variables, imported apart under `tag`), so a test can act in the window
 * between the authorizer and `$connect` deterministically. Call `restore()` in a `finally`.
 */
export async function holdConnect(stack: LocalStack, tag: string): Promise<HeldConnect> {
  const realConnect = await realConnectOf(stack, tag);
  const reached = signal();
  const released = signal();
  const restore = stack.emulator.setHandler('connect', async (event, context) => {
    reached.fire();
    await released.promise;
    return realConnect(event, context);
  });
  return { reached: reached.promise, release: released.fire, restore };
}

/** A `$connect` that has run (its record stored, its re-reads done) and whose answer is held. */
export interface HeldConnectAnswer {
  /** Resolves once a handshake's `$connect` has returned, its answer not yet given. */
  readonly answered: Promise<void>;
  /** Gives every held answer, and every later one at once. */
  release(): void;
  /** Puts the stack's own `$connect` back. */
  restore(): void;
}

/**
 * Runs every `$connect` from now on to its end in its own environment (as {@link holdConnect})
 * and holds its answer until `release()`: the record is stored and API Gateway still answers 410
 * to posts, as while a real `$connect` runs. Call `restore()` in a `finally`.
 */
export async function holdConnectAnswer(stack: LocalStack, tag: string): Promise<HeldConnectAnswer> {
  const realConnect = await realConnectOf(stack, tag);
  const answered = signal();
  const released = signal();
  const restore = stack.emulator.setHandler('connect', async (event, context) => {
    const result = await realConnect(event, context);
    answered.fire();
    await released.promise;
    return result;
  });
  return { answered: answered.promise, release: released.fire, restore };
}

/**
 * The HTTP status and body a refused handshake got; fails the test if the socket opens instead,
 * or if no answer comes within `ms`.
 */
export function handshakeRefusal(
  url: string,
  headers: Record<string, string> = {},
  ms = WAIT_MS,
): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url, { headers });
  ws.on('error', () => {});
  return within(
    new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.terminate();
        reject(new Error('the handshake succeeded'));
      });
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
    }),
    ms,
    'the handshake answer',
  );
}

/**
 * Posts `data` to a connection whose client has stopped reading, until the emulator refuses a post
 * (429 `LimitExceededException`: the socket holds 1 MiB unsent), one attempt each. Resolves to the
 * posts accepted before it; any other error fails the test, and so does reaching `max` accepted.
 */
export async function postUntilRefused(
  stack: LocalStack,
  connectionId: string,
  data: string,
  max = 1_000,
): Promise<number> {
  const client = new ApiGatewayManagementApiClient({ endpoint: stack.managementEndpoint, maxAttempts: 1 });
  try {
    for (let posted = 0; posted < max; posted++) {
      const refused = await client
        .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }))
        .then(
          () => false,
          (error: unknown) => {
            if (error instanceof LimitExceededException) return true;
            throw error;
          },
        );
      if (refused) return posted;
    }
  } finally {
    client.destroy();
  }
  throw new Error(`${max} posts to ${connectionId} were all accepted: the socket never filled`);
}

/** A Management API client on the stack, as a backend would build it. */
export function managementClient(stack: LocalStack): ApiGatewayManagementApiClient {
  return new ApiGatewayManagementApiClient({ endpoint: stack.managementEndpoint });
}

/** A document client on the stack's DynamoDB. */
export function documentClient(stack: LocalStack): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: stack.dynamodbEndpoint, region: stack.region }),
  );
}

/**
 * Resets a message-log stream as a replaced table or a restarted in-memory stack would: its
 * counter item goes, and with it (unless `counterOnly`) every message; resolves to the seqs that
 * were stored. The next publish to the stream starts a new epoch at seq 1.
 */
export async function resetStream(
  stack: LocalStack,
  stream: string,
  options: { counterOnly?: boolean } = {},
): Promise<number[]> {
  const doc = documentClient(stack);
  try {
    const TableName = stack.tableNames[MESSAGES_TABLE.id] as string;
    const stored = await doc.send(
      new QueryCommand({
        TableName,
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': LOG_ATTR.stream },
        ExpressionAttributeValues: { ':s': stream },
        ConsistentRead: true,
      }),
    );
    const seqs = (stored.Items ?? []).map((item) => Number(item[LOG_ATTR.seq]));
    for (const seq of seqs) {
      if (options.counterOnly === true && seq !== 0) continue;
      await doc.send(
        new DeleteCommand({ TableName, Key: { [LOG_ATTR.stream]: stream, [LOG_ATTR.seq]: seq } }),
      );
    }
    return seqs;
  } finally {
    doc.destroy();
  }
}

/** Every item of one connection's item collection in the connections table. */
export async function recordsOf(stack: LocalStack, connectionId: string): Promise<Record<string, unknown>[]> {
  const doc = documentClient(stack);
  try {
    const out = await doc.send(
      new QueryCommand({
        TableName: stack.tableName,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': ATTR.pk },
        ExpressionAttributeValues: { ':pk': connectionId },
        ConsistentRead: true,
      }),
    );
    return out.Items ?? [];
  } finally {
    doc.destroy();
  }
}

/** POSTs a publish body to the stack's `/publish`, expects 200 and returns the answer. */
export async function publishOk<T = Record<string, unknown>>(stack: LocalStack, body: object): Promise<T> {
  const answer = await postJson(stack, '/publish', body);
  expect(answer.status).toBe(200);
  return answer.body as T;
}

/** POSTs JSON to a stack path and returns the status and parsed body. */
export async function postJson(
  stack: LocalStack,
  path: string,
  body: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${stack.httpUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Whether a process with this pid exists (signal 0 checks without signalling). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * An `authorization` header as the developer's key signs an SQS query-protocol call. The stack reads
 * the key and the service from it (the service tells SQS's query protocol from SNS's) and, as the
 * local stack does for every caller, does not check the signature.
 */
export const DEVELOPER_SQS_AUTHORIZATION =
  'AWS4-HMAC-SHA256 Credential=developer/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00';

/**
 * A document client that signs with a function's own credentials and goes through the stack's
 * IAM gate, as that function's calls do; one attempt, so a refusal or a cut shows at once.
 */
export function documentClientAs(stack: LocalStack, fn: HostedHandlerId): DynamoDBDocumentClient {
  const env = stack.environmentOf(fn);
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: stack.functionsDynamodbEndpoint,
      region: stack.region,
      credentials: {
        accessKeyId: env.AWS_ACCESS_KEY_ID as string,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string,
      },
      maxAttempts: 1,
    }),
  );
}

/**
 * Floods `socket` with pings: twenty at once, then one more for every answer, until it closes.
 * Resolves to every frame it was sent back, parsed, in order.
 */
export function floodUntilClosed(socket: TestSocket): Promise<Record<string, unknown>[]> {
  const answers: Record<string, unknown>[] = [];
  socket.ws.on('message', (data: Buffer) => {
    answers.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
    socket.ws.send('{"action":"ping"}');
  });
  for (let i = 0; i < 20; i++) socket.ws.send('{"action":"ping"}');
  return socket.waitForClose(WAIT_MS * 4).then(() => answers);
}

/**
 * Pings over `sockets` in turn: two on each at first, then one on the next open socket for every
 * answer, until every socket has closed. Each socket sends its share of the frames, so a uid's
 * shared allowance is spent long before any one connection's. Resolves to every answer, as text.
 */
export async function floodInTurn(sockets: readonly TestSocket[]): Promise<string[]> {
  const answers: string[] = [];
  let turn = 0;
  const sendNext = () => {
    for (let tries = 0; tries < sockets.length; tries++) {
      const socket = sockets[turn++ % sockets.length] as TestSocket;
      if (socket.ws.readyState === socket.ws.OPEN) {
        socket.ws.send('{"action":"ping"}');
        return;
      }
    }
  };
  for (const socket of sockets) {
    socket.ws.on('message', (data: Buffer) => {
      answers.push(data.toString('utf8'));
      sendNext();
    });
  }
  for (let i = 0; i < 2 * sockets.length; i++) sendNext();
  await Promise.all(sockets.map((socket) => socket.waitForClose(WAIT_MS * 4)));
  return answers;
}

/**
 * Writes `count` messages (`data` of `bytes` JSON bytes) and the counter straight into a uid's
 * log, as `count` publishes without ids would have: publishing them one by one takes half a
 * minute on a loaded machine, and the publish path is not what these tests are about. Each message
 * has what a publish writes: a generated id (a UUID), the stream's epoch (12 characters of
 * base64url) and a ts in epoch ms. Resolves to the epoch.
 */
export async function seedLog(
  running: LocalStack,
  uid: string,
  count: number,
  bytes: number,
): Promise<string> {
  const doc = documentClient(running);
  const TableName = running.tableNames[MESSAGES_TABLE.id] as string;
  const stream = STREAM.uid(uid);
  const expiresAt = Math.ceil(Date.now() / 1000) + 3600;
  const epoch = randomBytes(9).toString('base64url');
  const items: Record<string, unknown>[] = [
    { [LOG_ATTR.stream]: stream, [LOG_ATTR.seq]: 0, [LOG_ATTR.latest]: count, [LOG_ATTR.epoch]: epoch },
  ];
  for (let seq = 1; seq <= count; seq++) {
    items.push({
      [LOG_ATTR.stream]: stream,
      [LOG_ATTR.seq]: seq,
      [LOG_ATTR.id]: randomUUID(),
      [LOG_ATTR.epoch]: epoch,
      [LOG_ATTR.data]: JSON.stringify('d'.repeat(bytes - 2)),
      [LOG_ATTR.ts]: Date.now(),
      [LOG_ATTR.expiresAt]: expiresAt,
    });
  }
  try {
    for (let i = 0; i < items.length; i += 25) {
      const out = await doc.send(
        new BatchWriteCommand({
          RequestItems: { [TableName]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
        }),
      );
      expect(out.UnprocessedItems?.[TableName] ?? []).toEqual([]);
    }
  } finally {
    doc.destroy();
  }
  return epoch;
}
