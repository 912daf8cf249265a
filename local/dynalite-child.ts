/**
 * A Node process that runs one dynalite (dynalite.ts's `startDynalite`, with its fixes) for a stack
 * in another process: DynamoDB is a service apart from API Gateway, and here it also keeps its
 * records, its request parsing and its garbage out of the stack's process (`startDynaliteProcess`).
 *
 * Protocol over IPC: the child answers `{ type: 'ready', endpoint, finished }` once dynalite
 * listens (`finished`: the table state changes a killed process had left in its store), or
 * `{ type: 'failed', message }` and exits 1. `{ type: 'memory' }` is answered with the process's
 * memory after a full collection (what its records hold, for the bench). `{ type: 'gate' }` starts
 * the IAM gate (local/iam/dynamo-gate.ts) in front of this dynalite, in this process, and answers
 * its endpoint; `{ type: 'enforce', policy }` puts a gate policy in force and is answered
 * `enforced`. `{ type: 'tables', tables, ttl? }` creates the tables it lacks (dynalite-tables.ts)
 * and is answered `{ type: 'tables', created, found }`, with `error` when one could not be made;
 * with `ttl: { attributes, intervalMs? }` (each table's TTL attribute, by table name), once they
 * are made it starts sweeping the expired items of those of `tables` that have one, every
 * `intervalMs` (dynalite-ttl.ts), and tells each sweep's summary and failures as `log` lines (the
 * parent logs them to `startDynaliteProcess`'s `logger`, then to the gate's). Each denial is
 * told to the parent (`denied`, and its log line as `log`), which counts and logs it with the
 * stack's other denials. `{ type: 'stop' }`, or the IPC channel closing (the parent ended, however
 * it ended), stops the sweeper (waiting for its call in flight), closes dynalite, which flushes an
 * on-disk store, and exits: 0, or 1 if the close failed.
 *
 * Signals are the parent's business: Ctrl-C (SIGINT) reaches the whole process group, and so does
 * a supervisor's SIGTERM to a group or a tree; the stack still needs its database while it stops
 * (the `$disconnect` of every socket writes to it), and stops this process itself last. So both
 * are ignored here; SIGKILL still ends it, and the parent then reports the loss.
 */
import { Session } from 'node:inspector/promises';
import { type DynaliteChildMessage, type DynaliteParentMessage, startDynalite } from './dynalite';
import { createTables } from './dynalite-tables';
import { startTtlSweeper, type TtlSweeper, ttlTables } from './dynalite-ttl';
import { type DynamoGate, startDynamoGate } from './iam/dynamo-gate';
import type { IamEnforcer } from './iam/enforcer';
import { enforcerFromPolicy } from './iam/gate-policy';
import type { Logger } from './logger';

const [dataDir] = process.argv.slice(2);

/**
 * Tells the parent, if it is still there: an answer that comes after the channel closed (a table
 * made while the parent went away) is dropped, not an unhandled 'error' that would end this process
 * while it flushes its store.
 */
function tell(message: DynaliteChildMessage): void {
  if (process.connected) process.send?.(message, undefined, undefined, () => {});
}

/** The process's memory after the collection V8 runs when short of memory (full, compacting). */
async function memoryAfterCollection(): Promise<NodeJS.MemoryUsage> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.collectGarbage');
  } finally {
    session.disconnect();
  }
  return process.memoryUsage();
}

async function main(): Promise<void> {
  let ending = false;
  let stopNow: (() => Promise<void>) | undefined;
  // Asked to end while starting, there is nothing to flush yet: the process just goes.
  const end = () => {
    if (ending) return;
    ending = true;
    void (stopNow?.() ?? Promise.resolve()).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`dynalite did not close cleanly: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('disconnect', end);
  // A parent that went away while this process was still loading its modules closed the channel
  // before anything listened: its 'disconnect' has been and gone.
  if (!process.connected) end();
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
  let endpoint: string | undefined;
  let gate: Promise<DynamoGate> | undefined;
  let started: DynamoGate | undefined;
  const gateIdleMs = () => started?.idleMs() ?? Number.POSITIVE_INFINITY;
  let enforcer: IamEnforcer | undefined;
  let sweeper: TtlSweeper | undefined;
  // The gate's denials are the stack's: their log lines go to its logger.
  const logger: Logger = {
    debug: (message, fields) => tell({ type: 'log', level: 'debug', message, ...(fields ? { fields } : {}) }),
    info: (message, fields) => tell({ type: 'log', level: 'info', message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => tell({ type: 'log', level: 'warn', message, ...(fields ? { fields } : {}) }),
    error: (message, fields) => tell({ type: 'log', level: 'error', message, ...(fields ? { fields } : {}) }),
  };
  process.on('message', (message: DynaliteParentMessage) => {
    if (message?.type === 'stop') end();
    else if (message?.type === 'memory')
      void memoryAfterCollection().then((usage) => tell({ type: 'memory', usage }));
    else if (message?.type === 'gate' && endpoint !== undefined && !ending) {
      gate ??= startDynamoGate({ upstream: endpoint, enforcer: () => enforcer });
      gate.then(
        (running) => {
          started = running;
          tell({ type: 'gate', endpoint: running.endpoint });
        },
        (error: unknown) => {
          // Without its gate the stack cannot run its functions: end cleanly, and the parent,
          // whose ask then fails with this process's end, says so.
          process.stderr.write(
            `the IAM gate did not start in dynalite's process: ${(error as Error).message}\n`,
          );
          end();
        },
      );
    } else if (message?.type === 'tables' && endpoint !== undefined && !ending) {
      const at = endpoint;
      createTables(at, message.tables).then(
        (made) => {
          const swept = message.ttl === undefined ? [] : ttlTables(message.tables, message.ttl.attributes);
          // Once: the stack sends its tables once; a stop meanwhile starts none.
          if (swept.length > 0 && sweeper === undefined && !ending)
            sweeper = startTtlSweeper({
              endpoint: at,
              tables: swept,
              ...(message.ttl?.intervalMs === undefined ? {} : { intervalMs: message.ttl.intervalMs }),
              log: (level, line, fields) => logger[level](line, fields),
              // The stack's calls come through the gate, when it runs: sweep between them.
              idleMs: () => gateIdleMs(),
            });
          tell({ type: 'tables', ...made });
        },
        (error: unknown) => tell({ type: 'tables', created: [], found: [], error: (error as Error).message }),
      );
    } else if (message?.type === 'enforce') {
      enforcer = enforcerFromPolicy(message.policy, logger, () => tell({ type: 'denied' }));
      tell({ type: 'enforced' });
    }
  });
  try {
    const dynamo = await startDynalite(dataDir === undefined ? {} : { dataDir });
    endpoint = dynamo.endpoint;
    stopNow = async () => {
      // No sweep call runs into a closed dynalite: the one in flight ends first.
      await sweeper?.stop();
      await (await gate?.catch(() => undefined))?.stop();
      await dynamo.stop();
    };
    tell({ type: 'ready', endpoint: dynamo.endpoint, finished: dynamo.finished });
  } catch (error) {
    tell({ type: 'failed', message: (error as Error).message });
    process.exit(1);
  }
}

await main();
