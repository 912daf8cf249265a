/**
 * `$default`'s allowance shared by a uid's connections, in the pure core: a flood spread over many
 * connections, each within its own allowance, is refused once the uid's is spent, and at the
 * refusals that close, the uid cools off and every connection of it is closed: those its index
 * read finds and the one the frame came on. Fakes for every port.
 */
import { describe, expect, it } from 'vitest';
import {
  answerClientFrame,
  type ClientFrameDeps,
  type ClientFrameEvents,
} from '../../lambdas/core/client-frame';
import { FrameRate, uidFrameRateMessage } from '../../lambdas/core/frame-rate';
import type { ConnectionStore, Gateway, MessageLog, Target } from '../../lambdas/core/ports';
import { GoneError, UnavailableError } from '../../lambdas/shared/errors';
import type { WebSocketEvent } from '../../lambdas/shared/events';
import { LIMITS } from '../../lambdas/shared/limits';

const NOW = 1_700_000_000_000;
const COOL_OFF_MS = 60_000;
const UID_SETTINGS = { burst: 3, perSecond: 1, refusalsToClose: 2 };

function event(
  connectionId: string,
  uid = 'u1',
  body = '{"action":"subscribe","topic":"news"}',
): WebSocketEvent {
  return {
    body,
    requestContext: {
      connectionId,
      routeKey: '$default',
      eventType: 'MESSAGE',
      connectedAt: NOW - 1_000,
      authorizer: { uid, grants: '[]', principalId: uid },
    },
  } as unknown as WebSocketEvent;
}

type Outcome = 'ok' | 'gone' | 'fails' | 'hangs';

interface Setup {
  /** Connection ids the uid's index read finds, or `fails`. */
  readonly found?: readonly string[] | 'fails';
  /** How each close ends, by connection id. @default ok */
  readonly closes?: Readonly<Record<string, Outcome>>;
}

function deps(setup: Setup = {}) {
  const calls: string[] = [];
  const failed: string[] = [];
  const closed: { refusals: number; closed: number }[] = [];
  const limited: [number, string][] = [];
  const fail = (name: string) => Promise.reject(new UnavailableError(`${name} failed`));
  const store = {
    byUid: (uid: string) => {
      calls.push(`byUid ${uid}`);
      if (setup.found === 'fails') return fail('byUid');
      return Promise.resolve((setup.found ?? []).map((connectionId) => ({ connectionId, uid }) as Target));
    },
  };
  const gateway = {
    close: (id: string) => {
      calls.push(`close ${id}`);
      const outcome = setup.closes?.[id] ?? 'ok';
      if (outcome === 'gone') return Promise.reject(new GoneError('gone'));
      if (outcome === 'fails') return fail(`close ${id}`);
      if (outcome === 'hangs') return new Promise<void>(() => {});
      return Promise.resolve();
    },
  } as unknown as Gateway;
  const built = {
    store: store as unknown as ConnectionStore,
    log: {} as MessageLog,
    logSettings: {},
    gateway,
    frameRate: new FrameRate({ burst: 100, perSecond: 100, refusalsToClose: 100 }),
    uidFrameRate: new FrameRate(UID_SETTINGS),
    floodCoolOff: {
      revocations: {
        coolOff: (uid: string, until: number) => {
          calls.push(`coolOff ${uid} ${until - NOW}`);
          return Promise.resolve(true);
        },
        lastCoolOff: () => Promise.resolve(undefined),
      },
      ms: COOL_OFF_MS,
    },
  } as unknown as ClientFrameDeps;
  const events: ClientFrameEvents = {
    failed: (error) => failed.push((error as Error).message),
    limited: (refusals, scope) => limited.push([refusals, scope]),
    uidFlooded: (refusals, n) => closed.push({ refusals, closed: n }),
  };
  return { deps: built, events, calls, failed, closed, limited };
}

describe("a uid's connections sharing one frame allowance", () => {
  it('refuses the frames past it on any of the connections, each within its own allowance', async () => {
    const t = deps();
    const replies = [];
    // Three connections, one frame each fills the uid's burst of 3; the fourth is refused.
    for (const id of ['c1', 'c2', 'c3', 'c4'])
      replies.push(await answerClientFrame(event(id), t.deps, NOW, t.events));
    expect(replies[3]).toEqual({
      type: 'error',
      code: 'rate_limited',
      message: uidFrameRateMessage(UID_SETTINGS),
      topic: 'news',
    });
    expect(
      replies.slice(0, 3).every((reply) => reply?.type !== 'error' || reply.code !== 'rate_limited'),
    ).toBe(true);
    expect(t.limited).toEqual([[1, 'uid']]);
    expect(t.calls).toEqual([]);
  });

  it("keeps another uid's allowance apart", async () => {
    const t = deps();
    for (const id of ['c1', 'c2', 'c3', 'c4']) await answerClientFrame(event(id), t.deps, NOW, t.events);
    const other = await answerClientFrame(event('d1', 'u2'), t.deps, NOW, t.events);
    expect(other).not.toMatchObject({ code: 'rate_limited' });
  });

  it.each([
    [
      'closes every connection the index finds and the one the frame came on',
      { found: ['c1', 'c2'] },
      ['c1', 'c2', 'c9'],
      3,
      [],
    ],
    [
      'does not count a record whose connection was gone already',
      { found: ['c1'], closes: { c1: 'gone' } },
      ['c9', 'c1'],
      1,
      [],
    ],
    [
      'goes on past a close that fails, and reports it',
      { found: ['c1', 'c2'], closes: { c1: 'fails' } },
      ['c9', 'c1', 'c2'],
      2,
      ['close c1 failed'],
    ],
    [
      'still closes the frame’s connection when the index read fails',
      { found: 'fails' },
      ['c9'],
      1,
      ['byUid failed'],
    ],
  ] as const)(
    'at the refusals that close, cools the uid off first, then %s',
    async (_, setup, closedIds, n, reported) => {
      const t = deps(setup as Setup);
      // The burst (3), then refusals 1 and 2: the second is the closing one.
      for (let i = 0; i < 4; i++) await answerClientFrame(event(`c${i}`), t.deps, NOW, t.events);
      const reply = await answerClientFrame(event('c9'), t.deps, NOW, t.events);
      expect(reply).toBeUndefined();
      expect(t.calls[0]).toBe(`coolOff u1 ${COOL_OFF_MS}`);
      expect(t.calls[1]).toBe('byUid u1');
      expect(t.calls.slice(2).sort()).toEqual(closedIds.map((id) => `close ${id}`).sort());
      expect(t.closed).toEqual([{ refusals: 2, closed: n }]);
      expect(t.failed).toEqual(reported);
    },
  );

  it('stops waiting for closes that hang before the invocation ends, and says how many it closed', async () => {
    const t = deps({ found: ['c1', 'c2'], closes: { c1: 'hangs' } });
    // 50 ms before the margin: the closes that answer are counted, the hanging one is reported.
    t.deps = { ...t.deps, deadline: Date.now() + LIMITS.floodCloseMarginMs + 50 };
    for (let i = 0; i < 4; i++) await answerClientFrame(event(`c${i}`), t.deps, NOW, t.events);
    expect(await answerClientFrame(event('c9'), t.deps, NOW, t.events)).toBeUndefined();
    expect(t.closed).toEqual([{ refusals: 2, closed: 2 }]);
    expect(t.failed).toEqual(["closed 2 of 3 connections of a flooding uid before the invocation's end"]);
  });

  it('runs one close of the uid at a time: frames reaching the next refusals that close meanwhile are refused, and the close counts every connection', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const t = deps({ found: ['c1', 'c2', 'c3'] });
    const gateway = t.deps.gateway;
    // The first close waits, as a Management API call on a loaded machine does.
    t.deps = {
      ...t.deps,
      gateway: {
        close: async (id: string) => {
          if (id === 'c1') await held;
          return gateway.close(id);
        },
      } as unknown as Gateway,
    };
    for (let i = 0; i < 4; i++) await answerClientFrame(event(`c${i % 3}`), t.deps, NOW, t.events);
    const closing = answerClientFrame(event('c9'), t.deps, NOW, t.events);
    // Refusals 3 and 4 while the close is under way: 4 would close again.
    const meanwhile = [];
    for (const id of ['c2', 'c3']) meanwhile.push(await answerClientFrame(event(id), t.deps, NOW, t.events));
    release();
    expect(await closing).toBeUndefined();
    expect(meanwhile).toEqual(
      ['c2', 'c3'].map(() => ({
        type: 'error',
        code: 'rate_limited',
        message: uidFrameRateMessage(UID_SETTINGS),
        topic: 'news',
      })),
    );
    expect(t.calls.filter((call) => call.startsWith('coolOff') || call.startsWith('byUid'))).toHaveLength(2);
    expect(t.closed).toEqual([{ refusals: 2, closed: 4 }]);
    expect(t.failed).toEqual([]);
  });

  it('starts the uid again with a whole burst once it closed its connections, so their reconnect after the cool-off is not closed again', async () => {
    const t = deps({ found: ['c1'] });
    for (let i = 0; i < 5; i++) await answerClientFrame(event(`c${i}`), t.deps, NOW, t.events);
    expect(t.closed).toHaveLength(1);
    // A second later (a short cool-off), at 1 frame/s a bucket left as it was would hold 1 frame:
    // the uid's reconnect sends the whole burst of 3 at once, and none is refused.
    const later = NOW + 1_000;
    const replies = [];
    for (const id of ['n1', 'n2', 'n3'])
      replies.push(await answerClientFrame(event(id), t.deps, later, t.events));
    expect(replies.map((reply) => reply?.type === 'error' && reply.code)).toEqual([
      'forbidden',
      'forbidden',
      'forbidden',
    ]);
  });

  it("checks the connection's own allowance first: a frame it refuses spends nothing of the uid's", async () => {
    const t = deps();
    t.deps = { ...t.deps, frameRate: new FrameRate({ burst: 1, perSecond: 1, refusalsToClose: 100 }) };
    await answerClientFrame(event('c1'), t.deps, NOW, t.events);
    for (let i = 0; i < 5; i++) await answerClientFrame(event('c1'), t.deps, NOW, t.events);
    expect(t.limited).toEqual([1, 2, 3, 4, 5].map((n) => [n, 'connection']));
    // c1 took one of the uid's three; two more connections still fit.
    for (const id of ['c2', 'c3']) {
      expect(await answerClientFrame(event(id), t.deps, NOW, t.events)).not.toMatchObject({
        code: 'rate_limited',
      });
    }
  });
});
