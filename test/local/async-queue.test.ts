/**
 * The local asynchronous invocation queue on its own: what it holds for a retry, and how much.
 * Held as parsed objects, events waiting for their retry grew the stack's heap without bound
 * (1,293 MB after 387 failing events of ~120 KB of `{}` each, found by the attacker helper), and
 * a retry got the object its failed attempt had changed. Timers run scaled down, no sleeps.
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
}) {
  const records: { condition: unknown; count: unknown }[] = [];
  const seen: { requestId: string; event: unknown }[] = [];
  const waiters: { count: number; done: () => void }[] = [];
  const tries = new Map<string, number>();
  const logger = recording();
  const queue = new AsyncInvokeQueue({
    attempt: async (_name: HostedHandlerId, event: unknown, requestId: string) => {
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
  return { queue, seen, attempts, logger, records };
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

  it('holds events for their retry up to its bound, drops the next with an error, and gives the bytes back', async () => {
    const event = { data: 'x'.repeat(100) };
    const bytes = Buffer.byteLength(JSON.stringify(event));
    const q = queueWith({ failures: 1, maxHeldBytes: bytes });
    q.queue.enqueue('publish', event, 'kept');
    await q.attempts(1);
    await q.queue.settled();
    expect(q.queue.heldBytes).toBe(bytes);
    q.queue.enqueue('publish', event, 'dropped');
    await q.attempts(2);
    await q.queue.settled();
    expect(q.logger.errors).toEqual([
      `async invocation failed: not held for its retry, since the local queue already holds ${bytes} bytes of events waiting (at most ${bytes}; Lambda's own queue has no such bound)`,
    ]);
    // The kept one is retried (and succeeds); the dropped one never runs again.
    await q.attempts(3);
    await q.queue.settled();
    expect(q.seen.map((s) => s.requestId)).toEqual(['kept', 'dropped', 'kept']);
    expect(q.queue.heldBytes).toBe(0);
    expect(q.queue.waiting).toBe(0);
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
