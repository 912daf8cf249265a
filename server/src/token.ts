import { createHmac } from 'node:crypto';
import { type AwsClientOptions, lazySender, requireName, sdkConfig } from './aws.js';
import { fromSdkError, PushApiError } from './errors.js';

/** Where the signing secret comes from: the secret itself, or a function that reads it. */
export type SecretSource = string | (() => Promise<string>);

/** What a client token grants. */
export interface TokenGrant {
  /** The user the token is for (`sub`): pushes to this uid reach the connection. */
  readonly uid: string;
  /** Topic names and `prefix*` patterns the connection may subscribe to. @default none */
  readonly topics?: readonly string[];
  /** Lifetime in seconds, at most {@link MAX_TOKEN_LIFETIME_SECONDS}. @default the signer's `ttlSeconds` */
  readonly ttlSeconds?: number;
}

/** Options for {@link createTokenSigner}. */
export interface TokenSignerOptions {
  /**
   * The HS256 key: {@link secretsManagerSecret} for a deployed stack, or the local stack's
   * secret ({@link DEV_TOKEN_SECRET} unless you started it with `PUSH_TOKEN_SECRET`).
   */
  readonly secret: SecretSource;
  /** `aud`, when the stack was deployed with a `tokenAudience`. @default none */
  readonly audience?: string;
  /** Default lifetime in seconds. Keep it short: the client asks for a new token on every reconnect. @default 3600 */
  readonly ttlSeconds?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/** Signs client tokens; see {@link createTokenSigner}. */
export interface TokenSigner {
  /** An HS256 JWT with `sub`, `iat`, `exp` and, when given, `topics` and `aud`. */
  sign(grant: TokenGrant): Promise<string>;
}

const base64url = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64url');

/**
 * The longest lifetime the authorizer accepts: 24 h. A `kick` with `revoke` is kept that long, so
 * a token living longer would outlast it; the signer refuses to make one.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

function isLifetime(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= MAX_TOKEN_LIFETIME_SECONDS
  );
}

const LIFETIME_RULE = `ttlSeconds must be a positive integer of at most ${MAX_TOKEN_LIFETIME_SECONDS} (24 h)`;

/*
 * The authorizer's rules for a token's claims, restated (the package ships no handler code) and
 * held to the authorizer's own by test/server/token.test.ts. A token that breaks one is refused at
 * every handshake (401), which a client only sees as a socket that closes, and retries forever.
 */

/** Most topics and patterns a token may grant. */
const MAX_TOPICS = 100;
/**
 * Longest token signed: it travels in the handshake URL, which API Gateway caps at 4,096
 * characters, so 512 are left for the scheme, host, stage, `?token=` and `&instance=`.
 */
const MAX_TOKEN_CHARS = 4096 - 512;
const MAX_UID_CODE_POINTS = 128;
const TOPIC = /^[A-Za-z0-9_.:-]{1,128}$/;
const UID_RULE =
  'uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates';
const TOPICS_RULE = `topics must be at most ${MAX_TOPICS} topic names ([A-Za-z0-9_.:-]{1,128}) or prefix* patterns`;

function isUid(uid: unknown): boolean {
  if (typeof uid !== 'string' || uid === '' || uid.length > 2 * MAX_UID_CODE_POINTS) return false;
  let count = 0;
  for (const char of uid) {
    const c = char.codePointAt(0) as number;
    if (++count > MAX_UID_CODE_POINTS) return false;
    if (
      c <= 0x1f ||
      (c >= 0x7f && c <= 0x9f) ||
      c === 0x2028 ||
      c === 0x2029 ||
      (c >= 0x202a && c <= 0x202e) ||
      (c >= 0x2066 && c <= 0x2069) ||
      (c >= 0xd800 && c <= 0xdfff)
    )
      return false;
  }
  return true;
}

function isGrant(grant: unknown): boolean {
  if (typeof grant !== 'string') return false;
  if (grant === '*') return true;
  return TOPIC.test(grant.endsWith('*') ? grant.slice(0, -1) : grant);
}

/**
 * Signs client tokens the authorizer accepts. With a Secrets Manager source every token is signed
 * with the secret's current version, read again at least every 5 minutes, so a rotation is picked
 * up long before the key it replaced stops being accepted.
 *
 * @example
 * const signer = createTokenSigner({
 *   secret: secretsManagerSecret({ secretId: process.env.PUSH_TOKEN_SECRET_ARN! }),
 * });
 * app.get('/push-token', async (req, res) => res.json({ token: await signer.sign({ uid: req.user.id }) }));
 *
 * @example
 * // the local stack, no AWS at all
 * const signer = createTokenSigner({ secret: DEV_TOKEN_SECRET });
 */
export function createTokenSigner(options: TokenSignerOptions): TokenSigner {
  const source = options.secret;
  const read = typeof source === 'string' ? async () => source : source;
  if (typeof source === 'string' && source === '') throw new TypeError('secret must not be empty');
  // An unset `process.env.PUSH_TOKEN_SECRET!` is undefined here, and failed at the first sign as
  // `read is not a function`.
  if (typeof read !== 'function') {
    throw new TypeError(
      `secret must be the key (a string: DEV_TOKEN_SECRET locally) or a function giving it, such as secretsManagerSecret({ secretId }) (got ${source === null ? 'null' : typeof source})`,
    );
  }
  const defaultTtl = options.ttlSeconds ?? 3600;
  if (!isLifetime(defaultTtl)) throw new TypeError(LIFETIME_RULE);
  const now = options.now ?? Date.now;
  return {
    async sign(grant) {
      if (typeof grant.uid !== 'string' || grant.uid === '')
        throw new TypeError('uid must be a non-empty string');
      if (!isUid(grant.uid)) throw new TypeError(UID_RULE);
      const { topics } = grant;
      if (
        topics !== undefined &&
        (!Array.isArray(topics) || topics.length > MAX_TOPICS || !topics.every(isGrant))
      )
        throw new TypeError(TOPICS_RULE);
      const ttl = grant.ttlSeconds ?? defaultTtl;
      if (!isLifetime(ttl)) throw new TypeError(LIFETIME_RULE);
      const secret = await read();
      const iat = Math.floor(now() / 1000);
      const claims: Record<string, unknown> = {};
      if (grant.topics !== undefined) claims.topics = [...grant.topics];
      claims.sub = grant.uid;
      claims.iat = iat;
      claims.exp = iat + ttl;
      if (options.audience !== undefined) claims.aud = options.audience;
      const input = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}`;
      const token = `${input}.${base64url(createHmac('sha256', secret).update(input).digest())}`;
      if (token.length > MAX_TOKEN_CHARS) {
        throw new TypeError(
          `the token would be ${token.length} characters; API Gateway's 4,096-character handshake URL fits at most ${MAX_TOKEN_CHARS} (grant fewer or shorter topics, or a prefix* pattern)`,
        );
      }
      return token;
    },
  };
}

/** The most a key read from Secrets Manager may be used for: 5 minutes, the authorizer's own cache. */
export const MAX_SECRET_CACHE_MS = 5 * 60_000;

/**
 * How long past its cache period a key is still used while Secrets Manager cannot be read (a
 * retryable failure: `unavailable`, `throttled`): 1 hour. The stack rotates at most every 4 hours
 * and the authorizer accepts the key a rotation replaced until the next one, so such a key is at
 * worst that previous key: its tokens connect. Without it an outage of Secrets Manager would stop
 * every sign, so no client could get a token to reconnect with, while the authorizer, on its
 * cached keys, still accepts them.
 */
export const MAX_STALE_SECRET_MS = 60 * 60_000;

/** After a failed read, how long the last key is used before Secrets Manager is read again. */
export const SECRET_RETRY_AFTER_MS = 5_000;

/**
 * How long a sign waits for a read of the secret when it holds a key it may fall back on: 1 s.
 * A read that takes longer (a hanging Secrets Manager) goes on without it, and the sign uses that
 * key, as after a failed read.
 */
export const SECRET_STALE_WAIT_MS = 1_000;

/**
 * The settings of the Secrets Manager client {@link secretsManagerSecret} creates when it is given
 * none: each attempt cut after 2 s (a connect after 1 s), and two attempts.
 */
export const SECRETS_CLIENT_DEFAULTS = Object.freeze({
  maxAttempts: 2,
  requestHandler: Object.freeze({
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    throwOnRequestTimeout: true,
  }),
});

/** Options for {@link secretsManagerSecret}. */
export interface SecretsManagerSecretOptions extends AwsClientOptions {
  /** The secret's ARN or name: the stack's `TokenSecretArn` output. */
  readonly secretId: string;
  /** How long a read value is used before it is read again; at most 5 minutes. @default MAX_SECRET_CACHE_MS */
  readonly cacheMs?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
  /**
   * Told once per failed or slow read after which the last key read is used instead (see
   * {@link MAX_STALE_SECRET_MS}): log it, count it. @default nothing
   */
  readonly onStale?: (error: PushApiError, ageMs: number) => void;
}

/**
 * The token secret's `AWSCURRENT` version, read with `GetSecretValue` and cached for `cacheMs`;
 * concurrent callers share one read. The stack's rotation function makes a new key current and
 * leaves the one it replaced as `AWSPREVIOUS`, which the authorizer keeps accepting until the next
 * rotation: so tokens signed just before a rotation stay good, and after it the signer moves to
 * the new key within `cacheMs`. A failed read is thrown as a {@link PushApiError} (`unavailable`,
 * `throttled`, or `internal` for a refusal such as a missing permission) and the next call reads
 * again; except that when the failure is retryable and a key was read less than `cacheMs` plus
 * {@link MAX_STALE_SECRET_MS} ago, that key is used (and `onStale` told), and Secrets Manager is
 * read again only {@link SECRET_RETRY_AFTER_MS} later; a read that has not answered within
 * {@link SECRET_STALE_WAIT_MS} is treated so too, and goes on in the background. So an outage,
 * failing or hanging, neither stops signing nor makes every sign wait on it. The caller needs `secretsmanager:GetSecretValue` on the
 * secret (`push.grantTokenSigning(role)` in CDK).
 *
 * @throws TypeError when `secretId` is missing or empty (an unset environment variable), and
 * RangeError for a `cacheMs` out of range.
 */
export function secretsManagerSecret(options: SecretsManagerSecretOptions): () => Promise<string> {
  requireName('secretId', options.secretId, 'TokenSecretArn');
  const cacheMs = options.cacheMs ?? MAX_SECRET_CACHE_MS;
  if (!(cacheMs >= 0 && cacheMs <= MAX_SECRET_CACHE_MS)) {
    throw new RangeError(
      `cacheMs must be between 0 and ${MAX_SECRET_CACHE_MS} (5 minutes): the secret rotates`,
    );
  }
  const now = options.now ?? Date.now;
  const sdk = lazySender(
    {
      pkg: '@aws-sdk/client-secrets-manager',
      clientClass: 'SecretsManagerClient',
      serviceId: 'Secrets Manager',
    },
    () => import('@aws-sdk/client-secrets-manager'),
    // Each attempt cut, and two of them: a hanging Secrets Manager fails a read in about 4 s (the
    // SDK's default client never cuts a request that gets no answer), so even a sign with no key
    // to fall back on answers. `clientConfig` may set its own.
    (sdk, config) => new sdk.SecretsManagerClient(sdkConfig({ ...SECRETS_CLIENT_DEFAULTS, ...config })),
    options,
  );
  let cached: { value: string; at: number } | undefined;
  let inflight: Promise<string> | undefined;
  /** When the last read failed while a stale key was used instead. */
  let failedAt: number | undefined;
  const usable = (t: number) => cached !== undefined && t - cached.at < cacheMs + MAX_STALE_SECRET_MS;
  const read = async (): Promise<string> => {
    const { GetSecretValueCommand } = await sdk.module();
    let out: { SecretString?: string };
    try {
      out = (await sdk.send(
        new GetSecretValueCommand({ SecretId: options.secretId, VersionStage: 'AWSCURRENT' }),
      )) as typeof out;
    } catch (error) {
      throw fromSdkError('reading the token secret', error);
    }
    if (out.SecretString === undefined || out.SecretString === '') {
      throw new PushApiError('internal', `the token secret ${options.secretId} has no SecretString`);
    }
    cached = { value: out.SecretString, at: now() };
    return out.SecretString;
  };
  /** The failure last told to `onStale`: each is told once, however many signs it covered. */
  let told: unknown;
  /** The one error that says a read is slow, per read. */
  let slow: { read: Promise<string>; error: PushApiError } | undefined;
  const useStale = (error: PushApiError, last: { value: string; at: number }): string => {
    const at = now();
    failedAt = at;
    if (error !== told) {
      told = error;
      options.onStale?.(error, at - last.at);
    }
    return last.value;
  };
  return async () => {
    const t = now();
    const last = cached;
    if (last !== undefined && t - last.at < cacheMs) return last.value;
    const fallback = last !== undefined && usable(t) ? last : undefined;
    if (fallback !== undefined && failedAt !== undefined && t - failedAt < SECRET_RETRY_AFTER_MS) {
      return fallback.value;
    }
    inflight ??= read()
      .then((value) => {
        failedAt = undefined;
        return value;
      })
      .finally(() => {
        inflight = undefined;
      });
    const fresh = inflight;
    // Nothing to fall back on: the sign waits for the read, and fails with it.
    if (fallback === undefined) return fresh;
    // A read that already outlived the wait is not waited for again.
    if (slow?.read === fresh) return useStale(slow.error, fallback);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, SECRET_STALE_WAIT_MS, undefined);
    });
    try {
      const value = await Promise.race([fresh, waited]);
      if (value !== undefined) return value;
      // Slow: the read goes on, and what it brings reaches later signs through the cache.
      fresh.catch(() => undefined);
      if (slow?.read !== fresh) {
        slow = {
          read: fresh,
          error: new PushApiError(
            'unavailable',
            `reading the token secret took longer than ${SECRET_STALE_WAIT_MS} ms`,
          ),
        };
      }
      return useStale(slow.error, fallback);
    } catch (error) {
      if (!(error instanceof PushApiError) || !error.retryable || !usable(now())) throw error;
      return useStale(error, fallback);
    } finally {
      clearTimeout(timer);
    }
  };
}
