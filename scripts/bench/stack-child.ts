/**
 * A child that hosts one local stack (or, with `--raw`, a bare `ws` server), so scenario f measures
 * its memory apart from the clients: each call answers its memory and open connections.
 */
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { applyQuietEnv } from './kit';
import { serveWorker } from './worker';

/** What the child reports when ready. */
export type StackInfo = { wsUrl: string; tokenSecret: string; dynamodbEndpoint: string; tableName: string };

/** What each call answers: the child's memory and open connections, and dynalite's process's memory. */
export type StackMemory = {
  usage: NodeJS.MemoryUsage;
  openConnections: number;
  /** dynalite's own process, after the same collection, when the stack runs it in one. */
  dynamo?: NodeJS.MemoryUsage;
};

async function start(): Promise<{
  ready: StackInfo;
  openConnections: () => number;
  dynamoMemory?: () => Promise<NodeJS.MemoryUsage>;
}> {
  applyQuietEnv();
  if (process.argv.includes('--raw')) {
    const http = createServer();
    const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
    wss.on('connection', (ws) => ws.on('error', () => {}));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const wsUrl = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/raw`;
    return {
      ready: { wsUrl, tokenSecret: 'raw', dynamodbEndpoint: '', tableName: '' },
      openConnections: () => wss.clients.size,
    };
  }
  const { startLocalStack } = await import('../../local/stack');
  // As `npm start` runs it: dynalite in a process of its own.
  const stack = await startLocalStack({ port: 0, dynaliteProcess: true });
  const { wsUrl, tokenSecret, dynamodbEndpoint, tableName, emulator, dynaliteProcess } = stack;
  return {
    ready: { wsUrl, tokenSecret, dynamodbEndpoint, tableName },
    openConnections: () => emulator.stats.openConnections,
    ...(dynaliteProcess === undefined ? {} : { dynamoMemory: () => dynaliteProcess.memory() }),
  };
}

const inspector = new Session();
inspector.connect();
serveWorker(async () => {
  const { ready, openConnections, dynamoMemory } = await start();
  const handle = async ({ gc }: { gc: boolean }): Promise<StackMemory> => {
    // The collection V8 runs when the system is short of memory (LowMemoryNotification): full
    // collections with compaction until nothing more goes, handing freed pages back. A plain gc()
    // leaves tens of MiB that this frees (more after a burst of handshakes), which would make the
    // per-socket figure measure the last burst of work rather than what a socket keeps.
    if (gc) await inspector.post('HeapProfiler.collectGarbage');
    // dynalite's process runs the same collection before it answers.
    const dynamo = await dynamoMemory?.();
    return {
      usage: process.memoryUsage(),
      openConnections: openConnections(),
      ...(dynamo === undefined ? {} : { dynamo }),
    };
  };
  return { ready, handle };
});
