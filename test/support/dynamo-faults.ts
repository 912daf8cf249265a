/**
 * A DynamoDB fault proxy: a small HTTP server in front of any DynamoDB endpoint (dynalite,
 * DynamoDB Local, or a real one) that answers a configurable share of requests with the errors
 * DynamoDB really sends, and can slow every request down. Point a stack's `dynamodbEndpoint` (or
 * any SDK client) at it to see how the code behaves when DynamoDB throttles or fails.
 *
 * The errors are shaped as DynamoDB's JSON 1.0 protocol shapes them, so `@aws-sdk/client-dynamodb`
 * classifies them exactly as in AWS: a 400 whose body `__type` ends in
 * `#ProvisionedThroughputExceededException` (a throttling error: the SDK retries it, by default 3
 * attempts in all, with its 500 ms throttling backoff base), or a 500 `InternalServerError` (a
 * transient error, retried the same way with a 100 ms base). Keep that in mind when counting: one
 * failed SDK call is `maxAttempts` requests here.
 */
import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What an injected fault answers: a throttle (400), a server error (500), a request DynamoDB
 * refuses for itself (400 `ValidationException`, as a missing permission's
 * `AccessDeniedException` is refused too), which no retry changes, or a table that is not there
 * (400 `ResourceNotFoundException`). `lost` is no error of DynamoDB's: the request is forwarded and
 * carried out, and its answer is then dropped with the connection, as when a network fails
 * between the two; the SDK sends the request again.
 */
export type DynamoFault = 'throttle' | 'error' | 'reject' | 'missing' | 'lost';

/** One request as the fault switches see it. */
export interface DynamoRequestInfo {
  /** `PutItem`, `Query`, ... (from `X-Amz-Target`); `''` when absent. */
  readonly operation: string;
  /** The request's `TableName`, when it has one. */
  readonly table: string | undefined;
  /** Requests seen so far for this operation, this one included (1 for the first). */
  readonly seq: number;
  /** The raw JSON request body, to pick requests by key (`body.includes('"u1"')`). */
  readonly body: string;
}

/** The switches; change them at any time, they apply to the next request. */
export interface DynamoFaults {
  /** Share of requests answered 400 `ProvisionedThroughputExceededException`, 0–1. @default 0 */
  throttleRate: number;
  /** Share of requests answered 500 `InternalServerError`, 0–1. @default 0 */
  errorRate: number;
  /** Delay before each request is forwarded (or refused), in ms. @default 0 */
  delayMs: number;
  /** Only these operations are faulted (delays still apply to all). @default every operation */
  operations: ReadonlySet<string> | undefined;
  /**
   * Decides each request's fault itself, instead of the rates: for exact scripts such as "the
   * first two PutItems are throttled". Returning `undefined` forwards the request. @default none
   */
  plan: ((request: DynamoRequestInfo) => DynamoFault | undefined) | undefined;
  /**
   * Holds a request until the promise it returns settles, then goes on with it (a fault, or
   * forwarding): for exact orders such as "this write lands after that one". Returning `undefined`
   * holds nothing. @default none
   */
  hold: ((request: DynamoRequestInfo) => Promise<unknown> | undefined) | undefined;
}

/** Counters per operation. */
export interface DynamoOperationStats {
  requests: number;
  throttled: number;
  errors: number;
}

/** What the proxy saw. */
export interface DynamoFaultStats {
  readonly requests: number;
  readonly forwarded: number;
  readonly throttled: number;
  readonly errors: number;
  readonly byOperation: Readonly<Record<string, Readonly<DynamoOperationStats>>>;
}

/** Options for {@link startDynamoFaultProxy}. */
export interface DynamoFaultProxyOptions {
  /** The DynamoDB endpoint requests are forwarded to, `http://host:port`. */
  readonly target: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Initial switches. @default no faults */
  readonly faults?: Partial<DynamoFaults>;
  /** Source of randomness for the rates, injectable for reproducible runs. @default Math.random */
  readonly random?: () => number;
  /**
   * Rewrites the access key id in every request's SigV4 credential. DynamoDB Local keeps one
   * database per access key id and region (unless started with `-sharedDb`) and checks no
   * signatures, so each proxy with its own key gives its callers a private database on one
   * shared DynamoDB Local. @default requests are forwarded untouched
   */
  readonly accessKeyId?: string;
}

/** A running proxy. */
export interface DynamoFaultProxy {
  /** `http://127.0.0.1:PORT`: use it as the DynamoDB endpoint. */
  readonly endpoint: string;
  readonly faults: DynamoFaults;
  readonly stats: DynamoFaultStats;
  /** Sets every counter back to zero. */
  resetStats(): void;
  /** Stops listening and closes every socket. Idempotent. */
  stop(): Promise<void>;
}

const API_VERSION = 'com.amazonaws.dynamodb.v20120810';

/** DynamoDB's own wording for each fault. */
const FAULT_RESPONSES: Readonly<
  Record<Exclude<DynamoFault, 'lost'>, { status: number; type: string; message: string }>
> = {
  throttle: {
    status: 400,
    type: 'ProvisionedThroughputExceededException',
    message:
      'The level of configured provisioned throughput for the table was exceeded. ' +
      'Consider increasing your provisioning level with the UpdateTable API.',
  },
  error: { status: 500, type: 'InternalServerError', message: 'Internal server error' },
  reject: { status: 400, type: 'ValidationException', message: 'One or more parameter values were invalid' },
  missing: { status: 400, type: 'ResourceNotFoundException', message: 'Requested resource not found' },
};

/** Hop-by-hop headers a proxy must not forward (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

function forwardHeaders(headers: IncomingHttpHeaders, accessKeyId: string | undefined): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name)) out[name] = value;
  }
  if (accessKeyId !== undefined && typeof out.authorization === 'string') {
    out.authorization = out.authorization.replace(/Credential=[^/,\s]+\//, `Credential=${accessKeyId}/`);
  }
  return out;
}

function operationOf(headers: IncomingHttpHeaders): string {
  const target = headers['x-amz-target'];
  if (typeof target !== 'string') return '';
  const dot = target.lastIndexOf('.');
  return dot === -1 ? target : target.slice(dot + 1);
}

function tableOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { TableName?: unknown };
    return typeof parsed.TableName === 'string' ? parsed.TableName : undefined;
  } catch {
    return undefined;
  }
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendFault(res: ServerResponse, fault: Exclude<DynamoFault, 'lost'>): void {
  const { status, type, message } = FAULT_RESPONSES[fault];
  const body = JSON.stringify({ __type: `${API_VERSION}#${type}`, message });
  res.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.0',
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-RequestId': randomUUID(),
  });
  res.end(body);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Starts a fault proxy in front of `options.target`.
 *
 * @example
 * const proxy = await startDynamoFaultProxy({ target: dynalite.endpoint, faults: { throttleRate: 0.2 } });
 * const stack = await startLocalStack({ port: 0, dynamodbEndpoint: proxy.endpoint });
 * // ... proxy.stats.throttled, proxy.faults.throttleRate = 0 ...
 * await stack.stop();
 * await proxy.stop();
 */
export async function startDynamoFaultProxy(options: DynamoFaultProxyOptions): Promise<DynamoFaultProxy> {
  const target = new URL(options.target);
  if (target.protocol !== 'http:') throw new Error(`the fault proxy forwards to http:// only, got ${target}`);
  const random = options.random ?? Math.random;
  const faults: DynamoFaults = {
    throttleRate: 0,
    errorRate: 0,
    delayMs: 0,
    operations: undefined,
    plan: undefined,
    hold: undefined,
    ...options.faults,
  };
  let totals = { requests: 0, forwarded: 0, throttled: 0, errors: 0 };
  let byOperation: Record<string, DynamoOperationStats> = {};
  const agent = new Agent({ keepAlive: true, maxSockets: 128 });

  const decide = (info: DynamoRequestInfo): DynamoFault | undefined => {
    if (faults.operations !== undefined && !faults.operations.has(info.operation)) return undefined;
    if (faults.plan !== undefined) return faults.plan(info);
    const roll = random();
    if (roll < faults.throttleRate) return 'throttle';
    if (roll < faults.throttleRate + faults.errorRate) return 'error';
    return undefined;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, lose = false) => {
    const upstream = request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...forwardHeaders(req.headers, options.accessKeyId), host: target.host },
        agent,
      },
      (answer) => {
        if (lose) {
          // Carried out upstream; the client never hears.
          answer.resume();
          answer.on('end', () => res.destroy());
          return;
        }
        const headers: IncomingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (!HOP_BY_HOP.has(name)) headers[name] = value;
        }
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      // The target is down: the client sees a dropped connection, as it would without the proxy.
      res.destroy();
    });
    upstream.end(body);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      const operation = operationOf(req.headers);
      const counters = byOperation[operation] ?? { requests: 0, throttled: 0, errors: 0 };
      byOperation[operation] = counters;
      totals.requests++;
      counters.requests++;
      const text = body.toString('utf8');
      const info = { operation, table: tableOf(text), seq: counters.requests, body: text };
      const fault = decide(info);
      if (faults.delayMs > 0) await sleep(faults.delayMs);
      await faults.hold?.(info)?.catch(() => {});
      if (fault === undefined || fault === 'lost') {
        totals.forwarded++;
        forward(req, res, body, fault === 'lost');
        return;
      }
      if (fault === 'throttle') {
        totals.throttled++;
        counters.throttled++;
      } else {
        totals.errors++;
        counters.errors++;
      }
      sendFault(res, fault);
    })().catch(() => res.destroy());
  });
  server.keepAliveTimeout = 5_000;

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    faults,
    get stats(): DynamoFaultStats {
      const copy: Record<string, DynamoOperationStats> = {};
      for (const [name, counters] of Object.entries(byOperation)) copy[name] = { ...counters };
      return { ...totals, byOperation: copy };
    },
    resetStats() {
      totals = { requests: 0, forwarded: 0, throttled: 0, errors: 0 };
      byOperation = {};
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return stopping;
    },
  };
}
