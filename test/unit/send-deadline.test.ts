import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { idsFrom } from '../../lambdas/core/command';
import { type CommandDeps, runCommand } from '../../lambdas/core/commands';
import { type DeliveryDeps, deliverOne, lastSendStart } from '../../lambdas/core/delivery';
import type { Gateway, MessageLog, Target } from '../../lambdas/core/ports';
import { resume } from '../../lambdas/core/resume';
import { ThrottledError, UnavailableError } from '../../lambdas/shared/errors';
import { LIMITS } from '../../lambdas/shared/limits';
import { emptyStore } from './fakes';

/** One send as the Management API client makes it when API Gateway does not answer: its bound fires. */
const ONE_SEND_MS = LIMITS.sendTimeoutMs + LIMITS.sendTimeoutGraceMs;

/** A gateway whose every send fails as `error` after `ms` of the (fake) clock, recording when each started. */
function stuckGateway(ms: number, error: () => Error = () => new UnavailableError('request timed out')) {
  const starts: number[] = [];
  const gateway: Gateway = {
    send: () =>
      new Promise((_, reject) => {
        starts.push(Date.now());
        setTimeout(() => reject(error()), ms);
      }),
    info: async () => {
      throw new Error('unused');
    },
    close: async () => {},
  };
  return { gateway, starts };
}

/** Runs `work` to its end on the fake clock; resolves to its outcome and the clock when it ended. */
async function runToEnd<T>(work: Promise<T>): Promise<{ outcome: T | Error; endedAt: number }> {
  let endedAt = Number.NaN;
  const settled = work.then(
    (value) => value,
    (error: Error) => error,
  );
  void settled.then(() => {
    endedAt = Date.now();
  });
  await vi.runAllTimersAsync();
  return { outcome: await settled, endedAt };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('deliverOne with a last send start', () => {
  const failedEvents = (deps: { events: { failed: ReturnType<typeof vi.fn> } }) =>
    deps.events.failed.mock.calls.map(([id, error]) => [
      id,
      (error as Error).message,
      (error as Error).cause,
    ]);

  it.each([
    // until, random (the backoff's draw), sends made, outcome. With 0.99 the retries sleep 49,
    // 99 and 198 ms (full jitter under 50 ms × 2^k); each send fails at once.
    ['no bound: every attempt', undefined, 0.99, 4, 'failed'],
    ['past it already: no send', -1, 0.99, 0, 'failed'],
    ['room for one retry (at 49 ms) and not the next (at 148 ms)', 100, 0.99, 2, 'failed'],
    ['room for every retry (the last at 346 ms)', 346, 0.99, 4, 'failed'],
    ['the last retry 1 ms too late', 345, 0.99, 3, 'failed'],
  ] as const)('%s', async (_, until, random, sends, outcome) => {
    const { gateway, starts } = stuckGateway(0, () => new ThrottledError('429'));
    const deps = {
      store: emptyStore(),
      gateway,
      random: () => random,
      events: { failed: vi.fn() },
      ...(until === undefined ? {} : { until }),
    } satisfies DeliveryDeps;
    const run = await runToEnd(deliverOne({ connectionId: 'c1', payload: 'x' }, deps));
    expect(run.outcome).toBe(outcome);
    expect(starts).toHaveLength(sends);
    expect(failedEvents(deps)).toHaveLength(1);
  });

  it('reports a send it did not start as unavailable, and one it did not try again with its last error', async () => {
    const notStarted = {
      store: emptyStore(),
      gateway: stuckGateway(0).gateway,
      until: -1,
      events: { failed: vi.fn() },
    };
    await runToEnd(deliverOne({ connectionId: 'c1', payload: 'x' }, notStarted));
    const throttled = new ThrottledError('429');
    const notRetried = {
      store: emptyStore(),
      gateway: stuckGateway(10, () => throttled).gateway,
      until: 10,
      random: () => 0.99,
      events: { failed: vi.fn() },
    };
    await runToEnd(deliverOne({ connectionId: 'c2', payload: 'x' }, notRetried));
    const message = "not sent: no time left for a send to end before the invocation's timeout";
    expect([...failedEvents(notStarted), ...failedEvents(notRetried)]).toEqual([
      ['c1', message, undefined],
      ['c2', message, throttled],
    ]);
    expect(notStarted.events.failed.mock.calls[0]?.[1]).toBeInstanceOf(UnavailableError);
  });

  it('leaves one send and the wrap-up between the last start and the deadline', () => {
    expect(lastSendStart(60_000, {}, 1_500)).toBe(60_000 - ONE_SEND_MS - 1_500);
    expect(lastSendStart(60_000, { sendTimeoutMs: 10_000 }, 0)).toBe(
      60_000 - 10_000 - LIMITS.sendTimeoutGraceMs,
    );
  });
});

describe("a resume inside $default's timeout, with @connections not answering", () => {
  /** A uid log of `count` messages, each too big to share a frame, so each is a post of its own. */
  function logOf(count: number): MessageLog {
    const messages = Array.from({ length: count }, (_, i) => ({
      seq: i + 1,
      id: `m${i + 1}`,
      dataJson: JSON.stringify('x'.repeat(LIMITS.maxReplayFrameBytes / 2)),
      ts: 0,
      epoch: 'e',
    }));
    return {
      reserve: async () => ({ seq: count + 1, epoch: 'e' }),
      epoch: async () => 'e',
      store: async () => {},
      head: async () => ({ latest: count, epoch: 'e' }),
      read: async () => ({ latest: count, epoch: 'e', messages }),
    };
  }

  it('tries no post again that could not end before the deadline, and answers before it', async () => {
    // The review's case: every post timed out, and the four attempts of the first one alone took
    // the replay to 14.4 s of a 10 s function.
    const deadline = 10_000;
    const { gateway, starts } = stuckGateway(ONE_SEND_MS);
    const run = await runToEnd(
      resume('c1', { uid: 'u1', grants: [] }, { since: 0 }, 0, {
        store: emptyStore(),
        gateway,
        log: logOf(3),
        logSettings: { retentionSeconds: 3600, maxMessages: 1000, topics: [] } as never,
        random: () => 0.99,
        deadline,
      }),
    );
    expect(run.outcome).toBeInstanceOf(UnavailableError);
    expect((run.outcome as Error).message).toBe('replay stopped after seq 0; send resume again');
    // No post started after the margin, so the last one ended with half a second to spare.
    expect(Math.max(...starts)).toBeLessThanOrEqual(deadline - LIMITS.replayMarginMs);
    expect(run.endedAt).toBeLessThanOrEqual(deadline - LIMITS.replayMarginMs + ONE_SEND_MS);
    expect(starts.length).toBeGreaterThan(1);
  });
});

describe('an inline publish inside its function timeout, with @connections not answering', () => {
  const connections = 640;
  const targets: Target[] = Array.from({ length: connections }, (_, i) => ({
    connectionId: `c${i}`,
    uid: `u${i}`,
  }));

  function commandDeps(gateway: Gateway, timeoutMs: number, failed: string[]): CommandDeps {
    const store = emptyStore({ byTopic: async () => targets });
    return {
      store,
      gateway,
      remaining: () => timeoutMs - Date.now(),
      deliveryFor: (_id, sendVia) => ({
        store,
        gateway: sendVia,
        random: () => 0.99,
        events: { failed: (connectionId) => void failed.push(connectionId) },
      }),
    };
  }

  it('answers before its timeout, counting the sends it had no time for as failed', async () => {
    // 640 connections, 64 posts in flight, every post held for its whole bound: ten rounds of four
    // attempts would take 143 s of a 50 s function, which Lambda would then retry whole, twice.
    // The fourth round starts at 43 s, before the last start (45 s); its retries would not.
    const timeoutMs = 50_000;
    const failed: string[] = [];
    const { gateway, starts } = stuckGateway(ONE_SEND_MS);
    const run = await runToEnd(
      runCommand(
        { to: { topic: 'orders' }, data: 1, id: 'p1' },
        idsFrom(undefined),
        commandDeps(gateway, timeoutMs, failed),
      ),
    );
    expect(run.outcome).toEqual({
      kind: 'publish',
      result: { id: 'p1', connections, delivered: 0, gone: 0, failed: connections, stored: 0 },
    });
    expect(new Set(failed).size).toBe(connections);
    const lastStart = timeoutMs - ONE_SEND_MS - LIMITS.publishWrapUpMs;
    expect(Math.max(...starts)).toBeLessThanOrEqual(lastStart);
    expect(run.endedAt).toBeLessThanOrEqual(timeoutMs - LIMITS.publishWrapUpMs);
  });

  it('makes every attempt when the sends answer in time', async () => {
    const failed: string[] = [];
    const { gateway, starts } = stuckGateway(10, () => new ThrottledError('429'));
    const run = await runToEnd(
      runCommand(
        { to: { topic: 'orders' }, data: 1, id: 'p2' },
        idsFrom(undefined),
        commandDeps(gateway, 60_000, failed),
      ),
    );
    expect(run.outcome).toMatchObject({ result: { failed: connections } });
    expect(starts).toHaveLength(connections * LIMITS.sendAttempts);
  });
});
