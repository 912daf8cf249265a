import { describe, expect, it } from 'vitest';
import { answerClientFrame, type ClientFrameDeps } from '../../lambdas/core/client-frame';
import { deliverOne, EXPIRED_FRAME, tokenExpired } from '../../lambdas/core/delivery';
import type { Gateway } from '../../lambdas/core/ports';
import { type PublishRecords, runShardJob } from '../../lambdas/core/shard-jobs';
import { GoneError, ThrottledError, UnavailableError } from '../../lambdas/shared/errors';
import type { WebSocketEvent } from '../../lambdas/shared/events';
import { LIMITS } from '../../lambdas/shared/limits';
import { emptyStore } from './fakes';

const NOW = 1_700_000_000_000;

function recordingGateway(options: { goneOn?: 'send' | 'close' } = {}) {
  const log: string[] = [];
  const gateway: Gateway = {
    async send(connectionId, data) {
      if (options.goneOn === 'send') throw new GoneError('gone');
      log.push(`send ${connectionId} ${String(data)}`);
    },
    async info() {
      throw new Error('not used');
    },
    async close(connectionId) {
      if (options.goneOn === 'close') throw new GoneError('gone');
      log.push(`close ${connectionId}`);
    },
  };
  return { gateway, log };
}

/** A store whose removals are recorded, in order. */
function removingStore() {
  const removed: string[] = [];
  const store = emptyStore({
    async remove(connectionId) {
      removed.push(connectionId);
      return 1;
    },
  });
  return { store, removed };
}

describe('tokenExpired', () => {
  it.each([
    ['no exp known', undefined, false],
    ['exp a second ahead', NOW / 1000 + 1, false],
    ['exp this very second (jose calls it expired)', NOW / 1000, true],
    ['exp a second ago', NOW / 1000 - 1, true],
  ])('%s → %s', (_, exp, expected) => {
    expect(tokenExpired(exp, NOW)).toBe(expected);
  });
});

describe('deliverOne to a connection whose token has expired', () => {
  it('sends expired instead of the payload, closes the connection, removes its records, and counts it gone', async () => {
    const { gateway, log } = recordingGateway();
    const { store, removed } = removingStore();
    const outcome = await deliverOne(
      { connectionId: 'c1', payload: '{"type":"message"}', tokenExp: NOW / 1000 - 1 },
      { gateway, store, now: () => NOW },
    );
    expect(outcome).toBe('gone');
    expect(log).toEqual([`send c1 ${EXPIRED_FRAME}`, 'close c1']);
    expect(EXPIRED_FRAME).toBe('{"type":"expired"}');
    expect(removed).toEqual(['c1']);
  });

  it('still removes the records when the connection is already gone', async () => {
    const { gateway } = recordingGateway({ goneOn: 'send' });
    const { store, removed } = removingStore();
    const failures: string[] = [];
    const outcome = await deliverOne(
      { connectionId: 'c1', payload: 'x', tokenExp: NOW / 1000 - 1 },
      {
        gateway,
        store,
        now: () => NOW,
        events: { failed: (id) => failures.push(id) },
      },
    );
    expect(outcome).toBe('gone');
    expect(removed).toEqual(['c1']);
    expect(failures).toEqual([]);
  });

  it('sends expired again after a throttle or a 5xx, as any delivery, then closes and removes', async () => {
    // A client that gets the close without `expired` waits a backoff before it reconnects.
    const { gateway, log } = recordingGateway();
    const refusals = [new ThrottledError('429'), new UnavailableError('500')];
    const send = gateway.send;
    gateway.send = async (connectionId, data) => {
      const refusal = refusals.shift();
      if (refusal !== undefined) throw refusal;
      await send(connectionId, data);
    };
    const { store, removed } = removingStore();
    const retries: number[] = [];
    const outcome = await deliverOne(
      { connectionId: 'c1', payload: 'x', tokenExp: NOW / 1000 - 1 },
      {
        gateway,
        store,
        now: () => NOW,
        sleep: async () => {},
        events: { retry: (_, attempt) => retries.push(attempt) },
      },
    );
    expect(outcome).toBe('gone');
    expect(retries).toEqual([1, 2]);
    expect(log).toEqual([`send c1 ${EXPIRED_FRAME}`, 'close c1']);
    expect(removed).toEqual(['c1']);
  });

  it('still closes and removes when expired fails every attempt, and reports the failure', async () => {
    const { gateway, log } = recordingGateway();
    let sends = 0;
    gateway.send = async () => {
      sends++;
      throw new UnavailableError('500');
    };
    const { store, removed } = removingStore();
    const failures: string[] = [];
    const outcome = await deliverOne(
      { connectionId: 'c1', payload: 'x', tokenExp: NOW / 1000 - 1 },
      {
        gateway,
        store,
        now: () => NOW,
        attempts: 3,
        sleep: async () => {},
        events: { failed: (id) => failures.push(id) },
      },
    );
    expect(outcome).toBe('gone');
    expect(sends).toBe(3);
    expect(failures).toEqual(['c1']);
    expect(log).toEqual(['close c1']);
    expect(removed).toEqual(['c1']);
  });

  it("stops waiting for expired at $default's bound and still closes and removes in time", async () => {
    // Every post hangs: four attempts of up to 3.5 s each would outlast $default's 10 s timeout.
    const { gateway, log } = recordingGateway();
    gateway.send = () => new Promise<void>(() => {});
    const { store, removed } = removingStore();
    const failed: string[] = [];
    const started = Date.now();
    // The bound leaves the close (one call at the configured send timeout, and its grace) and the
    // flood margin: 50 ms from now for the frame.
    const sendTimeoutMs = 60_000;
    const deadline = started + 50 + LIMITS.floodCloseMarginMs + sendTimeoutMs + LIMITS.sendTimeoutGraceMs;
    const deps = {
      gateway,
      store,
      deadline,
      sendTimeoutMs,
      events: { failed: (_: string, error: unknown) => failed.push((error as Error).message) },
    } as unknown as ClientFrameDeps;
    const event = {
      body: '{"action":"ping"}',
      requestContext: {
        connectionId: 'c1',
        routeKey: '$default',
        eventType: 'MESSAGE',
        connectedAt: started - 60_000,
        authorizer: {
          uid: 'u1',
          grants: '[]',
          principalId: 'u1',
          exp: String(Math.floor(started / 1000) - 1),
        },
      },
    } as unknown as WebSocketEvent;
    expect(await answerClientFrame(event, deps, started)).toBeUndefined();
    expect(Date.now()).toBeLessThan(deadline);
    expect(log).toEqual(['close c1']);
    expect(removed).toEqual(['c1']);
    expect(failed).toEqual([`{"type":"expired"} not sent before the invocation's end; closing without it`]);
  });

  it('delivers as usual before exp', async () => {
    const { gateway, log } = recordingGateway();
    const outcome = await deliverOne(
      { connectionId: 'c1', payload: 'x', tokenExp: NOW / 1000 + 60 },
      { gateway, store: emptyStore(), now: () => NOW },
    );
    expect(outcome).toBe('delivered');
    expect(log).toEqual(['send c1 x']);
  });
});

describe('a shard job', () => {
  it('ends the expired connections of its shard instead of delivering to them', async () => {
    const { gateway, log } = recordingGateway();
    const records: PublishRecords = {
      async create() {
        return [];
      },
      async planned() {
        return [];
      },
      async progress() {
        return { done: false };
      },
      async advance() {
        return true;
      },
      async finish() {},
      async status() {
        return undefined;
      },
    };
    const store = emptyStore({
      async readShard() {
        return {
          targets: [
            { connectionId: 'a', uid: 'u1', tokenExp: NOW / 1000 + 60 },
            { connectionId: 'b', uid: 'u2', tokenExp: NOW / 1000 - 60 },
          ],
          complete: true,
        };
      },
    });
    const result = await runShardJob(
      { id: 'p1', shard: 3, to: { all: true }, payload: 'msg' },
      { gateway, store, records, now: () => NOW, checkpointEvery: 1 },
    );
    expect(result).toMatchObject({ delivered: 1, gone: 1, failed: 0 });
    expect(log).toEqual(['send a msg', `send b ${EXPIRED_FRAME}`, 'close b']);
  });
});
