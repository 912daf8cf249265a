import { errors, jwtVerify, SignJWT } from 'jose';
import { UnauthorizedError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { UID_RULE } from '../shared/protocol';
import { QUOTAS } from '../shared/quotas';
import { parseGrants } from './topics';
import { isValidUid } from './uid';

/** What a verified token grants one connection. */
export interface TokenClaims {
  readonly uid: string;
  /** Topic names and `prefix*` patterns the connection may subscribe to. */
  readonly topics: readonly string[];
  /** Expiry, epoch seconds. */
  readonly exp: number;
  /** Issue time, epoch seconds, when the token carries one: what a revocation compares. */
  readonly iat?: number;
}

/** Options for {@link verifyToken}. */
export interface VerifyOptions {
  /** Required `aud`, when set. @default no audience check */
  readonly audience?: string;
  /** Clock, for tests. @default Date.now() */
  readonly nowMs?: number;
}

/**
 * The keys a token may be signed with, as the authorizer sees them. While the signing secret is
 * rotated there are two: the current key and the previous one.
 */
export interface KeyRing {
  /** The keys to verify against, current first; an implementation may cache them. */
  keys(): Promise<readonly Uint8Array[]>;
  /**
   * Asked when a token's signature matched none of `keys()`: resolves to freshly read keys, or to
   * `undefined` when there is nothing fresher to try (a fixed ring, or a read made too recently).
   */
  refresh(): Promise<readonly Uint8Array[] | undefined>;
  /**
   * A failed read that `keys()` covered by answering with the keys it read before, returned once
   * and then forgotten, so the caller logs each failure once. Only a ring that reads its keys from
   * somewhere has one; a caller that never asks loses nothing but the log line.
   */
  takeReadFailure?(): KeyReadFailure | undefined;
}

/** What {@link KeyRing.takeReadFailure} reports. */
export interface KeyReadFailure {
  /** Why the keys could not be read again. */
  readonly error: unknown;
  /** How long ago the keys still in use were read. */
  readonly keysAgeMs: number;
}

/**
 * Verifies an HS256 client token against one key or a list of keys and returns its claims. Only
 * HS256 is accepted, so `alg: none` and RS/HS confusion fail. `sub` and `exp` are required. Every
 * failure is an {@link UnauthorizedError} with a message that says why (safe to log, never
 * contains the token).
 *
 * With a list, the next key is tried only when the signature does not match: a token signed by a
 * listed key but expired or badly claimed fails with that reason, and only a token no key signed
 * fails as `token signature invalid`.
 *
 * @example
 * const claims = await verifyToken(token, [currentKey, previousKey], { audience: 'prod' });
 */
export async function verifyToken(
  token: string | undefined,
  keys: Uint8Array | readonly Uint8Array[],
  options: VerifyOptions = {},
): Promise<TokenClaims> {
  const checked = await checkToken(presentToken(token), keys instanceof Uint8Array ? [keys] : keys, options);
  if ('claims' in checked) return checked.claims;
  throw signatureInvalid(checked.mismatch);
}

/**
 * {@link verifyToken} against a {@link KeyRing}: when no key's signature matches, the ring is asked
 * once for fresher keys and the token checked again, so a token signed with a key rotated in
 * after the ring last read it is accepted at once. A missing or oversized token is refused before
 * the ring is read.
 */
export async function verifyTokenWithKeyRing(
  token: string | undefined,
  ring: KeyRing,
  options: VerifyOptions = {},
): Promise<TokenClaims> {
  const present = presentToken(token);
  const first = await checkToken(present, await ring.keys(), options);
  if ('claims' in first) return first.claims;
  const fresher = await ring.refresh();
  if (fresher === undefined) throw signatureInvalid(first.mismatch);
  const second = await checkToken(present, fresher, options);
  if ('claims' in second) return second.claims;
  throw signatureInvalid(second.mismatch);
}

/** The token, refused before any key is read when it is missing or larger than any valid one. */
function presentToken(token: string | undefined): string {
  if (token === undefined || token === '') throw new UnauthorizedError('token missing');
  if (token.length > QUOTAS.maxTokenBytes) throw new UnauthorizedError('token too large');
  return token;
}

/** A token's claims, or the signature failure of the last key tried when no key signed it. */
type Checked = { readonly claims: TokenClaims } | { readonly mismatch: unknown };

async function checkToken(
  token: string,
  keys: readonly Uint8Array[],
  options: VerifyOptions,
): Promise<Checked> {
  // Without a key every token would fail as badly signed, hiding a broken configuration.
  if (keys.length === 0) throw new Error('no key to verify the token against');
  let mismatch: unknown;
  for (const key of keys) {
    let payload: Record<string, unknown>;
    try {
      const result = await jwtVerify(token, key, {
        algorithms: ['HS256'],
        requiredClaims: ['sub', 'exp'],
        // A signer's clock may run ahead of ours by as much as `iat` is allowed to (below), and a
        // token it stamps `nbf: now` must not be refused for that. jose applies the tolerance to
        // `exp` as well; claimsOf checks `exp` again without it, so no token lives longer.
        clockTolerance: LIMITS.tokenClockSkewSeconds,
        ...(options.audience === undefined ? {} : { audience: options.audience }),
        ...(options.nowMs === undefined ? {} : { currentDate: new Date(options.nowMs) }),
      });
      payload = result.payload as Record<string, unknown>;
    } catch (error) {
      // jose checks the header, then the signature, then the claims: a signature failure means
      // this key did not sign the token, and any later failure is the token's own.
      if (error instanceof errors.JWSSignatureVerificationFailed) {
        mismatch = error;
        continue;
      }
      throw new UnauthorizedError(describeJoseError(error), { cause: error });
    }
    return { claims: claimsOf(payload, options.nowMs ?? Date.now()) };
  }
  return { mismatch };
}

function claimsOf(payload: Record<string, unknown>, nowMs: number): TokenClaims {
  if (!isValidUid(payload.sub)) throw new UnauthorizedError(`token sub ${UID_RULE}`);
  const topics = parseGrants(payload.topics);
  if (topics === undefined)
    throw new UnauthorizedError('token topics must be an array of topic names or prefix* patterns');
  // A NumericDate may have a fraction (a signer that writes Date.now() / 1000 + ttl). The routes
  // read `exp` and `iat` back as whole seconds only, so a fraction passed on would leave the
  // connection with no expiry at all; cut to the second instead, which ends the token earlier
  // and puts a token issued in a revocation's second inside it, as the revocation means.
  const exp = Math.floor(payload.exp as number);
  const iat = payload.iat === undefined ? undefined : Math.floor(payload.iat as number);
  const now = Math.floor(nowMs / 1000);
  if (exp * 1000 <= nowMs) throw new UnauthorizedError('token expired');
  // A revocation refuses tokens issued before it, and is kept for the longest lifetime a token
  // may have: a token issued in the future, or living longer, would outlast it.
  if (iat !== undefined && iat > now + LIMITS.tokenClockSkewSeconds)
    throw new UnauthorizedError('token iat is in the future');
  const lifetime = exp - (iat ?? now);
  if (lifetime > LIMITS.maxTokenLifetimeSeconds)
    throw new UnauthorizedError(
      `token lifetime exceeds ${LIMITS.maxTokenLifetimeSeconds} s (exp - iat, or exp - now without iat)`,
    );
  return { uid: payload.sub, topics, exp, ...(iat === undefined ? {} : { iat }) };
}

function signatureInvalid(cause: unknown): UnauthorizedError {
  return new UnauthorizedError(describeJoseError(cause), { cause });
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
