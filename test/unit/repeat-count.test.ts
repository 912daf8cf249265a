import { describe, expect, it } from 'vitest';
import { RepeatCount } from '../../lambdas/core/repeat-count';

describe('RepeatCount', () => {
  it.each([
    ['logs the first event of a key', [['a', 0]], [1]],
    [
      'counts the repeats inside the window without a line',
      [
        ['a', 0],
        ['a', 10],
        ['a', 999],
      ],
      [1, undefined, undefined],
    ],
    [
      'carries the repeats in the first line after the window',
      [
        ['a', 0],
        ['a', 10],
        ['a', 500],
        ['a', 1000],
      ],
      [1, undefined, undefined, 3],
    ],
    [
      'keeps keys apart',
      [
        ['a', 0],
        ['b', 1],
        ['a', 2],
        ['b', 3],
      ],
      [1, 1, undefined, undefined],
    ],
    [
      'forgets the least recently seen key past maxTracked, which then logs again',
      [
        ['a', 0],
        ['b', 1],
        ['c', 2],
        ['a', 3],
      ],
      [1, 1, 1, 1],
    ],
  ] as const)('%s', (_, events, expected) => {
    const count = new RepeatCount({ windowMs: 1000, maxTracked: 2 });
    expect(events.map(([key, at]) => count.note(key, at))).toEqual(expected);
  });
});
