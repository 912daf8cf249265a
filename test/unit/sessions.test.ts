import { describe, expect, it } from 'vitest';
import { evictionOrder } from '../../lambdas/core/sessions';

const c = (connectionId: string, lastSeenAt: number, connectedAt = 0) => ({
  connectionId,
  lastSeenAt,
  connectedAt,
});

describe('evictionOrder', () => {
  it.each([
    ['nothing under the cap', [c('a', 1), c('b', 2)], 'new', 3, []],
    ['nothing at the cap, the new one included', [c('a', 1), c('b', 2), c('new', 9)], 'new', 3, []],
    ['the least recently seen one past the cap', [c('a', 5), c('b', 1), c('c', 3)], 'new', 3, ['b']],
    ['never the connection just made', [c('new', 0), c('a', 5), c('b', 6)], 'new', 2, ['a']],
    ['as many as the uid is over', [c('a', 4), c('b', 1), c('c', 3), c('d', 2)], 'new', 2, ['b', 'd', 'c']],
    ['the older connection on a tie', [c('a', 1, 20), c('b', 1, 10)], 'new', 2, ['b']],
    ['by id on a full tie, so every instance picks the same', [c('b', 1, 1), c('a', 1, 1)], 'new', 2, ['a']],
    ['everyone else at a cap of one', [c('a', 1), c('b', 2)], 'new', 1, ['a', 'b']],
  ])('evicts %s', (_, connections, keep, max, expected) => {
    expect(evictionOrder(connections, keep, max)).toEqual(expected);
  });
});
