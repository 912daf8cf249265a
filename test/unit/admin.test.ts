import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { kick, presence, seenRecently } from '../../lambdas/core/admin';
import { idsFrom, parseCommand } from '../../lambdas/core/command';
import { type CommandDeps, revokedKick, runCommand } from '../../lambdas/core/commands';
import type {
  ConnectionDetails,
  Gateway,
  RevocationLine,
  Revocations,
  Target,
} from '../../lambdas/core/ports';
import { GoneError, PushError } from '../../lambdas/shared/errors';
import { LIMITS } from '../../lambdas/shared/limits';
import { QUOTAS } from '../../lambdas/shared/quotas';
import { emptyStore } from './fakes';

function store(byUid: Record<string, ConnectionDetails[]>, byTopic: Record<string, Target[]> = {}) {
  const removed: string[] = [];
  const s = emptyStore({
    async remove(id) {
      removed.push(id);
      return 1;
    },
    async connectionsOf(uid) {
      return byUid[uid] ?? [];
    },
    async byUid(uid) {
      return (byUid[uid] ?? []).map((c) => ({ connectionId: c.connectionId, uid }));
    },
    async byTopic(topic) {
      return byTopic[topic] ?? [];
    },
  });
  return { store: s, removed };
}

const conn = (connectionId: string, topics: string[] = []): ConnectionDetails => ({
  connectionId,
  connectedAt: 1,
  lastSeenAt: 2,
  topics,
});

describe('parseCommand', () => {
  it.each([
    [{ presence: { uid: 'u1' } }, { kind: 'presence', query: { uid: 'u1' } }],
    [{ presence: { uids: ['a', 'b', 'a'] } }, { kind: 'presence', query: { uids: ['a', 'b'] } }],
    [{ presence: { topic: 'orders' } }, { kind: 'presence', query: { topic: 'orders' } }],
    [{ kick: { uid: 'u1' } }, { kind: 'kick', uid: 'u1' }],
    [{ kick: { uid: 'u1', reason: 'banned' } }, { kind: 'kick', uid: 'u1', reason: 'banned' }],
    ['{"kick":{"uid":"u1"}}', { kind: 'kick', uid: 'u1' }],
  ])('reads %j', (body, expected) => {
    expect(parseCommand(body)).toEqual(expected);
  });

  describe("a kick's before", () => {
    // The function's clock: half a second into 1_700_000_000.
    const nowMs = 1_700_000_000_500;
    const now = 1_700_000_000;
    const day = LIMITS.maxTokenLifetimeSeconds;
    const withRevoke = (before: unknown) => ({ kick: { uid: 'u1', revoke: true, before } });

    it.each([
      ['the current second', now, now],
      ['a fraction, cut to the second as iat is', now - 0.1, now - 1],
      ['60 s ahead, the skew iat may have', now + 60, now + 60],
      ['a fraction within the 60th second ahead', now + 60.9, now + 60],
      ['the longest token lifetime ago', now - day, now - day],
    ])('reads %s', (_label, before, expected) => {
      expect(LIMITS.tokenClockSkewSeconds).toBe(60);
      expect(parseCommand(withRevoke(before), undefined, nowMs)).toEqual({
        kind: 'kick',
        uid: 'u1',
        revoke: true,
        before: expected,
      });
    });

    it.each([
      [withRevoke(String(now)), 'kick.before must be a number of epoch seconds'],
      [withRevoke(null), 'kick.before must be a number of epoch seconds'],
      [withRevoke(Number.NaN), 'kick.before must be a number of epoch seconds'],
      [withRevoke(Number.POSITIVE_INFINITY), 'kick.before must be a number of epoch seconds'],
      [{ kick: { uid: 'u1', before: now } }, 'kick.before is allowed only with "revoke":true'],
      [{ kick: { uid: 'u1', revoke: false, before: now } }, 'kick.before is allowed only with "revoke":true'],
      [withRevoke(now + 61), "kick.before must be at most 60 s ahead of the function's clock"],
      [
        withRevoke(now - day - 1),
        "kick.before must be at most 86400 s behind the function's clock (an older line refuses no valid token)",
      ],
      [`{"kick":{"uid":"u1","revoke":true,"before":1e400}}`, 'kick.before must be a number of epoch seconds'],
    ])('refuses %j with bad_request, as the README says', (body, message) => {
      let caught: unknown;
      try {
        parseCommand(body, undefined, nowMs);
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: 'bad_request', message });
      expect(readFileSync(new URL('../../README.md', import.meta.url), 'utf8')).toContain(`\`${message}\``);
    });
  });

  it('falls through to a publish body', () => {
    expect(parseCommand({ to: { uid: 'u1' }, data: 1, id: 'x' })).toMatchObject({
      kind: 'publish',
      request: { id: 'x' },
    });
  });

  it.each([
    [{ presence: 'u1' }, 'presence must be an object'],
    [{ presence: {} }, 'presence must have exactly one of uid, uids, topic'],
    [
      { presence: { uid: '' } },
      'presence.uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
    ],
    [{ presence: { uids: [] } }, 'presence.uids must be a non-empty array'],
    [{ presence: { topic: 'a b' } }, 'presence.topic must match [A-Za-z0-9_.:-]{1,128}'],
    [{ presence: { group: 'g' } }, 'unknown field presence.group'],
    [{ presence: { uid: 'u1' }, to: { uid: 'u1' } }, 'presence must be the only field'],
    [
      { kick: {} },
      'kick.uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
    ],
    [{ kick: { uid: 'u1', reason: 5 } }, 'kick.reason must be a string of at most 256 characters'],
    [
      { kick: { uid: 'u1', reason: 'r'.repeat(257) } },
      'kick.reason must be a string of at most 256 characters',
    ],
    [{ kick: { uid: 'u1', revoke: 'true' } }, 'kick.revoke must be a boolean'],
    [
      { presence: { uids: Array.from({ length: 101 }, (_, i) => `u${i}`) } },
      'presence.uids must hold at most 100 uids',
    ],
    [{ kick: { uid: 'u1', why: 'x' } }, 'unknown field kick.why'],
  ])('refuses %j with bad_request', (body, message) => {
    let caught: unknown;
    try {
      parseCommand(body);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PushError);
    expect(caught).toMatchObject({ code: 'bad_request', message });
  });
});

describe('presence', () => {
  it('lists the live connections of a uid', async () => {
    const { store: s } = store({ u1: [conn('a', ['orders']), conn('b')] });
    await expect(presence({ uid: 'u1' }, s, 0)).resolves.toEqual({
      uid: 'u1',
      online: true,
      connections: [conn('a', ['orders']), conn('b')],
    });
    await expect(presence({ uid: 'nobody' }, s, 0)).resolves.toEqual({
      uid: 'nobody',
      online: false,
      connections: [],
    });
  });

  it('splits several uids into online and offline, in the order asked', async () => {
    const { store: s } = store({ u1: [conn('a')], u3: [conn('c')] });
    await expect(presence({ uids: ['u3', 'u2', 'u1'] }, s, 0)).resolves.toEqual({
      online: ['u3', 'u1'],
      offline: ['u2'],
    });
  });

  it('counts the connections and distinct uids of a topic', async () => {
    const { store: s } = store(
      { u1: [conn('a', ['orders']), conn('b', ['orders'])], u2: [conn('c', ['orders'])] },
      {
        orders: [
          { connectionId: 'a', uid: 'u1' },
          { connectionId: 'b', uid: 'u1' },
          { connectionId: 'c', uid: 'u2' },
        ],
      },
    );
    await expect(presence({ topic: 'orders' }, s, 0)).resolves.toEqual({
      topic: 'orders',
      connections: 3,
      uids: 2,
    });
  });

  it("refuses a topic's presence past maxPresenceTopicUids subscribing uids with limit_exceeded, reading none of them", async () => {
    const max = LIMITS.maxPresenceTopicUids;
    const subscribers = (count: number) =>
      Array.from({ length: count }, (_, i) => ({ connectionId: `c${i}`, uid: `u${i}` }));
    let reads = 0;
    const asked: (number | undefined)[] = [];
    const counting = (count: number) =>
      emptyStore({
        async byTopic(_topic, _nowMs, maxUids) {
          asked.push(maxUids);
          return subscribers(count);
        },
        async connectionsOf(uid) {
          reads++;
          return [conn(`c${uid.slice(1)}`, ['orders'])];
        },
      });
    await expect(presence({ topic: 'orders' }, counting(max), 0)).resolves.toEqual({
      topic: 'orders',
      connections: max,
      uids: max,
    });
    expect(reads).toBe(max);
    reads = 0;
    // One Query per uid: a topic as big as a broadcast would outlast the function, and its
    // timeout reach the caller as `unavailable`, which invites the same query again.
    const refused = presence({ topic: 'orders' }, counting(max + 1), 0);
    await expect(refused).rejects.toBeInstanceOf(PushError);
    await expect(refused).rejects.toMatchObject({
      code: 'limit_exceeded',
      message: `topic orders has more than ${max} subscribing uids; its presence reads each uid's connections, so it answers only up to ${max}`,
    });
    expect(reads).toBe(0);
    // The store may stop reading subscriptions once they show more uids than that.
    expect(asked).toEqual([max, max]);
  });

  const idleMs = QUOTAS.idleTimeoutSeconds * 1000;
  const seenAt = (connectionId: string, lastSeenAt: number): ConnectionDetails => ({
    ...conn(connectionId, ['orders']),
    lastSeenAt,
  });
  it.each([
    ['seen just now', 0, { connections: 2, uids: 2 }],
    ['seen a minute inside the idle timeout', idleMs - 60_000, { connections: 2, uids: 2 }],
    ['not seen for the whole idle timeout', idleMs, { connections: 1, uids: 1 }],
    ['with no connection record left', undefined, { connections: 1, uids: 1 }],
  ])('counts a topic subscriber %s as uid presence would', async (_label, quietMs, counts) => {
    const now = 2 * idleMs;
    const quiet = quietMs === undefined ? [] : [seenAt('q', now - quietMs)];
    const { store: s } = store(
      { live: [seenAt('l', now)], quiet },
      {
        orders: [
          { connectionId: 'l', uid: 'live' },
          { connectionId: 'q', uid: 'quiet' },
        ],
      },
    );
    const online = (await presence({ uid: 'quiet' }, s, now)) as { online: boolean };
    await expect(presence({ topic: 'orders' }, s, now)).resolves.toEqual({ topic: 'orders', ...counts });
    expect(online.online).toBe(counts.connections === 2);
  });
});

/** A uid `u1` connection, as the `byUid` index answers it. */
const at = (connectionId: string, connectedAt?: number): Target => ({
  connectionId,
  uid: 'u1',
  ...(connectedAt === undefined ? {} : { connectedAt }),
});

/** A store whose `byUid` gives `answers` in turn (then nothing) and that records removals. */
function lookups(...answers: Target[][]) {
  const removed: string[] = [];
  let calls = 0;
  const s = emptyStore({
    async byUid() {
      return answers[calls++] ?? [];
    },
    async remove(id) {
      removed.push(id);
      return 1;
    },
  });
  return { store: s, removed, calls: () => calls };
}

/** A gateway that accepts every post and records closes. */
function recordingGateway() {
  const closed: string[] = [];
  const gateway: Gateway = {
    async send() {},
    async info() {
      throw new Error('unused');
    },
    async close(id) {
      closed.push(id);
    },
  };
  return { gateway, closed };
}

describe('kick', () => {
  it('sends kicked first, then closes and removes every connection of the uid', async () => {
    const { store: s, removed } = store({ u1: [conn('a'), conn('b'), conn('gone')] });
    const log: string[] = [];
    const gateway: Gateway = {
      async send(id, data) {
        if (id === 'gone') throw new GoneError('gone');
        log.push(`send ${id} ${data}`);
      },
      async info() {
        throw new Error('unused');
      },
      async close(id) {
        log.push(`close ${id}`);
      },
    };
    await expect(kick('u1', 'logout', { store: s, gateway, concurrency: 1 }, 0)).resolves.toEqual({
      closed: 2,
    });
    expect(log).toEqual([
      'send a {"type":"kicked","reason":"logout"}',
      'close a',
      'send b {"type":"kicked","reason":"logout"}',
      'close b',
    ]);
    expect(removed.sort()).toEqual(['a', 'b', 'gone']);
  });

  it('keeps the records of a connection that answers 410 within the connect grace: its handshake may still be running', async () => {
    const NOW = 1_000_000;
    const { store: s, removed } = lookups([
      at('opening', NOW - 100),
      at('dead', NOW - LIMITS.connectGraceMs - 1),
    ]);
    const { gateway: recording, closed } = recordingGateway();
    const gateway: Gateway = {
      ...recording,
      async send() {
        throw new GoneError('gone');
      },
    };
    await expect(kick('u1', undefined, { store: s, gateway, now: () => NOW }, NOW)).resolves.toEqual({
      closed: 0,
    });
    expect(removed).toEqual(['dead']);
    // A gone connection is not closed.
    expect(closed).toEqual([]);
  });
});

describe('kick with a recheck', () => {
  const now = 1_700_000_000_000;
  it('ends, after the wait, the connections the index showed late that were connected by the cutoff', async () => {
    const connectedBy = now + 999;
    const { store: s, removed } = lookups(
      [at('a', now - 60_000)],
      // The index still shows `a`; `late` was stored just before the kick, `edge` at the cutoff;
      // `fresh` connected after it, with a newer token; `unknown` comes from a store that does not
      // say when.
      [
        at('a', now - 60_000),
        at('late', now - 5),
        at('edge', connectedBy),
        at('fresh', connectedBy + 1),
        at('unknown'),
      ],
    );
    const { gateway, closed } = recordingGateway();
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
      expect(closed).toEqual(['a']);
    };
    const result = await kick('u1', 'stolen', { store: s, gateway, concurrency: 1 }, now, {
      connectedBy,
      recheck: { afterMs: 1_000, sleep },
    });
    expect(result).toEqual({ closed: 4 });
    expect(waits).toEqual([1_000]);
    expect(closed).toEqual(['a', 'late', 'edge', 'unknown']);
    expect(removed).toEqual(['a', 'late', 'edge', 'unknown']);
  });

  it('tries again, in the second lookup, a close that failed in the first', async () => {
    const { store: s } = lookups([at('a', now - 60_000)], []);
    let closes = 0;
    const gateway: Gateway = {
      async send() {},
      async info() {
        throw new Error('unused');
      },
      async close() {
        if (++closes === 1) throw new PushError('unavailable', 'the Management API timed out');
      },
    };
    const result = await kick('u1', undefined, { store: s, gateway }, now, {
      connectedBy: now,
      recheck: { afterMs: 0, sleep: async () => {} },
    });
    expect({ result, closes }).toEqual({ result: { closed: 1 }, closes: 2 });
  });

  it("answers the first lookup's result when the second fails, and reports it", async () => {
    let calls = 0;
    const s = emptyStore({
      async byUid() {
        if (calls++ === 0) return [at('a', now - 60_000)];
        throw new PushError('unavailable', 'DynamoDB is down');
      },
      async remove() {
        return 1;
      },
    });
    const { gateway } = recordingGateway();
    const reported: unknown[] = [];
    const result = await kick('u1', undefined, { store: s, gateway }, now, {
      connectedBy: now,
      recheck: { afterMs: 0, sleep: async () => {}, failed: (error) => reported.push(error) },
    });
    expect(result).toEqual({ closed: 1 });
    expect(reported).toEqual([expect.objectContaining({ message: 'DynamoDB is down' })]);
  });

  it('tries again, in the second lookup, a young connection that answered 410 (a handshake still running), keeping its records until then', async () => {
    const { store: s, removed } = lookups([at('opening', now - 100)], []);
    const sent: string[] = [];
    const { gateway: recording, closed } = recordingGateway();
    const gateway: Gateway = {
      ...recording,
      async send(id) {
        sent.push(id);
        if (sent.length === 1) throw new GoneError('not open yet');
      },
    };
    const result = await kick('u1', 'stolen', { store: s, gateway, now: () => now }, now, {
      connectedBy: now,
      recheck: {
        afterMs: 0,
        sleep: async () => {
          expect(removed).toEqual([]);
        },
      },
    });
    expect(result).toEqual({ closed: 1 });
    expect({ sent, closed, removed }).toEqual({
      sent: ['opening', 'opening'],
      closed: ['opening'],
      removed: ['opening'],
    });
  });

  it('still tries again a young connection that answered 410 when the second lookup fails', async () => {
    let calls = 0;
    const s = emptyStore({
      async byUid() {
        if (calls++ === 0) return [at('opening', now - 100)];
        throw new PushError('unavailable', 'DynamoDB is down');
      },
    });
    const sent: string[] = [];
    const { gateway: recording, closed } = recordingGateway();
    const gateway: Gateway = {
      ...recording,
      async send(id) {
        sent.push(id);
        if (sent.length === 1) throw new GoneError('not open yet');
      },
    };
    const reported: unknown[] = [];
    const result = await kick('u1', undefined, { store: s, gateway, now: () => now }, now, {
      connectedBy: now,
      recheck: { afterMs: 0, sleep: async () => {}, failed: (error) => reported.push(error) },
    });
    expect({ result, closed, reported: reported.length }).toEqual({
      result: { closed: 1 },
      closed: ['opening'],
      reported: 1,
    });
  });

  it('removes the records of a young connection that answered 410 when a kick that revokes has no second lookup', async () => {
    const { store: s, removed } = lookups([at('opening', now - 100)]);
    const gateway: Gateway = {
      ...recordingGateway().gateway,
      async send() {
        throw new GoneError('not open yet');
      },
    };
    await expect(
      kick('u1', 'stolen', { store: s, gateway, now: () => now }, now, { connectedBy: now }),
    ).resolves.toEqual({ closed: 0 });
    expect(removed).toEqual(['opening']);
  });

  it('looks up once without a recheck', async () => {
    const lookup = lookups([at('a', now - 60_000)], [at('late', now - 5)]);
    const { gateway, closed } = recordingGateway();
    await expect(kick('u1', undefined, { store: lookup.store, gateway }, now)).resolves.toEqual({
      closed: 1,
    });
    expect(lookup.calls()).toBe(1);
    expect(closed).toEqual(['a']);
  });
});

describe('a kick with revoke sent again', () => {
  const t1 = 1_700_000_000_300;
  const before = Math.floor(t1 / 1000);
  const body = { kick: { uid: 'u1', reason: 'stolen', revoke: true, before } };

  /** Revocations in memory, as the DynamoDB adapter keeps them: a line only moves forward. */
  function memoryRevocations(whileWriting: () => void = () => {}) {
    let stored: RevocationLine | undefined;
    const stamps: number[] = [];
    const revocations: Revocations = {
      async revoke(_uid, beforeSeconds, nowMs) {
        whileWriting();
        if (stored === undefined || stored.before < beforeSeconds)
          stored = { before: beforeSeconds, revokedAt: nowMs };
        return stored;
      },
      async stored(_uid, beforeSeconds, writtenAt, storedAt) {
        stamps.push(storedAt);
        if (stored?.before !== beforeSeconds || stored.revokedAt !== writtenAt) return false;
        stored = { before: beforeSeconds, revokedAt: storedAt };
        return true;
      },
      async standing() {
        return stored === undefined ? {} : { revokedBefore: stored.before };
      },
      async coolOff() {
        throw new Error('a kick sets no cool-off');
      },
      async lastCoolOff() {
        throw new Error('a kick reads no cool-off');
      },
    };
    return { revocations, line: () => stored, stamps };
  }

  function setup(writeTakesMs = 0) {
    let connections: Target[] = [];
    let clock = t1;
    const closed: string[] = [];
    const gateway: Gateway = {
      async send() {},
      async info() {
        throw new Error('unused');
      },
      async close(id) {
        closed.push(id);
        connections = connections.filter((c) => c.connectionId !== id);
      },
    };
    const store = emptyStore({ byUid: async () => connections });
    // The write is answered `writeTakesMs` after it was sent (the SDK retrying it under throttling).
    const memory = memoryRevocations(() => {
      clock += writeTakesMs;
    });
    const deps: CommandDeps = {
      store,
      gateway,
      revocations: memory.revocations,
      deliveryFor: (_id, sendVia) => ({ store, gateway: sendVia }),
      now: () => clock,
      sleep: async () => {},
    };
    const at = (connectionId: string, connectedAt?: number): Target => ({
      connectionId,
      uid: 'u1',
      ...(connectedAt === undefined ? {} : { connectedAt }),
    });
    return {
      deps,
      closed,
      line: memory.line,
      stamps: memory.stamps,
      at,
      show: (...targets: Target[]) => {
        connections = targets;
      },
      setClock: (ms: number) => {
        clock = ms;
      },
    };
  }

  it('keeps the connections made after the first attempt wrote the line, and ends older ones', async () => {
    const k = setup();
    k.show(k.at('stolen', t1 - 60_000));
    expect((await runCommand(body, idsFrom(undefined), k.deps)).result).toEqual({ closed: 1, revoked: true });
    expect(k.closed).toEqual(['stolen']);

    // A minute later, Lambda retries the same event. Since the first attempt the user signed in
    // anew (`fresh`, made after the line plus the skew), and the index shows a connection made just
    // before the line was stored (`straggler`) and one whose store does not say when.
    k.setClock(t1 + 60_000);
    k.show(
      k.at('straggler', t1 + 900),
      k.at('edge', t1 + LIMITS.clockSkewMs),
      k.at('unknown'),
      k.at('fresh', t1 + 1_001),
    );
    expect((await runCommand(body, idsFrom(undefined), k.deps)).result).toEqual({ closed: 3, revoked: true });
    expect(k.closed).toEqual(['stolen', 'straggler', 'edge', 'unknown']);
    // The line stands where the first attempt put it, with its time.
    expect(k.line()).toEqual({ before, revokedAt: t1 });
  });

  it('stamps a line whose write was answered late, so a retry also ends what connected while it was stored', async () => {
    const k = setup(1_500);
    k.show(k.at('stolen', t1 - 60_000));
    await runCommand(body, idsFrom(undefined), k.deps);
    expect(k.line()).toEqual({ before, revokedAt: t1 + 1_500 });
    // Its first attempt failed after the write (say, at the lookup); the retry, a minute later,
    // finds a connection made 1.2 s after the write was sent, before the line was visible.
    k.setClock(t1 + 60_000);
    k.show(k.at('slipped in', t1 + 1_200), k.at('fresh', t1 + 1_500 + LIMITS.clockSkewMs + 1));
    await runCommand(body, idsFrom(undefined), k.deps);
    expect(k.closed).toEqual(['stolen', 'slipped in']);
  });

  it('leaves a line answered within half the skew allowance as written', async () => {
    const k = setup(LIMITS.clockSkewMs / 2);
    await runCommand(body, idsFrom(undefined), k.deps);
    expect(k.stamps).toEqual([]);
    expect(k.line()).toEqual({ before, revokedAt: t1 });
  });

  it('ends every connection when a later line is written', async () => {
    const k = setup();
    await runCommand(body, idsFrom(undefined), k.deps);
    k.setClock(t1 + 60_000);
    k.show(k.at('fresh', t1 + 30_000));
    const later = { kick: { uid: 'u1', revoke: true } };
    expect((await runCommand(later, idsFrom(undefined), k.deps)).result).toEqual({
      closed: 1,
      revoked: true,
    });
    expect(k.closed).toEqual(['fresh']);
    expect(k.line()).toEqual({ before: before + 60, revokedAt: t1 + 60_000 });
  });
});

describe('revokedKick', () => {
  const writtenAt = 1_700_000_000_200;
  const line = { before: 1_700_000_000, revokedAt: writtenAt };
  it.each([
    [
      'this kick wrote the line, unbounded time',
      line,
      Number.POSITIVE_INFINITY,
      1_000,
      writtenAt + 50 + 1_000,
    ],
    [
      'the line stood, written by an earlier attempt a minute ago',
      { before: 1_700_000_000, revokedAt: writtenAt - 60_000 },
      Number.POSITIVE_INFINITY,
      1_000,
      writtenAt - 60_000 + 1_000,
    ],
    ['time for the whole wait and twice the send timeout', line, 7_000, 1_000, writtenAt + 50 + 1_000],
    ['time for part of the wait', line, 6_500, 500, writtenAt + 50 + 1_000],
    ['exactly twice the send timeout left: no wait', line, 6_000, 0, writtenAt + 50 + 1_000],
    [
      'less than twice the send timeout left: no second lookup',
      line,
      5_999,
      undefined,
      writtenAt + 50 + 1_000,
    ],
  ])('%s', (_label, standing, left, afterMs, connectedBy) => {
    // The write took 50 ms.
    const revocation = revokedKick(standing, writtenAt, { now: () => writtenAt + 50, remaining: () => left });
    expect(2 * LIMITS.sendTimeoutMs).toBe(6_000);
    expect(LIMITS.revokeRecheckMs).toBe(1_000);
    expect(LIMITS.clockSkewMs).toBe(1_000);
    expect({ connectedBy: revocation.connectedBy, afterMs: revocation.recheck?.afterMs }).toEqual({
      connectedBy,
      afterMs,
    });
  });

  it.each([
    ['time for part of the wait', 20_500, 500],
    ['less than twice the send timeout left: no second lookup', 19_999, undefined],
  ])('with a deployed send timeout of 10 s, %s', (_label, left, afterMs) => {
    const revocation = revokedKick(line, writtenAt, {
      now: () => writtenAt + 50,
      remaining: () => left,
      sendTimeoutMs: 10_000,
    });
    expect(revocation.recheck?.afterMs).toBe(afterMs);
  });
});

describe('seenRecently', () => {
  const idleMs = QUOTAS.idleTimeoutSeconds * 1000;
  const now = 1_700_000_000_000;
  it.each([
    ['seen just now', now, true],
    ['seen a millisecond inside the idle timeout', now - idleMs + 1, true],
    ['seen exactly the idle timeout ago', now - idleMs, false],
    ['seen an hour ago', now - 3_600_000, false],
  ])('%s → %s', (_, lastSeenAt, expected) => {
    expect(seenRecently({ lastSeenAt }, now)).toBe(expected);
  });
});
