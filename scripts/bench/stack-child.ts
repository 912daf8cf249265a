/**
 * Child-process entry that hosts one local stack (or, with `--raw`, a bare `ws` server), so its
 * memory is measured apart from the bench's clients (scenario f forks it with worker.ts):
 *
 *   node --import tsx scripts/bench/stack-child.ts '<LocalStackOptions as JSON>' [--raw]
 *
 * Ready with {@link StackInfo}; each call `{ gc }` answers the process's memory, after the
 * collection below when `gc` is true, and its open connection count.
 */
import { createServer } from 'node:http';
import { Session } from 'node:inspector';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { applyQuietEnv } from './env';
import { serveWorker } from './worker';

/** What the child reports when ready. */
export interface StackInfo {
  readonly wsUrl: string;
  readonly tokenSecret: string;
  readonly dynamodbEndpoint: string;
  readonly tableName: string;
}

/** What a memory call answers. */
export interface ChildMemory {
  readonly usage: NodeJS.MemoryUsage;
  readonly openConnections: number;
}

/**
 * The collection V8 runs when the system is short of memory (`LowMemoryNotification`, reached
 * through the inspector's `HeapProfiler.collectGarbage`): full collections until nothing more goes,
 * with compaction, handing freed pages back to the system. A plain `gc()` leaves tens of MiB that
 * this frees (more after a burst of handshakes, less after a quiet spell), which would make the
 * per-socket figure measure the last burst of work rather than what a socket keeps.
 */
function collectGarbage(inspector: Session): Promise<void> {
  return new Promise((resolve, reject) =>
    inspector.post('HeapProfiler.collectGarbage', (error) => (error ? reject(error) : resolve())),
  );
}

async function start(): Promise<{ ready: StackInfo; state: () => number }> {
  applyQuietEnv();
  if (process.argv.includes('--raw')) {
    const http = createServer();
    const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
    wss.on('connection', (ws) => ws.on('error', () => {}));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    const ready = {
      wsUrl: `ws://127.0.0.1:${port}/raw`,
      tokenSecret: '',
      dynamodbEndpoint: '',
      tableName: '',
    };
    return { ready, state: () => wss.clients.size };
  }
  const { startLocalStack } = await import('../../local/stack');
  const stack = await startLocalStack({ port: 0, ...JSON.parse(process.argv[2] ?? '{}') });
  const { wsUrl, tokenSecret, dynamodbEndpoint, tableName } = stack;
  return {
    ready: { wsUrl, tokenSecret, dynamodbEndpoint, tableName },
    state: () => stack.emulator.stats.openConnections,
  };
}

const inspector = new Session();
inspector.connect();
serveWorker<() => number, { gc: boolean }, ChildMemory>(start, async (openConnections, { gc }) => {
  if (gc) await collectGarbage(inspector);
  return { usage: process.memoryUsage(), openConnections: openConnections() };
});
