import { NotFoundError, UnavailableError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { type KickResult, kick, type PresenceResult, presence } from './admin';
import { orderKeys, runInBatchOrder } from './batch';
import { type IdSource, parseCommand } from './command';
import { type DeliveryDeps, limitSends } from './delivery';
import type { ConnectionStore, Gateway, Revocations } from './ports';
import { type PublishDeps, type PublishOutcome, publish } from './publish';
import type { PublishRequest } from './publish-request';
import type { PublishRecords, PublishStatus } from './shard-jobs';

/** What a batch answers: each publish's own result, in the batch's order. */
export interface BatchResult {
  readonly results: PublishOutcome[];
}

/** What a command did, told apart by the command's `kind`; `result` is what the caller is answered. */
export type CommandOutcome =
  | { readonly kind: 'publish'; readonly result: PublishOutcome }
  | { readonly kind: 'batch'; readonly result: BatchResult }
  | { readonly kind: 'presence'; readonly result: PresenceResult }
  | { readonly kind: 'kick'; readonly result: KickResult }
  | { readonly kind: 'status'; readonly result: PublishStatus };

/** What any command answers. The field names are the README's contract. */
export type CommandResult = CommandOutcome['result'];

/** Observations the commands report, for logs and metrics. */
export interface CommandEvents {
  /** A publish finished; `ms` is how long it took. */
  published?(result: PublishOutcome, ms: number): void;
  kicked?(uid: string, result: KickResult): void;
  batchItemFailed?(request: PublishRequest, index: number, error: unknown): void;
}

/** Everything the publish entry points need. */
export interface CommandDeps {
  readonly store: ConnectionStore;
  /** The gateway every send goes through. */
  readonly gateway: Gateway;
  /** Posts in flight at once, for one publish or for a whole batch. @default LIMITS.fanoutConcurrency */
  readonly concurrency?: number;
  /** Where `kick` with `revoke` records the revocation. @default such kicks answer `unavailable` */
  readonly revocations?: Revocations;
  /** Where sharded publishes keep their status. @default status queries answer `unavailable` */
  readonly records?: PublishRecords;
  /** The delivery (and, for publishes, log and sharding) settings for one publish or kick. */
  readonly deliveryFor: (id: string, gateway: Gateway) => PublishDeps & DeliveryDeps;
  /** Milliseconds left before the invocation times out. @default unbounded */
  readonly remaining?: () => number;
  readonly events?: CommandEvents;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Parses one publish body, batch, presence query, status query or kick, and runs it. Bad input
 * throws an input error (see `isInputError`) before anything is sent; infrastructure failures
 * propagate so the invocation can be retried.
 */
export async function runCommand(body: unknown, ids: IdSource, deps: CommandDeps): Promise<CommandOutcome> {
  const command = parseCommand(body, ids);
  const now = (deps.now ?? Date.now)();
  switch (command.kind) {
    case 'presence':
      return { kind: 'presence', result: await presence(command.query, deps.store, now) };
    case 'kick': {
      if (command.revoke) {
        if (deps.revocations === undefined) throw new UnavailableError('revocations are not configured');
        // Recorded before any socket is closed: a kicked client reconnecting at once is refused.
        await deps.revocations.revoke(command.uid, Math.floor(now / 1000));
      }
      const result = await kick(
        command.uid,
        command.reason,
        deps.deliveryFor(`kick:${command.uid}`, deps.gateway),
        now,
      );
      deps.events?.kicked?.(command.uid, result);
      return { kind: 'kick', result: command.revoke ? { ...result, revoked: true } : result };
    }
    case 'status': {
      if (deps.records === undefined) throw new UnavailableError('sharded publishes are not configured');
      const status = await deps.records.status(command.id);
      if (status === undefined) throw new NotFoundError(`no sharded publish with id ${command.id}`);
      return { kind: 'status', result: status };
    }
    case 'publish':
      return { kind: 'publish', result: await publishOne(command.request, deps.gateway, deps) };
    case 'batch':
      return { kind: 'batch', result: await publishBatch(command.requests, deps) };
  }
}

/**
 * Runs a batch's publishes concurrently, in the order their audiences need (see
 * {@link runInBatchOrder}), under one bound on posts in flight for the whole batch.
 */
export async function publishBatch(
  requests: readonly PublishRequest[],
  deps: CommandDeps,
): Promise<BatchResult> {
  // One bound on posts in flight for the whole batch, the one a single publish has: ten
  // fan-outs of their own would queue ten times the posts on the same sockets, and the send
  // timeout counts the wait for a socket.
  const gateway = limitSends(deps.gateway, deps.concurrency ?? LIMITS.fanoutConcurrency);
  const remaining = deps.remaining ?? (() => Number.POSITIVE_INFINITY);
  const results = await runInBatchOrder(
    requests,
    (request) => orderKeys(request.to),
    LIMITS.batchConcurrency,
    async (request, index) => {
      try {
        // An item that waited behind others may find the invocation almost out of time:
        // it is not started, and the invocation fails so that the whole batch is retried.
        const left = remaining();
        if (left < LIMITS.batchStartMarginMs) {
          throw new UnavailableError(
            `batch[${index}] not started: ${Math.round(left)} ms of the function's timeout left`,
          );
        }
        return await publishOne(request, gateway, deps);
      } catch (error) {
        deps.events?.batchItemFailed?.(request, index, error);
        throw error;
      }
    },
  );
  return { results };
}

async function publishOne(
  request: PublishRequest,
  gateway: Gateway,
  deps: CommandDeps,
): Promise<PublishOutcome> {
  const started = performance.now();
  const result = await publish(request, deps.deliveryFor(request.id, gateway));
  deps.events?.published?.(result, performance.now() - started);
  return result;
}
