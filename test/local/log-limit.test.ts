/** RepeatLimiter: the first event of a kind now, then one line per window with how many more. */
import { describe, expect, it } from 'vitest';
import { RepeatLimiter } from '../../local/log-limit';
import type { LogFields } from '../../local/logger';

function limiter() {
  const lines: [string, LogFields][] = [];
  const timers: (() => void)[] = [];
  const repeats = new RepeatLimiter((message, fields) => lines.push([message, fields]), {
    windowMs: 1000,
    setTimer: (callback) => {
      timers.push(callback);
      return {};
    },
  });
  /** Closes the oldest open window, as its timer would. */
  const tick = () => timers.shift()?.();
  return { repeats, lines, timers, tick };
}

describe('RepeatLimiter', () => {
  it('writes the first event at once and counts the rest of its window into one line', () => {
    const { repeats, lines, tick } = limiter();
    repeats.note('$default failed', { connectionId: 'a', error: 'x' });
    repeats.note('$default failed', { connectionId: 'b', error: 'y' });
    repeats.note('$default failed', { connectionId: 'c', error: 'z' });
    expect(lines).toEqual([['$default failed', { connectionId: 'a', error: 'x' }]]);
    tick();
    expect(lines).toEqual([
      ['$default failed', { connectionId: 'a', error: 'x' }],
      ['$default failed', { connectionId: 'c', error: 'z', repeats: 2, withinMs: 1000 }],
    ]);
  });

  it('keeps one window per kind: another kind is written at once', () => {
    const { repeats, lines } = limiter();
    repeats.note('$default failed', { n: 1 });
    repeats.note('$connect failed', { n: 2 });
    repeats.note('$default failed', { n: 3 });
    expect(lines).toEqual([
      ['$default failed', { n: 1 }],
      ['$connect failed', { n: 2 }],
    ]);
  });

  it('opens a new window after a summary, and closes one that saw nothing: the next event is written at once', () => {
    const { repeats, lines, timers, tick } = limiter();
    repeats.note('k', { n: 1 });
    repeats.note('k', { n: 2 });
    tick(); // summary of n: 2, and a new window
    expect(timers).toHaveLength(1);
    repeats.note('k', { n: 3 });
    tick(); // summary of n: 3, and a new window
    tick(); // nothing in it: closed
    expect(timers).toHaveLength(0);
    repeats.note('k', { n: 4 });
    expect(lines).toEqual([
      ['k', { n: 1 }],
      ['k', { n: 2, repeats: 1, withinMs: 1000 }],
      ['k', { n: 3, repeats: 1, withinMs: 1000 }],
      ['k', { n: 4 }],
    ]);
  });
});
