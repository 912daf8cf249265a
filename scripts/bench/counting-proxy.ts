/**
 * A counting HTTP proxy in front of dynalite, which ignores `ReturnConsumedCapacity`: reads are
 * counted on the wire (`ScannedCount`, the items DynamoDB evaluated) and priced in read request
 * units from their JSON size (a little above AWS's sizing rules), 4 KB per unit per request, halved
 * for eventually consistent reads. Writes are counted by request and item.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Counts of one DynamoDB operation: `itemsRead` is what DynamoDB read to answer (what read capacity
 * is billed on), `units` the estimated read (or write) request units.
 */
interface OperationCounts {
  requests: number;
  itemsRead: number;
  itemsReturned: number;
  units: number;
}

const READS = new Set(['Query', 'Scan']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);

/** What was counted since the last reset, by operation (`Query`, `PutItem`, ...) and in all. */
function summary(byOperation: Record<string, OperationCounts>) {
  const sum = (kinds: Set<string>, field: keyof OperationCounts) =>
    Object.entries(byOperation).reduce(
      (total, [operation, c]) => total + (kinds.has(operation) ? c[field] : 0),
      0,
    );
  return {
    byOperation,
    itemsRead: sum(READS, 'itemsRead'),
    readRequests: sum(READS, 'requests'),
    readUnits: sum(READS, 'units'),
    writes: { requests: sum(WRITES, 'requests'), units: sum(WRITES, 'units') },
  };
}

export type Counts = ReturnType<typeof summary>;

/** Starts a proxy to `target` on a random loopback port. */
export async function startCountingProxy(target: string) {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  let counts: Record<string, OperationCounts> = {};
  // Used to size the items of a COUNT read, which returns none: the mean of the items seen so far.
  let seenBytes = 0;
  let seenItems = 0;

  function tally(operation: string, requestBody: string, responseBody: string): void {
    const entry = counts[operation] ?? { requests: 0, itemsRead: 0, itemsReturned: 0, units: 0 };
    counts[operation] = entry;
    entry.requests++;
    let input: Record<string, unknown> = {};
    let output: Record<string, unknown> = {};
    try {
      input = JSON.parse(requestBody) as Record<string, unknown>;
      output = JSON.parse(responseBody) as Record<string, unknown>;
    } catch {
      return;
    }
    if (WRITES.has(operation)) {
      const batches = Object.values((input.RequestItems ?? {}) as Record<string, unknown[]>);
      entry.units += operation === 'BatchWriteItem' ? batches.flat().length : 1;
      return;
    }
    if (!READS.has(operation)) return;
    const factor = input.ConsistentRead === true ? 1 : 0.5;
    const returned = (output.Items ?? []) as unknown[];
    const read = Number(output.ScannedCount ?? output.Count ?? returned.length);
    const returnedBytes = returned.reduce<number>((sum, item) => sum + JSON.stringify(item).length, 0);
    seenBytes += returnedBytes;
    seenItems += returned.length;
    const meanBytes =
      returned.length > 0 ? returnedBytes / returned.length : seenItems > 0 ? seenBytes / seenItems : 200;
    entry.itemsRead += read;
    entry.itemsReturned += returned.length;
    // A page never reads more than 1 MB, so a filtered Scan's estimate is capped there.
    const bytesRead = Math.min(read * meanBytes, 2 ** 20);
    entry.units += Math.max(1, Math.ceil(bytesRead / 4096)) * factor;
  }

  const server = createServer(async (req, res) => {
    const body = Buffer.concat(await req.toArray());
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? 'unknown';
    const { method, url: path, headers } = req;
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method, path, headers, agent },
      async (up) => {
        const answer = Buffer.concat(await up.toArray());
        if ((up.statusCode ?? 500) < 300) tally(operation, body.toString('utf8'), answer.toString('utf8'));
        res.writeHead(up.statusCode ?? 502, up.headers).end(answer);
      },
    );
    forward.on('error', () => (res.headersSent ? res : res.writeHead(502)).end());
    forward.end(body);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    /** Give it to the stack as its DynamoDB endpoint. */
    endpoint: `http://127.0.0.1:${port}`,
    counts: () => summary(structuredClone(counts)),
    reset: () => {
      counts = {};
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
