import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  type PushError,
  UnavailableError,
} from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { type KickResult, type KickRevocation, kick, type PresenceResult, presence } from './admin';
import { realSleep } from './backoff';
import { orderKeys, runInBatchOrder } from './batch';
import { type IdSource, parseCommand } from './command';
import { type DeliveryDeps, lastSendStart, limitSends, sendReserveMs } from './delivery';
import { forEachBounded } from './pool';
import type { ConnectionStore, Gateway, RevocationLine, Revocations } from './ports';
import { type Admission, type Admit, type PublishDeps, type PublishOutcome, publish } from './publish';
import { answerExisting, type Claim, type PublishIds, publishHash, type TakenSeqs } from './publish-ids';
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
  /** A kick's second lookup of the uid's connections failed; the kick answered the first's result. */
  kickRecheckFailed?(error: unknown): void;
  /** A kick's revocation, answered late, could not be stamped with when it was stored. */
  revocationStampFailed?(error: unknown): void;
  batchItemFailed?(request: PublishRequest, index: number, error: unknown): void;
  /** A publish's id had been used for the same body: its first result was answered, nothing sent. */
  repeated?(result: PublishOutcome): void;
  /** The id record could not be updated after the publish (it stays claimed until its deadline). */
  idRecordFailed?(id: string, error: unknown): void;
}

/** Where a command came from: SNS may carry publishes only. */
export interface CommandOptions {
  /**
   * Refuse presence, kick and status with `forbidden`: they answer or act for whoever may invoke
   * the function, which a publisher granted only SNS publish is not. @default false
   */
  readonly publishesOnly?: boolean;
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
  /** Where publish ids are remembered, so that an id is an idempotency key. @default ids are not checked */
  readonly ids?: PublishIds;
  /** The delivery (and, for publishes, log and sharding) settings for one publish or kick. */
  readonly deliveryFor: (id: string, gateway: Gateway) => PublishDeps & DeliveryDeps;
  /** Milliseconds left before the invocation times out. @default unbounded */
  readonly remaining?: () => number;
  /** The gateway's per-call timeout (the stack's `sendTimeout`). @default LIMITS.sendTimeoutMs */
  readonly sendTimeoutMs?: number;
  readonly events?: CommandEvents;
  /** @default Date.now */
  readonly now?: () => number;
  /** How a kick with `revoke` waits for its second lookup. @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * What a kick that revoked tokens ends, given the revocation line that stands after its write
 * (`line`) and the time it asked to write it at (`writtenAt`).
 *
 * Connections made by the time the line was stored, plus {@link LIMITS.clockSkewMs} for the
 * clocks of the function that wrote it and of the `$connect`s, may hold a revoked token: a
 * handshake whose `$connect` re-read the revocation before it was stored got through. When this
 * kick wrote the line, it was stored by now. When it found the line standing (the same kick sent
 * again: an SDK retry, Lambda's retry of an async invoke, a redrive), it was stored when the first
 * attempt wrote it: connections made since were opened with newer tokens, and stay. (Its
 * `revokedAt` is when that attempt sent the write; the skew allowance covers the write's latency.)
 *
 * The second lookup waits {@link LIMITS.revokeRecheckMs}, cut to leave the lookup and its closes
 * the deployment's send timeout (`sendTimeoutMs`, else {@link LIMITS.sendTimeoutMs}) twice over
 * before the invocation's deadline, and is left out when
 * not even that is left: a kick that timed out is retried.
 */
export function revokedKick(
  line: RevocationLine,
  writtenAt: number,
  deps: Pick<CommandDeps, 'now' | 'remaining' | 'sleep' | 'events' | 'sendTimeoutMs'>,
): KickRevocation {
  // A line of this kick's own (or of its SDK's retry of the same write) was stored by now.
  const storedBy =
    line.revokedAt === writtenAt ? Math.max((deps.now ?? Date.now)(), writtenAt) : line.revokedAt;
  const connectedBy = storedBy + LIMITS.clockSkewMs;
  const reserveMs = 2 * (deps.sendTimeoutMs ?? LIMITS.sendTimeoutMs);
  const left = deps.remaining?.() ?? Number.POSITIVE_INFINITY;
  const afterMs = Math.min(LIMITS.revokeRecheckMs, left - reserveMs);
  if (!(afterMs >= 0)) return { connectedBy };
  return {
    connectedBy,
    recheck: {
      afterMs,
      sleep: deps.sleep ?? realSleep,
      failed: (error) => deps.events?.kickRecheckFailed?.(error),
    },
  };
}

/**
 * Its own revocation line answered late (the SDK retrying its write under throttling) is stamped
 * with when it was answered: it was stored at some point up to then, a handshake whose `$connect`
 * re-read the revocation before that got through, and a retry of the kick, which reads the line's
 * `revokedAt`, must end it too (see {@link revokedKick}). A write answered within half the skew
 * allowance needs nothing more. A failed stamp is reported, not thrown: the line stands.
 */
async function stampLateLine(
  uid: string,
  line: RevocationLine,
  writtenAt: number,
  deps: Pick<CommandDeps, 'revocations' | 'now' | 'events'>,
): Promise<void> {
  const answeredAt = (deps.now ?? Date.now)();
  if (line.revokedAt !== writtenAt || answeredAt - writtenAt <= LIMITS.clockSkewMs / 2) return;
  try {
    await deps.revocations?.stored(uid, line.before, writtenAt, answeredAt);
  } catch (error) {
    deps.events?.revocationStampFailed?.(error);
  }
}

/**
 * Parses one publish body, batch, presence query, status query or kick, and runs it. Bad input
 * throws an input error (see `isInputError`) before anything is sent; infrastructure failures
 * propagate so the invocation can be retried.
 */
export async function runCommand(
  body: unknown,
  ids: IdSource,
  deps: CommandDeps,
  options: CommandOptions = {},
): Promise<CommandOutcome> {
  const now = (deps.now ?? Date.now)();
  const command = parseCommand(body, ids, now);
  if (options.publishesOnly === true && command.kind !== 'publish' && command.kind !== 'batch') {
    throw new ForbiddenError(
      `SNS carries publishes only; ${command.kind} needs a direct invoke of the publish function`,
    );
  }
  switch (command.kind) {
    case 'presence':
      return { kind: 'presence', result: await presence(command.query, deps.store, now) };
    case 'kick': {
      let revocation: KickRevocation | undefined;
      if (command.revoke) {
        if (deps.revocations === undefined) throw new UnavailableError('revocations are not configured');
        // Recorded before any socket is closed: a kicked client reconnecting at once is refused.
        // The caller's `before` makes every attempt of one kick the same line.
        const line = await deps.revocations.revoke(
          command.uid,
          command.before ?? Math.floor(now / 1000),
          now,
        );
        await stampLateLine(command.uid, line, now, deps);
        revocation = revokedKick(line, now, deps);
      }
      const result = await kick(
        command.uid,
        command.reason,
        deps.deliveryFor(`kick:${command.uid}`, deps.gateway),
        now,
        revocation,
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
  const gateway = limitSends(
    deps.gateway,
    deps.concurrency ?? LIMITS.fanoutConcurrency,
    sendsUntil(deps),
    deps.now,
  );
  const remaining = deps.remaining ?? (() => Number.POSITIVE_INFINITY);
  // An item needs its lookups (a second, say) and then a send's reserve before the end: started
  // with less, it would do all its work and then fail for want of time to send.
  const startMarginMs = Math.max(
    LIMITS.batchStartMarginMs,
    sendReserveMs(deps, LIMITS.publishWrapUpMs) + 1_000,
  );
  const claims = await claimBatch(requests, deps);
  const results = await runInBatchOrder(
    requests,
    (request) => orderKeys(request.to),
    LIMITS.batchConcurrency,
    async (request, index) => {
      try {
        // An item that waited behind others may find the invocation almost out of time:
        // it is not started, and the invocation fails so that the whole batch is retried.
        const left = remaining();
        if (left < startMarginMs) {
          await letGo(request, claims?.[index], deps);
          throw new UnavailableError(
            `batch[${index}] not started: ${Math.round(left)} ms of the function's timeout left`,
          );
        }
        return await publishOne(request, gateway, deps, claims?.[index]);
      } catch (error) {
        deps.events?.batchItemFailed?.(request, index, error);
        throw error;
      }
    },
  );
  return { results };
}

/** An id claimed ahead of its publish, by {@link claimBatch}. */
interface HeldClaim {
  readonly attempt: string;
  readonly hash: string;
  readonly claim: Claim;
}

/**
 * Claims every item's id before any item runs, so that an id already used for another body
 * refuses the whole batch (`batch[i]: …`, code `conflict`) before anything is sent, as a bad item
 * does. The ids this batch claimed are then given back.
 */
async function claimBatch(
  requests: readonly PublishRequest[],
  deps: CommandDeps,
): Promise<HeldClaim[] | undefined> {
  const { ids } = deps;
  if (ids === undefined) return undefined;
  const nowMs = (deps.now ?? Date.now)();
  const deadline = attemptDeadline(deps, nowMs);
  const held: (HeldClaim | undefined)[] = new Array(requests.length);
  let refused: PushError | undefined;
  try {
    await forEachBounded([...requests.keys()], 16, async (index) => {
      const request = requests[index] as PublishRequest;
      const attempt = crypto.randomUUID();
      const hash = publishHash(request);
      const claim = await ids.claim(request.id, hash, attempt, deadline, nowMs);
      held[index] = { attempt, hash, claim };
      if (claim.kind === 'existing') {
        try {
          answerExisting(request.id, hash, claim.record);
        } catch (error) {
          const message = `batch[${index}]: ${(error as Error).message}`;
          if (error instanceof ConflictError) refused ??= new ConflictError(message, { cause: error });
          else if (error instanceof UnavailableError)
            refused ??= new UnavailableError(message, { cause: error });
          else throw error;
        }
      }
    });
  } catch (error) {
    await giveBack(held, requests, deps, nowMs);
    throw error;
  }
  if (refused !== undefined) {
    await giveBack(held, requests, deps, nowMs);
    throw refused;
  }
  return held as HeldClaim[];
}

/**
 * Marks the claim of a batch item that will not run failed, with the seqs an earlier attempt took,
 * so the retry its failed invocation gets takes the id over at once and keeps them. Left
 * `running`, the id refused every retry until the claim's deadline (past this invocation's end) as
 * `publish … is still running`, with nothing running. A failed write is reported: the deadline
 * still frees the id.
 */
async function letGo(request: PublishRequest, held: HeldClaim | undefined, deps: CommandDeps): Promise<void> {
  if (deps.ids === undefined || held === undefined || held.claim.kind !== 'claimed') return;
  await failClaim(deps.ids, request.id, held.attempt, held.claim.seqs, (deps.now ?? Date.now)(), deps);
}

/**
 * Marks an id's claim failed, with the seqs it took, so a retry takes it over at once and keeps
 * them. A failed write is reported, not thrown: the claim stays `running` until its deadline, and
 * a retry after that takes it over.
 */
async function failClaim(
  ids: PublishIds,
  id: string,
  attempt: string,
  seqs: TakenSeqs,
  nowMs: number,
  deps: CommandDeps,
): Promise<void> {
  try {
    await ids.fail(id, attempt, seqs, nowMs);
  } catch (error) {
    deps.events?.idRecordFailed?.(id, error);
  }
}

/** Gives back the ids a refused batch claimed: forgotten if new, marked failed if taken over. */
async function giveBack(
  held: readonly (HeldClaim | undefined)[],
  requests: readonly PublishRequest[],
  deps: CommandDeps,
  nowMs: number,
): Promise<void> {
  const ids = deps.ids as PublishIds;
  await Promise.allSettled(
    held.map((entry, index) => {
      if (entry === undefined || entry.claim.kind !== 'claimed') return undefined;
      const id = (requests[index] as PublishRequest).id;
      return entry.claim.tookOver
        ? ids.fail(id, entry.attempt, entry.claim.seqs, nowMs)
        : ids.release(id, entry.attempt);
    }),
  );
}

/**
 * The last moment a send of this invocation may start: one send and
 * {@link LIMITS.publishWrapUpMs} must still fit before its end. Unbounded without a timeout.
 */
function sendsUntil(deps: CommandDeps): number {
  const left = deps.remaining?.();
  if (left === undefined) return Number.POSITIVE_INFINITY;
  return lastSendStart((deps.now ?? Date.now)() + left, deps, LIMITS.publishWrapUpMs);
}

/**
 * The delivery settings for one publish, with the last moment a send may start
 * ({@link sendsUntil}). A publish to 2,000 connections of an API that no longer answers would
 * otherwise try every send four times and run into its timeout, its id still claimed; now a send
 * that could not end in time is not tried again (`failed`), and one not yet tried at all fails the
 * publish (`unavailable`, its seqs kept), which is retried, rather than being recorded as done.
 */
function deliveryWithin(deps: CommandDeps, id: string, gateway: Gateway): PublishDeps & DeliveryDeps {
  const delivery = deps.deliveryFor(id, gateway);
  const until = sendsUntil(deps);
  return until === Number.POSITIVE_INFINITY ? delivery : { ...delivery, until };
}

/** Epoch ms past which this invocation has surely ended: its id claims may then be taken over. */
function attemptDeadline(deps: CommandDeps, nowMs: number): number {
  const left = deps.remaining?.() ?? Number.POSITIVE_INFINITY;
  return nowMs + Math.min(left, LIMITS.publishAttemptMs) + LIMITS.publishAttemptMarginMs;
}

/**
 * Runs one publish under its id's claim (made here, in parallel with the uid lookup, or already by
 * {@link claimBatch}): an id used before answers its first result and sends nothing. When the
 * publish fails, the claim is marked failed with the seqs it took, so a retry takes over at once
 * and keeps the message's place in each log.
 */
async function publishOne(
  request: PublishRequest,
  gateway: Gateway,
  deps: CommandDeps,
  held?: HeldClaim,
): Promise<PublishOutcome> {
  const started = performance.now();
  const { ids } = deps;
  const nowMs = (deps.now ?? Date.now)();
  const attempt = held?.attempt ?? crypto.randomUUID();
  let admission: Admission | undefined;
  const admit: Admit | undefined =
    ids === undefined
      ? undefined
      : async () => {
          const hash = held?.hash ?? publishHash(request);
          const claim =
            held?.claim ?? (await ids.claim(request.id, hash, attempt, attemptDeadline(deps, nowMs), nowMs));
          if (claim.kind === 'existing') return { replay: answerExisting(request.id, hash, claim.record) };
          admission = { seqs: new Map(Object.entries(claim.seqs)), retried: claim.tookOver };
          return admission;
        };
  let result: PublishOutcome;
  try {
    result = await publish(request, deliveryWithin(deps, request.id, gateway), admit);
  } catch (error) {
    if (ids !== undefined && admission !== undefined) {
      await failClaim(ids, request.id, attempt, Object.fromEntries(admission.seqs), nowMs, deps);
    }
    throw error;
  }
  if (admission === undefined && ids !== undefined) {
    deps.events?.repeated?.(result);
    return result;
  }
  if (ids !== undefined) {
    try {
      await ids.complete(request.id, attempt, result, nowMs);
    } catch (error) {
      // Everything was sent and the caller gets its answer; a repeat of the id before the claim's
      // deadline answers `unavailable`, after it the publish is sent again (same id: clients drop it).
      deps.events?.idRecordFailed?.(request.id, error);
    }
  }
  deps.events?.published?.(result, performance.now() - started);
  return result;
}
