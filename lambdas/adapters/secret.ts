import {
  GetSecretValueCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
} from '@aws-sdk/client-secrets-manager';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SECRET_STAGES, type SecretStage } from '../core/rotation';
import { type KeyReadFailure, type KeyRing, secretKey } from '../core/token';
import { UnavailableError } from '../shared/errors';

/** Resolves the one key new tokens are signed with. */
export type KeyProvider = () => Promise<Uint8Array>;

/** How long a key read from Secrets Manager is trusted before it is read again: 5 minutes. */
export const KEY_CACHE_TTL_MS = 5 * 60_000;

/**
 * The least time between two reads of the secret by one key ring, whatever causes them: the cache
 * expiring, a token matching no cached key, or the last read failing. It bounds both sides of the
 * trade: an environment that read the secret just before a rotation finished refuses tokens
 * signed with the new key for at most this long, and neither forged tokens nor an outage of
 * Secrets Manager cost more than one pair of reads per warm environment in this interval, instead
 * of one per connect.
 */
export const MIN_REFRESH_INTERVAL_MS = 10_000;

/**
 * How long a connect waits for the secret to be read again once the cache has expired, when the
 * keys read before are at hand: 1 s. Past it the connect goes on with those keys and the read
 * carries on for the next connects, so a slow or hanging Secrets Manager delays each warm
 * environment's handshakes by at most this once per read, instead of holding every one of them
 * until the read ends or the authorizer times out.
 */
export const STALE_READ_WAIT_MS = 1_000;

/** Options for {@link createSecretsClient}. */
export interface SecretsClientOptions {
  /** Per-attempt bound on a read. @default SECRET_READ_TIMEOUT_MS (2 s) */
  readonly requestTimeoutMs?: number;
  /** For tests: `endpoint`, `region`, `credentials`. @default the SDK's */
  readonly config?: Pick<SecretsManagerClientConfig, 'endpoint' | 'region' | 'credentials'>;
}

/** Per-attempt bound on a read of the secret: 2 s. */
export const SECRET_READ_TIMEOUT_MS = 2_000;

/**
 * The Secrets Manager client the authorizer reads its keys with. Every attempt is bounded (smithy
 * only warns on its request timeout unless told to throw), and two attempts at most, so a hanging
 * Secrets Manager fails a read in about 6 s, inside the authorizer's 10 s timeout: a cold
 * environment answers its connects 500 instead of timing out, and a warm one's read in flight ends,
 * so it can read again once Secrets Manager answers.
 *
 * @example
 * const ring = secretsManagerKeyRing(createSecretsClient(), process.env.PUSH_TOKEN_SECRET_ARN);
 */
export function createSecretsClient(options: SecretsClientOptions = {}): SecretsManagerClient {
  return new SecretsManagerClient({
    ...options.config,
    maxAttempts: 2,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 1_000,
      requestTimeout: options.requestTimeoutMs ?? SECRET_READ_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    }),
  });
}

/** A key ring over fixed secrets (local stack and tests): it never has fresher keys. */
export function staticKeyRing(...secrets: readonly string[]): KeyRing {
  const keys = secrets.map(secretKey);
  return { keys: async () => keys, refresh: async () => undefined };
}

/**
 * The signing side: the secret's `AWSCURRENT` version, cached across invocations for `ttlMs` so a
 * warm caller makes no Secrets Manager call, yet a rotated key is signed with within minutes. A
 * backend that mints tokens needs exactly this; the authorizer uses {@link secretsManagerKeyRing}.
 */
export function secretsManagerKey(
  client: SecretsManagerClient,
  secretId: string,
  options: { ttlMs?: number; now?: () => number } = {},
): KeyProvider {
  const ttlMs = options.ttlMs ?? KEY_CACHE_TTL_MS;
  const now = options.now ?? Date.now;
  let cached: { key: Uint8Array; at: number } | undefined;
  let inflight: Promise<Uint8Array> | undefined;
  return async () => {
    if (cached !== undefined && now() - cached.at < ttlMs) return cached.key;
    inflight ??= (async () => {
      try {
        const current = await readStage(client, secretId, SECRET_STAGES.current);
        cached = { key: secretKey(current), at: now() };
        return cached.key;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
}

/** Options for {@link secretsManagerKeyRing}. */
export interface KeyRingOptions {
  /** How long read keys are trusted before they are read again. @default KEY_CACHE_TTL_MS (5 minutes) */
  readonly ttlMs?: number;
  /** Least time between two reads of the secret, whatever causes them. @default MIN_REFRESH_INTERVAL_MS (10 s) */
  readonly minRefreshMs?: number;
  /**
   * How long `keys()` waits for a read of expired keys before answering with them.
   * @default STALE_READ_WAIT_MS (1 s)
   */
  readonly staleWaitMs?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/**
 * The verifying side: the secret's `AWSCURRENT` and `AWSPREVIOUS` versions, read together (a read
 * that straddled a rotation is mended: `readCurrentAndPrevious`) and cached for `ttlMs`, so a token signed just before a rotation keeps working until the next one. A
 * secret never rotated has no previous version, and the ring holds the current key alone.
 *
 * No two reads start less than `minRefreshMs` apart, whether the cache expired, a token matched no
 * cached key (`refresh()`), or the last read failed; concurrent callers share one read. So each warm
 * environment makes at most one pair of reads per `minRefreshMs`, failed reads included, and an
 * outage of Secrets Manager is not called on every connect.
 *
 * When the cache has expired and reading again fails, `keys()` answers with the keys it read
 * before: only a rotation changes them, and a rotation goes through the same Secrets Manager.
 * Each such failure is reported once by `takeReadFailure()`, for the authorizer to log. An
 * environment that has never read the keys has nothing to fall back on: its `keys()` fails as
 * unavailable (the connect gets a 500) until a read succeeds, and it too tries no more often
 * than once per `minRefreshMs`. A failed `refresh()` also rejects: the token it was asked for
 * matched none of the keys at hand, so they cannot vouch for it.
 *
 * @example
 * const ring = secretsManagerKeyRing(new SecretsManagerClient({}), process.env.PUSH_TOKEN_SECRET_ARN);
 * const claims = await verifyTokenWithKeyRing(token, ring);
 */
export function secretsManagerKeyRing(
  client: SecretsManagerClient,
  secretId: string,
  options: KeyRingOptions = {},
): KeyRing {
  const ttlMs = options.ttlMs ?? KEY_CACHE_TTL_MS;
  const minRefreshMs = options.minRefreshMs ?? MIN_REFRESH_INTERVAL_MS;
  const staleWaitMs = options.staleWaitMs ?? STALE_READ_WAIT_MS;
  const now = options.now ?? Date.now;
  let cached: { keys: readonly Uint8Array[]; at: number } | undefined;
  // The version last read as current, which tells a read that straddled a rotation.
  let knownCurrent: string | undefined;
  let lastReadAt = Number.NEGATIVE_INFINITY;
  let lastFailure: unknown;
  let inflight: Promise<readonly Uint8Array[]> | undefined;
  // The last failed read keys() covered with older keys, and its report until it is taken.
  let covered: unknown;
  let unreported: KeyReadFailure | undefined;
  // The read that outlived `staleWaitMs`, and the one report that says so.
  let slowRead: { read: Promise<readonly Uint8Array[]>; error: UnavailableError } | undefined;

  const read = (): Promise<readonly Uint8Array[]> => {
    inflight ??= (async () => {
      lastReadAt = now();
      try {
        const read = await readCurrentAndPrevious(client, secretId, knownCurrent);
        knownCurrent = read.current.versionId;
        const current = read.current.value;
        const previous = read.previous?.value;
        const secrets = previous === undefined || previous === current ? [current] : [current, previous];
        cached = { keys: secrets.map(secretKey), at: now() };
        lastFailure = undefined;
        return cached.keys;
      } catch (error) {
        lastFailure = error;
        throw error;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
  // A read under way is shared, being as fresh as a new one would be; otherwise the interval rules.
  const markSlow = (fresh: Promise<readonly Uint8Array[]>): UnavailableError => {
    if (slowRead?.read !== fresh) {
      slowRead = {
        read: fresh,
        error: new UnavailableError(`reading the token secret took longer than ${staleWaitMs} ms`),
      };
    }
    return slowRead.error;
  };
  const mayRead = () => inflight !== undefined || now() - lastReadAt >= minRefreshMs;

  return {
    keys: async () => {
      if (cached !== undefined && now() - cached.at < ttlMs) return cached.keys;
      if (cached === undefined) {
        if (mayRead()) return read();
        throw new UnavailableError(
          `could not read the token secret: the last read, less than ${minRefreshMs} ms ago, failed`,
          { cause: lastFailure },
        );
      }
      // Expired. Between two reads the keys at hand are the best there are.
      if (!mayRead()) return cached.keys;
      const stale = cached;
      // Callers sharing one failed (or slow) read report it once.
      const cover = (error: unknown) => {
        if (error === covered) return;
        covered = error;
        unreported = { error, keysAgeMs: now() - stale.at };
      };
      const fresh = read();
      // A read that outlives the wait goes on without a caller: its failure is still reported,
      // and never left as an unhandled rejection.
      const settled = fresh.then(
        (keys) => ({ keys }),
        (error: unknown) => {
          cover(error);
          return { keys: stale.keys };
        },
      );
      // A read that already took longer than the wait is not waited for again.
      if (slowRead?.read !== fresh) {
        const first = await within(settled, staleWaitMs);
        if (first !== undefined) return first.keys;
      }
      cover(markSlow(fresh));
      return stale.keys;
    },
    // A token no key at hand signed waits no longer for a slow read than a connect does; past the
    // wait it gets a 500, as for a failed read, rather than a 401 for a token the keys may yet sign.
    refresh: async () => {
      if (!mayRead()) return undefined;
      const fresh = read();
      if (slowRead?.read !== fresh) {
        const first = await within(
          fresh.then((keys) => ({ keys })),
          staleWaitMs,
        );
        if (first !== undefined) return first.keys;
      }
      // Its outcome reaches the next callers through the ring, not this one.
      fresh.catch(() => undefined);
      throw markSlow(fresh);
    },
    takeReadFailure: () => {
      const failure = unreported;
      unreported = undefined;
      return failure;
    },
  };
}

/** The promise's value if it settles within `ms`, else `undefined`; a rejection within `ms` rejects. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  try {
    return await Promise.race([promise, waited]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One staged version's value; every failure is an {@link UnavailableError}. With `optional`, a
 * stage no version carries (Secrets Manager answers `ResourceNotFoundException`) is `undefined`.
 */
function readStage(
  client: SecretsManagerClient,
  secretId: string,
  stage: SecretStage,
  options: { readonly optional: true },
): Promise<string | undefined>;
function readStage(client: SecretsManagerClient, secretId: string, stage: SecretStage): Promise<string>;
async function readStage(
  client: SecretsManagerClient,
  secretId: string,
  stage: SecretStage,
  options: { readonly optional?: boolean } = {},
): Promise<string | undefined> {
  return (await readVersion(client, secretId, stage, options))?.value;
}

/** One stage's secret string and the id of the version that holds the stage. */
interface StageVersion {
  readonly value: string;
  readonly versionId: string | undefined;
}

async function readVersion(
  client: SecretsManagerClient,
  secretId: string,
  stage: SecretStage,
  options: { readonly optional?: boolean } = {},
): Promise<StageVersion | undefined> {
  let out: { SecretString?: string; VersionId?: string };
  try {
    out = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
  } catch (error) {
    if (options.optional === true && isNotFound(error)) return undefined;
    throw new UnavailableError(`could not read the token secret (${stage})`, { cause: error });
  }
  const value = out.SecretString;
  if (value === undefined || value === '') {
    throw new UnavailableError(`token secret ${stage} has no SecretString`);
  }
  return { value, versionId: out.VersionId };
}

/**
 * The secret's `AWSCURRENT` and `AWSPREVIOUS` versions, read together. A rotation moves both
 * labels in one step (the version that was current becomes previous), so the two reads can
 * straddle it, and come out as the old key twice (the new one, which signers use from then on,
 * would be refused until the next read, up to `minRefreshMs`) or as the new key with the one before
 * the old (tokens signed a moment before the rotation refused as long). Both show in the version
 * ids: the first as previous on the very version read as current, which no secret ever is outside
 * a rotation; the second as a current that changed since `knownCurrent` (the version this ring read
 * as current before) while previous is not that version. The stage read too early is then read
 * once more. Only a first read, with nothing known, can miss the second.
 */
async function readCurrentAndPrevious(
  client: SecretsManagerClient,
  secretId: string,
  knownCurrent: string | undefined,
): Promise<{ current: StageVersion; previous: StageVersion | undefined }> {
  const read = (stage: SecretStage) =>
    readVersion(client, secretId, stage, { optional: stage === SECRET_STAGES.previous });
  let [current, previous] = await Promise.all([read(SECRET_STAGES.current), read(SECRET_STAGES.previous)]);
  if (current === undefined) throw new UnavailableError('token secret AWSCURRENT was not found');
  if (previous !== undefined && current.versionId !== undefined) {
    if (previous.versionId === current.versionId) {
      current = (await read(SECRET_STAGES.current)) ?? current;
    } else if (
      knownCurrent !== undefined &&
      current.versionId !== knownCurrent &&
      previous.versionId !== knownCurrent
    ) {
      previous = await read(SECRET_STAGES.previous);
    }
  }
  return { current, previous };
}

/** Secrets Manager's answer for a secret, version or stage that does not exist. */
export function isNotFound(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === 'ResourceNotFoundException';
}
