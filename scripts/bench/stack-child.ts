/**
 * Child-process entry that hosts one local stack (or, with `--raw`, a bare `ws` server), so its
 * memory is measured apart from the bench's clients. Started by child.ts over IPC:
 *
 *   node --import tsx --expose-gc scripts/bench/stack-child.ts '<LocalStackOptions as JSON>' [--raw]
 *
 * Messages in: `{type:'memory', id, gc}` and `{type:'exit'}`. Messages out: `{type:'ready', ...}`,
 * `{type:'memory', id, usage, openConnections}`, `{type:'error', message}`.
 */
import { createServer } from 'node:http';
import { Session } from 'node:inspector';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { applyQuietEnv } from './env';

applyQuietEnv();

/** Messages the parent sends. */
export type ChildRequest = { type: 'memory'; id: number; gc: boolean } | { type: 'exit' };

/** Messages the child sends. */
export type ChildMessage =
  | {
      type: 'ready';
      httpUrl: string;
      wsUrl: string;
      managementEndpoint: string;
      tokenSecret: string;
      dynamodbEndpoint: string;
      tableName: string;
      startupMs: number;
    }
  | { type: 'memory'; id: number; usage: NodeJS.MemoryUsage; openConnections: number }
  | { type: 'error'; message: string };

/**
 * The collection V8 runs when the system is short of memory (`LowMemoryNotification`, reached
 * through the inspector's `HeapProfiler.collectGarbage`): full collections until nothing more goes,
 * with compaction, handing freed pages back to the system. A plain `gc()` leaves tens of MiB that
 * this frees (more after a burst of handshakes, less after a quiet spell), which would make the
 * per-socket figure measure the last burst of work rather than what a socket keeps.
 */
const inspector = new Session();
inspector.connect();
function collectGarbage(): Promise<void> {
  return new Promise((resolve, reject) =>
    inspector.post('HeapProfiler.collectGarbage', (error) => (error ? reject(error) : resolve())),
  );
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const raw = process.argv.includes('--raw');
  const options = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
  let openConnections: () => number;
  if (raw) {
    const started = performance.now();
    const http = createServer();
    const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
    wss.on('connection', (ws) => ws.on('error', () => {}));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    openConnections = () => wss.clients.size;
    send({
      type: 'ready',
      httpUrl: `http://127.0.0.1:${port}`,
      wsUrl: `ws://127.0.0.1:${port}/raw`,
      managementEndpoint: '',
      tokenSecret: '',
      dynamodbEndpoint: '',
      tableName: '',
      startupMs: performance.now() - started,
    });
  } else {
    const { startLocalStack } = await import('../../local/stack');
    const stack = await startLocalStack({ port: 0, ...options });
    openConnections = () => stack.emulator.stats.openConnections;
    send({
      type: 'ready',
      httpUrl: stack.httpUrl,
      wsUrl: stack.wsUrl,
      managementEndpoint: stack.managementEndpoint,
      tokenSecret: stack.tokenSecret,
      dynamodbEndpoint: stack.dynamodbEndpoint,
      tableName: stack.tableName,
      startupMs: stack.startupMs,
    });
  }
  process.on('message', async (message: ChildRequest) => {
    if (message.type === 'exit') process.exit(0);
    if (message.type === 'memory') {
      if (message.gc) await collectGarbage();
      send({
        type: 'memory',
        id: message.id,
        usage: process.memoryUsage(),
        openConnections: openConnections(),
      });
    }
  });
  // The bench went away: nothing here is worth keeping (DynamoDB is in memory).
  process.on('disconnect', () => process.exit(0));
}

main().catch((error: unknown) => {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
