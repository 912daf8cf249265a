import { errors, jwtVerify, SignJWT } from 'jose';
import { UnauthorizedError } from '../shared/errors';
import { LIMITS } from '../shared/names';
import { isValidUid } from './publish-request';
import { parseGrants } from './topics';

/** What a verified token grants one connection. */
export interface TokenClaims {
  readonly uid: string;
  /** Topic names and `prefix*` patterns the connection may subscribe to. */
  readonly topics: readonly string[];
  /** Expiry, epoch seconds. */
  readonly exp: number;
}

/** Options for {@link verifyToken}. */
export interface VerifyOptions {
  /** Required `aud`, when set. @default no audience check */
  readonly audience?: string;
  /** Clock, for tests. @default Date.now() */
  readonly nowMs?: number;
}

/**
 * Verifies an HS256 client token and returns its claims. Only HS256 is accepted, so `alg: none`
 * and RS/HS confusion fail. `sub` and `exp` are required. Every failure is an
 * {@link UnauthorizedError} with a message that says why (safe to log, never contains the token).
 */
export async function verifyToken(
  token: string | undefined,
  key: Uint8Array,
  options: VerifyOptions = {},
): Promise<TokenClaims> {
  if (token === undefined || token === '') throw new UnauthorizedError('token missing');
  if (token.length > LIMITS.maxTokenBytes) throw new UnauthorizedError('token too large');
  let payload: Record<string, unknown>;
  try {
    const result = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      requiredClaims: ['sub', 'exp'],
      ...(options.audience === undefined ? {} : { audience: options.audience }),
      ...(options.nowMs === undefined ? {} : { currentDate: new Date(options.nowMs) }),
    });
    payload = result.payload as Record<string, unknown>;
  } catch (error) {
    throw new UnauthorizedError(describeJoseError(error), { cause: error });
  }
  if (!isValidUid(payload.sub))
    throw new UnauthorizedError('token sub must be a non-empty string of at most 128 characters');
  const topics = parseGrants(payload.topics);
  if (topics === undefined)
    throw new UnauthorizedError('token topics must be an array of topic names or prefix* patterns');
  return { uid: payload.sub, topics, exp: payload.exp as number };
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (error instanceof errors.JWTClaimValidationFailed)
    return `token claim ${error.claim} invalid: ${error.reason}`;
  return 'token malformed';
}

/** Options for {@link signToken}. */
export interface SignOptions {
  readonly uid: string;
  readonly topics?: readonly string[];
  /** Lifetime in seconds. @default 3600 */
  readonly ttlSeconds?: number;
  readonly audience?: string;
  /** Clock, for tests. @default Date.now() */
  readonly nowMs?: number;
}

/**
 * Signs a client token the way a backend should: HS256, `sub`, `exp`, optional `topics`.
 *
 * @example
 * const token = await signToken({ uid: 'merchant-1', topics: ['orders'] }, key);
 */
export async function signToken(options: SignOptions, key: Uint8Array): Promise<string> {
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const claims: Record<string, unknown> = {};
  if (options.topics !== undefined) claims.topics = [...options.topics];
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.uid)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? 3600));
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  return jwt.sign(key);
}

/** Encodes a shared secret string as the HMAC key. */
export function secretKey(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}
