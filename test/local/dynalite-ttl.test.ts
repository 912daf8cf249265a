/**
 * The TTL sweeper of dynalite's process (local/dynalite-ttl.ts): it deletes what DynamoDB's TTL
 * would (a Number of epoch seconds below now, at most five years old) and nothing else, keeps an
 * item refreshed between its Scan and its delete, touches only the stack's tables with a TTL
 * attribute, logs a failure and carries on, and stops with the process, no call running into a
 * closed dynalite.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { CONNECTIONS_TABLE } from '../../lambdas/shared/tables';
import {
  type DynaliteChildMessage,
  type DynaliteParentMessage,
  type StartedDynalite,
  startDynalite,
  startDynaliteProcess,
} from '../../local/dynalite';
import { call, createTables } from '../../local/dynalite-tables';
import {
  expiredRange,
  startTtlSweeper,
  sweepTable,
  TTL_IDLE_MS,
  TTL_MAX_WAIT_FOR_IDLE_MS,
  type TtlTable,
} from '../../local/dynalite-ttl';
import type { LogFields, Logger } from '../../local/logger';
import { stackTables, tableInputs, ttlAttributes } from '../../local/table-input';
import { within } from '../support/within';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Bound on any one wait (a shared machine runs other suites meanwhile). */
const WAIT_MS = 10_000;

const NOW = () => Math.floor(Date.now() / 1000);
const SIX_YEARS_S = 6 * 366 * 86_400;

/** A table keyed as the connections table is, with `expiresAt` as its TTL attribute. */
const TABLE: TtlTable = { tableName: 'Swept', attribute: 'expiresAt', keys: ['pk', 'sk'] };

function tableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
  };
}

/**
 * Makes a table and waits until it is ACTIVE: dynalite answers CreateTable while the table is
 * still CREATING, and a write in that moment is refused with ResourceNotFoundException.
 */
async function makeTable(endpoint: string, tableName: string): Promise<void> {
  await createTables(endpoint, [tableInput(tableName)]);
}

async function ok(endpoint: string, operation: string, input: object): Promise<Record<string, unknown>> {
  const { status, answer } = await call(new URL(endpoint), operation, input);
  if (status !== 200) throw new Error(`${operation} answered ${status}: ${JSON.stringify(answer)}`);
  return answer;
}

/** Puts one item per entry, keyed `{ pk: name, sk: 'item' }`, with `expiresAt` as given (absent if undefined). */
async function putItems(
  endpoint: string,
  tableName: string,
  items: Readonly<Record<string, Record<string, string> | undefined>>,
): Promise<void> {
  for (const [name, expiresAt] of Object.entries(items))
    await ok(endpoint, 'PutItem', {
      TableName: tableName,
      Item: { pk: { S: name }, sk: { S: 'item' }, ...(expiresAt === undefined ? {} : { expiresAt }) },
    });
}

/** The `pk` of every item of the table. */
async function names(endpoint: string, tableName: string): Promise<string[]> {
  const answer = await ok(endpoint, 'Scan', { TableName: tableName, ConsistentRead: true });
  return ((answer.Items ?? []) as { pk: { S: string } }[]).map((item) => item.pk.S).sort();
}

/** Resolves once `check` holds, asked every 10 ms; fails with `what` after {@link WAIT_MS}. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  await within(
    (async () => {
      while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    WAIT_MS,
    what,
  );
}

/** The TTL values of each case, as of now. */
function cases(): Record<string, Record<string, string> | undefined> {
  const now = NOW();
  return {
    expired: { N: String(now - 60) },
    'expired-just-under-5y': { N: String(now - 5 * 365 * 86_400 + 86_400) },
    unexpired: { N: String(now + 3600) },
    'string-ttl': { S: String(now - 60) },
    'older-than-5y': { N: String(now - SIX_YEARS_S) },
    'no-ttl': undefined,
  };
}
const KEPT = ['no-ttl', 'older-than-5y', 'string-ttl', 'unexpired'];

/** An HTTP proxy to `upstream` that runs `before` on each request's operation and body first. */
async function proxy(
  upstream: string,
  before: (operation: string, body: Record<string, unknown>) => Promise<void> = async () => {},
): Promise<{ endpoint: string; server: Server; requests: () => number; inFlight: () => number }> {
  let requests = 0;
  let inFlight = 0;
  const server = createServer((req, res) => {
    requests++;
    inFlight++;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      void before(operation, JSON.parse(body.toString('utf8')) as Record<string, unknown>).then(() => {
        const out = request(upstream, { method: 'POST', headers: req.headers, agent: false }, (answer) => {
          res.writeHead(answer.statusCode ?? 500, answer.headers);
          answer.pipe(res);
          answer.on('end', () => inFlight--);
        });
        out.end(body);
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, server, requests: () => requests, inFlight: () => inFlight };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function inProcess(): Promise<StartedDynalite> {
  const dynamo = await startDynalite();
  cleanups.push(() => dynamo.stop());
  await makeTable(dynamo.endpoint, TABLE.tableName);
  return dynamo;
}

describe('sweepTable', () => {
  it('deletes an item whose TTL is a Number of epoch seconds below now and within five years, and keeps every other', async () => {
    const { endpoint } = await inProcess();
    await putItems(endpoint, TABLE.tableName, cases());
    // Pages of 2: the sweep follows LastEvaluatedKey to the end.
    const count = await sweepTable(new URL(endpoint), TABLE, Date.now(), { pageLimit: 2, pagePauseMs: 0 });
    expect(count).toEqual({ scanned: 6, deleted: 2 });
    expect(await names(endpoint, TABLE.tableName)).toEqual(KEPT);
  });

  it("reads each page once the stack's calls have left dynalite idle, or after waiting its longest", async () => {
    const { endpoint } = await inProcess();
    await putItems(endpoint, TABLE.tableName, cases());
    // Busy for the first 300 ms, then idle: the first page waits for it, the others do not.
    const began = performance.now();
    const busyUntil = began + 300;
    const scans: number[] = [];
    const idleMs = () => {
      scans.push(performance.now() - began);
      return performance.now() < busyUntil ? 0 : performance.now() - busyUntil;
    };
    const count = await sweepTable(new URL(endpoint), TABLE, Date.now(), {
      pageLimit: 2,
      pagePauseMs: 0,
      idleMs,
    });
    expect(count).toEqual({ scanned: 6, deleted: 2 });
    expect(performance.now() - began).toBeGreaterThanOrEqual(300 + TTL_IDLE_MS);
    expect(performance.now() - began).toBeLessThan(TTL_MAX_WAIT_FOR_IDLE_MS);

    // Never idle: each page still comes, after the longest wait.
    await putItems(endpoint, TABLE.tableName, { z: { N: String(NOW() - 60) } });
    const started = performance.now();
    const again = await sweepTable(new URL(endpoint), TABLE, Date.now(), {
      pageLimit: 10,
      pagePauseMs: 0,
      idleMs: () => 0,
    });
    expect(again).toEqual({ scanned: 5, deleted: 1 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(TTL_MAX_WAIT_FOR_IDLE_MS - 5);
  });

  it('deletes at most maxDeletes, and a later sweep takes the rest', async () => {
    const { endpoint } = await inProcess();
    const past = { N: String(NOW() - 60) };
    await putItems(endpoint, TABLE.tableName, { a: past, b: past, c: past, d: past, e: past });
    const sweep = () =>
      sweepTable(new URL(endpoint), TABLE, Date.now(), { pageLimit: 2, pagePauseMs: 0, maxDeletes: 3 });
    expect((await sweep()).deleted).toBe(3);
    expect(await names(endpoint, TABLE.tableName)).toHaveLength(2);
    expect((await sweep()).deleted).toBe(2);
    expect(await names(endpoint, TABLE.tableName)).toEqual([]);
  });

  it('keeps an item whose TTL was moved forward between its Scan and its delete (a heartbeat refreshed it)', async () => {
    const { endpoint } = await inProcess();
    const past = NOW() - 60;
    await putItems(endpoint, TABLE.tableName, {
      refreshed: { N: String(past) },
      stale: { N: String(past) },
    });
    const refreshedTo = String(NOW() + 3600);
    // The refresh lands after the Scan found the item expired, just before its DeleteItem.
    const { endpoint: racing, server } = await proxy(endpoint, async (operation, body) => {
      if (operation === 'DeleteItem' && (body.Key as { pk: { S: string } }).pk.S === 'refreshed')
        await ok(endpoint, 'UpdateItem', {
          TableName: TABLE.tableName,
          Key: body.Key,
          UpdateExpression: 'SET expiresAt = :later',
          ExpressionAttributeValues: { ':later': { N: refreshedTo } },
        });
    });
    cleanups.push(async () => server.close());
    const count = await sweepTable(new URL(racing), TABLE, Date.now(), { pagePauseMs: 0 });
    expect(count).toEqual({ scanned: 2, deleted: 1 });
    const { Item } = (await ok(endpoint, 'GetItem', {
      TableName: TABLE.tableName,
      Key: { pk: { S: 'refreshed' }, sk: { S: 'item' } },
    })) as { Item?: { expiresAt: { N: string } } };
    expect(Item?.expiresAt).toEqual({ N: refreshedTo });
    expect(await names(endpoint, TABLE.tableName)).toEqual(['refreshed']);
  });

  it('takes five calendar years back from now as the oldest TTL DynamoDB still expires', () => {
    const at = Date.UTC(2026, 2, 1, 12, 0, 0, 500);
    expect(expiredRange(at)).toEqual({
      now: Date.UTC(2026, 2, 1, 12) / 1000,
      oldest: Date.UTC(2021, 2, 1, 12, 0, 1) / 1000,
    });
  });
});

describe('startTtlSweeper', () => {
  it('logs a missing table at debug and another failure at warn once, and carries on sweeping the others', async () => {
    const { endpoint } = await inProcess();
    await makeTable(endpoint, 'Broken');
    await putItems(endpoint, 'Broken', { 'broken-expired': { N: String(NOW() - 60) } });
    const lines: { level: string; message: string; fields?: LogFields }[] = [];
    const sweeper = startTtlSweeper({
      endpoint,
      // A table deleted (by a test), one whose key is given wrong (each delete is refused), one fine.
      tables: [{ ...TABLE, tableName: 'Gone' }, { ...TABLE, tableName: 'Broken', keys: ['nope'] }, TABLE],
      intervalMs: 5,
      pagePauseMs: 0,
      log: (level, message, fields) => lines.push({ level, message, ...(fields ? { fields } : {}) }),
    });
    cleanups.push(() => sweeper.stop());
    await putItems(endpoint, TABLE.tableName, { expired: { N: String(NOW() - 60) } });
    await until(async () => lines.filter((line) => line.message === 'TTL sweep').length >= 3, 'three sweeps');
    await sweeper.stop();
    expect(await names(endpoint, TABLE.tableName)).toEqual([]);
    expect(await names(endpoint, 'Broken')).toEqual(['broken-expired']);
    const failures = lines.filter((line) => line.message.startsWith('TTL sweep of a table failed'));
    const gone = failures.filter((line) => line.fields?.table === 'Gone');
    const broken = failures.filter((line) => line.fields?.table === 'Broken');
    expect(gone.length).toBeGreaterThanOrEqual(3);
    expect(gone.every((line) => line.level === 'debug')).toBe(true);
    expect(gone[0]?.fields?.error).toMatch(/^Scan Gone answered 400 ResourceNotFoundException/);
    expect(broken.map((line) => line.level)).toEqual(['warn', ...broken.slice(1).map(() => 'debug')]);
    expect(broken.length).toBeGreaterThanOrEqual(3);
    expect(broken[0]?.fields?.error).toMatch(/^DeleteItem Broken answered 400 ValidationException/);
  });

  it('stops between two calls: stop resolves with none in flight, and none starts after it', async () => {
    const { endpoint } = await inProcess();
    const now = NOW();
    for (let batch = 0; batch < 40; batch++)
      await ok(endpoint, 'BatchWriteItem', {
        RequestItems: {
          [TABLE.tableName]: Array.from({ length: 25 }, (_, k) => ({
            PutRequest: {
              Item: { pk: { S: `p${batch}-${k}` }, sk: { S: 'item' }, expiresAt: { N: String(now + 3600) } },
            },
          })),
        },
      });
    const counting = await proxy(endpoint);
    cleanups.push(async () => counting.server.close());
    const sweeper = startTtlSweeper({
      endpoint: counting.endpoint,
      tables: [TABLE],
      intervalMs: 1,
      pageLimit: 10,
      pagePauseMs: 0,
      log: () => {},
    });
    // Well inside a sweep of 100 pages.
    await until(async () => counting.requests() >= 20, 'the sweep to be under way');
    await sweeper.stop();
    expect(counting.inFlight()).toBe(0);
    const after = counting.requests();
    // Many intervals of 1 ms, in which a sweeper still running would have called again.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(counting.requests()).toBe(after);
  });
});

describe("dynalite's process", () => {
  it("sweeps the stack's tables with a TTL attribute, and no other table, with the stack's logger", async () => {
    const stack = stackTables({ [CONNECTIONS_TABLE.id]: 'swept-connections' });
    const connections = 'swept-connections';
    const lines: { message: string; fields?: LogFields }[] = [];
    const logger: Logger = {
      debug: (message, fields) => lines.push({ message, ...(fields ? { fields } : {}) }),
      info() {},
      warn: (message, fields) => lines.push({ message, ...(fields ? { fields } : {}) }),
      error() {},
    };
    const own = await startDynaliteProcess({
      // A table of the stack without a TTL attribute: given, but not swept.
      tables: [...tableInputs(stack), tableInput('Plain')],
      ttlAttributes: ttlAttributes(stack),
      ttlSweepIntervalMs: 20,
      logger,
    });
    cleanups.push(() => own.stop());
    // A table the stack did not make: never swept either.
    await makeTable(own.endpoint, 'Foreign');
    const expired = { N: String(NOW() - 60) };
    const connection = (pk: string, expiresAt: Record<string, string> | undefined) =>
      ok(own.endpoint, 'PutItem', {
        TableName: connections,
        Item: { pk: { S: pk }, sk: { S: 'conn' }, ...(expiresAt === undefined ? {} : { expiresAt }) },
      });
    for (const [pk, expiresAt] of Object.entries(cases())) await connection(pk, expiresAt);
    await putItems(own.endpoint, 'Plain', { 'plain-expired': expired });
    await putItems(own.endpoint, 'Foreign', { 'foreign-expired': expired });
    const sweepsBefore = lines.filter((line) => line.message === 'TTL sweep').length;
    // Two sweeps ended after the puts: the second one started after them.
    await until(
      async () => lines.filter((line) => line.message === 'TTL sweep').length >= sweepsBefore + 2,
      'two more sweeps',
    );
    expect(await names(own.endpoint, connections)).toEqual(KEPT);
    expect(await names(own.endpoint, 'Plain')).toEqual(['plain-expired']);
    expect(await names(own.endpoint, 'Foreign')).toEqual(['foreign-expired']);
    expect(lines.find((line) => line.message === 'TTL sweep')?.fields).toMatchObject({ tables: 3 });
    expect(lines.filter((line) => line.message !== 'TTL sweep')).toEqual([]);

    // An item that expires later is deleted by a later sweep.
    await connection('later', expired);
    await until(async () => !(await names(own.endpoint, connections)).includes('later'), 'the item to go');
  });

  it('stops its sweeper when asked to stop mid-sweep, closes dynalite cleanly and exits 0', async () => {
    const child = fork(join(ROOT, 'local', 'dynalite-child.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const messages: DynaliteChildMessage[] = [];
    const next = (type: DynaliteChildMessage['type']) =>
      within(
        new Promise<DynaliteChildMessage>((resolve) => {
          const seen = messages.find((message) => message.type === type);
          if (seen !== undefined) return resolve(seen);
          const onMessage = (message: DynaliteChildMessage) => {
            if (message.type !== type) return;
            child.off('message', onMessage);
            resolve(message);
          };
          child.on('message', onMessage);
        }),
        WAIT_MS * 2,
        `the child's ${type}`,
      );
    child.on('message', (message: DynaliteChildMessage) => messages.push(message));
    const send = (message: DynaliteParentMessage) => child.send(message);
    const ready = await next('ready');
    const endpoint = (ready as { endpoint: string }).endpoint;
    send({
      type: 'tables',
      tables: [tableInput(TABLE.tableName)],
      ttl: { attributes: { [TABLE.tableName]: TABLE.attribute }, intervalMs: 1 },
    });
    await next('tables');
    const later = String(NOW() + 3600);
    for (let batch = 0; batch < 80; batch++)
      await ok(endpoint, 'BatchWriteItem', {
        RequestItems: {
          [TABLE.tableName]: Array.from({ length: 25 }, (_, k) => ({
            PutRequest: { Item: { pk: { S: `p${batch}-${k}` }, sk: { S: 'item' }, expiresAt: { N: later } } },
          })),
        },
      });
    // Sweeps run back to back (1 ms apart): the stop lands in one.
    const sweeps = () =>
      messages.filter((message) => message.type === 'log' && message.message === 'TTL sweep');
    await until(async () => sweeps().length >= 2, 'two sweeps');
    send({ type: 'stop' });
    const [code] = (await within(once(child, 'exit'), WAIT_MS, "dynalite's process to end")) as [number];
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });
});
