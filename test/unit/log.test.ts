import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../lambdas/core/auth-context';
import { refusalLevel } from '../../lambdas/core/client-frame';
import {
  hasGap,
  holeKind,
  type LogSettings,
  parseTopicHistory,
  topicHasHistory,
  writeWindowMs,
} from '../../lambdas/core/log';
import type { Gateway, LoggedMessage, MessageLog, StreamPosition } from '../../lambdas/core/ports';
import { publish } from '../../lambdas/core/publish';
import { parsePublishRequest } from '../../lambdas/core/publish-request';
import { resume } from '../../lambdas/core/resume';
import { GoneError, PushError } from '../../lambdas/shared/errors';
import { LIMITS } from '../../lambdas/shared/limits';
import { emptyStore } from './fakes';

const settings: LogSettings = { retentionSeconds: 3600, maxMessages: 3, topicHistory: ['orders', 'feed.*'] };

/**
 * An in-memory log with the same trimming, expiry and epoch rules as the DynamoDB one; its epochs
 * are `e1`, `e2`, … unless `drawEpoch` gives them.
 */
function memoryLog(s: LogSettings = settings, drawEpoch?: () => string) {
  type Entry = { latest: number; epoch?: string; items: (LoggedMessage & { expiresAt: number })[] };
  const streams = new Map<string, Entry>();
  let epochs = 0;
  const newEpoch = drawEpoch ?? (() => `e${++epochs}`);
  const entryOf = (stream: string): Entry => {
    const entry = streams.get(stream) ?? { latest: 0, items: [] };
    streams.set(stream, entry);
    return entry;
  };
  const log: MessageLog = {
    async reserve(stream) {
      const entry = entryOf(stream);
      entry.epoch ??= newEpoch();
      return { seq: ++entry.latest, epoch: entry.epoch };
    },
    async store(stream, message, nowMs) {
      const entry = entryOf(stream);
      entry.items = entry.items.filter((m) => m.seq !== message.seq);
      entry.items.push({ ...message, expiresAt: nowMs / 1000 + s.retentionSeconds });
      entry.items.sort((a, b) => a.seq - b.seq);
      entry.items = entry.items.filter((m) => m.seq > message.seq - s.maxMessages);
    },
    async read(stream, since, nowMs, limit) {
      const entry = streams.get(stream) ?? { latest: 0, items: [] };
      const messages = entry.items
        .filter((m) => m.seq > since && m.expiresAt * 1000 > nowMs)
        .filter((m) => m.epoch === undefined || m.epoch === entry.epoch)
        .slice(0, limit)
        .map(({ expiresAt: _, ...m }) => m);
      return { messages, latest: entry.latest, ...(entry.epoch === undefined ? {} : { epoch: entry.epoch }) };
    },
    async epoch(stream) {
      const entry = entryOf(stream);
      entry.epoch ??= newEpoch();
      return entry.epoch;
    },
    async head(stream) {
      const entry = streams.get(stream);
      return { latest: entry?.latest ?? 0, ...(entry?.epoch === undefined ? {} : { epoch: entry.epoch }) };
    },
  };
  /** Removes the stream's counter and keeps its messages, as a lost counter item would. */
  const dropCounter = (stream: string) => {
    const entry = entryOf(stream);
    entry.latest = 0;
    delete entry.epoch;
  };
  /** Takes the stream's next seq and stores the message under it, as a publish does. */
  const append = async (stream: string, message: Omit<LoggedMessage, 'seq' | 'epoch'>, nowMs: number) => {
    const position = await log.reserve(stream);
    await log.store(stream, { ...message, ...position }, nowMs);
    return position;
  };
  return { log, streams, dropCounter, append };
}

/**
 * Resumes connection `c1` of `principal` from `log` with a gateway that records what it sends;
 * `deps` adds to or overrides the store, gateway, log and log settings.
 */
async function resumeOn(
  log: MessageLog,
  principal: Principal,
  request: Parameters<typeof resume>[2],
  deps: Partial<Parameters<typeof resume>[4]> = {},
) {
  const { gateway, sent } = recordingGateway();
  const frame = await resume('c1', principal, request, 0, {
    store: storeWith({}),
    gateway,
    log,
    logSettings: settings,
    ...deps,
  });
  return { frame, sent };
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

/** The seqs posted, in order, whether each came alone or packed in a `messages` frame. */
function replayedSeqs(sent: { payload: string }[]): number[] {
  return sent.flatMap(({ payload }) => {
    const frame = JSON.parse(payload);
    return frame.type === 'messages' ? frame.messages.map((m: { seq: number }) => m.seq) : [frame.seq];
  });
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
    // A seq missing below a stored message is holeKind's to judge, not a gap by itself.
    ['the next message is missing below a stored one', 2, { messages: [m(4)], latest: 4 }, false],
    ['every newer message expired', 2, { messages: [], latest: 4, expired: true }, true],
    ['the counter is ahead of a message still being written', 2, { messages: [], latest: 3 }, false],
    ['the counter is more than a full log ahead', 2, { messages: [], latest: 2 + 3 + 1 }, true],
    ['a first connect finds seq 1', 0, { messages: [m(1)], latest: 1 }, false],
  ])('is right when %s', (_label, since, read, expected) => {
    expect(hasGap(since, read, 3)).toBe(expected);
  });
});

describe('holeKind', () => {
  const window = writeWindowMs(60_000);
  it.each([
    ['a seq out of the last maxMessages', 2, 1_000, 5, 'trimmed'],
    ['a seq below a message stored just now', 3, 1_000, 4, 'pending'],
    ['a seq below a message stored one timeout ago', 3, 1_000 - 60_000, 4, 'pending'],
    ['a seq below a message older than two timeouts and the clock skew', 3, 1_000 - window, 4, 'lost'],
  ] as const)('calls %s %s', (_label, seq, ts, latest, expected) => {
    expect(holeKind(seq, { ts }, { latest }, 1_000, 3, window)).toBe(expected);
  });

  it('calls a seq below a young message expired when the read skipped an expired one', () => {
    expect(holeKind(3, { ts: 1_000 }, { latest: 4, expired: true }, 1_000, 3, window)).toBe('expired');
  });

  it('allows two publish timeouts and the clock skew between a message and a lower seq', () => {
    expect(writeWindowMs(60_000)).toBe(121_000);
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
      '{"type":"message","id":"p1","seq":1,"epoch":"e1","data":{"n":1},"ts":9}',
      '{"type":"message","id":"p1","seq":1,"epoch":"e1","data":{"n":1},"ts":9}',
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

  it('stamps a seq reused from a failed attempt with the stream’s epoch, taking no new seq', async () => {
    const { log, streams } = memoryLog();
    const { gateway, sent } = recordingGateway();
    await log.reserve('uid#online');
    const deps = { store: storeWith({ online: ['c1'] }), gateway, log, logSettings: settings, now: () => 9 };
    const request = parsePublishRequest({ to: { uid: 'online' }, data: 1, id: 'again' });
    await publish(request, deps, async () => ({ seqs: new Map([['online', { seq: 1 }]]) }));
    expect(sent.map((s) => s.payload)).toEqual([
      '{"type":"message","id":"again","seq":1,"epoch":"e1","data":1,"ts":9}',
    ]);
    expect(streams.get('uid#online')).toMatchObject({
      latest: 1,
      epoch: 'e1',
      items: [{ seq: 1, epoch: 'e1' }],
    });
  });

  it('logs a history topic under its own stream and leaves other topics unlogged', async () => {
    const { log, streams } = memoryLog();
    const { gateway, sent } = recordingGateway();
    const deps = { store: storeWith({}), gateway, log, logSettings: settings, now: () => 1 };
    await publish(parsePublishRequest({ to: { topic: 'orders' }, data: 1, id: 'o' }), deps);
    await publish(parsePublishRequest({ to: { topic: 'chat' }, data: 1, id: 'c' }), deps);
    expect(sent.map((s) => s.payload)).toEqual([
      '{"type":"message","id":"o","topic":"orders","seq":1,"epoch":"e1","data":1,"ts":1}',
      '{"type":"message","id":"c","topic":"chat","data":1,"ts":1}',
    ]);
    expect([...streams.keys()]).toEqual(['topic#orders']);
  });
});

describe('resume', () => {
  const principal: Principal = { uid: 'u1', grants: ['orders'] };
  async function logged(count: number) {
    const mem = memoryLog();
    for (let i = 1; i <= count; i++) await mem.append('uid#u1', { id: `m${i}`, dataJson: `${i}`, ts: i }, 0);
    return mem;
  }

  it('replays every newer message in order, then reports the latest seq', async () => {
    const { log } = await logged(3);
    const { frame, sent } = await resumeOn(log, principal, { since: 1 });
    expect(sent.map((s) => s.payload)).toEqual([
      '{"type":"messages","messages":[{"type":"message","id":"m2","seq":2,"epoch":"e1","data":2,"ts":2},{"type":"message","id":"m3","seq":3,"epoch":"e1","data":3,"ts":3}]}',
    ]);
    expect(frame).toEqual({ type: 'resumed', seq: 3, epoch: 'e1' });
  });

  it('flags a gap when the log no longer reaches back to since', async () => {
    const { log } = await logged(5);
    const { frame, sent } = await resumeOn(log, principal, { since: 1 });
    expect(replayedSeqs(sent)).toEqual([3, 4, 5]);
    expect(frame).toEqual({ type: 'resumed', seq: 5, epoch: 'e1', gap: true });
  });

  it('replays at most maxReplay messages and says there is more', async () => {
    const { log } = await logged(3);
    const { frame, sent } = await resumeOn(log, principal, { since: 0 }, { maxReplay: 2 });
    expect(replayedSeqs(sent)).toEqual([1, 2]);
    expect(frame).toEqual({ type: 'resumed', seq: 2, epoch: 'e1', more: true });
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

  it('stops with gone, a refusal logged as routine, when the connection closed mid-replay', async () => {
    const { log } = await logged(2);
    const { gateway } = recordingGateway(['c1']);
    const refusal = resume('c1', principal, { since: 0 }, 0, {
      store: storeWith({}),
      gateway,
      log,
      logSettings: settings,
    });
    await expect(refusal).rejects.toMatchObject({
      code: 'gone',
      message: 'connection c1 closed during its replay, after seq 0',
    });
    expect(
      refusalLevel(
        await refusal.then(
          () => new PushError('internal', 'resolved'),
          (error: PushError) => error,
        ),
      ),
    ).toBe('info');
  });
});

describe('resume, packed and bounded', () => {
  const principal: Principal = { uid: 'u1', grants: [] };
  const big: LogSettings = { ...settings, maxMessages: 1000 };
  async function logged(count: number, dataJson = (i: number) => `${i}`) {
    const mem = memoryLog(big);
    for (let i = 1; i <= count; i++)
      await mem.append('uid#u1', { id: `m${i}`, dataJson: dataJson(i), ts: i }, 0);
    return mem.log;
  }

  it('packs messages into frames no larger than maxFrameBytes, in order, a message too big to share going alone', async () => {
    const log = await logged(40, (i) => (i === 20 ? `"${'x'.repeat(600)}"` : `${i}`));
    const { frame, sent } = await resumeOn(
      log,
      principal,
      { since: 0 },
      { logSettings: big, maxFrameBytes: 512 },
    );
    expect(frame).toEqual({ type: 'resumed', seq: 40, epoch: 'e1' });
    expect(replayedSeqs(sent)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const alone = sent.find((s) => JSON.parse(s.payload).seq === 20);
    expect(JSON.parse(alone?.payload ?? '{}')).toMatchObject({ type: 'message', id: 'm20', seq: 20 });
    for (const { payload } of sent.filter((s) => s !== alone)) {
      expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(512);
    }
    // Greedy: no frame had room for the message that opened the next one.
    for (let k = 0; k + 1 < sent.length; k++) {
      const next = JSON.parse(sent[k + 1]?.payload ?? '{}');
      if (sent[k] === alone || next.type !== 'messages') continue;
      const opener = JSON.stringify(next.messages[0]);
      expect(Buffer.byteLength(sent[k]?.payload ?? '') + 1 + Buffer.byteLength(opener)).toBeGreaterThan(512);
    }
  });

  it('replays 1,000 messages of 100 bytes, with the ids, epoch and ts the service writes, in 7 posts of API Gateway’s 32 KB frame', async () => {
    // What a publish writes: a generated id is a UUID (36 characters), the epoch 12 characters of
    // base64url (9 random bytes, as the DynamoDB log draws it), ts a 13-digit epoch ms; the data is
    // a 100-byte JSON string. Each message frame is then 220 to 223 bytes, about 146 to a frame.
    const epoch = randomBytes(9).toString('base64url');
    expect(epoch).toHaveLength(12);
    const mem = memoryLog(big, () => epoch);
    const ts = Date.UTC(2030, 0, 1);
    for (let i = 1; i <= 1000; i++)
      await mem.append(
        'uid#u1',
        { id: randomUUID(), dataJson: JSON.stringify('x'.repeat(98)), ts: ts + i },
        0,
      );
    const { frame, sent } = await resumeOn(mem.log, principal, { since: 0 }, { logSettings: big });
    expect(frame).toEqual({ type: 'resumed', seq: 1000, epoch });
    expect(replayedSeqs(sent)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(sent).toHaveLength(7);
    expect(sent.map(({ payload }) => JSON.parse(payload).messages.length)).toEqual([
      147, 146, 146, 146, 146, 146, 123,
    ]);
    for (const { payload } of sent) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(32 * 1024);
  });

  it('stops posting before the deadline’s margin and answers more with the last seq posted', async () => {
    const log = await logged(30);
    let clock = 1_000;
    const { gateway, sent } = recordingGateway();
    const slow: Gateway = {
      ...gateway,
      async send(connectionId, data) {
        await gateway.send(connectionId, data);
        clock += 100;
      },
    };
    const frame = await resume('c1', principal, { since: 0 }, clock, {
      store: storeWith({}),
      gateway: slow,
      log,
      logSettings: big,
      maxFrameBytes: 200,
      now: () => clock,
      deadline: 1_000 + 1_350,
      replayMarginMs: 1_000,
      // A send bound this short leaves the margin in charge (one send, 600 ms, fits in it).
      sendTimeoutMs: 100,
    });
    // Posts start at 1,000, 1,100, 1,200, 1,300; the one due at 1,400 is past 2,350 − 1,000.
    expect(sent).toHaveLength(4);
    const seqs = replayedSeqs(sent);
    expect(frame).toEqual({ type: 'resumed', seq: seqs[seqs.length - 1], epoch: 'e1', more: true });
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });

  it.each([
    ['a since beyond the counter (the log was reset)', 5, 9],
    ['a since beyond an empty log', 0, 3],
  ])('answers %s with gap and the counter, replaying nothing', async (_, count, since) => {
    const log = await logged(count);
    const { frame, sent } = await resumeOn(log, principal, { since }, { logSettings: big });
    expect(sent).toHaveLength(0);
    expect(frame).toEqual({ type: 'resumed', seq: count, ...(count > 0 ? { epoch: 'e1' } : {}), gap: true });
  });

  it.each([
    ['busy', 'rate_limited', 'a replay is already running on this connection; resume after its resumed'],
    ['exhausted', 'rate_limited', 'more than 3 resumes in 10 s on this connection; resume later'],
    [
      'uidExhausted',
      'rate_limited',
      "more than 7 resumes in 10 s across this uid's connections; resume later",
    ],
    ['gone', 'gone', 'connection c1 is no longer registered; reconnect'],
  ] as const)(
    'refuses a resume the store answers %s, reading and posting nothing',
    async (start, code, message) => {
      const log = await logged(2);
      let reads = 0;
      const counting: MessageLog = {
        ...log,
        read: (...args) => {
          reads++;
          return log.read(...args);
        },
      };
      const { gateway, sent } = recordingGateway();
      const ended: number[] = [];
      const store = emptyStore({
        beginReplay: async () => start,
        endReplay: async (_, until) => void ended.push(until),
      });
      await expect(
        resume('c1', principal, { since: 0 }, 0, {
          store,
          gateway,
          log: counting,
          logSettings: big,
          resumeBudget: { perWindow: 3, perUid: 7, windowMs: 10_000 },
        }),
      ).rejects.toMatchObject({ code, message });
      expect([reads, sent.length, ended.length]).toEqual([0, 0, 0]);
    },
  );

  it('gives the lease back after a replay, failed ones included, with the deadline it was taken until', async () => {
    const log = await logged(2);
    const calls: string[] = [];
    const store = emptyStore({
      beginReplay: async (id, uid, now, until, budget) => {
        calls.push(`begin ${id} ${uid} ${now} ${until} ${budget.perWindow} ${budget.perUid}`);
        return 'started';
      },
      endReplay: async (id, until) => void calls.push(`end ${id} ${until}`),
    });
    await resume('c1', principal, { since: 0 }, 5, {
      store,
      gateway: recordingGateway().gateway,
      log,
      logSettings: big,
      deadline: 9_000,
    });
    await expect(
      resume('c1', principal, { since: 0 }, 5, {
        store,
        gateway: recordingGateway(['c1']).gateway,
        log,
        logSettings: big,
      }),
    ).rejects.toMatchObject({ code: 'gone' });
    expect(calls).toEqual([
      `begin c1 ${principal.uid} 5 9000 30 150`,
      'end c1 9000',
      `begin c1 ${principal.uid} 5 29005 30 150`,
      'end c1 29005',
    ]);
  });
});

describe('resume across epochs', () => {
  const principal: Principal = { uid: 'u1', grants: [] };
  const big: LogSettings = { ...settings, maxMessages: 1000 };
  const deps = (log: MessageLog, gateway: Gateway) => ({
    store: storeWith({}),
    gateway,
    log,
    logSettings: big,
  });
  /** A stream of `before` messages whose counter is then lost, and that grows `after` more. */
  async function reset(before: number, after: number) {
    const mem = memoryLog(big);
    for (let i = 1; i <= before; i++)
      await mem.append('uid#u1', { id: `old${i}`, dataJson: `${i}`, ts: i }, 0);
    mem.dropCounter('uid#u1');
    for (let i = 1; i <= after; i++)
      await mem.append('uid#u1', { id: `new${i}`, dataJson: `${i}`, ts: i }, 0);
    return mem.log;
  }

  it('replays the new epoch from its start, with gap and the new epoch, when the cursor is of an old one', async () => {
    const log = await reset(3, 5);
    const { gateway, sent } = recordingGateway();
    const frame = await resume('c1', principal, { since: 3, epoch: 'e1' }, 0, deps(log, gateway));
    expect(frame).toEqual({ type: 'resumed', seq: 5, epoch: 'e2', gap: true });
    const replayed = sent.flatMap(({ payload }) => JSON.parse(payload).messages);
    expect(replayed.map((m: { id: string; epoch: string }) => `${m.id}@${m.epoch}`)).toEqual(
      ['new1', 'new2', 'new3', 'new4', 'new5'].map((id) => `${id}@e2`),
    );
  });

  it('never reads a message left over from the old epoch past the new counter', async () => {
    const log = await reset(5, 2);
    const { gateway, sent } = recordingGateway();
    const frame = await resume('c1', principal, { since: 4, epoch: 'e1' }, 0, deps(log, gateway));
    expect(frame).toEqual({ type: 'resumed', seq: 2, epoch: 'e2', gap: true });
    expect(replayedSeqs(sent)).toEqual([1, 2]);
    expect(sent.map((s) => s.payload).join()).not.toContain('old');
  });

  it('answers gap and no epoch when the counter is gone and nothing was logged since', async () => {
    const log = await reset(3, 0);
    const { gateway, sent } = recordingGateway();
    const frame = await resume('c1', principal, { since: 2, epoch: 'e1' }, 0, deps(log, gateway));
    expect(frame).toEqual({ type: 'resumed', seq: 0, gap: true });
    expect(sent).toHaveLength(0);
  });

  it('replays as before when the epoch matches, and trusts a cursor sent without one', async () => {
    const log = await reset(0, 4);
    const matching = recordingGateway();
    await expect(
      resume('c1', principal, { since: 2, epoch: 'e1' }, 0, deps(log, matching.gateway)),
    ).resolves.toEqual({
      type: 'resumed',
      seq: 4,
      epoch: 'e1',
    });
    const legacy = recordingGateway();
    await expect(resume('c1', principal, { since: 2 }, 0, deps(log, legacy.gateway))).resolves.toEqual({
      type: 'resumed',
      seq: 4,
      epoch: 'e1',
    });
    expect([replayedSeqs(matching.sent), replayedSeqs(legacy.sent)]).toEqual([
      [3, 4],
      [3, 4],
    ]);
  });

  it('does not see a reset that the cursor cannot show when no epoch is sent', async () => {
    const log = await reset(3, 5);
    const { gateway, sent } = recordingGateway();
    const frame = await resume('c1', principal, { since: 3 }, 0, deps(log, gateway));
    expect(frame).toEqual({ type: 'resumed', seq: 5, epoch: 'e2' });
    expect(replayedSeqs(sent)).toEqual([4, 5]);
  });
});

describe('resume across a seq missing below a stored message', () => {
  const principal: Principal = { uid: 'u1', grants: [] };
  const NOW = 10_000_000;
  /** Seqs 1 to `count` taken, those in `stored` stored, at `ts`; the others still being written. */
  async function withHoles(count: number, stored: number[], ts = NOW) {
    const mem = memoryLog({ ...settings, maxMessages: 100 });
    const positions: StreamPosition[] = [];
    for (let i = 1; i <= count; i++) positions.push(await mem.log.reserve('uid#u1'));
    const write = (seq: number) =>
      mem.log.store(
        'uid#u1',
        { id: `m${seq}`, dataJson: `${seq}`, ts, ...positions[seq - 1] } as LoggedMessage,
        NOW,
      );
    for (const seq of stored) await write(seq);
    return { log: mem.log, write };
  }
  const logSettings = { ...settings, maxMessages: 100 };
  /** Resumes `u1`'s stream from `since` at NOW with this block's log settings, and `deps`. */
  const resumeAt = (log: MessageLog, since: number, deps: Partial<Parameters<typeof resume>[4]> = {}) =>
    resumeOn(log, principal, { since }, { logSettings, now: () => NOW, ...deps });

  it('waits for the missing seq, and replays it in order once stored', async () => {
    const { log, write } = await withHoles(3, [1, 3]);
    const slept: number[] = [];
    const sleep = async (ms: number) => {
      slept.push(ms);
      if (slept.length === 2) await write(2);
    };
    const { frame, sent } = await resumeAt(log, 0, { sleep });
    expect(replayedSeqs(sent)).toEqual([1, 2, 3]);
    expect(frame).toEqual({ type: 'resumed', seq: 3, epoch: 'e1' });
    expect(slept).toEqual([100, 100]);
  });

  it('waits for a missing first seq too, instead of answering gap', async () => {
    const { log, write } = await withHoles(3, [1, 3]);
    const sleep = async () => write(2);
    const { frame, sent } = await resumeAt(log, 1, { sleep });
    expect(replayedSeqs(sent)).toEqual([2, 3]);
    expect(frame).toEqual({ type: 'resumed', seq: 3, epoch: 'e1' });
  });

  it('stops before a seq still missing after holeWaitMs, and answers latest so the client looks again', async () => {
    const { log } = await withHoles(4, [1, 3, 4]);
    const slept: number[] = [];
    const sleep = async (ms: number) => {
      slept.push(ms);
    };
    const { frame, sent } = await resumeAt(log, 0, { sleep });
    expect(replayedSeqs(sent)).toEqual([1]);
    expect(frame).toEqual({ type: 'resumed', seq: 1, epoch: 'e1', latest: 4 });
    expect(slept).toEqual([100, 100, 100]);
    expect(slept.reduce((a, b) => a + b)).toBe(LIMITS.holeWaitMs);
  });

  it('waits no longer than the replay may post before its deadline', async () => {
    const { log } = await withHoles(3, [1, 3]);
    const slept: number[] = [];
    let clock = NOW;
    const sleep = async (ms: number) => {
      slept.push(ms);
      clock += ms;
    };
    // The replay stops posting at the deadline less its margin: 150 ms after now. After the first
    // wait (100 ms), the second would end past it.
    const deadline = NOW + LIMITS.replayMarginMs + 150;
    const { frame } = await resumeAt(log, 0, { now: () => clock, sleep, deadline });
    expect(frame).toEqual({ type: 'resumed', seq: 1, epoch: 'e1', latest: 3 });
    expect(slept).toEqual([100]);
  });

  it('replays across a seq whose publish ended without storing it, with gap', async () => {
    const old = NOW - writeWindowMs(LIMITS.publishTimeoutMs);
    const { log } = await withHoles(3, [1, 3], old);
    const sleep = async () => {
      throw new Error('no wait for a seq that cannot come');
    };
    const { frame, sent } = await resumeAt(log, 0, { sleep });
    expect(replayedSeqs(sent)).toEqual([1, 3]);
    expect(frame).toEqual({ type: 'resumed', seq: 3, epoch: 'e1', gap: true });
  });

  it('takes a missing seq for an expired one when the read skipped one, and passes it with gap', async () => {
    // Retention shorter than the write window: seq 1 expired (the read skips it and says so), seq 2
    // is young.
    const { log } = await withHoles(2, [1, 2], NOW - 30_000);
    const expiring: MessageLog = {
      ...log,
      read: async (...args) => {
        const read = await log.read(...args);
        return { ...read, messages: read.messages.filter((m) => m.seq !== 1), expired: true };
      },
    };
    const sleep = async () => {
      throw new Error('no wait for an expired seq');
    };
    const { frame, sent } = await resumeAt(expiring, 0, { sleep });
    expect(replayedSeqs(sent)).toEqual([2]);
    expect(frame).toEqual({ type: 'resumed', seq: 2, epoch: 'e1', gap: true });
  });

  it('replays no more than maxReplay messages in all when a wait lets it read again', async () => {
    const { log, write } = await withHoles(9, [1, 2, 4, 5, 6, 7, 8, 9]);
    const sleep = async () => write(3);
    const { frame, sent } = await resumeAt(log, 0, { sleep, maxReplay: 4 });
    expect(replayedSeqs(sent)).toEqual([1, 2, 3, 4]);
    expect(frame).toEqual({ type: 'resumed', seq: 4, epoch: 'e1', more: true });
  });

  it('judges the wait by the deployed publish timeout', async () => {
    // Stored 61 s ago: still possible under a 60 s publish timeout, not under a 10 s one.
    const { log } = await withHoles(3, [1, 3], NOW - 61_000);
    const sleep = async () => {};
    const long = await resumeAt(log, 0, { sleep });
    expect(long.frame).toMatchObject({ seq: 1, latest: 3 });
    const short = await resumeAt(log, 0, { sleep, publishTimeoutMs: 10_000 });
    expect(short.frame).toMatchObject({ seq: 3, gap: true });
  });
});

describe('resume while a publish is still writing', () => {
  it('reports the last replayed seq, not the counter, so the in-flight message is not skipped', async () => {
    const { log, append } = memoryLog();
    await append('uid#u1', { id: 'm1', dataJson: '1', ts: 1 }, 0);
    const ahead: MessageLog = {
      ...log,
      head: async (stream) => {
        const head = await log.head(stream);
        return { ...head, latest: head.latest + 1 };
      },
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
    expect(frame).toEqual({ type: 'resumed', seq: 1, epoch: 'e1', latest: 2 });
  });
});
