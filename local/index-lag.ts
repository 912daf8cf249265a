/**
 * Index lag for the local DynamoDB: a proxy in front of it whose index queries do not yet see
 * items put less than `lagMs` ago. DynamoDB updates global secondary indexes asynchronously
 * (usually within a second, with no bound), while dynalite and DynamoDB Local update them at
 * once, so without this no local run can meet a publish whose `byUid` lookup misses a connection
 * that has just been stored. Only that case is modelled: a new item (PutItem) is missing from
 * every index Query until it is `lagMs` old; updates and deletes show at once.
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { crc32 } from 'node:zlib';
import type { TableDefinition } from '../lambdas/shared/tables';
import type { DynamoEndpoint } from './dynamo';
import { listenOnFreePort } from './http-util';

/** What the lag proxy needs to know. */
export interface IndexLagOptions {
  /** The DynamoDB to forward to. */
  readonly target: DynamoEndpoint;
  /** How long a new item stays out of index queries. */
  readonly lagMs: number;
  /** The tables by physical name, for their key attributes. */
  readonly tables: readonly { readonly definition: TableDefinition; readonly tableName: string }[];
  /** @default Date.now */
  readonly now?: () => number;
}

type AttributeValue = Record<string, unknown>;

const TARGET_PREFIX = 'DynamoDB_20120810.';

/** Starts the proxy on a free loopback port; its `stop` also stops the target it wraps. */
export async function startIndexLag(options: IndexLagOptions): Promise<DynamoEndpoint> {
  const { target, lagMs } = options;
  const now = options.now ?? Date.now;
  const keysOf = new Map(
    options.tables.map(({ definition, tableName }) => [
      tableName,
      [definition.partitionKey.name, ...(definition.sortKey === undefined ? [] : [definition.sortKey.name])],
    ]),
  );
  /** When each item was put, by table and key, for as long as it is younger than the lag. */
  const putAt = new Map<string, number>();
  const keyOf = (table: string, item: Record<string, AttributeValue>): string | undefined => {
    const names = keysOf.get(table);
    if (names === undefined) return undefined;
    return JSON.stringify([table, ...names.map((name) => item[name])]);
  };
  const forget = (at: number) => {
    for (const [key, when] of putAt) if (at - when >= lagMs) putAt.delete(key);
  };
  const targetUrl = new URL(target.endpoint);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const operation = String(req.headers['x-amz-target'] ?? '').replace(TARGET_PREFIX, '');
      let input: LagInput = {};
      try {
        input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        // Not ours to judge: DynamoDB answers a malformed body itself.
      }
      const started = now();
      forget(started);
      // An index Query that projects some attributes may leave out the table's keys, by which a
      // young item is known: ask for them too, and take them out of the answer again.
      const keys = input.TableName === undefined ? undefined : keysOf.get(input.TableName);
      const widened =
        operation === 'Query' && input.IndexName !== undefined && keys !== undefined
          ? withKeys(input, keys)
          : undefined;
      const sent = widened === undefined ? body : Buffer.from(JSON.stringify(widened.input));
      const upstream = request(
        {
          hostname: targetUrl.hostname,
          port: targetUrl.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, 'content-length': String(sent.length) },
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            let out: Buffer = Buffer.concat(parts);
            const table = input.TableName;
            if (answer.statusCode === 200 && table !== undefined) {
              if (operation === 'PutItem' && input.Item !== undefined) {
                const key = keyOf(table, input.Item);
                if (key !== undefined) putAt.set(key, started);
              } else if (operation === 'Query' && input.IndexName !== undefined) {
                out = hideYoung(
                  out,
                  (item) => {
                    const key = keyOf(table, item);
                    const when = key === undefined ? undefined : putAt.get(key);
                    return when !== undefined && now() - when < lagMs;
                  },
                  widened?.added ?? [],
                );
              }
            }
            const headers: Record<string, string | string[] | undefined> = {
              ...answer.headers,
              'content-length': String(out.length),
            };
            // The SDK checks DynamoDB's body checksum; an edited body needs its own.
            if (headers['x-amz-crc32'] !== undefined) headers['x-amz-crc32'] = String(crc32(out));
            res.writeHead(answer.statusCode ?? 500, headers);
            res.end(out);
          });
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      upstream.end(sent);
    });
  });
  const port = await listenOnFreePort(server, '127.0.0.1');
  return {
    endpoint: `http://127.0.0.1:${port}`,
    description: `${target.description}, index updates delayed ${lagMs} ms`,
    embedded: target.embedded,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await target.stop();
    },
  };
}

/** What the proxy reads of a request. */
interface LagInput {
  TableName?: string;
  Item?: Record<string, AttributeValue>;
  IndexName?: string;
  ProjectionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
}

/**
 * `input` with the table's `keys` added to its projection, and which of them it added (those it
 * did not ask for itself, which the answer must not show). Undefined when it projects nothing,
 * so every attribute comes back anyway.
 */
function withKeys(
  input: LagInput,
  keys: readonly string[],
): { input: LagInput; added: string[] } | undefined {
  const projection = input.ProjectionExpression;
  if (projection === undefined) return undefined;
  const names = input.ExpressionAttributeNames ?? {};
  // The top-level attribute of each path the projection names (`#a`, `b`, `c.d`, `e[0]`).
  const asked = new Set(
    projection.split(',').map((path) => {
      const head = path.trim().split(/[.[]/)[0] ?? '';
      return names[head] ?? head;
    }),
  );
  const added = keys.filter((key) => !asked.has(key));
  if (added.length === 0) return undefined;
  const placeholders = added.map((_, i) => `#lagKey${i}`);
  return {
    input: {
      ...input,
      ProjectionExpression: [projection, ...placeholders].join(', '),
      ExpressionAttributeNames: {
        ...names,
        ...Object.fromEntries(placeholders.map((placeholder, i) => [placeholder, added[i] as string])),
      },
    },
    added,
  };
}

/**
 * A Query answer without the items `young` picks, its `Count` adjusted, and without the `added`
 * attributes the proxy asked for on its own account.
 */
function hideYoung(
  body: Buffer,
  young: (item: Record<string, AttributeValue>) => boolean,
  added: readonly string[],
): Buffer {
  const parsed = JSON.parse(body.toString('utf8')) as {
    Items?: Record<string, AttributeValue>[];
    Count?: number;
  };
  if (parsed.Items === undefined) return body;
  const items = parsed.Items.filter((item) => !young(item));
  if (items.length === parsed.Items.length && added.length === 0) return body;
  const shown =
    added.length === 0
      ? items
      : items.map((item) =>
          Object.fromEntries(Object.entries(item).filter(([name]) => !added.includes(name))),
        );
  return Buffer.from(JSON.stringify({ ...parsed, Items: shown, Count: items.length }));
}
