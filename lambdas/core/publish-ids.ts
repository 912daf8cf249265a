import { createHash } from 'node:crypto';
import { ConflictError, UnavailableError } from '../shared/errors';
import type { PublishOutcome, TakenSeq } from './publish';
import type { PublishRequest } from './publish-request';

/*
 * Publish ids are idempotency keys. Each publish claims its id with one conditional write that
 * records a hash of the body; a publish whose id is already claimed with the same body answers the
 * first result and sends nothing, one with another body is refused with `conflict`.
 */

/** Seqs a publish took in its uids' logs, by uid. */
export type TakenSeqs = Readonly<Record<string, TakenSeq>>;

/** What an id was last used for, as its record says. */
export type IdRecord =
  | { readonly state: 'done'; readonly hash: string; readonly result: PublishOutcome }
  | { readonly state: 'running' | 'failed'; readonly hash: string };

/** The answer to a claim: this attempt owns the id, or it was already claimed. */
export type Claim =
  | {
      readonly kind: 'claimed';
      /**
       * Seqs an earlier attempt that failed (or died) took before it gave up the id: this attempt
       * reuses them, so the retried message keeps its place in each log.
       */
      readonly seqs: TakenSeqs;
      /** True when an earlier attempt's record was taken over (it failed, or outlived its deadline). */
      readonly tookOver: boolean;
    }
  | { readonly kind: 'existing'; readonly record: IdRecord };

/** Where publish ids are remembered (the publishes table, in AWS and locally). */
export interface PublishIds {
  /**
   * Claims `id` for `attempt`, with one conditional write: it succeeds when the id is unknown, or
   * when an earlier attempt with the same hash failed, or is still marked running past its
   * `deadline` (epoch ms; the invocation that ran it has timed out by then). Otherwise resolves to
   * the existing record.
   */
  claim(id: string, hash: string, attempt: string, deadlineMs: number, nowMs: number): Promise<Claim>;
  /** Records the result, if `attempt` still owns the id. */
  complete(id: string, attempt: string, result: PublishOutcome, nowMs: number): Promise<void>;
  /**
   * Marks the attempt failed, keeping the seqs it took, if it still owns the id: a retry may take
   * the id over at once and reuse them.
   */
  fail(id: string, attempt: string, seqs: TakenSeqs, nowMs: number): Promise<void>;
  /** Forgets a claim nothing was sent for, if `attempt` still owns it. */
  release(id: string, attempt: string): Promise<void>;
}

/**
 * The hash a publish's id is bound to: its audience and its serialized `data` (the same JSON text
 * gives the same hash; reordered object keys do not).
 */
export function publishHash(request: PublishRequest): string {
  return createHash('sha256')
    .update(JSON.stringify(request.to))
    .update('\n')
    .update(request.dataJson)
    .digest('base64url');
}

/**
 * What to do with a claim that found the id already taken: the first result for the same body,
 * `ConflictError` for another body, and `UnavailableError` (retry later) while the first attempt
 * still runs.
 */
export function answerExisting(id: string, hash: string, record: IdRecord): PublishOutcome {
  if (record.hash !== hash) {
    throw new ConflictError(`id ${id} was already used for a different publish`);
  }
  if (record.state === 'done') return record.result;
  throw new UnavailableError(`publish ${id} is still running; retry once it has finished`);
}
