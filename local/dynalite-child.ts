/**
 * A Node process that runs one dynalite (local/dynamo.ts's, with its fixes) for a stack in another
 * process: DynamoDB is a service apart from API Gateway, and here it also keeps its records, its
 * request parsing and its garbage out of the stack's process (see `startDynaliteProcess`).
 *
 * Protocol over IPC: the child answers `{ type: 'ready', endpoint }` once dynalite listens, or
 * `{ type: 'failed', message }` and exits 1. A `{ type: 'stop' }` message, SIGTERM, or the IPC
 * channel closing (the parent ended, however it ended) closes dynalite, which flushes an on-disk
 * store, and exits 0. Ctrl-C reaches the whole process group: the parent stops this process
 * itself, after its own functions, so SIGINT is ignored.
 */
import { type DynaliteChildMessage, startDynalite } from './dynalite';

const [dataDir] = process.argv.slice(2);

function tell(message: DynaliteChildMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  let ending = false;
  let stopNow: (() => Promise<void>) | undefined;
  // Asked to end while starting, there is nothing to flush yet: the process just goes.
  const end = () => {
    if (ending) return;
    ending = true;
    void (stopNow?.() ?? Promise.resolve()).finally(() => process.exit(0));
  };
  process.on('disconnect', end);
  process.on('SIGTERM', end);
  process.on('SIGINT', () => {});
  process.on('message', (message: { type?: string }) => {
    if (message?.type === 'stop') end();
  });
  try {
    const dynamo = await startDynalite(dataDir === undefined || dataDir === '' ? {} : { dataDir });
    stopNow = () => dynamo.stop();
    tell({ type: 'ready', endpoint: dynamo.endpoint });
  } catch (error) {
    tell({ type: 'failed', message: (error as Error).message });
    process.exit(1);
  }
}

await main();
