/**
 * The naive fan-out the bench measures against, written only for the bench and never shipped: the
 * AWS WebSocket samples' publish (simple-websockets-chat-app's `sendmessage`, ported to SDK v3 as
 * people do), namely one full-table `Scan`, not paginated, so it silently stops at DynamoDB's 1 MB
 * page, then an unbounded `Promise.all` of `PostToConnection` through a client with SDK defaults
 * (its 50 sockets, its standard retries), and the sample's `statusCode === 410` check, which never
 * matches under SDK v3. Each post's outcome is counted, so the throttles and failures are honest.
 *
 * Scenario b runs it in a process of its own ({@link startBaselineProcess}: this file, forked with
 * `--baseline-child`), as one Lambda would run on its own CPU: left in the bench's process it would
 * share its event loop with the emulator and dynalite, which no Lambda does.
 */
import { fileURLToPath } from 'node:url';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand, type ScanCommandInput } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ATTR, SK } from '../../lambdas/shared/tables';
import { FAKE_CREDENTIALS } from './env';
import { forkWorker, serveWorker } from './worker';

/** Whom the naive publish targets: Scan filters stand in for the indexes it does not use. */
export type NaiveTarget = { readonly topic: string } | { readonly uid: string } | { readonly all: true };

/** Clients as the sample builds them: SDK defaults, only the endpoints pointed at the stack. */
export interface NaiveClients {
  readonly doc: DynamoDBDocumentClient;
  readonly management: ApiGatewayManagementApiClient;
  destroy(): void;
}

/** Builds the sample's clients against a DynamoDB and a Management API endpoint. */
export function naiveClients(dynamodbEndpoint: string, managementEndpoint: string): NaiveClients {
  const doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: dynamodbEndpoint, region: 'us-east-1', credentials: FAKE_CREDENTIALS }),
  );
  const management = new ApiGatewayManagementApiClient({
    endpoint: managementEndpoint,
    region: 'us-east-1',
    credentials: FAKE_CREDENTIALS,
    // The SDK's default handler (50 sockets), only without its "socket usage at capacity" warning,
    // which an unbounded Promise.all sets off on every run and which would bury the progress lines.
    requestHandler: new NodeHttpHandler({ socketAcquisitionWarningTimeout: 3_600_000 }),
  });
  return {
    doc,
    management,
    destroy: () => {
      doc.destroy();
      management.destroy();
    },
  };
}

/** Options for {@link naivePublish}. */
export interface NaiveOptions {
  /**
   * Follow `LastEvaluatedKey` (the fix the samples lack), so the Scan reaches every connection and
   * the fan-out times compare like for like. @default false, as the samples do
   */
  readonly paginate?: boolean;
  readonly onSettled?: (settled: number, total: number) => void;
}

/** What one naive publish did. */
export interface NaiveResult {
  /** Items the Scan read (DynamoDB bills them all, matching or not). */
  readonly itemsScanned: number;
  /** Connections the Scan page found: fewer than exist when the table passed 1 MB. */
  readonly found: number;
  /** True when the Scan stopped at 1 MB and `LastEvaluatedKey` was ignored (the sample's way). */
  readonly truncated: boolean;
  readonly delivered: number;
  /** Posts that still failed with 429 after the SDK's retries. */
  readonly throttledFinal: number;
  /** 410s; the sample's `e.statusCode === 410` misses them under SDK v3, so nothing is deleted. */
  readonly gone: number;
  /** Every other failure. */
  readonly failed: number;
  readonly firstError?: string;
  /** From the call to the last post settling. */
  readonly elapsedMs: number;
  /** From the call to the Scan's answer. */
  readonly scanMs: number;
}

function scanInput(tableName: string, to: NaiveTarget): ScanCommandInput {
  if ('topic' in to) {
    return {
      TableName: tableName,
      FilterExpression: '#t = :t',
      ExpressionAttributeNames: { '#t': ATTR.topic },
      ExpressionAttributeValues: { ':t': to.topic },
    };
  }
  if ('uid' in to) {
    return {
      TableName: tableName,
      FilterExpression: '#u = :u AND #sk = :conn',
      ExpressionAttributeNames: { '#u': ATTR.uid, '#sk': ATTR.sk },
      ExpressionAttributeValues: { ':u': to.uid, ':conn': SK.connection },
    };
  }
  return {
    TableName: tableName,
    FilterExpression: '#sk = :conn',
    ExpressionAttributeNames: { '#sk': ATTR.sk },
    ExpressionAttributeValues: { ':conn': SK.connection },
  };
}

/**
 * One naive publish: Scan once (every page with `paginate`), then post to everything found at once.
 *
 * @example
 * const clients = naiveClients(stack.dynamodbEndpoint, stack.managementEndpoint);
 * const result = await naivePublish(clients, stack.tableName, { topic: 'bench' }, '{"type":"message"}');
 */
export async function naivePublish(
  clients: NaiveClients,
  tableName: string,
  to: NaiveTarget,
  payload: string,
  options: NaiveOptions = {},
): Promise<NaiveResult> {
  const started = performance.now();
  const ids: string[] = [];
  let itemsScanned = 0;
  let truncated = false;
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await clients.doc.send(new ScanCommand({ ...scanInput(tableName, to), ExclusiveStartKey }));
    for (const item of page.Items ?? []) ids.push(String(item[ATTR.connectionId]));
    itemsScanned += Number(page.ScannedCount ?? 0);
    ExclusiveStartKey = page.LastEvaluatedKey;
    truncated = ExclusiveStartKey !== undefined && options.paginate !== true;
  } while (ExclusiveStartKey !== undefined && options.paginate === true);
  const scanMs = performance.now() - started;
  const onSettled = options.onSettled;
  const counts = { delivered: 0, throttledFinal: 0, gone: 0, failed: 0 };
  let firstError: string | undefined;
  let settled = 0;
  const data = Buffer.from(payload, 'utf8');
  await Promise.all(
    ids.map(async (connectionId) => {
      try {
        await clients.management.send(
          new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }),
        );
        counts.delivered++;
      } catch (error) {
        const e = error as { name?: string; statusCode?: number; $metadata?: { httpStatusCode?: number } };
        // The sample's check. SDK v3 errors have no statusCode, so this never matches.
        if (e.statusCode === 410) {
          counts.gone++;
        } else if (e.$metadata?.httpStatusCode === 429) {
          counts.throttledFinal++;
        } else if (e.$metadata?.httpStatusCode === 410) {
          counts.gone++;
        } else {
          counts.failed++;
          firstError ??= `${e.name ?? 'Error'}: ${(error as Error).message}`;
        }
      } finally {
        settled++;
        onSettled?.(settled, ids.length);
      }
    }),
  );
  return {
    itemsScanned,
    found: ids.length,
    truncated,
    ...counts,
    ...(firstError === undefined ? {} : { firstError }),
    elapsedMs: performance.now() - started,
    scanMs,
  };
}

/** Items a full, paginated Scan reads: what the sample would cost if it did not stop at 1 MB. */
export async function fullScanItems(doc: DynamoDBDocumentClient, tableName: string): Promise<number> {
  let items = 0;
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({ TableName: tableName, Select: 'COUNT', ExclusiveStartKey }),
    );
    items += Number(page.ScannedCount ?? 0);
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey !== undefined);
  return items;
}

/** One naive publish for the baseline's process to run. */
interface BaselineRequest {
  readonly tableName: string;
  readonly to: NaiveTarget;
  readonly payload: string;
  readonly paginate: boolean;
}

/** The baseline's process, as the bench drives it. */
export interface BaselineProcess {
  publish(
    tableName: string,
    to: NaiveTarget,
    payload: string,
    options: { paginate: boolean; onSettled?: (settled: number, total: number) => void },
  ): Promise<NaiveResult>;
  stop(): Promise<void>;
}

/** Progress goes to the parent every this many settled posts (one IPC message per post is too many). */
const PROGRESS_EVERY = 250;

/**
 * Forks the baseline's process with the sample's clients pointed at the stack.
 *
 * @example
 * const baseline = await startBaselineProcess(stack.dynamodbEndpoint, stack.managementEndpoint);
 * const result = await baseline.publish(stack.tableName, { topic: 't' }, payload, { paginate: true });
 */
export async function startBaselineProcess(
  dynamodbEndpoint: string,
  managementEndpoint: string,
): Promise<BaselineProcess> {
  const child = await forkWorker<null, BaselineRequest, NaiveResult, [number, number]>(
    fileURLToPath(import.meta.url),
    ['--baseline-child', dynamodbEndpoint, managementEndpoint],
  );
  return {
    publish: (tableName, to, payload, { paginate, onSettled }) =>
      child.call({ tableName, to, payload, paginate }, ([settled, total]) => onSettled?.(settled, total)),
    stop: () => child.stop(),
  };
}

if (process.argv[2] === '--baseline-child') {
  serveWorker<NaiveClients, BaselineRequest, NaiveResult, [number, number]>(
    async () => ({ ready: null, state: naiveClients(process.argv[3] as string, process.argv[4] as string) }),
    (clients, request, progress) =>
      naivePublish(clients, request.tableName, request.to, request.payload, {
        paginate: request.paginate,
        onSettled: (settled, total) => {
          if (settled % PROGRESS_EVERY === 0 || settled === total) progress([settled, total]);
        },
      }),
  );
}
