/**
 * DynamoDB's Time to Live for dynalite, which has none (no `UpdateTimeToLive`, and it never deletes
 * an expired item): a sweeper in dynalite's own process (dynalite-child.ts) that deletes the
 * expired items of each of the stack's tables with a TTL attribute, in memory or in a `--data`
 * store. Without it, a long `npm start` kept every record whose `$disconnect` never came, every
 * message past its retention and every publish id past its 7 days, in dynalite's memory for good;
 * AWS deletes them, and so does AWS's DynamoDB Local.
 *
 * What DynamoDB deletes, and so what this deletes (Amazon DynamoDB Developer Guide, "Using DynamoDB
 * Time to Live (TTL)", docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-before-you-start.html):
 * an item whose TTL attribute is a top-level Number of Unix epoch seconds below the current time;
 * an item without the attribute, with another type there (a String) or with a value more than five
 * years in the past is ignored. DynamoDB deletes them "typically within a few days of their
 * expiration" (howitworks-ttl.html; the UpdateTimeToLive reference says within two days), so the
 * handlers still filter expired records on every read, as they must on AWS; here the delay is at
 * most one sweep interval.
 *
 * Each table is read in pages (a Scan of {@link TTL_PAGE_LIMIT} items, filtered on the TTL
 * attribute, projecting only the key), and each expired item is deleted with a `DeleteItem`
 * conditioned on its TTL being still expired: an item refreshed between the Scan and the delete (a
 * connection record a heartbeat moved forward) survives. `BatchWriteItem` takes no condition, so
 * it could delete an item refreshed meanwhile, and is not used. Plain loopback HTTP calls, as
 * dynalite-tables.ts makes them: no SDK in this process.
 *
 * dynalite's process serves every call of the stack, so the sweeper keeps to one call at a time
 * and pauses between pages, starts a sweep at most once per interval, never two at once, and
 * `stop` waits for the one call in flight (each is bounded) and starts no other.
 */
import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { call, errorName, failure } from './dynalite-tables';

/** A table to sweep: its name, its TTL attribute and its key attributes. */
export interface TtlTable {
  readonly tableName: string;
  readonly attribute: string;
  readonly keys: readonly string[];
}

/**
 * How often a sweep starts (the next one starts this long after the last one ended). A minute keeps
 * expired records from piling up in a long session at a cost nobody notices: one sweep of 100,000
 * items none of which had expired (200 pages of 500, 5 ms apart) took 1.4–2.3 s of CPU and 2.7–4.5 s
 * in all, in one process as dynalite's runs it (a 2-core machine, other work running), so under 4%
 * of a core at that size, and a local stack rarely holds a tenth of it; each expired item deleted
 * adds about 0.3 ms on the sweep's one kept-alive connection (0.9 ms with a new connection per
 * call; 3,000 deletes, both sides in one process). A `GetItem` made meanwhile waited 1.5 ms at the
 * median and 45 ms at the 99th percentile. Pages of 100 cut that tail to 16 ms but cost 2.4 times
 * the CPU (dynalite spends about 2.5 ms on each Scan call whatever its size). DynamoDB itself takes
 * days, so a shorter interval would buy no fidelity, and a longer one would let a flood of expired
 * records (a load test's connections) sit longer in memory; tests set theirs (`ttlSweepIntervalMs`).
 */
export const TTL_SWEEP_INTERVAL_MS = 60_000;
/** Items one Scan page reads (DynamoDB's `Limit` counts items read before the filter). */
export const TTL_PAGE_LIMIT = 500;
/** The pause between two pages, in which dynalite serves the stack's calls with no sweep call queued. */
export const TTL_PAGE_PAUSE_MS = 5;
/**
 * The most items one sweep deletes; the rest wait for the next one. At about 0.3 ms each, this
 * keeps a sweep's deletes under a second of dynalite's CPU when a flood of records expires at once
 * (a load test's 100,000 connections would otherwise take half a minute of it in one go, while the
 * stack waits on the same process): 120,000 an hour, far more than a session makes, and DynamoDB itself
 * takes days.
 */
export const TTL_MAX_DELETES_PER_SWEEP = 2_000;
/**
 * How long the stack's own calls must have left dynalite idle before a sweep reads its next page,
 * and the longest a page waits for that. DynamoDB deletes expired items in the background, without
 * taking from the table's throughput; here the sweep shares dynalite's process and the machine's
 * cores with the stack. One sweep of 100,000 records (1.4–2.3 s of CPU) that fell inside bench row
 * c's broadcast, or inside its ceiling's passes, took that CPU from one side of the ratio: dynalite's
 * CPU per delivery was 0.050–0.055 ms in such probe runs against 0.026–0.034 ms in the others. While
 * the stack keeps dynalite busy, a sweep still reads a page a second, so it ends.
 */
export const TTL_IDLE_MS = 50;
export const TTL_MAX_WAIT_FOR_IDLE_MS = 1_000;

/** DynamoDB ignores a TTL value more than five years in the past. */
const IGNORED_AFTER_YEARS = 5;

/**
 * The tables of `inputs` that have a TTL attribute in `attributes` (by table name), as the sweeper
 * takes them; the others are never swept.
 */
export function ttlTables(
  inputs: readonly CreateTableCommandInput[],
  attributes: Readonly<Record<string, string>>,
): TtlTable[] {
  return inputs.flatMap((input) => {
    const tableName = input.TableName;
    const attribute = tableName === undefined ? undefined : attributes[tableName];
    if (tableName === undefined || attribute === undefined) return [];
    const keys = (input.KeySchema ?? []).flatMap((key) =>
      key.AttributeName === undefined ? [] : [key.AttributeName],
    );
    return [{ tableName, attribute, keys }];
  });
}

/** The TTL values (epoch seconds) DynamoDB would expire at `nowMs`: from `oldest` to below `now`. */
export function expiredRange(nowMs: number): { readonly now: number; readonly oldest: number } {
  const oldest = new Date(nowMs);
  oldest.setUTCFullYear(oldest.getUTCFullYear() - IGNORED_AFTER_YEARS);
  return { now: Math.floor(nowMs / 1000), oldest: Math.ceil(oldest.getTime() / 1000) };
}

/** What one table's sweep did. */
export interface SweepCount {
  /** Items read. */
  readonly scanned: number;
  /** Expired items deleted. */
  readonly deleted: number;
}

/** Options of {@link sweepTable}. */
export interface SweepTableOptions {
  /** Asked before every call: once true, the sweep ends where it is. */
  readonly stopped?: () => boolean;
  /** @default {@link TTL_PAGE_LIMIT} */
  readonly pageLimit?: number;
  /** @default {@link TTL_PAGE_PAUSE_MS} */
  readonly pagePauseMs?: number;
  /** Deletes at most this many, then ends where it is. @default no limit */
  readonly maxDeletes?: number;
  /** Keeps one connection for the sweep's calls. @default a connection per call */
  readonly agent?: Agent;
  /**
   * Milliseconds since the stack's last call to dynalite ended (0 while one runs): each page waits
   * until it is {@link TTL_IDLE_MS}, or at most {@link TTL_MAX_WAIT_FOR_IDLE_MS}. @default always idle
   */
  readonly idleMs?: () => number;
}

/** Waits until the stack has left dynalite idle a while, or until the longest wait has passed. */
async function untilIdle(idleMs: (() => number) | undefined, stopped: () => boolean): Promise<void> {
  if (idleMs === undefined) return;
  const began = performance.now();
  for (;;) {
    const idle = idleMs();
    if (idle >= TTL_IDLE_MS || stopped()) return;
    const waited = performance.now() - began;
    if (waited >= TTL_MAX_WAIT_FOR_IDLE_MS) return;
    await sleep(Math.min(TTL_IDLE_MS - idle, TTL_MAX_WAIT_FOR_IDLE_MS - waited));
  }
}

/**
 * Deletes the items of `table` that DynamoDB's TTL would delete at `nowMs`, one page and one call
 * at a time. Rejects with DynamoDB's answer when a call fails (the table was deleted, dynalite is
 * closing); what it deleted before stays deleted.
 *
 * @example
 * await sweepTable(new URL(endpoint), { tableName: 'Messages', attribute: 'expiresAt', keys: ['stream', 'seq'] }, Date.now())
 * // { scanned: 1200, deleted: 37 }
 */
export async function sweepTable(
  endpoint: URL,
  table: TtlTable,
  nowMs: number,
  options: SweepTableOptions = {},
): Promise<SweepCount> {
  const maxDeletes = options.maxDeletes ?? Number.POSITIVE_INFINITY;
  const stopped = () => deleted >= maxDeletes || (options.stopped?.() ?? false);
  const { now, oldest } = expiredRange(nowMs);
  // A Number in range: `<` and `>=` are false for a String or any other type, as DynamoDB's are.
  const expired = '#ttl < :now AND #ttl >= :oldest';
  const values = { ':now': { N: String(now) }, ':oldest': { N: String(oldest) } };
  const keyNames = Object.fromEntries(table.keys.map((key, k) => [`#k${k}`, key]));
  let scanned = 0;
  let deleted = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    await untilIdle(options.idleMs, stopped);
    if (stopped()) break;
    const page = await call(
      endpoint,
      'Scan',
      {
        TableName: table.tableName,
        Limit: options.pageLimit ?? TTL_PAGE_LIMIT,
        FilterExpression: expired,
        ProjectionExpression: Object.keys(keyNames).join(', '),
        ExpressionAttributeNames: { '#ttl': table.attribute, ...keyNames },
        ExpressionAttributeValues: values,
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      },
      options.agent,
    );
    if (page.status !== 200) throw failure('Scan', table.tableName, page.status, page.answer);
    scanned += typeof page.answer.ScannedCount === 'number' ? page.answer.ScannedCount : 0;
    startKey = page.answer.LastEvaluatedKey as Record<string, unknown> | undefined;
    for (const key of (page.answer.Items ?? []) as Record<string, unknown>[]) {
      if (stopped()) break;
      const gone = await call(
        endpoint,
        'DeleteItem',
        {
          TableName: table.tableName,
          Key: key,
          // Still expired now: an item whose TTL was moved forward since the Scan is kept.
          ConditionExpression: expired,
          ExpressionAttributeNames: { '#ttl': table.attribute },
          ExpressionAttributeValues: values,
        },
        options.agent,
      );
      if (gone.status === 200) deleted++;
      else if (errorName(gone.answer) !== 'ConditionalCheckFailedException')
        throw failure('DeleteItem', table.tableName, gone.status, gone.answer);
    }
    if (startKey !== undefined && !stopped()) await sleep(options.pagePauseMs ?? TTL_PAGE_PAUSE_MS);
  } while (startKey !== undefined);
  return { scanned, deleted };
}

/** Options of {@link startTtlSweeper}. */
export interface TtlSweeperOptions extends Omit<SweepTableOptions, 'stopped' | 'maxDeletes'> {
  /** Items one sweep deletes at most, over all its tables. @default {@link TTL_MAX_DELETES_PER_SWEEP} */
  readonly maxDeletesPerSweep?: number;
  /** The dynalite to sweep. */
  readonly endpoint: string;
  readonly tables: readonly TtlTable[];
  /** @default {@link TTL_SWEEP_INTERVAL_MS} */
  readonly intervalMs?: number;
  /** Where a sweep's summary (debug) and its failures (warn, then debug while they repeat) go. */
  readonly log: (
    level: 'debug' | 'warn',
    message: string,
    fields?: Readonly<Record<string, unknown>>,
  ) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

/** A running sweeper. */
export interface TtlSweeper {
  /** Ends it: no call starts after this; resolves once the call in flight, if any, has ended. */
  stop(): Promise<void>;
}

/**
 * Sweeps `tables` every `intervalMs` (the first sweep one interval after the start), in the
 * background, until stopped. A table whose sweep fails is logged and swept again next time: a
 * missing one (a test deleted it) at debug, any other failure at warn once, then at debug while the
 * same failure repeats. Each sweep ends with a debug line of what it read and deleted.
 */
export function startTtlSweeper(options: TtlSweeperOptions): TtlSweeper {
  const endpoint = new URL(options.endpoint);
  const intervalMs = options.intervalMs ?? TTL_SWEEP_INTERVAL_MS;
  const now = options.now ?? Date.now;
  // One connection for every call of every sweep: a new one per delete was most of its cost.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const sweepOptions = {
    agent,
    stopped: () => stopped,
    ...(options.pageLimit === undefined ? {} : { pageLimit: options.pageLimit }),
    ...(options.pagePauseMs === undefined ? {} : { pagePauseMs: options.pagePauseMs }),
    ...(options.idleMs === undefined ? {} : { idleMs: options.idleMs }),
  };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  /** The last failure logged at warn, by table, until that table's sweep succeeds again. */
  const failing = new Map<string, string>();

  const sweep = async () => {
    const began = performance.now();
    const nowMs = now();
    let scanned = 0;
    let deleted = 0;
    const budget = options.maxDeletesPerSweep ?? TTL_MAX_DELETES_PER_SWEEP;
    for (const table of options.tables) {
      if (stopped) return;
      // What is left when the budget is spent waits for the next sweep.
      if (deleted >= budget) break;
      try {
        const count = await sweepTable(endpoint, table, nowMs, {
          ...sweepOptions,
          maxDeletes: budget - deleted,
        });
        scanned += count.scanned;
        deleted += count.deleted;
        failing.delete(table.tableName);
      } catch (error) {
        const message = (error as Error).message;
        const missing = message.includes(' ResourceNotFoundException');
        const repeated = failing.get(table.tableName) === message;
        if (!missing && !repeated) failing.set(table.tableName, message);
        options.log(
          missing || repeated ? 'debug' : 'warn',
          'TTL sweep of a table failed; it is swept again next time',
          {
            table: table.tableName,
            error: message,
          },
        );
      }
    }
    if (stopped) return;
    options.log('debug', 'TTL sweep', {
      tables: options.tables.length,
      scanned,
      deleted,
      ms: Math.round(performance.now() - began),
    });
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = sweep()
        .catch(() => {})
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, intervalMs);
    // The IPC channel keeps dynalite's process alive, not the sweeper.
    timer.unref();
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
      agent.destroy();
    },
  };
}
