/**
 * The naive fan-out the bench measures against, written only for the bench and never shipped: the
 * AWS WebSocket samples' publish (simple-websockets-chat-app's `sendmessage`, ported to SDK v3 as
 * people do), namely one full-table `Scan`, not paginated, so it silently stops at DynamoDB's 1 MB
 * page, then an unbounded `Promise.all` of `PostToConnection` through a client with SDK defaults
 * (its 50 sockets, its standard retries), and the sample's `statusCode === 410` check, which never
 * matches under SDK v3. Each post's outcome is counted, so the throttles and failures are honest.
 * Scenario b runs it in a process of its own (this file, forked), as one Lambda runs on its own
 * CPU, not sharing an event loop with the emulator and dynalite.
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
import { FAKE_CREDENTIALS } from './kit';
import { forkWorker, serveWorker } from './worker';

/** Whom the naive publish targets: Scan filters stand in for the indexes it does not use. */
type NaiveTarget = { readonly topic: string } | { readonly uid: string } | { readonly all: true };

/** Clients as the sample builds them: SDK defaults, only the endpoints pointed at the stack. */
export function naiveClients(dynamodbEndpoint: string, managementEndpoint: string) {
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
  const destroy = () => {
    doc.destroy();
    management.destroy();
  };
  return { doc, management, destroy };
}

/** The sample's Scan of the connection records, filtered to `to`. */
export function scanInput(TableName: string, to: NaiveTarget): ScanCommandInput {
  if ('topic' in to) {
    const filter = { FilterExpression: '#t = :t', ExpressionAttributeNames: { '#t': ATTR.topic } };
    return { TableName, ...filter, ExpressionAttributeValues: { ':t': to.topic } };
  }
  const uid = 'uid' in to;
  return {
    TableName,
    FilterExpression: uid ? '#u = :u AND #sk = :conn' : '#sk = :conn',
    ExpressionAttributeNames: { '#sk': ATTR.sk, ...(uid ? { '#u': ATTR.uid } : {}) },
    ExpressionAttributeValues: { ':conn': SK.connection, ...(uid ? { ':u': to.uid } : {}) },
  };
}

/** One naive publish's request; `paginate` follows `LastEvaluatedKey` (the fix the samples lack). */
type NaiveRequest = { tableName: string; to: NaiveTarget; payload: string; paginate?: boolean };

/**
 * One naive publish: Scan once (every page with `paginate`), then post to everything found at once.
 * `throttledFinal` counts posts that still failed with 429 after the SDK's retries; `gone` the 410s
 * (the sample's check misses them, so nothing is deleted); `truncated` a Scan stopped at 1 MB.
 */
export async function naivePublish(
  clients: ReturnType<typeof naiveClients>,
  { tableName, to, payload, paginate = false }: NaiveRequest,
  onSettled?: (settled: number, total: number) => void,
) {
  const started = performance.now();
  const { ids, itemsScanned, truncated } = await scan(clients.doc, scanInput(tableName, to), paginate);
  const scanMs = performance.now() - started;
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
        if (e.statusCode === 410) counts.gone++;
        else if (e.$metadata?.httpStatusCode === 429) counts.throttledFinal++;
        else if (e.$metadata?.httpStatusCode === 410) counts.gone++;
        else {
          counts.failed++;
          firstError ??= `${e.name ?? 'Error'}: ${(error as Error).message}`;
        }
      } finally {
        onSettled?.(++settled, ids.length);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const found = ids.length;
  return {
    itemsScanned,
    found,
    truncated,
    ...counts,
    ...(firstError ? { firstError } : {}),
    elapsedMs,
    scanMs,
  };
}

/** What one naive publish did. */
export type NaiveResult = Awaited<ReturnType<typeof naivePublish>>;

/** Scans (every page with `paginate`): the ids found, the items read, and whether it stopped at 1 MB. */
export async function scan(doc: DynamoDBDocumentClient, input: ScanCommandInput, paginate: boolean) {
  const ids: string[] = [];
  let itemsScanned = 0;
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new ScanCommand({ ...input, ExclusiveStartKey }));
    for (const item of page.Items ?? []) ids.push(String(item[ATTR.connectionId]));
    itemsScanned += Number(page.ScannedCount ?? 0);
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey !== undefined && paginate);
  return { ids, itemsScanned, truncated: ExclusiveStartKey !== undefined };
}

/** Items a full, paginated Scan reads: what the sample would cost if it did not stop at 1 MB. */
export async function fullScanItems(doc: DynamoDBDocumentClient, TableName: string): Promise<number> {
  return (await scan(doc, { TableName, Select: 'COUNT' }, true)).itemsScanned;
}

/** Forks the baseline's process with the sample's clients pointed at the stack. */
export function startBaselineProcess(dynamodbEndpoint: string, managementEndpoint: string) {
  const args = ['--baseline', dynamodbEndpoint, managementEndpoint];
  return forkWorker<null, NaiveRequest, NaiveResult, [number, number]>(fileURLToPath(import.meta.url), args);
}

if (process.argv[2] === '--baseline') {
  serveWorker(async () => {
    const clients = naiveClients(process.argv[3] as string, process.argv[4] as string);
    // Progress every 250 settled posts: one IPC message per post is too many.
    const handle = (request: NaiveRequest, progress: (value: [number, number]) => void) =>
      naivePublish(clients, request, (settled, total) => {
        if (settled % 250 === 0 || settled === total) progress([settled, total]);
      });
    return { handle };
  });
}
