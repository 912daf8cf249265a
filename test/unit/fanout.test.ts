import { describe, expect, it } from 'vitest';
import type { Gateway, Target } from '../../lambdas/core/ports';
import { publish } from '../../lambdas/core/publish';
import { parsePublishRequest } from '../../lambdas/core/publish-request';
import { resolveTargets } from '../../lambdas/core/targets';
import {
  GoneError,
  PayloadTooLargeError,
  ThrottledError,
  UnavailableError,
} from '../../lambdas/shared/errors';
import { emptyStore, shardReader } from './fakes';

type Behaviour =
  | 'ok'
  | 'gone'
  | 'throttled-then-ok'
  | 'always-throttled'
  | 'unavailable-then-ok'
  | 'too-large';

function fakeGateway(behaviour: Record<string, Behaviour>) {
  const calls: string[] = [];
  const payloads: string[] = [];
  let inFlight = 0;
  let peak = 0;
  const gateway: Gateway = {
    async send(connectionId, data) {
      calls.push(connectionId);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      const attempt = calls.filter((c) => c === connectionId).length;
      switch (behaviour[connectionId] ?? 'ok') {
        case 'gone':
          throw new GoneError('gone');
        case 'throttled-then-ok':
          if (attempt === 1) throw new ThrottledError('429');
          break;
        case 'unavailable-then-ok':
          if (attempt < 3) throw new UnavailableError('500');
          break;
        case 'always-throttled':
          throw new ThrottledError('429');
        case 'too-large':
          throw new PayloadTooLargeError('413');
      }
      payloads.push(String(data));
    },
    async info() {
      throw new Error('not used');
    },
    async close() {},
  };
  return { gateway, calls, payloads, peak: () => peak };
}

function fakeStore(byUid: Record<string, string[]>, byTopic: Record<string, string[]> = {}) {
  const removed: string[] = [];
  const targets = (ids: string[], uid = 'x'): Target[] => ids.map((connectionId) => ({ connectionId, uid }));
  const store = emptyStore({
    async remove(id) {
      removed.push(id);
      return 1;
    },
    async byUid(uid) {
      return targets(byUid[uid] ?? [], uid);
    },
    async byTopic(topic) {
      return targets(byTopic[topic] ?? []);
    },
    readShard: shardReader((_to, shard) => (shard === 0 ? targets(Object.values(byUid).flat()) : [])),
  });
  return { store, removed };
}

const noSleep = async () => {};

describe('publish', () => {
  it('counts live, gone, throttled-then-ok and failing connections exactly and deletes only the gone one', async () => {
    const { store, removed } = fakeStore({ u1: ['live', 'gone', 'throttled', 'flaky', 'stuck', 'huge'] });
    const { gateway, calls } = fakeGateway({
      gone: 'gone',
      throttled: 'throttled-then-ok',
      flaky: 'unavailable-then-ok',
      stuck: 'always-throttled',
      huge: 'too-large',
    });
    const request = parsePublishRequest({ to: { uid: 'u1' }, data: { orderId: 42 }, id: 'p1' });
    const result = await publish(request, { store, gateway, sleep: noSleep, attempts: 4, now: () => 5 });
    expect(result).toEqual({ id: 'p1', connections: 6, delivered: 3, gone: 1, failed: 2, stored: 0 });
    expect(removed).toEqual(['gone']);
    expect(calls.filter((c) => c === 'throttled')).toHaveLength(2);
    expect(calls.filter((c) => c === 'flaky')).toHaveLength(3);
    expect(calls.filter((c) => c === 'stuck')).toHaveLength(4);
    expect(calls.filter((c) => c === 'huge')).toHaveLength(1);
  });

  it('sends the exact message frame, with the topic only on topic pushes', async () => {
    const { store } = fakeStore({ u1: ['a'] }, { orders: ['b'] });
    const { gateway, payloads } = fakeGateway({});
    await publish(parsePublishRequest({ to: { uid: 'u1' }, data: { n: 1 }, id: 'p1' }), {
      store,
      gateway,
      now: () => 7,
    });
    await publish(parsePublishRequest({ to: { topic: 'orders' }, data: 'hi', id: 'p2' }), {
      store,
      gateway,
      now: () => 8,
    });
    expect(payloads).toEqual([
      '{"type":"message","id":"p1","data":{"n":1},"ts":7}',
      '{"type":"message","id":"p2","topic":"orders","data":"hi","ts":8}',
    ]);
  });

  it('keeps at most the configured number of deliveries in flight', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `c${i}`);
    const { store } = fakeStore({ u1: ids });
    const { gateway, peak } = fakeGateway({});
    const result = await publish(parsePublishRequest({ to: { uid: 'u1' }, data: 1 }), {
      store,
      gateway,
      concurrency: 8,
    });
    expect(result).toMatchObject({ delivered: 100 });
    expect(peak()).toBe(8);
  });

  it('still counts a connection as gone when deleting its records fails', async () => {
    const { store } = fakeStore({ u1: ['gone'] });
    store.remove = async () => {
      throw new UnavailableError('DynamoDB down');
    };
    const cleanupFailures: string[] = [];
    const { gateway } = fakeGateway({ gone: 'gone' });
    const result = await publish(parsePublishRequest({ to: { uid: 'u1' }, data: 1, id: 'p' }), {
      store,
      gateway,
      events: { cleanupFailed: (id) => cleanupFailures.push(id) },
    });
    expect(result).toEqual({ id: 'p', connections: 1, delivered: 0, gone: 1, failed: 0, stored: 0 });
    expect(cleanupFailures).toEqual(['gone']);
  });

  it('keeps the record of a connection so young it may still be inside $connect when it answers 410', async () => {
    const { store, removed } = fakeStore({});
    store.byUid = async () => [
      { connectionId: 'opening', uid: 'u1', connectedAt: 1_000 },
      { connectionId: 'old', uid: 'u1', connectedAt: 1_000 - 11_000 },
    ];
    const { gateway } = fakeGateway({ opening: 'gone', old: 'gone' });
    const result = await publish(parsePublishRequest({ to: { uid: 'u1' }, data: 1, id: 'p' }), {
      store,
      gateway,
      now: () => 1_000 + 9_000,
    });
    expect(result).toMatchObject({ connections: 2, gone: 2 });
    expect(removed).toEqual(['old']);
  });

  it('reports zero connections for a uid with none', async () => {
    const { store } = fakeStore({});
    const { gateway, calls } = fakeGateway({});
    const result = await publish(parsePublishRequest({ to: { uid: 'nobody' }, data: 1, id: 'p' }), {
      store,
      gateway,
    });
    expect(result).toEqual({ id: 'p', connections: 0, delivered: 0, gone: 0, failed: 0, stored: 0 });
    expect(calls).toEqual([]);
  });

  it('lets a store failure propagate so the invocation can be retried', async () => {
    const { store } = fakeStore({});
    store.byUid = async () => {
      throw new UnavailableError('DynamoDB down');
    };
    const { gateway } = fakeGateway({});
    await expect(
      publish(parsePublishRequest({ to: { uid: 'u1' }, data: 1 }), { store, gateway }),
    ).rejects.toThrow(UnavailableError);
  });
});

describe('resolveTargets', () => {
  it('deduplicates connections reached through several uids', async () => {
    const { store } = fakeStore({ u1: ['a', 'b'], u2: ['b', 'c'] });
    const found = await resolveTargets({ uids: ['u1', 'u2'] }, store, 0);
    expect(found.map((t) => t.connectionId)).toEqual(['a', 'b', 'c']);
  });

  it('reads every shard for a broadcast', async () => {
    const { store } = fakeStore({ u1: ['a'], u2: ['b'] });
    const shards: number[] = [];
    const readShard = store.readShard.bind(store);
    store.readShard = async (to, shard, now, limit) => {
      shards.push(shard);
      return readShard(to, shard, now, limit);
    };
    const found = await resolveTargets({ all: true }, store, 0);
    expect(found.map((t) => t.connectionId)).toEqual(['a', 'b']);
    expect(shards.sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });
});
