/**
 * DynamoDB with IAM in front: an HTTP proxy the functions use as their DynamoDB endpoint, which
 * evaluates each call signed with a function's credentials and forwards what is allowed to the
 * DynamoDB behind it (dynalite, DynamoDB Local). It sits on the publish path, so it does little:
 * calls that are not a function's stream straight through, and a function's call is read for the
 * `X-Amz-Target` header and the table and index names only. Only a caller whose policies
 * condition on `dynamodb:LeadingKeys` (the authorizer's) has its calls parsed whole, for the
 * partition keys they name; which callers those are is decided once per caller's policies.
 */
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import { Readable } from 'node:stream';
import { inProcessDynamo } from '../dynalite';
import { listenOnFreePort } from '../http-util';
import type { CallerIdentity } from './denials';
import type { IamEnforcer } from './enforcer';
import { conditionsOn, type PolicyDocument } from './policy';
import { dynamoDbRequests } from './requests';

/**
 * The access key id of every call that reaches a DynamoDB on this machine: the stack's own (tables,
 * TTL) and, stamped by the IAM gate (local/iam/dynamo-gate.ts), each function's, which signs with
 * a key of its own. DynamoDB Local keeps one database per access key id unless started with
 * `-sharedDb`, so the functions would otherwise each find an empty database. Kept here, in a
 * module that imports no SDK, since the gate also runs in dynalite's own process.
 */
export const LOCAL_DYNAMO_ACCESS_KEY_ID = 'local';

/** A running gate. */
export interface DynamoGate {
  /** Where the functions send their DynamoDB calls. */
  readonly endpoint: string;
  /**
   * Milliseconds since the gate last answered a call, 0 while one is in flight: what dynalite's
   * own background work (the TTL sweeper) waits on, so that it runs between the stack's calls.
   */
  idleMs(): number;
  stop(): Promise<void>;
}

/** Options for {@link startDynamoGate}. */
export interface DynamoGateOptions {
  /** The DynamoDB behind the gate, `http://host:port`. */
  readonly upstream: string;
  /** The enforcer in force; until there is one, every call passes (no caller is known yet). */
  readonly enforcer: () => IamEnforcer | undefined;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

/** Operations naming several tables (or none at the top level): their body is parsed whole. */
const MULTI_TABLE = new Set(['BatchWriteItem', 'BatchGetItem', 'TransactWriteItems', 'TransactGetItems']);

// In DynamoDB's JSON every attribute value is an object and every quote inside a string is
// escaped, so `"TableName":"` can only be the request's own top-level field.
const TABLE_NAME = /"TableName"\s*:\s*"([^"\\]+)"/;
const INDEX_NAME = /"IndexName"\s*:\s*"([^"\\]+)"/;

/**
 * The table and index fields of one DynamoDB call, read without parsing its items; with
 * `withKeys`, the whole body, its keys and items included.
 */
export function callFields(operation: string, body: string, withKeys = false): Record<string, unknown> {
  if (withKeys || MULTI_TABLE.has(operation)) {
    try {
      const parsed = JSON.parse(body) as unknown;
      return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    } catch {
      // DynamoDB answers a malformed body itself.
      return {};
    }
  }
  const table = TABLE_NAME.exec(body)?.[1];
  const index = INDEX_NAME.exec(body)?.[1];
  return {
    ...(table === undefined ? {} : { TableName: table }),
    ...(index === undefined ? {} : { IndexName: index }),
  };
}

/** Per set of policies, whether they condition on `dynamodb:LeadingKeys`: a caller's policies never change. */
const conditionedOnKeys = new WeakMap<readonly PolicyDocument[], boolean>();

/** Whether `caller`'s calls must be read for the partition keys they name. */
export function readsKeysOf(caller: CallerIdentity): boolean {
  let reads = conditionedOnKeys.get(caller.policies);
  if (reads === undefined) {
    reads = conditionsOn(caller.policies, 'dynamodb:LeadingKeys');
    conditionedOnKeys.set(caller.policies, reads);
  }
  return reads;
}

/** The request again, its body already read: what dynalite's listener reads of a request. */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  return Object.assign(Readable.from(body.length === 0 ? [] : [body]), {
    headers: req.headers,
    method: req.method,
    url: req.url,
  }) as unknown as IncomingMessage;
}

/**
 * The headers with the SigV4 credential's access key id set to the stack's own, so that a DynamoDB
 * Local keeping one database per key serves every function the stack's tables. The gate has read
 * the caller from the original key already; neither dynalite nor DynamoDB Local checks signatures.
 */
function stampKey(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { authorization } = headers;
  if (authorization === undefined) return headers;
  return {
    ...headers,
    authorization: authorization.replace(
      /Credential=[^/,\s]+\//,
      `Credential=${LOCAL_DYNAMO_ACCESS_KEY_ID}/`,
    ),
  };
}

/**
 * Starts the gate on a random loopback port.
 *
 * @example
 * const gate = await startDynamoGate({ upstream: dynamo.endpoint, enforcer: () => enforcer });
 * // functions get DYNAMODB_ENDPOINT=gate.endpoint
 */
export async function startDynamoGate(options: DynamoGateOptions): Promise<DynamoGate> {
  const upstream = new URL(options.upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const forward = (req: IncomingMessage, res: ServerResponse, body?: Buffer) => {
    // A dynalite running in this process answers on the gate's own response, with no second HTTP
    // hop; looked up on each call, so a stopped one is reached (and refuses) over HTTP as before.
    const local = inProcessDynamo(options.upstream);
    if (local !== undefined) {
      local(body === undefined ? req : replay(req, body), res);
      return;
    }
    const outgoing = request(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: stampKey(req.headers),
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    outgoing.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'DynamoDB behind the local IAM gate is unreachable' }));
      } else res.destroy();
    });
    if (body === undefined) req.pipe(outgoing);
    else outgoing.end(body);
  };

  const check = (
    req: IncomingMessage,
    res: ServerResponse,
    enforcer: IamEnforcer,
    caller: CallerIdentity,
  ) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.slice(target.indexOf('.') + 1);
      const { partitionKeys } = enforcer;
      const withKeys = partitionKeys !== undefined && readsKeysOf(caller);
      const requests = dynamoDbRequests(
        enforcer.scope,
        operation,
        callFields(operation, body.toString('utf8'), withKeys),
        enforcer.keys.table,
        withKeys ? partitionKeys : undefined,
      );
      if (enforcer.refuse(res, 'dynamodb', caller, requests)) return;
      forward(req, res, body);
    });
  };

  let inFlight = 0;
  let lastAnswered = performance.now();
  const server = createServer((req, res) => {
    inFlight++;
    res.once('close', () => {
      inFlight--;
      lastAnswered = performance.now();
    });
    const enforcer = options.enforcer();
    const caller = enforcer?.callerOf(req);
    if (enforcer === undefined || caller === undefined) forward(req, res);
    else check(req, res, enforcer, caller);
  });
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? '127.0.0.1';
  const port = await listenOnFreePort(server, host);
  return {
    endpoint: `http://${host}:${port}`,
    idleMs: () => (inFlight > 0 ? 0 : performance.now() - lastAnswered),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
