/**
 * The wire types, taken from the handlers themselves: what the publish function accepts and
 * answers. This is the one module of the server SDK that reaches into `lambdas/`, and it takes
 * types only, so no handler code ships; the package build copies the declarations it needs
 * (`scripts/build-server-package.ts`), so the installed package's types stand alone.
 */
import type { KickResult, TopicPresence, UidPresence, UidsPresence } from '../../lambdas/core/admin';
import type { PresenceQuery } from '../../lambdas/core/command';
import type { PublishResult } from '../../lambdas/core/publish';
import type { PublishRequest, PublishTarget } from '../../lambdas/core/publish-request';
import type { PublishStatus, QueuedResult } from '../../lambdas/core/shard-jobs';
import type { ErrorBody, ErrorCode } from '../../lambdas/shared/errors';

export type {
  ErrorBody,
  ErrorCode,
  KickResult,
  PresenceQuery,
  PublishResult,
  PublishStatus,
  PublishTarget,
  QueuedResult,
  TopicPresence,
  UidPresence,
  UidsPresence,
};

/** A publish body as the publish function reads it: `id` is optional, and generated when absent. */
export interface PublishBody<T = unknown> {
  readonly to: PublishTarget;
  readonly data: T;
  readonly id?: PublishRequest['id'];
}

/**
 * What one publish answers: delivered at once, or queued as shard jobs (see {@link PublishStatus}).
 * `if (result.queued)` tells them apart, as does `'shards' in result`; `'queued' in result` does
 * not narrow, as {@link PublishResult} declares `queued` (never set) so that `result.queued` reads
 * on either.
 */
export type PublishOutcome = PublishResult | QueuedResult;

/** What a batch answers: each publish's own outcome, in the batch's order. */
export interface BatchResult {
  readonly results: PublishOutcome[];
}
