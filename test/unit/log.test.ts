import { describe, expect, it } from 'vitest';
import type { Principal } from '../../lambdas/core/auth-context';
import { hasGap, type LogSettings, parseTopicHistory, topicHasHistory } from '../../lambdas/core/log';
import type { Gateway, LoggedMessage, MessageLog } from '../../lambdas/core/ports';
import { publish } from '../../lambdas/core/publish';
import { parsePublishRequest } from '../../lambdas/core/publish-request';
import { resume } from '../../lambdas/core/resume';
import { GoneError } from '../../lambdas/shared/errors';
import { emptyStore } from './fakes';

const settings: LogSettings = { retentionSeconds: 3600, maxMessages: 3, topicHistory: ['orders', 'feed.*'] };

/** An in-memory log with the same trimming and expiry rules as the DynamoDB one. */
function memoryLog(s: LogSettings = settings) {
  const streams = new Map<string, { latest: number; items: (LoggedMessage & { expiresAt: number })[] }>();
  const log: MessageLog = {
    async append(stream, message, nowMs) {
      const seq = await log.reserve(stream);
      await log.store(stream, { ...message, seq }, nowMs);
      return seq;
    },
    async reserve(stream) {
      const entry = streams.get(stream) ?? { latest: 0, items: [] };
      streams.set(stream, entry);
      return ++entry.latest;
    },
    async store(stream, message, nowMs) {
      const entry = streams.get(stream) ?? { latest: 0, items: [] };
      streams.set(stream, entry);
      entry.items = entry.items.filter((m) => m.seq !== message.seq);
      entry.items.push({ ...message, expiresAt: nowMs / 1000 + s.retentionSeconds });
      entry.items.sort((a, b) => a.seq - b.seq);
      entry.items = entry.items.filter((m) => m.seq > message.seq - s.maxMessages);
    },
    async read(stream, since, nowMs, limit) {
      const entry = streams.get(stream) ?? { latest: 0, items: [] };
      const messages = entry.items
        .filter((m) => m.seq > since && m.expiresAt * 1000 > nowMs)
        .slice(0, limit)
        .map(({ expiresAt: _, ...m }) => m);
      return { messages, latest: entry.latest };
    },
  };
  return { log, streams };
}

function recordingGateway(goneIds: string[] = []) {
  const sent: { connectionId: string; payload: string }[] = [];
  const gateway: Gateway = {
    async send(connectionId, data) {
      if (goneIds.includes(connectionId)) throw new GoneError('gone');
      sent.push({ connectionId, payload: String(data) });
    },
    async info() {
      throw new Error('unused');
    },
    async close() {},
  };
  return { gateway, sent };
}

function storeWith(byUid: Record<string, string[]>) {
  return emptyStore({
    async byUid(uid) {
      return (byUid[uid] ?? []).map((connectionId) => ({ connectionId, uid }));
    },
    async byTopic() {
      return [{ connectionId: 'sub', uid: 'x' }];
    },
  });
}

describe('hasGap', () => {
  const m = (seq: number) => ({ seq, id: `m${seq}`, dataJson: '1', ts: 0 });
  it.each([
    ['nothing was ever logged', 0, { messages: [], latest: 0 }, false],
    ['the client is up to date', 5, { messages: [], latest: 5 }, false],
    ['the next message is still there', 2, { messages: [m(3), m(4)], latest: 4 }, false],
    ['the next message was trimmed', 2, { messages: [m(4)], latest: 4 }, true],
    ['every newer message expired', 2, { messages: [], latest: 4, expired: true }, true],
    ['the counter is ahead of a message still being written', 2, { messages: [], latest: 3 }, false],
    ['the counter is more than a full log ahead', 2, { messages: [], latest: 2 + 3 + 1 }, true],
    ['a first connect finds seq 1', 0, { messages: [m(1)], latest: 1 }, false],
  ])('is right when %s', (_label, since, read, expected) => {
    expect(hasGap(since, read, 3)).toBe(expected);
  });
});

describe('topic history settings', () => {
  it.each([
    [undefined, []],
    ['orders, feed.* ,,', ['orders', 'feed.*']],
  ])('parses %j', (value, expected) => {
    expect(parseTopicHistory(value)).toEqual(expected);
  });

  it.each([
    ['orders', true],
    ['feed.news', true],
    ['chat', false],
  ])('topic %s keeps history: %s', (topic, expected) => {
    expect(topicHasHistory(topic, settings)).toBe(expected);
  });
});

describe('publish with a message log', () => {
  it('logs before delivering, adds the seq, and counts offline uids as stored', async () => {
    const { log, streams } = memoryLog();
    const { gateway, sent } = recordingGateway();
    const store = storeWith({ online: ['c1', 'c2'] });
    const result = await publish(
      parsePublishRequest({ to: { uids: ['online', 'offline'] }, data: { n: 1 }, id: 'p1' }),
      {
        store,
        gateway,
        log,
        logSettings: settings,
        now: () => 9,
      },
    );
    expect(result).toEqual({ id: 'p1', connections: 2, delivered: 2, gone: 0, failed: 0, stored: 1 });
    expect(sent.map((s) => s.payload)).toEqual([
      '{"type":"message","id":"p1","seq":1,"data":{"n":1},"ts":9}',
      '{"type":"message","id":"p1","seq":1,"data":{"n":1},"ts":9}',
    ]);
    expect(streams.get('uid#offline')?.items.map((m) => m.id)).toEqual(['p1']);
  });

  it('gives each uid its own increasing seq', async () => {
    const { log } = memoryLog();
    const { gateway, sent } = recordingGateway();
    const store = storeWith({ a: ['ca'], b: ['cb'] });
    const deps = { store, gateway, log, logSettings: settings, now: () => 1 };
    await publish(parsePublishRequest({ to: { uid: 'a' }, data: 1, id: 'x' }), deps);
    await publish(parsePublishRequest({ to: { uids: ['a', 'b'] }, data: 2, id: 'y' }), deps);
    expect(sent.map((s) => [s.connectionId, JSON.parse(s.payload).seq])).toEqual([
      ['ca', 1],
      ['ca', 2],
      ['cb', 1],
    ]);
  });

  it('logs a history topic under its own stream and leaves other topics unlogged', async () => {
    const { log, streams } = memoryLog();
    const { gateway, sent } = recordingGateway();
    const deps = { store: storeWith({}), gateway, log, logSettings: settings, now: () => 1 };
    await publish(parsePublishRequest({ to: { topic: 'orders' }, data: 1, id: 'o' }), deps);
    await publish(parsePublishRequest({ to: { topic: 'chat' }, data: 1, id: 'c' }), deps);
    expect(sent.map((s) => s.payload)).toEqual([
      '{"type":"message","id":"o","topic":"orders","seq":1,"data":1,"ts":1}',
      '{"type":"message","id":"c","topic":"chat","data":1,"ts":1}',
    ]);
    expect([...streams.keys()]).toEqual(['topic#orders']);
  });
});

describe('resume', () => {
  const principal: Principal = { uid: 'u1', grants: ['orders'] };
  async function logged(count: number) {
    const mem = memoryLog();
    for (let i = 1; i <= count; i++)
      await mem.log.append('uid#u1', { id: `m${i}`, dataJson: `${i}`, ts: i }, 0);
    return mem;
  }

  it('replays every newer message in order, then reports the latest seq', async () => {
    const { log } = await logged(3);
    const { gateway, sent } = recordingGateway();
    const frame = await resume('c1', principal, { since: 1 }, 0, {
      store: storeWith({}),
      gateway,
      log,
      logSettings: settings,
    });
    expect(sent.map((s) => s.payload)).toEqual([
      '{"type":"message","id":"m2","seq":2,"data":2,"ts":2}',
      '{"type":"message","id":"m3","seq":3,"data":3,"ts":3}',
    ]);
    expect(frame).toEqual({ type: 'resumed', seq: 3 });
  });

  it('flags a gap when the log no longer reaches back to since', async () => {
    const { log } = await logged(5);
    const { gateway, sent } = recordingGateway();
    const frame = await resume('c1', principal, { since: 1 }, 0, {
      store: storeWith({}),
      gateway,
      log,
      logSettings: settings,
    });
    expect(sent.map((s) => JSON.parse(s.payload).seq)).toEqual([3, 4, 5]);
    expect(frame).toEqual({ type: 'resumed', seq: 5, gap: true });
  });

  it('replays at most maxReplay messages and says there is more', async () => {
    const { log } = await logged(3);
    const { gateway, sent } = recordingGateway();
    const frame = await resume('c1', principal, { since: 0 }, 0, {
      store: storeWith({}),
      gateway,
      log,
      logSettings: settings,
      maxReplay: 2,
    });
    expect(sent).toHaveLength(2);
    expect(frame).toEqual({ type: 'resumed', seq: 2, more: true });
  });

  it('refuses a topic the token does not grant', async () => {
    const { log } = memoryLog();
    const { gateway } = recordingGateway();
    await expect(
      resume('c1', principal, { since: 0, topic: 'feed.x' }, 0, {
        store: storeWith({}),
        gateway,
        log,
        logSettings: settings,
      }),
    ).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('stops and asks for another resume when the connection is gone mid-replay', async () => {
    const { log } = await logged(2);
    const { gateway } = recordingGateway(['c1']);
    await expect(
      resume('c1', principal, { since: 0 }, 0, { store: storeWith({}), gateway, log, logSettings: settings }),
    ).rejects.toMatchObject({
      code: 'unavailable',
      message: 'replay stopped after seq 0; send resume again',
    });
  });
});

describe('resume while a publish is still writing', () => {
  it('reports the last replayed seq, not the counter, so the in-flight message is not skipped', async () => {
    const { log } = memoryLog();
    await log.append('uid#u1', { id: 'm1', dataJson: '1', ts: 1 }, 0);
    const ahead: MessageLog = {
      ...log,
      async read(stream, since, nowMs, limit) {
        const read = await log.read(stream, since, nowMs, limit);
        return { ...read, latest: read.latest + 1 };
      },
    };
    const { gateway, sent } = recordingGateway();
    const frame = await resume('c1', { uid: 'u1', grants: [] }, { since: 0 }, 0, {
      store: storeWith({}),
      gateway,
      log: ahead,
      logSettings: settings,
    });
    expect(sent).toHaveLength(1);
    expect(frame).toEqual({ type: 'resumed', seq: 1 });
  });
});
