/**
 * dynalite, the DynamoDB the local stack starts: in the calling process ({@link startDynalite}), or
 * in a child process of its own ({@link startDynaliteProcess}, which `npm start` uses).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { type DynaliteDb, fixIndexKeys, lastOpenedStore, rebuildIndexes } from './dynalite-index';
import { loadKeptParsers } from './dynalite-parsers';
import { finishTransitions, type TransitionsFinished } from './dynalite-transitions';
import type { DynamoEndpoint } from './dynamo';
import { listenOnFreePort } from './http-util';
import type { GatePolicy } from './iam/gate-policy';
import type { LogFields, Logger } from './logger';
import { NEEDS_TSX, runnableModule } from './runnable';

/**
 * The request listener of each dynalite this process started, by endpoint, so a local server in
 * front of it (the IAM gate) can hand it requests in-process instead of over a second loopback
 * HTTP hop on every call.
 */
const inProcess = new Map<string, RequestListener>();

/** dynalite's request listener when `endpoint` is a dynalite started in this process. */
export function inProcessDynamo(endpoint: string): RequestListener | undefined {
  return inProcess.get(endpoint);
}

/** Options for {@link startDynalite}. */
export interface DynaliteOptions {
  /** LevelDB directory; created if missing. @default in memory */
  readonly dataDir?: string;
  /** @default '127.0.0.1' (dynalite's CLI would bind every interface) */
  readonly host?: string;
}

type Dynalite = typeof import('dynalite').default;
let loaded: { dynalite: Dynalite; db: DynaliteDb } | undefined;

/**
 * Loads dynalite with its index entries keyed so that none can replace another (dynalite-index.ts),
 * and with two fixes to how it keeps an in-memory table, both about memory that grew with every
 * connection the stack held; its answers are unchanged.
 *
 * - dynalite reads Query and Scan results through a stream over a level iterator and ends it by
 *   calling the iterator's `return()`, which abstract-level's iterators lack (they have `close()`).
 *   Every Query and Scan left its iterator open, pinning the store's snapshot of that moment in
 *   the database's open resources for good: one per `$connect` (its byUid Query for the
 *   connection cap) and per uid push. Iterators get the `return()` dynalite calls.
 * - memory-level stores keys and values as Buffers by default, encoded from strings with
 *   `Buffer.from`, which slices Node's shared 8 KiB pool. A record written between other
 *   allocations (a `$connect` in the middle of its handshake) kept a whole slab alive for its few
 *   hundred bytes. They are kept as the strings dynalite builds instead (`utf8`), the smallest
 *   form. Keys then compare as JavaScript strings (UTF-16 code units) rather than UTF-8 bytes:
 *   the two orders differ only between characters past U+FFFF and U+E000–U+FFFF, which no key of
 *   this stack holds (its ids, uids and topics are ASCII by protocol.ts's ID_PATTERN).
 *
 * And one about its CPU: its expression parsers are loaded so that V8 keeps their compiled code
 * (dynalite-parsers.ts); before, about a quarter of its process's CPU went to compiling them again.
 *
 * Resolved through dynalite's own dependencies, so the copies dynalite uses are the ones fixed;
 * memory-level and the parsers are replaced before dynalite first reads them.
 */
function loadDynalite(): NonNullable<typeof loaded> {
  if (loaded !== undefined) return loaded;
  const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const memoryLevel = fromDynalite('memory-level') as { MemoryLevel: new (options?: object) => object };
  const fromMemoryLevel = createRequire(fromDynalite.resolve('memory-level'));
  const { AbstractIterator } = fromMemoryLevel('abstract-level') as {
    AbstractIterator: { prototype: object };
  };
  // The base class every iterator kind (entries, keys, values) extends.
  const common = Object.getPrototypeOf(AbstractIterator.prototype) as {
    return?: () => Promise<void>;
    close(): Promise<void>;
  };
  common.return ??= function (this: { close(): Promise<void> }) {
    return this.close();
  };
  const { MemoryLevel } = memoryLevel;
  memoryLevel.MemoryLevel = class extends MemoryLevel {
    constructor(options?: object) {
      super({ storeEncoding: 'utf8', ...options });
    }
  };
  loadKeptParsers(fromDynalite);
  const db = fromDynalite('./db/index.js') as DynaliteDb;
  fixIndexKeys(db);
  loaded = { dynalite: fromDynalite('./index.js') as Dynalite, db };
  return loaded;
}

/** A dynalite started by {@link startDynalite} or {@link startDynaliteProcess}. */
export interface StartedDynalite extends DynamoEndpoint {
  /** Table state changes a killed process had left in the store on disk, ended as it opened. */
  readonly finished: TransitionsFinished;
}

/** Nothing was left half done (a store in memory starts empty). */
const NONE_FINISHED: TransitionsFinished = { activated: [], deleted: [] };

/**
 * Starts dynalite in this process on a random loopback port. Table state changes are instant
 * (`createTableMs: 0`), so startup never waits for CREATING → ACTIVE.
 */
export async function startDynalite(options: DynaliteOptions = {}): Promise<StartedDynalite> {
  const host = options.host ?? '127.0.0.1';
  if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true });
  const { dynalite, db } = loadDynalite();
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.dataDir === undefined ? {} : { path: options.dataDir }),
  });
  const store = lastOpenedStore(db);
  let finished = NONE_FINISHED;
  // A table a killed process left CREATING would stay so for good (dynalite-transitions.ts), and
  // entries an earlier version filed under dynalite's own short keys would be found twice or not
  // at all; a store in memory starts empty.
  if (options.dataDir !== undefined && store !== undefined) {
    try {
      finished = await finishTransitions(store.db);
      await rebuildIndexes(db, store);
    } catch (error) {
      // Release the directory's lock, so that a retry in this process can open it again.
      await new Promise<void>((resolve) => store.db.close(() => resolve()));
      throw error;
    }
  }
  const port = await listenOnFreePort(server, host);
  const endpoint = `http://${host}:${port}`;
  inProcess.set(endpoint, server.listeners('request')[0] as RequestListener);
  return {
    endpoint,
    finished,
    description:
      options.dataDir === undefined ? 'dynalite, in memory' : `dynalite, on disk in ${options.dataDir}`,
    embedded: true,
    stop: () =>
      new Promise<void>((resolve) => {
        inProcess.delete(endpoint);
        // dynalite's close waits for its LevelDB to flush; SDK keep-alive sockets must not hold it up.
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What dynalite's process did with the tables it was given (dynalite-tables.ts), by name. */
export interface TablesMade {
  /** Tables it created. */
  readonly created: readonly string[];
  /** Tables that were there already (an on-disk store keeps them between runs). */
  readonly found: readonly string[];
}

/** What a dynalite child (dynalite-child.ts) tells its parent. */
export type DynaliteChildMessage =
  | { readonly type: 'ready'; readonly endpoint: string; readonly finished: TransitionsFinished }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'memory'; readonly usage: NodeJS.MemoryUsage }
  | { readonly type: 'gate'; readonly endpoint: string }
  | { readonly type: 'enforced' }
  | ({ readonly type: 'tables'; readonly error?: string } & TablesMade)
  | { readonly type: 'denied' }
  | {
      readonly type: 'log';
      readonly level: keyof Logger;
      readonly message: string;
      readonly fields?: LogFields;
    };

/** What the parent asks of a dynalite child. */
export type DynaliteParentMessage =
  | { readonly type: 'stop' }
  | { readonly type: 'memory' }
  | { readonly type: 'gate' }
  | { readonly type: 'enforce'; readonly policy: GatePolicy }
  | {
      readonly type: 'tables';
      readonly tables: readonly CreateTableCommandInput[];
      /** Sweeps those of `tables` with a TTL attribute (dynalite-ttl.ts) once they are made. */
      readonly ttl?: {
        /** The TTL attribute of each table that has one, by table name. */
        readonly attributes: Readonly<Record<string, string>>;
        readonly intervalMs?: number;
      };
    };

const CHILD = runnableModule(join(dirname(fileURLToPath(import.meta.url)), 'dynalite-child.ts'));

/** Options for {@link startDynaliteProcess}. */
export interface DynaliteProcessOptions {
  /** LevelDB directory; created if missing. @default in memory */
  readonly dataDir?: string;
  /**
   * Tables the process creates (those it lacks) before the start resolves, in its own process
   * (dynalite-tables.ts): the stack's, which it then need not create through the SDK. @default none
   */
  readonly tables?: readonly CreateTableCommandInput[];
  /**
   * The TTL attribute of each of {@link tables} that has one, by table name: the process deletes
   * their expired items as DynamoDB's TTL does, which dynalite lacks (dynalite-ttl.ts). No other
   * table is swept. @default none: nothing is swept
   */
  readonly ttlAttributes?: Readonly<Record<string, string>>;
  /** How often the TTL sweep starts. @default 60 s (dynalite-ttl.ts says why) */
  readonly ttlSweepIntervalMs?: number;
  /**
   * Where the process's own log lines go (a TTL sweep's, debug; a failed one's, warn) until
   * `gate` names the stack's logger. @default none: they are dropped
   */
  readonly logger?: Logger;
  /**
   * How long an in-memory dynalite may take to start. An on-disk one has no bound: it re-files
   * every index entry of its store first (dynalite-index.ts), which takes as long as the store is
   * big. @default 60 s
   */
  readonly startTimeoutMs?: number;
  /**
   * How long `stop` waits for it to exit before killing it: longer than dynalite's own bound on
   * closing (30 s), so a store is never killed while it flushes. @default 35 s
   */
  readonly stopTimeoutMs?: number;
}

/** A dynalite in a process of its own. */
export interface DynaliteProcess extends StartedDynalite {
  readonly pid: number;
  readonly lost: Promise<string>;
  /** The child's memory after a full collection: what its records hold. */
  memory(): Promise<NodeJS.MemoryUsage>;
  /**
   * Starts the IAM gate in front of this dynalite, in its process (once; later calls give the
   * same endpoint): a function's call then reaches dynalite with no hop through the stack's
   * process. Its denials are logged to `logger` and counted by `onDenied`.
   */
  gate(logger: Logger, onDenied: () => void): Promise<string>;
  /** Puts `policy` in force at the gate; resolves once it is. */
  enforce(policy: GatePolicy): Promise<void>;
  /** What became of {@link DynaliteProcessOptions.tables}: each is ACTIVE. */
  readonly tables: TablesMade;
}

/**
 * Starts dynalite in a child process of its own, on a random loopback port, as `npm start` runs
 * it. DynamoDB is a service apart from API Gateway; here that also keeps every record, and the
 * parsing and garbage of every call, out of the stack's process, whose memory then holds what the
 * emulator keeps per connection and nothing of the database (bench row f), and lets the two share
 * the machine's cores. The IAM gate can run there too (`gate`), so a function's call crosses one
 * process boundary, as it did with both in the stack's process, not two.
 *
 * The child ends when asked (`stop`, after flushing an on-disk store), or when this process ends:
 * it watches the IPC channel, not signals. If it ends otherwise, `lost` settles with why.
 */
export async function startDynaliteProcess(options: DynaliteProcessOptions = {}): Promise<DynaliteProcess> {
  const startTimeoutMs = options.dataDir === undefined ? (options.startTimeoutMs ?? 60_000) : undefined;
  const stopTimeoutMs = options.stopTimeoutMs ?? 35_000;
  const forkedAt = performance.now();
  const child: ChildProcess = fork(CHILD, options.dataDir === undefined ? [] : [options.dataDir], {
    execArgv: NEEDS_TSX ? ['--import', 'tsx'] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let stopping = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal === null ? `exit code ${code}` : `signal ${signal}`));
    // A process that could not be spawned at all may never emit 'exit'.
    child.once('error', (error) => {
      if (child.pid === undefined) resolve(`not started: ${error.message}`);
    });
  });
  const kill = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
      child.kill('SIGKILL');
    await exited;
  };
  let endpoint: string;
  let finished = NONE_FINISHED;
  try {
    endpoint = await new Promise<string>((resolve, reject) => {
      const timer =
        startTimeoutMs === undefined
          ? undefined
          : setTimeout(
              () => settle(new Error(`dynalite did not start within ${startTimeoutMs} ms`)),
              startTimeoutMs,
            );
      const onMessage = (message: DynaliteChildMessage) => {
        if (message.type === 'ready') {
          finished = message.finished;
          settle(message.endpoint);
        } else if (message.type === 'failed')
          settle(new Error(`dynalite failed to start: ${message.message}`));
      };
      const onError = (error: Error) => settle(error);
      function settle(outcome: string | Error) {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('error', onError);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      }
      child.on('message', onMessage);
      child.on('error', onError);
      void exited.then((how) => settle(new Error(`dynalite's process ended (${how}) before it was ready`)));
    });
  } catch (error) {
    await kill();
    throw error;
  }
  const pid = child.pid as number;
  // After start, a failed send is the child going away: 'exit' follows and `lost` says so.
  child.on('error', () => {});
  const lost = exited.then((how) =>
    // An end that `stop` asked for is not a loss: that promise never settles.
    stopping ? new Promise<string>(() => {}) : `dynalite's process (pid ${pid}) ended: ${how}`,
  );
  // One listener for the process's log lines, whoever started it: the sweeper's come from the
  // start on, the gate's once it runs.
  let logger = options.logger;
  child.on('message', (message: DynaliteChildMessage) => {
    if (message.type === 'log') logger?.[message.level](message.message, message.fields);
  });
  const send = (message: DynaliteParentMessage) => {
    if (child.connected) child.send(message);
  };
  /** Sends `message` and resolves with the child's next answer of `type`. */
  const ask = <T extends DynaliteChildMessage['type']>(message: DynaliteParentMessage, type: T) =>
    new Promise<Extract<DynaliteChildMessage, { type: T }>>((resolve, reject) => {
      if (!child.connected) return reject(new Error(`dynalite's process (pid ${pid}) is gone`));
      const onMessage = (answer: DynaliteChildMessage) => {
        if (answer.type !== type) return;
        child.off('message', onMessage);
        resolve(answer as Extract<DynaliteChildMessage, { type: T }>);
      };
      child.on('message', onMessage);
      void exited.then(() => reject(new Error(`dynalite's process (pid ${pid}) ended before it answered`)));
      send(message);
    });
  /** Asks it to close (flushing an on-disk store) and waits until it has, killing it after the bound. */
  const stop = async () => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => void kill(), stopTimeoutMs);
    // With the channel gone the child is already closing (it watches the channel).
    send({ type: 'stop' });
    await exited;
    clearTimeout(timer);
  };
  let tables: TablesMade = { created: [], found: [] };
  if (options.tables !== undefined && options.tables.length > 0) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const ttl =
        options.ttlAttributes === undefined
          ? {}
          : {
              ttl: {
                attributes: options.ttlAttributes,
                ...(options.ttlSweepIntervalMs === undefined
                  ? {}
                  : { intervalMs: options.ttlSweepIntervalMs }),
              },
            };
      const asked = ask({ type: 'tables', tables: options.tables, ...ttl }, 'tables');
      // An in-memory store's start is bounded as a whole, its tables included.
      const bound =
        startTimeoutMs === undefined
          ? new Promise<never>(() => {})
          : new Promise<never>((_, reject) => {
              const left = Math.max(0, startTimeoutMs - (performance.now() - forkedAt));
              timer = setTimeout(
                () =>
                  reject(new Error(`dynalite did not make the stack's tables within ${startTimeoutMs} ms`)),
                left,
              );
            });
      const { error, created, found } = await Promise.race([asked, bound]);
      if (error !== undefined) throw new Error(`dynalite could not create the stack's tables: ${error}`);
      tables = { created, found };
    } catch (error) {
      // Closed as a stop closes it, so an on-disk store is flushed, not killed mid-write.
      await stop();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
  let gate: Promise<string> | undefined;
  return {
    endpoint,
    tables,
    finished,
    description: `${options.dataDir === undefined ? 'dynalite, in memory' : `dynalite, on disk in ${options.dataDir}`}, process ${pid}`,
    embedded: true,
    pid,
    lost,
    memory: async () => (await ask({ type: 'memory' }, 'memory')).usage,
    gate: (gateLogger, onDenied) => {
      gate ??= (async () => {
        logger = gateLogger;
        child.on('message', (message: DynaliteChildMessage) => {
          if (message.type === 'denied') onDenied();
        });
        return (await ask({ type: 'gate' }, 'gate')).endpoint;
      })();
      return gate;
    },
    enforce: async (policy) => {
      await ask({ type: 'enforce', policy }, 'enforced');
    },
    stop,
  };
}
