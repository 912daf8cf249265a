/**
 * Helpers for the hardening tests (faults, churn, fuzzing, attacks) and the soak script: a stack
 * on a private DynamoDB, optionally behind the DynamoDB fault proxy; raw sockets that record every
 * pushed message; a seeded random source; bounded parallelism; reads of whole tables.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { WebSocket } from 'ws';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack';
import { type BackingDynamo, sharedDynamoEndpoint, startBackingDynamo } from '../local/backing-dynamo';
import { type DynamoFaultProxy, type DynamoFaults, startDynamoFaultProxy } from '../support/dynamo-faults';
import { tokenFor } from '../support/tokens';
import { within } from '../support/within';

export { tokenFor };

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** Options for {@link startHardeningStack}. */
export interface HardeningStackOptions extends LocalStackOptions {
  /** Put the DynamoDB fault proxy between the handlers and DynamoDB, with these switches (set once the stack is up). */
  readonly dynamoFaults?: Partial<DynamoFaults>;
  /** Extra handler environment (`PUSH_SEND_ATTEMPTS`, ...), read by the handlers at load. */
  readonly handlerEnv?: Readonly<Record<string, string>>;
}

/** A stack, its DynamoDB, and the fault proxy when one was asked for. */
export interface HardeningStack {
  readonly stack: LocalStack;
  readonly dynamo: BackingDynamo;
  /** Present when `dynamoFaults` was given. */
  readonly proxy: DynamoFaultProxy | undefined;
  /** An endpoint that reaches DynamoDB without faults (for the test's own reads). */
  readonly directEndpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts a local stack on port 0 over a private DynamoDB (dynalite, or DynamoDB Local when
 * `DYNAMODB_ENDPOINT` is set), optionally behind the DynamoDB fault proxy.
 */
export async function startHardeningStack(options: HardeningStackOptions = {}): Promise<HardeningStack> {
  const { dynamoFaults, handlerEnv, ...stackOptions } = options;
  const dynamo = await startBackingDynamo();
  const proxy =
    dynamoFaults === undefined ? undefined : await startDynamoFaultProxy({ target: dynamo.endpoint });
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      port: 0,
      ...stackOptions,
      // Variables the handlers read once, when the stack imports them.
      ...(handlerEnv === undefined ? {} : { environment: handlerEnv }),
      dynamodbEndpoint: proxy?.endpoint ?? dynamo.endpoint,
    });
  } catch (error) {
    await proxy?.stop();
    await dynamo.stop();
    throw error;
  }
  // The switches go on once the stack is up: its own table setup is not what is under test.
  if (proxy !== undefined) Object.assign(proxy.faults, dynamoFaults);
  return {
    stack,
    dynamo,
    proxy,
    directEndpoint: dynamo.endpoint,
    stop: async () => {
      await stack.stop();
      await proxy?.stop();
      await dynamo.stop();
    },
  };
}

/** A deterministic uniform source in [0, 1) (mulberry32), for reproducible fault draws. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `worker` over `items` with at most `concurrency` in flight; rejects on the first failure. */
export async function parallel<T>(
  items: readonly T[],
  concurrency: number,
  worker: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      await worker(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
}

/** What `POST /publish` answers for an unsharded publish that reached its uid's one connection. */
export function deliveredOnce(id: string): Record<string, unknown> {
  return { id, connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 };
}

/**
 * A raw `ws` client that records the id of every pushed `message` frame and hands out every
 * other frame in order. Waits resolve on events, never on sleeps.
 */
export class Client {
  readonly uid: string;
  readonly ws: WebSocket;
  /** The id API Gateway gave this connection (set once the handshake succeeded). */
  connectionId = '';
  /** Ids of pushed messages, in arrival order. */
  readonly messages: string[] = [];
  readonly closed: Promise<number>;
  readonly #replies: Record<string, unknown>[] = [];
  readonly #replyWaiters: ((frame: Record<string, unknown>) => void)[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(uid: string, ws: WebSocket) {
    this.uid = uid;
    this.ws = ws;
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      if (frame.type === 'message' || frame.type === 'messages') {
        // A replay packs many message frames into one `messages` frame.
        const pushed = frame.type === 'message' ? [frame] : (frame.messages as Record<string, unknown>[]);
        for (const message of pushed) this.messages.push(String(message.id));
        for (const waiter of [...this.#waiters]) waiter();
        return;
      }
      const waiter = this.#replyWaiters.shift();
      if (waiter === undefined) this.#replies.push(frame);
      else waiter(frame);
    });
  }

  /** Sends a frame (raw text as is, anything else as JSON) and resolves to the next reply frame. */
  request(frame: unknown, ms = 10_000): Promise<Record<string, unknown>> {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    return this.reply(ms);
  }

  /** The next frame that is not a pushed message. */
  reply(ms = 10_000): Promise<Record<string, unknown>> {
    const frame = this.#replies.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    return within(new Promise((resolve) => this.#replyWaiters.push(resolve)), ms, `a reply to ${this.uid}`);
  }

  /** Resolves once `count` messages have arrived in all. */
  waitForMessages(count: number, ms = 10_000): Promise<void> {
    return this.waitUntil(() => this.messages.length >= count, ms, `${count} messages for ${this.uid}`);
  }

  /** Resolves once `check()` holds, checking again after every pushed message. */
  waitUntil(check: () => boolean, ms = 10_000, what = `messages for ${this.uid}`): Promise<void> {
    if (check()) return Promise.resolve();
    let waiter = () => {};
    const done = new Promise<void>((resolve) => {
      waiter = () => {
        if (check()) resolve();
      };
      this.#waiters.add(waiter);
    });
    return within(done, ms, `${what} (have ${this.messages.length})`).finally(() =>
      this.#waiters.delete(waiter),
    );
  }

  /** Closes cleanly and waits for the close. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    await within(this.closed, 10_000, `${this.uid}'s socket to close`);
  }
}

/** What a handshake came to: an open client, or the HTTP status that refused it. */
export type Opened = { readonly client: Client } | { readonly status: number };

let tags = 0;

/**
 * Opens a socket with `token` (raw, as the query parameter); never rejects on a refusal. The
 * connection id comes from the `$connect` invocation, matched on a per-socket header.
 */
export function openSocket(
  stack: LocalStack,
  uid: string,
  token: string | undefined,
  ms = 10_000,
): Promise<Opened> {
  const tag = String(++tags);
  let connectionId = '';
  const off = stack.emulator.onInvoke((record) => {
    const event = record.event as {
      headers?: Record<string, string>;
      requestContext?: { connectionId?: string };
    };
    if (record.functionName === 'connect' && event.headers?.['x-hardening-socket'] === tag) {
      connectionId = event.requestContext?.connectionId ?? '';
    }
  });
  const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(`${stack.wsUrl}${query}`, { headers: { 'x-hardening-socket': tag } });
  const client = new Client(uid, ws);
  return within(
    new Promise<Opened>((resolve) => {
      ws.once('open', () => {
        client.connectionId = connectionId;
        resolve({ client });
      });
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0 });
      });
      ws.once('error', () => resolve({ status: 0 }));
    }),
    ms,
    `${uid}'s handshake`,
  ).finally(off);
}

/** Opens an authorized socket; fails the test if refused. */
export async function openClient(
  stack: LocalStack,
  uid: string,
  topics: readonly string[] = [],
  audience?: string,
): Promise<Client> {
  const opened = await openSocket(
    stack,
    uid,
    await tokenFor(stack, uid, topics, audience === undefined ? {} : { audience }),
  );
  if ('status' in opened) throw new Error(`${uid}'s handshake was refused with ${opened.status}`);
  return opened.client;
}

/** Every item of a table, read consistently through `endpoint`. */
export async function scanAll(
  endpoint: string,
  tableName: string,
  region = 'us-east-1',
): Promise<Record<string, unknown>[]> {
  const doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint, region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
  );
  const items: Record<string, unknown>[] = [];
  try {
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(
        new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey }),
      );
      items.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey !== undefined);
  } finally {
    doc.destroy();
  }
  return items;
}

/** A table's items as sorted JSON lines: equal snapshots mean an unchanged table. */
export async function snapshot(endpoint: string, tableName: string): Promise<string[]> {
  const items = await scanAll(endpoint, tableName);
  return items
    .map((item) =>
      JSON.stringify(item, (_key, value: unknown) => (value instanceof Set ? [...value].sort() : value)),
    )
    .sort();
}

/** An HTTP answer: the status and the parsed JSON body (`{ text }` when it was not JSON). */
export interface HttpAnswer {
  readonly status: number;
  readonly body: Record<string, unknown> & { readonly error?: { code: string; message: string } };
}

/** POSTs a raw or JSON body to the stack's `/publish`; the status and the parsed answer. */
export async function publish(stack: LocalStack, body: unknown): Promise<HttpAnswer> {
  const res = await fetch(`${stack.httpUrl}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body:
      typeof body === 'string' ? body : body instanceof Uint8Array ? Buffer.from(body) : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: HttpAnswer['body'];
  try {
    parsed = JSON.parse(text) as HttpAnswer['body'];
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts', 'hardening');

/**
 * Keeps the figures of one run (`test-artifacts/hardening/<name>.json`, git-ignored), tagged with
 * the DynamoDB it ran on: docs/reliability.md is written from these files.
 */
export function recordFigures(name: string, figures: Record<string, unknown>): void {
  const dynamo = sharedDynamoEndpoint() === undefined ? 'dynalite' : 'dynamodb-local';
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(
    join(ARTIFACTS, `${name}.${dynamo}.json`),
    `${JSON.stringify({ name, dynamo, at: new Date().toISOString(), ...figures }, null, 2)}\n`,
  );
}
