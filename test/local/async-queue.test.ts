/**
 * The local asynchronous invocation queue on its own: what it holds for a retry, and how much.
 * Held as parsed objects, events waiting for their retry grew the stack's heap without bound
 * (1,293 MB after 387 failing events of ~120 KB of `{}` each, found by the attacker helper), and
 * a retry got the object its failed attempt had changed. Its bound then covered only events
 * waiting on a retry timer: first attempts and due retries waiting for a concurrency slot were
 * held (twice: text and parsed event) without limit. Timers run scaled down, no sleeps.
 */
import { describe, expect, it } from 'vitest';
import type { HostedHandlerId } from '../../lambdas/shared/deployment';
import { AsyncInvokeQueue } from '../../local/async-invoke';
import type { LogFields, Logger } from '../../local/logger';

/** A logger that keeps its error lines. */
function recording(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return {
    debug() {},
    info() {},
    warn() {},
    error: (message: string, _?: LogFields) => void errors.push(message),
    errors,
  };
}

/** A queue whose function fails `failures` times per event, then succeeds; waits on its attempts. */
function queueWith(options: {
  failures: number;
  maxHeldBytes?: number;
  mutate?: boolean;
  maxAgeMs?: number;
  /** Resolves when an attempt gets its concurrency slot. @default at once */
  slot?: () => Promise<void>;
}) {
  const records: { condition: unknown; count: unknown }[] = [];
  const seen: { requestId: string; event: unknown }[] = [];
  const waiters: { count: number; done: () => void }[] = [];
  const tries = new Map<string, number>();
  const logger = recording();
  const queue = new AsyncInvokeQueue({
    attempt: async (_name: HostedHandlerId, read: () => unknown, requestId: string) => {
      await options.slot?.();
      const event = read();
      seen.push({ requestId, event: structuredClone(event) });
      for (const waiter of waiters.filter((w) => seen.length >= w.count)) waiter.done();
      const n = (tries.get(requestId) ?? 0) + 1;
      tries.set(requestId, n);
      if (options.mutate === true && typeof event === 'object' && event !== null)
        (event as Record<string, unknown>).changed = `by attempt ${n}`;
      if (n <= options.failures) throw new Error(`attempt ${n} fails`);
    },
    settingsOf: () => ({
      arn: 'arn:aws:lambda:us-east-1:000000000000:function:publish',
      asyncInvoke: {
        maximumRetryAttempts: 2,
        maximumEventAgeMs: options.maxAgeMs ?? 3_600_000,
        onFailure: 'arn:aws:sqs:us-east-1:000000000000:failures',
      },
    }),
    destination: () => ({
      name: 'failures',
      send: (body: string) => {
        const { requestContext } = JSON.parse(body) as {
          requestContext: { condition: unknown; approximateInvokeCount: unknown };
        };
        records.push({ condition: requestContext.condition, count: requestContext.approximateInvokeCount });
      },
    }),
    timeScale: 0.0001, // one minute is 6 ms
    ...(options.maxHeldBytes === undefined ? {} : { maxHeldBytes: options.maxHeldBytes }),
    logger,
  });
  const attempts = (count: number) =>
    new Promise<void>((resolve) => {
      if (seen.length >= count) resolve();
      else waiters.push({ count, done: resolve });
    });
  /** Resolves once the queue holds nothing: no event waiting for a slot, running, or waiting for a retry. */
  const drained = () =>
    new Promise<void>((resolve) => {
      const check = () => (queue.heldBytes === 0 && queue.waiting === 0 ? resolve() : setImmediate(check));
      check();
    });
  return { queue, seen, attempts, drained, logger, records };
}

describe('the local async invocation queue', () => {
  it('gives every retry the event as it was sent, not as the failed attempt left it', async () => {
    const q = queueWith({ failures: 2, mutate: true });
    q.queue.enqueue('publish', { data: 'as sent' }, 'r1');
    await q.attempts(3);
    expect(q.seen).toEqual([
      { requestId: 'r1', event: { data: 'as sent' } },
      { requestId: 'r1', event: { data: 'as sent' } },
      { requestId: 'r1', event: { data: 'as sent' } },
    ]);
    await q.queue.settled();
  });

  it('counts an event from when it is queued until it leaves, refuses one past its bound with an error, and gives the bytes back', async () => {
    const event = { data: 'x'.repeat(100) };
    const bytes = Buffer.byteLength(JSON.stringify(event));
    const q = queueWith({ failures: 1, maxHeldBytes: bytes });
    expect(q.queue.enqueue('publish', event, 'kept')).toBe(true);
    // Counted at once, while its first attempt runs, not only once it waits for a retry.
    expect(q.queue.heldBytes).toBe(bytes);
    expect(q.queue.enqueue('publish', event, 'refused')).toBe(false);
    expect(q.logger.errors).toEqual([
      `async invocation refused: not queued, since the local queue already holds ${bytes} bytes of events (at most ${bytes}; Lambda's own queue has no such bound)`,
    ]);
    await q.attempts(1);
    await q.queue.settled();
    // Waiting for its retry: still counted.
    expect(q.queue.waiting).toBe(1);
    expect(q.queue.heldBytes).toBe(bytes);
    // The kept one is retried (and succeeds); the refused one never runs.
    await q.attempts(2);
    await q.queue.settled();
    expect(q.seen.map((s) => s.requestId)).toEqual(['kept', 'kept']);
    expect(q.queue.heldBytes).toBe(0);
    expect(q.queue.waiting).toBe(0);
    // The bytes are back: the next event fits.
    expect(q.queue.enqueue('publish', event, 'next')).toBe(true);
    await q.attempts(4);
    await q.drained();
    expect(q.seen.map((s) => s.requestId)).toEqual(['kept', 'kept', 'next', 'next']);
  });

  it('counts first attempts and due retries waiting for a concurrency slot against its bound, and parses none of them before the slot', async () => {
    // Every attempt after the first waits for a slot that comes only when the test opens it.
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let granted = 0;
    const q = queueWith({
      failures: 1,
      maxHeldBytes: 1024 * 1024,
      slot: async () => {
        if (granted++ > 0) await gate;
      },
    });
    const event = { data: 'x'.repeat(100_000) };
    const bytes = Buffer.byteLength(JSON.stringify(event));
    // The first runs and fails; its retry falls due and waits for a slot with the others.
    q.queue.enqueue('publish', event, 'first');
    await q.attempts(1);
    await q.queue.settled();
    // Its retry timer fires; the retry's attempt then waits for the slot.
    await new Promise<void>((resolve) => {
      const check = () => (q.queue.waiting === 0 ? resolve() : setImmediate(check));
      check();
    });
    expect(q.queue.heldBytes).toBe(bytes);
    // Nine more fit the 1 MiB bound with it (ten of 100 KB); the rest are refused as they come.
    const queued = Array.from({ length: 40 }, (_, i) => q.queue.enqueue('publish', event, `r${i}`));
    expect(queued.filter(Boolean)).toHaveLength(9);
    expect(q.queue.heldBytes).toBe(10 * bytes);
    expect(q.logger.errors).toHaveLength(31);
    // None was parsed while it waited: only the first attempt ran.
    expect(q.seen.map((s) => s.requestId)).toEqual(['first']);
    open();
    await q.attempts(11);
    // The nine fail once and are retried; the first's retry succeeds.
    await q.attempts(20);
    await q.drained();
    expect(q.seen.filter((s) => s.requestId === 'first')).toHaveLength(2);
    expect(new Set(q.seen.map((s) => s.requestId)).size).toBe(10);
  });

  it('gives up at a retry that would fall due as old as the maximum event age, whatever the timer', async () => {
    // Event age 60 s, the first retry a minute on: due exactly at the limit. Judged when the timer
    // fired, a timer a fraction of a millisecond early ran it (a CI run on Node 24 saw two calls).
    const q = queueWith({ failures: Number.POSITIVE_INFINITY, maxAgeMs: 60_000 });
    q.queue.enqueue('publish', { data: 1 }, 'aged');
    await q.attempts(1);
    await q.queue.settled();
    await new Promise<void>((resolve) => {
      const check = () => (q.records.length > 0 ? resolve() : setImmediate(check));
      check();
    });
    expect(q.records).toEqual([{ condition: 'EventAgeExceeded', count: 1 }]);
    expect(q.seen).toHaveLength(1);
  });
});
