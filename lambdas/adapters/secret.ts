import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
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
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/**
 * The verifying side: the secret's `AWSCURRENT` and `AWSPREVIOUS` versions, read together and
 * cached for `ttlMs`, so a token signed just before a rotation keeps working until the next one. A
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
  const now = options.now ?? Date.now;
  let cached: { keys: readonly Uint8Array[]; at: number } | undefined;
  let lastReadAt = Number.NEGATIVE_INFINITY;
  let lastFailure: unknown;
  let inflight: Promise<readonly Uint8Array[]> | undefined;
  // The last failed read keys() covered with older keys, and its report until it is taken.
  let covered: unknown;
  let unreported: KeyReadFailure | undefined;

  const read = (): Promise<readonly Uint8Array[]> => {
    inflight ??= (async () => {
      lastReadAt = now();
      try {
        const [current, previous] = await Promise.all([
          readStage(client, secretId, SECRET_STAGES.current),
          readStage(client, secretId, SECRET_STAGES.previous, { optional: true }),
        ]);
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
      try {
        return await read();
      } catch (error) {
        // Callers sharing one failed read report it once.
        if (error !== covered) {
          covered = error;
          unreported = { error, keysAgeMs: now() - stale.at };
        }
        return stale.keys;
      }
    },
    refresh: async () => (mayRead() ? read() : undefined),
    takeReadFailure: () => {
      const failure = unreported;
      unreported = undefined;
      return failure;
    },
  };
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
  let value: string | undefined;
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
    value = out.SecretString;
  } catch (error) {
    if (options.optional === true && isNotFound(error)) return undefined;
    throw new UnavailableError(`could not read the token secret (${stage})`, { cause: error });
  }
  if (value === undefined || value === '') {
    throw new UnavailableError(`token secret ${stage} has no SecretString`);
  }
  return value;
}

/** Secrets Manager's answer for a secret, version or stage that does not exist. */
export function isNotFound(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === 'ResourceNotFoundException';
}
