/**
 * `$default`'s close of a flooding connection, in the pure core: the uid's cool-off is written,
 * then the connection closed through the Management API; both are attempted whichever fails, and
 * a failure of either is reported, not thrown; a connection already gone is closed enough. Fakes for every port: a close verdict
 * reaches no store and no log.
 */
import { describe, expect, it } from 'vitest';
import { answerClientFrame, type ClientFrameDeps } from '../../lambdas/core/client-frame';
import { FrameRate } from '../../lambdas/core/frame-rate';
import type { ConnectionStore, Gateway, MessageLog, PastCoolOff } from '../../lambdas/core/ports';
import { GoneError, UnavailableError } from '../../lambdas/shared/errors';
import type { WebSocketEvent } from '../../lambdas/shared/events';

const NOW = 1_700_000_000_000;
const COOL_OFF_MS = 60_000;

type Outcome = 'ok' | 'gone' | 'fails';

function event(uid: string | undefined): WebSocketEvent {
  return {
    body: '{"action":"ping"}',
    requestContext: {
      connectionId: 'c1',
      routeKey: '$default',
      eventType: 'MESSAGE',
      connectedAt: NOW - 1_000,
      ...(uid === undefined ? {} : { authorizer: { uid, grants: '[]', principalId: uid } }),
    },
  } as unknown as WebSocketEvent;
}

/** A frame allowance already spent, whose next frame is the one that closes. */
function spent(): FrameRate {
  const rate = new FrameRate({ burst: 1, perSecond: 1, refusalsToClose: 2 });
  rate.check('c1', NOW);
  rate.check('c1', NOW);
  return rate;
}

const untouched = new Proxy({} as never, {
  get: (_, name) => {
    throw new Error(`a close verdict used ${String(name)}`);
  },
});

async function closeWith(
  close: Outcome,
  coolOff: Outcome,
  options: { ms?: number; uid?: string; last?: PastCoolOff } = {},
) {
  const calls: string[] = [];
  const failed: unknown[] = [];
  const outcome = (what: Outcome, name: string) => {
    calls.push(name);
    if (what === 'gone') return Promise.reject(new GoneError('gone'));
    if (what === 'fails') return Promise.reject(new UnavailableError(`${name} failed`));
    return Promise.resolve();
  };
  const gateway = { close: () => outcome(close, 'close') } as unknown as Gateway;
  const deps = {
    store: untouched as ConnectionStore,
    log: untouched as MessageLog,
    logSettings: untouched,
    gateway,
    frameRate: spent(),
    floodCoolOff: {
      revocations: {
        coolOff: (uid: string, until: number) => outcome(coolOff, `coolOff ${uid} ${until - NOW}`),
        lastCoolOff: () => Promise.resolve(options.last),
      },
      ms: options.ms ?? COOL_OFF_MS,
    },
  } as unknown as ClientFrameDeps;
  const reply = await answerClientFrame(event('uid' in options ? options.uid : 'u1'), deps, NOW, {
    failed: (error) => failed.push((error as Error).message),
  });
  return { reply, calls, failed };
}

describe('closing a flooding connection and cooling off its uid', () => {
  it.each([
    ['both succeed', 'ok', 'ok', []],
    ['the connection is gone already', 'gone', 'ok', []],
    ['the close fails', 'fails', 'ok', ['close failed']],
    ['the cool-off write fails', 'ok', 'fails', [`coolOff u1 ${COOL_OFF_MS} failed`]],
    ['both fail', 'fails', 'fails', [`coolOff u1 ${COOL_OFF_MS} failed`, 'close failed']],
  ] as const)('attempts both and reports what failed when %s', async (_, close, coolOff, reported) => {
    const { reply, calls, failed } = await closeWith(close, coolOff);
    expect(reply).toBeUndefined();
    // The cool-off first, so a reconnect the moment the socket closes finds it written.
    expect(calls).toEqual([`coolOff u1 ${COOL_OFF_MS}`, 'close']);
    expect(failed).toEqual(reported);
  });

  it.each([
    ['with no cool-off configured', { ms: 0 }],
    ['for a connection whose context carries no valid uid', { uid: undefined }],
  ])('only closes %s', async (_, options) => {
    const { reply, calls, failed } = await closeWith('ok', 'ok', options);
    expect(reply).toBeUndefined();
    expect(calls).toEqual(['close']);
    expect(failed).toEqual([]);
  });

  it.each([
    ['a first flood', undefined, COOL_OFF_MS],
    ['a flood 1 s after the last cool-off ended', { untilMs: NOW - 1_000, ms: COOL_OFF_MS }, 2 * COOL_OFF_MS],
    ['one after a doubled cool-off', { untilMs: NOW - 1_000, ms: 2 * COOL_OFF_MS }, 4 * COOL_OFF_MS],
    [
      'one while the last cool-off stands (the same flood)',
      { untilMs: NOW + 1_000, ms: COOL_OFF_MS },
      COOL_OFF_MS,
    ],
    ['one 10 min after it ended', { untilMs: NOW - 600_000, ms: 4 * COOL_OFF_MS }, COOL_OFF_MS],
  ])('cools the uid off for as long as its history asks: %s', async (_, last, ms) => {
    const { calls, failed } = await closeWith('ok', 'ok', last === undefined ? {} : { last });
    expect(calls).toEqual([`coolOff u1 ${ms}`, 'close']);
    expect(failed).toEqual([]);
  });
});
