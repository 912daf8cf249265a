import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretKey } from '../core/token';
import { UnavailableError } from '../shared/errors';

/** Resolves the token signing key. */
export type KeyProvider = () => Promise<Uint8Array>;

/** A key provider over a fixed secret (local stack and tests). */
export function staticKey(secret: string): KeyProvider {
  const key = secretKey(secret);
  return async () => key;
}

/**
 * A key provider over a Secrets Manager secret, cached across invocations for `ttlMs` so a warm
 * authorizer makes no Secrets Manager call, yet a rotated secret is picked up within minutes.
 */
export function secretsManagerKey(
  client: SecretsManagerClient,
  secretId: string,
  options: { ttlMs?: number; now?: () => number } = {},
): KeyProvider {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  let cached: { key: Uint8Array; at: number } | undefined;
  let inflight: Promise<Uint8Array> | undefined;
  return async () => {
    if (cached !== undefined && now() - cached.at < ttlMs) return cached.key;
    inflight ??= (async () => {
      try {
        const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
        if (out.SecretString === undefined || out.SecretString === '') {
          throw new UnavailableError('token secret has no SecretString');
        }
        cached = { key: secretKey(out.SecretString), at: now() };
        return cached.key;
      } catch (error) {
        if (error instanceof UnavailableError) throw error;
        throw new UnavailableError('could not read the token secret', { cause: error });
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
}
