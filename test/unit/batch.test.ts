import { describe, expect, it } from 'vitest';
import { orderKeys, parseBatch, runInBatchOrder } from '../../lambdas/core/batch';
import { idsFrom, parseCommand } from '../../lambdas/core/command';
import type { PublishTarget } from '../../lambdas/core/publish-request';
import { PushError } from '../../lambdas/shared/errors';
import { LIMITS } from '../../lambdas/shared/limits';

let counter = 0;
const newId = () => `gen-${++counter}`;
const item = (uid: string, data: unknown = 1, id?: string) => ({
  to: { uid },
  data,
  ...(id === undefined ? {} : { id }),
});

describe('parseBatch', () => {
  it('accepts 1 to maxBatch publish bodies, each parsed as a single publish, in order', () => {
    counter = 0;
    const parsed = parseBatch(
      [item('u1', { n: 1 }, 'a'), { to: { topic: 'orders' }, data: 'x' }, { to: { all: true }, data: null }],
      newId,
    );
    expect(parsed).toEqual([
      { id: 'a', to: { uid: 'u1' }, data: { n: 1 }, dataJson: '{"n":1}' },
      { id: 'gen-1', to: { topic: 'orders' }, data: 'x', dataJson: '"x"' },
      { id: 'gen-2', to: { all: true }, data: null, dataJson: 'null' },
    ]);
    const full = Array.from({ length: LIMITS.maxBatch }, (_, i) => item(`u${i}`));
    expect(parseBatch(full, newId)).toHaveLength(LIMITS.maxBatch);
  });

  it.each([
    ['not an array', { to: { uid: 'u1' } }, 'bad_request', 'batch must be a non-empty array'],
    ['empty', [], 'bad_request', 'batch must be a non-empty array'],
    [
      'one item too many',
      Array.from({ length: LIMITS.maxBatch + 1 }, (_, i) => item(`u${i}`)),
      'bad_request',
      `batch must hold at most ${LIMITS.maxBatch} publishes`,
    ],
    ['a bad item', [item('u1'), { to: { uid: '' }, data: 1 }], 'bad_request', 'batch[1]: to.uid must be'],
    [
      'an item that is JSON text',
      [item('u1'), '{"to":{"uid":"u2"},"data":1}'],
      'bad_request',
      'batch[1] must be a JSON object',
    ],
    ['an item that is an array', [[item('u1')]], 'bad_request', 'batch[0] must be a JSON object'],
    [
      'an unknown field in an item',
      [{ ...item('u1'), extra: 1 }],
      'bad_request',
      'batch[0]: unknown field extra',
    ],
    [
      'an item with too much data',
      [item('u1'), item('u2'), item('u3', 'x'.repeat(LIMITS.maxDataBytes))],
      'payload_too_large',
      'batch[2]: data exceeds',
    ],
    [
      'an item with data nested 10,000 deep',
      [item('u1'), item('u2', JSON.parse(`${'['.repeat(10_000)}1${']'.repeat(10_000)}`))],
      'bad_request',
      `batch[1]: data nests arrays and objects more than ${LIMITS.maxDataDepth} levels deep`,
    ],
    [
      'a repeated id',
      [item('u1', 1, 'same'), item('u2', 1, 'other'), item('u3', 1, 'same')],
      'bad_request',
      'batch[2].id repeats batch[0].id',
    ],
  ])('refuses %s as %s, naming the item', (_name, batch, code, message) => {
    let thrown: unknown;
    try {
      parseBatch(batch, newId);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PushError);
    expect(thrown).toMatchObject({ code });
    expect((thrown as Error).message).toContain(message);
  });

  it('is what parseCommand returns for {"batch":[...]}, alone in its body', () => {
    expect(parseCommand('{"batch":[{"to":{"uid":"u1"},"data":1,"id":"a"}]}')).toEqual({
      kind: 'batch',
      requests: [{ id: 'a', to: { uid: 'u1' }, data: 1, dataJson: '1' }],
    });
    expect(() => parseCommand({ batch: [item('u1')], to: { uid: 'u1' } })).toThrow(
      'batch must be the only field',
    );
  });
});

describe('orderKeys', () => {
  it.each<[PublishTarget, string[]]>([
    [{ uid: 'u1' }, ['uid:u1']],
    [{ uids: ['u1', 'u2'] }, ['uid:u1', 'uid:u2']],
    [{ topic: 'orders' }, ['topic:orders']],
    [{ all: true }, ['all']],
  ])('%j → %j', (to, keys) => {
    expect(orderKeys(to)).toEqual(keys);
  });
});

/** A job the test finishes by hand, recording when it started. */
interface Job {
  readonly name: string;
  readonly keys: string[];
}

function harness() {
  const started: string[] = [];
  const finishers = new Map<string, { resolve: (v: string) => void; reject: (e: unknown) => void }>();
  let inFlight = 0;
  let maxInFlight = 0;
  const waiters: (() => void)[] = [];
  const work = (job: Job) =>
    new Promise<string>((resolve, reject) => {
      started.push(job.name);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      finishers.set(job.name, {
        resolve: (v) => {
          inFlight--;
          resolve(v);
        },
        reject: (e) => {
          inFlight--;
          reject(e);
        },
      });
      for (const wake of waiters.splice(0)) wake();
    });
  /** Resolves once `names` have all started (an event, not a timer). */
  const whenStarted = async (...names: string[]) => {
    while (!names.every((n) => started.includes(n))) await new Promise<void>((r) => waiters.push(r));
  };
  /** Lets queued microtasks run: anything that could start now has started. */
  const settle = () => new Promise<void>((r) => setImmediate(r));
  const finish = (name: string) => finishers.get(name)?.resolve(`done:${name}`);
  const fail = (name: string, error: unknown) => finishers.get(name)?.reject(error);
  return { started, work, whenStarted, settle, finish, fail, max: () => maxInFlight };
}

const job = (name: string, ...keys: string[]): Job => ({ name, keys });

describe('runInBatchOrder', () => {
  it('runs items for different keys at once, and an item for the same key only after the earlier one', async () => {
    const h = harness();
    const jobs = [job('a1', 'uid:a'), job('b', 'uid:b'), job('a2', 'uid:a'), job('c', 'uid:c')];
    const run = runInBatchOrder(jobs, (j) => j.keys, 10, h.work);
    await h.whenStarted('a1', 'b', 'c');
    await h.settle();
    expect(h.started).toEqual(['a1', 'b', 'c']);
    h.finish('a1');
    await h.whenStarted('a2');
    for (const name of ['b', 'c', 'a2']) h.finish(name);
    await expect(run).resolves.toEqual(['done:a1', 'done:b', 'done:a2', 'done:c']);
  });

  it('holds a uid list item until every earlier item for any of its uids settled', async () => {
    const h = harness();
    const jobs = [job('a', 'uid:a'), job('b', 'uid:b'), job('ab', 'uid:a', 'uid:b')];
    const run = runInBatchOrder(jobs, (j) => j.keys, 10, h.work);
    await h.whenStarted('a', 'b');
    h.finish('a');
    await h.settle();
    expect(h.started).toEqual(['a', 'b']);
    h.finish('b');
    await h.whenStarted('ab');
    h.finish('ab');
    await expect(run).resolves.toHaveLength(3);
  });

  it('runs a broadcast after everything before it, and everything after it after it', async () => {
    const h = harness();
    const jobs = [job('a', 'uid:a'), job('t', 'topic:t'), job('all', 'all'), job('b', 'uid:b')];
    const run = runInBatchOrder(jobs, (j) => j.keys, 10, h.work);
    await h.whenStarted('a', 't');
    h.finish('a');
    await h.settle();
    expect(h.started).toEqual(['a', 't']);
    h.finish('t');
    await h.whenStarted('all');
    await h.settle();
    expect(h.started).toEqual(['a', 't', 'all']);
    h.finish('all');
    await h.whenStarted('b');
    h.finish('b');
    await expect(run).resolves.toEqual(['done:a', 'done:t', 'done:all', 'done:b']);
  });

  it('keeps at most `concurrency` items in flight', async () => {
    const h = harness();
    const jobs = Array.from({ length: 7 }, (_, i) => job(`j${i}`, `uid:${i}`));
    const run = runInBatchOrder(jobs, (j) => j.keys, 3, h.work);
    for (let i = 0; i < 7; i++) {
      await h.whenStarted(`j${i}`);
      await h.settle();
      h.finish(`j${i}`);
    }
    await expect(run).resolves.toHaveLength(7);
    expect(h.max()).toBe(3);
  });

  it('gives the slot back when the work throws synchronously, so later items still run', async () => {
    const thrown = new Error('sync');
    const ran: number[] = [];
    const run = runInBatchOrder(
      [0, 1, 2],
      (i) => [`uid:${i}`],
      1,
      (i) => {
        ran.push(i);
        if (i === 0) throw thrown;
        return Promise.resolve(i);
      },
    );
    await expect(run).rejects.toBe(thrown);
    expect(ran).toEqual([0, 1, 2]);
  });

  it('runs every item when one fails, including those after it on its key, then rethrows the first failure', async () => {
    const h = harness();
    const down = new Error('down');
    const jobs = [job('a1', 'uid:a'), job('a2', 'uid:a'), job('b', 'uid:b')];
    const run = runInBatchOrder(jobs, (j) => j.keys, 10, h.work);
    const outcome = run.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await h.whenStarted('a1', 'b');
    h.fail('a1', down);
    await h.whenStarted('a2');
    h.finish('a2');
    h.finish('b');
    expect(await outcome).toBe(down);
    expect(h.started).toEqual(['a1', 'b', 'a2']);
  });
});

describe('idsFrom', () => {
  it('gives a single publish the base, and a batch item base:index', () => {
    const ids = idsFrom('8a1c4f0e-1b2d-4c3e-9f00-0123456789ab');
    expect(ids()).toBe('8a1c4f0e-1b2d-4c3e-9f00-0123456789ab');
    expect(ids(0)).toBe('8a1c4f0e-1b2d-4c3e-9f00-0123456789ab:0');
    expect(ids(99)).toBe('8a1c4f0e-1b2d-4c3e-9f00-0123456789ab:99');
    expect(parseCommand({ batch: [item('u1', 1, 'own'), item('u2')] }, ids)).toMatchObject({
      requests: [{ id: 'own' }, { id: '8a1c4f0e-1b2d-4c3e-9f00-0123456789ab:1' }],
    });
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['with a space', 'a b'],
    ['too long for the index suffix', 'x'.repeat(121)],
  ])('falls back to random ids for a base that is %s', (_name, base) => {
    const ids = idsFrom(base);
    const [a, b] = [ids(), ids(0)];
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(b).toMatch(/^[0-9a-f-]{36}$/);
    expect(a).not.toBe(b);
  });
});
