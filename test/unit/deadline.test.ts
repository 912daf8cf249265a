import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { settleBefore } from '../../lambdas/core/deadline';

describe('settleBefore', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves to the value of work that settles before the deadline, and leaves no timer', async () => {
    await expect(settleBefore(Promise.resolve(7), Date.now() + 500)).resolves.toEqual({
      done: true,
      value: 7,
    });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects as the work did when it fails before the deadline', async () => {
    await expect(settleBefore(Promise.reject(new Error('down')), Date.now() + 500)).rejects.toThrow('down');
  });

  it('resolves done: false at the deadline while the work is still running', async () => {
    const settled = settleBefore(new Promise<number>(() => {}), Date.now() + 500);
    await vi.advanceTimersByTimeAsync(499);
    let outcome: unknown;
    void settled.then((value) => {
      outcome = value;
    });
    await Promise.resolve();
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toEqual({ done: false });
  });

  it('answers done: false at once for a deadline already passed', async () => {
    const settled = settleBefore(new Promise<number>(() => {}), Date.now() - 1);
    await vi.advanceTimersByTimeAsync(0);
    await expect(settled).resolves.toEqual({ done: false });
  });

  it('drops a failure that comes after the deadline instead of leaving it unhandled', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    let fail: (error: Error) => void = () => {};
    const work = new Promise<number>((_, reject) => {
      fail = reject;
    });
    const settled = settleBefore(work, Date.now() + 10);
    await vi.advanceTimersByTimeAsync(10);
    await expect(settled).resolves.toEqual({ done: false });
    fail(new Error('late'));
    vi.useRealTimers();
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', unhandled);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('waits without a timer when the deadline is unknown (infinite)', async () => {
    const settled = settleBefore(Promise.resolve('x'), Number.POSITIVE_INFINITY);
    expect(vi.getTimerCount()).toBe(0);
    await expect(settled).resolves.toEqual({ done: true, value: 'x' });
  });
});
