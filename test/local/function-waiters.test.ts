/**
 * Invocations that wait for a concurrency slot (`whenThrottled: 'wait'`, as the async queue and
 * the event sources ask): each pool's waiters start in arrival order as its slots free up, and a
 * freed slot of one pool starts none of another's. Each pool keeps its own queue: a release used
 * to scan every waiter of every function, which took 10 s to drain 40,000 (attacker helper).
 */
import { describe, expect, it, vi } from 'vitest';
import { HANDLER_NAMES, type HostedHandlerId } from '../../lambdas/shared/deployment';
import { FunctionsStoppedError } from '../../local/function-errors';
import { type FunctionSettings, LocalFunctions } from '../../local/functions';
import type { HandlerSet } from '../../local/lambda-types';
import { type Logger, silentLogger } from '../../local/logger';

/** publish: reserved 1; worker: reserved 2; the others share the unreserved pool of 1. */
const RESERVED: Partial<Record<HostedHandlerId, number>> = { publish: 1, worker: 2 };

const settings = Object.fromEntries(
  HANDLER_NAMES.map((name) => [
    name,
    {
      functionName: name,
      arn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
      timeoutMs: 60_000,
      memorySizeMb: 128,
      ...(RESERVED[name] === undefined ? {} : { reservedConcurrency: RESERVED[name] }),
    },
  ]),
) as Record<HostedHandlerId, FunctionSettings>;

/** Handlers that each hold their slot until the test lets them go, recording when they start. */
function gated() {
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  const handler = (name: string) => async (event: { n: number }) => {
    started.push(`${name}${event.n}`);
    await new Promise<void>((resolve) => gates.set(`${name}${event.n}`, resolve));
    return event.n;
  };
  const handlers = Object.fromEntries(
    HANDLER_NAMES.map((name) => [name, handler(name)]),
  ) as unknown as HandlerSet;
  const release = (id: string) => gates.get(id)?.();
  /** Lets the microtasks and the next turn run, so what can start has started. */
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  return { started, handlers, release, settle };
}

describe('invocations waiting for a slot', () => {
  it("start in arrival order per pool, and a freed slot of one pool starts none of another's", async () => {
    const g = gated();
    const functions = new LocalFunctions(g.handlers, {
      settings,
      logger: silentLogger,
      accountConcurrency: 4, // 1 + 2 reserved: one unreserved slot
    });
    const wait = { whenThrottled: 'wait' as const };
    const calls = [
      ...[1, 2, 3].map((n) => functions.invoke('publish', { n }, wait)),
      ...[1, 2, 3, 4].map((n) => functions.invoke('worker', { n }, wait)),
      ...[1, 2].map((n) => functions.invoke('connect', { n }, wait)),
    ];
    await g.settle();
    expect(g.started).toEqual(['publish1', 'worker1', 'worker2', 'connect1']);

    g.release('worker1');
    await g.settle();
    expect(g.started.slice(4)).toEqual(['worker3']);
    g.release('publish1');
    await g.settle();
    expect(g.started.slice(5)).toEqual(['publish2']);
    g.release('connect1');
    await g.settle();
    expect(g.started.slice(6)).toEqual(['connect2']);
    for (const id of ['worker2', 'worker3', 'publish2', 'connect2']) g.release(id);
    await g.settle();
    expect(g.started.slice(7)).toEqual(['worker4', 'publish3']);
    for (const id of ['worker4', 'publish3']) g.release(id);
    expect(await Promise.all(calls)).toEqual([1, 2, 3, 1, 2, 3, 4, 1, 2]);
  });

  it('refuses every invocation still waiting when the service stops', async () => {
    const g = gated();
    const functions = new LocalFunctions(g.handlers, { settings, logger: silentLogger });
    const running = functions.invoke('publish', { n: 1 }, { whenThrottled: 'wait' });
    const waiting = [2, 3].map((n) => functions.invoke('publish', { n }, { whenThrottled: 'wait' }));
    await g.settle();
    const stopped = functions.stop(1_000);
    for (const call of waiting) await expect(call).rejects.toBeInstanceOf(FunctionsStoppedError);
    g.release('publish1');
    expect(await running).toBe(1);
    await stopped;
    expect(g.started).toEqual(['publish1']);
  });
});

describe('asynchronous events waiting for a slot', () => {
  it("count against the local queue's bound, which refuses the rest, and are parsed only once their slot comes", async () => {
    const g = gated();
    const errors: string[] = [];
    const logger: Logger = { ...silentLogger, error: (message) => void errors.push(message) };
    const text = (n: number) => JSON.stringify({ n, data: 'x'.repeat(1_000) });
    const bytes = Buffer.byteLength(text(10));
    // Room for ten events of the same size (n of two digits) in the queue.
    const functions = new LocalFunctions(g.handlers, { settings, logger, asyncMaxHeldBytes: 10 * bytes });
    const parse = vi.spyOn(JSON, 'parse');
    try {
      // publish has one reserved slot: event 10 takes it, 11 to 19 wait for it, 20 to 39 do not fit.
      for (let n = 10; n < 40; n++) functions.invokeAsync('publish', { n, data: 'x'.repeat(1_000) });
      await g.settle();
      expect(g.started).toEqual(['publish10']);
      expect(errors).toHaveLength(20);
      expect(errors[0]).toMatch(/^async invocation refused: not queued, since the local queue already holds/);
      // Only the running event was parsed from the queue's text; the nine waiting hold text alone.
      expect(parse.mock.calls.filter(([arg]) => typeof arg === 'string' && arg.startsWith('{"n":'))).toEqual([
        [text(10)],
      ]);
      for (let n = 10; n < 20; n++) {
        g.release(`publish${n}`);
        await g.settle();
      }
      expect(g.started).toEqual(Array.from({ length: 10 }, (_, i) => `publish${10 + i}`));
    } finally {
      parse.mockRestore();
      await functions.stop(1_000);
    }
  });
});
