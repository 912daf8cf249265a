import { describe, expect, it } from 'vitest';
import { idsFrom } from '../../lambdas/core/command';
import { type CommandDeps, runCommand } from '../../lambdas/core/commands';
import type { Gateway } from '../../lambdas/core/ports';
import { type Claim, type PublishIds, publishHash } from '../../lambdas/core/publish-ids';
import { parsePublishRequest } from '../../lambdas/core/publish-request';
import { UnavailableError } from '../../lambdas/shared/errors';
import { emptyStore } from './fakes';

const gateway: Gateway = {
  async send() {},
  async info() {
    throw new Error('unused');
  },
  async close() {},
};

/** Publish ids whose claims are answered when the test says, recording what the publish did with them. */
function heldIds(claim: Claim) {
  const calls: string[] = [];
  let answer: (() => void) | undefined;
  const ids: PublishIds = {
    claim: () =>
      new Promise((resolve) => {
        answer = () => resolve(claim);
      }),
    complete: async (id) => void calls.push(`complete ${id}`),
    fail: async (id) => void calls.push(`fail ${id}`),
    release: async (id) => void calls.push(`release ${id}`),
  };
  return { ids, calls, answer: () => answer?.() };
}

function deps(ids: PublishIds, byUid: () => Promise<never>): CommandDeps {
  const store = emptyStore({ byUid });
  return { store, gateway, ids, deliveryFor: (_id, sendVia) => ({ store, gateway: sendVia }) };
}

/** A uid lookup that fails at once, with the claim answered only after it has. */
function lookupDownThen(answerClaim: () => void) {
  return async (): Promise<never> => {
    setImmediate(answerClaim);
    throw new UnavailableError('DynamoDB unavailable during Query');
  };
}

describe('a uid publish whose lookup fails before its id claim is answered', () => {
  it('marks the claim failed once it is answered, so a retry takes the id over at once', async () => {
    const held = heldIds({ kind: 'claimed', seqs: {}, tookOver: false });

    await expect(
      runCommand(
        { to: { uid: 'u1' }, data: 1, id: 'p1' },
        idsFrom(undefined),
        deps(held.ids, lookupDownThen(held.answer)),
      ),
    ).rejects.toThrow('DynamoDB unavailable during Query');
    expect(held.calls).toEqual(['fail p1']);
  });

  it('answers a repeated id with its first result even when the lookup failed', async () => {
    const body = { to: { uid: 'u1' }, data: 1, id: 'p1' };
    const first = { id: 'p1', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 };
    const hash = publishHash(parsePublishRequest(body));
    const held = heldIds({ kind: 'existing', record: { state: 'done', hash, result: first } });

    await expect(
      runCommand(body, idsFrom(undefined), deps(held.ids, lookupDownThen(held.answer))),
    ).resolves.toEqual({ kind: 'publish', result: first });
    expect(held.calls).toEqual([]);
  });
});
