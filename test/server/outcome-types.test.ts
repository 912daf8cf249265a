/**
 * How a caller tells a publish's two outcomes apart, checked by tsc (`npm run typecheck`) on the
 * types the server package exports: `result.queued`, as the README writes it, and `in` on a field
 * only one outcome has (`'shards'`, `'delivered'`), not `'queued' in result`.
 */
import { describe, expectTypeOf, it } from 'vitest';
import type { PublishOutcome, PublishResult, QueuedResult } from '../../server/src/index';

describe('PublishOutcome', () => {
  it('narrows on result.queued, as the README checks it', () => {
    const check = (result: PublishOutcome) => {
      if (result.queued) expectTypeOf(result).toEqualTypeOf<QueuedResult>();
      else expectTypeOf(result).toEqualTypeOf<PublishResult>();
    };
    expectTypeOf(check).toBeFunction();
  });

  it("narrows on 'shards' in result and 'delivered' in result", () => {
    const check = (result: PublishOutcome) => {
      if ('shards' in result) expectTypeOf(result.shards).toEqualTypeOf<number>();
      else expectTypeOf(result.delivered).toEqualTypeOf<number>();
      if ('delivered' in result) expectTypeOf(result).toEqualTypeOf<PublishResult>();
      else expectTypeOf(result).toEqualTypeOf<QueuedResult>();
    };
    expectTypeOf(check).toBeFunction();
  });

  it("does not narrow on 'queued' in result, which the types document instead of allowing", () => {
    // PublishResult declares `queued?: never` so that result.queued reads on either outcome, and
    // TypeScript keeps a member with an optional field in both branches of an `in` check: the two
    // ways cannot both narrow. Should a TypeScript release change that, this stops compiling and
    // the note on PublishOutcome is to be updated.
    const check = (result: PublishOutcome) => {
      // @ts-expect-error: result is still PublishResult | QueuedResult here
      if ('queued' in result) return result.shards;
      return undefined;
    };
    expectTypeOf(check).toBeFunction();
  });
});
