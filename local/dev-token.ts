/**
 * Dev tokens: what `GET /dev/token` and `npm run token` sign. One validation and one signing
 * path, so the endpoint and the script can never disagree.
 */
import { parseGrants } from '../lambdas/core/topics';
import { isValidUid } from '../lambdas/core/uid';
import { LIMITS } from '../lambdas/shared/limits';
import { UID_RULE } from '../lambdas/shared/protocol';
import { createTokenSigner } from '../server/src/index';

/** A validated dev-token request. */
export interface DevTokenRequest {
  readonly uid: string;
  readonly topics: readonly string[];
  readonly ttlSeconds: number;
}

/** Default lifetime of a dev token: one hour. */
export const DEV_TOKEN_TTL_SECONDS = 3600;

/** Topic lists as people type them: repeated values and comma-separated lists both work. */
export function splitTopics(values: readonly string[]): string[] {
  return values
    .flatMap((value) => value.split(','))
    .map((topic) => topic.trim())
    .filter((topic) => topic !== '');
}

/**
 * Validates a request; a string is the error message, naming the field.
 *
 * @example
 * devTokenRequest('u1', ['orders'], undefined) // { uid: 'u1', topics: ['orders'], ttlSeconds: 3600 }
 */
export function devTokenRequest(
  uid: unknown,
  topics: readonly string[],
  ttl: string | null | undefined,
): DevTokenRequest | string {
  if (uid === null || uid === undefined || uid === '') return 'uid is required, as in /dev/token?uid=u1';
  if (!isValidUid(uid)) return `uid ${UID_RULE}`;
  const named = splitTopics(topics);
  // The authorizer refuses a token with more entries than this, however valid each one is.
  if (named.length > LIMITS.maxGrants)
    return `topics must name at most ${LIMITS.maxGrants} topics or patterns`;
  const grants = parseGrants(named);
  if (grants === undefined) return 'topics must be topic names or prefix* patterns';
  const ttlSeconds = ttl === null || ttl === undefined ? DEV_TOKEN_TTL_SECONDS : Number(ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > LIMITS.maxTokenLifetimeSeconds)
    return `ttl must be a whole number of seconds from 1 to ${LIMITS.maxTokenLifetimeSeconds}`;
  return { uid, topics: grants, ttlSeconds };
}

/** Signs a dev token the way a backend signs a real one: with the server SDK's token signer. */
export function signDevToken(request: DevTokenRequest, secret: string, audience?: string): Promise<string> {
  const signer = createTokenSigner({
    secret,
    ...(audience === undefined || audience === '' ? {} : { audience }),
  });
  return signer.sign(request);
}
