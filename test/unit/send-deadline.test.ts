import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { idsFrom } from '../../lambdas/core/command';
import { type CommandDeps, runCommand } from '../../lambdas/core/commands';
import {
  type DeliveryDeps,
  deliverOne,
  lastSendStart,
  limitSends,
  SendTooLateError,
} from '../../lambdas/core/delivery';
import type { Gateway, MessageLog, Target } from '../../lambdas/core/ports';
import { runSnsEvent, type SnsEvent } from '../../lambdas/core/publish-event';
import type { PublishIds } from '../../lambdas/core/publish-ids';
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
    // until, random (the backoff's draw), sends made. With 0.99 the retries sleep 49, 99 and
    // 198 ms (full jitter under 50 ms × 2^k); each send fails at once.
    ['no bound: every attempt', undefined, 0.99, 4],
    ['room for one retry (at 49 ms) and not the next (at 148 ms)', 100, 0.99, 2],
    ['room for every retry (the last at 346 ms)', 346, 0.99, 4],
    ['the last retry 1 ms too late', 345, 0.99, 3],
  ] as const)('%s: failed once its attempts stop', async (_, until, random, sends) => {
    const { gateway, starts } = stuckGateway(0, () => new ThrottledError('429'));
    const deps = {
      store: emptyStore(),
      gateway,
      random: () => random,
      events: { failed: vi.fn() },
      ...(until === undefined ? {} : { until }),
    } satisfies DeliveryDeps;
    const run = await runToEnd(deliverOne({ connectionId: 'c1', payload: 'x' }, deps));
    expect(run.outcome).toBe('failed');
    expect(starts).toHaveLength(sends);
    expect(failedEvents(deps)).toHaveLength(1);
  });

  it('throws SendTooLateError for a delivery it has no time to try at all, reporting no failure', async () => {
    // Counted `failed`, the publish would be recorded as done without ever trying the connection,
    // and a retry of its id would answer that record: thrown, the publish fails and is retried.
    const { gateway, starts } = stuckGateway(0);
    const deps = { store: emptyStore(), gateway, until: -1, events: { failed: vi.fn() } };
    const run = await runToEnd(deliverOne({ connectionId: 'c1', payload: 'x' }, deps));
    expect(run.outcome).toBeInstanceOf(SendTooLateError);
    expect(run.outcome).toBeInstanceOf(UnavailableError);
    expect(starts).toEqual([]);
    expect(deps.events.failed).not.toHaveBeenCalled();
  });

  it('reports a send it did not try again as failed, with its last error', async () => {
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
    expect(failedEvents(notRetried)).toEqual([['c2', message, throttled]]);
  });

  it('lets a bounded gateway refuse a send whose turn for a slot came too late, as not tried', async () => {
    const { gateway, starts } = stuckGateway(1_000);
    const limited = limitSends(gateway, 1, 500);
    const deps = { store: emptyStore(), gateway: limited, attempts: 1, events: { failed: vi.fn() } };
    const first = runToEnd(deliverOne({ connectionId: 'c1', payload: 'x' }, deps));
    const second = runToEnd(deliverOne({ connectionId: 'c2', payload: 'x' }, deps));
    expect((await first).outcome).toBe('failed');
    expect((await second).outcome).toBeInstanceOf(SendTooLateError);
    expect(starts).toEqual([0]);
  });

  it('counts a retry whose turn for a slot came too late as failed: its first attempt was made', async () => {
    // c1 is throttled at once and retried after 49 ms; c2 holds the one slot until 1,000 ms, past
    // the last start (500 ms). The review's case: this threw, and failed the whole publish.
    let sends = 0;
    const gateway: Gateway = {
      send: () =>
        new Promise((resolve, reject) => {
          sends++;
          if (sends === 1) reject(new ThrottledError('429'));
          else setTimeout(resolve, 1_000);
        }),
      info: async () => {
        throw new Error('unused');
      },
      close: async () => {},
    };
    const deps = {
      store: emptyStore(),
      gateway: limitSends(gateway, 1, 500),
      random: () => 0.99,
      events: { failed: vi.fn() },
    };
    const first = runToEnd(deliverOne({ connectionId: 'c1', payload: 'x' }, deps));
    const second = runToEnd(deliverOne({ connectionId: 'c2', payload: 'x' }, deps));
    expect((await first).outcome).toBe('failed');
    expect((await second).outcome).toBe('delivered');
    expect(
      deps.events.failed.mock.calls.map(([id, error]) => [id, error instanceof SendTooLateError]),
    ).toEqual([['c1', true]]);
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

describe('a publish inside its function timeout', () => {
  const connections = 640;
  const targets: Target[] = Array.from({ length: connections }, (_, i) => ({
    connectionId: `c${i}`,
    uid: `u${i}`,
  }));

  /** Publish ids that record what became of each claim. */
  function recordingIds() {
    const calls: string[] = [];
    const ids: PublishIds = {
      claim: async () => ({ kind: 'claimed', seqs: {}, tookOver: false }),
      complete: async (id) => void calls.push(`complete ${id}`),
      fail: async (id) => void calls.push(`fail ${id}`),
      release: async (id) => void calls.push(`release ${id}`),
    };
    return { ids, calls };
  }

  function commandDeps(
    gateway: Gateway,
    timeoutMs: number,
    options: { failed?: string[]; ids?: PublishIds; lookupMs?: number } = {},
  ): CommandDeps {
    const store = emptyStore({
      byTopic: async () => {
        if (options.lookupMs) await new Promise((resolve) => setTimeout(resolve, options.lookupMs));
        return targets.slice();
      },
    });
    return {
      store,
      gateway,
      remaining: () => timeoutMs - Date.now(),
      ...(options.ids === undefined ? {} : { ids: options.ids }),
      deliveryFor: (_id, sendVia) => ({
        store,
        gateway: sendVia,
        random: () => 0.99,
        events: { failed: (connectionId) => void options.failed?.push(connectionId) },
      }),
    };
  }

  const lastStartOf = (timeoutMs: number) => timeoutMs - ONE_SEND_MS - LIMITS.publishWrapUpMs;

  it('into an API that stopped answering: no send starts past the last start, and it fails in time to be retried', async () => {
    // 640 connections, 64 posts in flight, every post held for its whole bound: ten rounds of four
    // attempts would take 143 s of a 50 s function, and time out with the id still claimed. The
    // fourth round starts at 43 s, before the last start (45 s), and is not tried again; the
    // fifth, at 46.6 s, is not tried at all, so the publish fails (its claim marked failed).
    const timeoutMs = 50_000;
    const failed: string[] = [];
    const { ids, calls } = recordingIds();
    const { gateway, starts } = stuckGateway(ONE_SEND_MS);
    const run = await runToEnd(
      runCommand(
        { to: { topic: 'orders' }, data: 1, id: 'p1' },
        idsFrom(undefined),
        commandDeps(gateway, timeoutMs, { failed, ids }),
      ),
    );
    expect(run.outcome).toBeInstanceOf(SendTooLateError);
    expect(calls).toEqual(['fail p1']);
    expect(new Set(failed).size).toBe(4 * 64);
    expect(Math.max(...starts)).toBeLessThanOrEqual(lastStartOf(timeoutMs));
    expect(run.endedAt).toBeLessThanOrEqual(timeoutMs - LIMITS.publishWrapUpMs);
  });

  it('started with its sends already out of time: fails to be retried, never recorded as done', async () => {
    // The review's case: a batch item may start with 5 s left, which its lookup then uses up.
    // Counted `failed`, the id's record said done and a retry answered it: the message was lost.
    const { ids, calls } = recordingIds();
    const { gateway, starts } = stuckGateway(10);
    const run = await runToEnd(
      runCommand(
        { to: { topic: 'orders' }, data: 1, id: 'p3' },
        idsFrom(undefined),
        commandDeps(gateway, ONE_SEND_MS + LIMITS.publishWrapUpMs + 50, { ids, lookupMs: 100 }),
      ),
    );
    expect(run.outcome).toBeInstanceOf(SendTooLateError);
    expect(starts).toEqual([]);
    expect(calls).toEqual(['fail p3']);
  });

  it('in a batch, whose publishes share one bound on posts: a send that waited past the last start for its slot is not sent', async () => {
    // Ten publishes of 64 connections each behind 64 slots: checked only before the wait, sends
    // went out until 73.5 s of a 50 s function.
    const timeoutMs = 50_000;
    const { gateway, starts } = stuckGateway(ONE_SEND_MS);
    const batch = Array.from({ length: 10 }, (_, i) => ({ to: { topic: `t${i}` }, data: i, id: `b${i}` }));
    const deps = commandDeps(gateway, timeoutMs);
    const run = await runToEnd(
      runCommand({ batch }, idsFrom(undefined), {
        ...deps,
        store: emptyStore({ byTopic: async () => targets.slice(0, 64) }),
      }),
    );
    expect(run.outcome).toBeInstanceOf(UnavailableError);
    expect(Math.max(...starts)).toBeLessThanOrEqual(lastStartOf(timeoutMs));
    expect(run.endedAt).toBeLessThanOrEqual(timeoutMs - LIMITS.publishWrapUpMs);
  });

  it('in an SNS event: the records after one out of time are not run, and the event fails to be retried', async () => {
    const claims: string[] = [];
    const { ids } = recordingIds();
    const counting: PublishIds = {
      ...ids,
      claim: (id, ...rest) => {
        claims.push(id);
        return ids.claim(id, ...rest);
      },
    };
    const { gateway, starts } = stuckGateway(10);
    const event = {
      Records: ['s1', 's2', 's3'].map((id) => ({
        EventSource: 'aws:sns',
        Sns: { MessageId: id, Message: JSON.stringify({ to: { topic: 'orders' }, data: 1, id }) },
      })),
    } as unknown as SnsEvent;
    const run = await runToEnd(
      runSnsEvent(event, commandDeps(gateway, ONE_SEND_MS + LIMITS.publishWrapUpMs - 1, { ids: counting })),
    );
    expect(run.outcome).toBeInstanceOf(SendTooLateError);
    expect(claims).toEqual(['s1']);
    expect(starts).toEqual([]);
  });

  it('with time enough: every attempt is made', async () => {
    const failed: string[] = [];
    const { gateway, starts } = stuckGateway(10, () => new ThrottledError('429'));
    const run = await runToEnd(
      runCommand(
        { to: { topic: 'orders' }, data: 1, id: 'p2' },
        idsFrom(undefined),
        commandDeps(gateway, 60_000, { failed }),
      ),
    );
    expect(run.outcome).toMatchObject({ result: { failed: connections } });
    expect(starts).toHaveLength(connections * LIMITS.sendAttempts);
  });
});
