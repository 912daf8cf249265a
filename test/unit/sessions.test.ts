import { describe, expect, it } from 'vitest';
import type { Gateway } from '../../lambdas/core/ports';
import { enforceConnectionLimit, evictionOrder } from '../../lambdas/core/sessions';
import { emptyStore } from './fakes';

const c = (connectionId: string, lastSeenAt: number, connectedAt = 0, instance?: string) => ({
  connectionId,
  lastSeenAt,
  connectedAt,
  ...(instance === undefined ? {} : { instance }),
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

  it.each([
    [
      "the new one's own instance first, however recently seen",
      [c('mine', 9, 0, 'tab-1'), c('other', 1, 0, 'tab-2')],
      2,
      ['mine'],
    ],
    [
      'then the least recently seen of the rest',
      [c('mine', 9, 0, 'tab-1'), c('b', 3, 0, 'tab-2'), c('a', 1, 0, 'tab-3')],
      2,
      ['mine', 'a'],
    ],
    ['only as many as the uid is over', [c('old', 9, 0, 'tab-1'), c('older', 8, 0, 'tab-1')], 3, []],
    [
      "by the usual order among the instance's own",
      [c('x', 9, 0, 'tab-1'), c('y', 2, 0, 'tab-1')],
      1,
      ['y', 'x'],
    ],
    ['the usual order when no other has the instance', [c('a', 5, 0, 'tab-2'), c('b', 1)], 2, ['b']],
  ])('with the instance of the new connection (tab-1), evicts %s', (_, connections, max, expected) => {
    expect(evictionOrder(connections, 'new', max, 'tab-1')).toEqual(expected);
  });

  it('ignores the instance of records when the new connection names none', () => {
    expect(evictionOrder([c('a', 9, 0, 'tab-1'), c('b', 1, 0, 'tab-1')], 'new', 2)).toEqual(['b']);
  });
});

describe('enforceConnectionLimit', () => {
  /** A uid with `old` at the cap of one, whose posts never answer (a stuck Management API). */
  function stuckPosts() {
    const calls: string[] = [];
    const failed: string[] = [];
    const gateway: Gateway = {
      send: (connectionId) => {
        calls.push(`send ${connectionId}`);
        return new Promise(() => {});
      },
      info: async () => {
        throw new Error('not used');
      },
      close: async (connectionId) => {
        calls.push(`close ${connectionId}`);
      },
    };
    const store = emptyStore({
      connectionsOf: async () => [{ connectionId: 'old', lastSeenAt: 1, connectedAt: 1, topics: [] }],
      claim: async () => true,
      remove: async (connectionId) => {
        calls.push(`remove ${connectionId}`);
        return 1;
      },
    });
    const deps = { store, gateway, events: { failed: (id: string) => failed.push(id) } };
    return { deps, calls, failed };
  }

  it('closes and removes an evicted connection at frameUntil, its kicked frame still unanswered', async () => {
    const { deps, calls, failed } = stuckPosts();

    // Its record is claimed (deleted) first: left open, the socket would get no push.
    const outcome = await enforceConnectionLimit('u1', 'new', 1, deps, 1_000, undefined, Date.now() + 20);

    expect(outcome).toEqual({ evicted: ['old'], crowded: true });
    expect(calls).toEqual(['send old', 'close old', 'remove old']);
    expect(failed).toEqual(['old']);
  });
});
