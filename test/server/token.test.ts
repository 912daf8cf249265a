import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { secretKey, verifyToken } from '../../lambdas/core/token';
import { LIMITS } from '../../lambdas/shared/limits';
import { QUOTAS } from '../../lambdas/shared/quotas';
import {
  createTokenSigner,
  MAX_SECRET_CACHE_MS,
  MAX_STALE_SECRET_MS,
  MAX_TOKEN_LIFETIME_SECONDS,
  PushApiError,
  SECRET_RETRY_AFTER_MS,
  SECRET_STALE_WAIT_MS,
  secretsManagerSecret,
} from '../../server/src/index';

const sm = mockClient(SecretsManagerClient);
const SECRET_ID = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:push-token-AbCdEf';

afterEach(() => sm.reset());

function decode(token: string): { header: unknown; claims: Record<string, unknown> } {
  const [header = '', claims = ''] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')),
    claims: JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')),
  };
}

describe('a token signer', () => {
  it('signs HS256 tokens the authorizer accepts, with the grant as claims', async () => {
    const now = 1_800_000_000_000;
    const signer = createTokenSigner({ secret: 'a-secret', audience: 'shop', now: () => now });
    const token = await signer.sign({ uid: 'u1', topics: ['orders', 'news.*'], ttlSeconds: 60 });
    expect(decode(token)).toEqual({
      header: { alg: 'HS256', typ: 'JWT' },
      claims: {
        topics: ['orders', 'news.*'],
        sub: 'u1',
        iat: 1_800_000_000,
        exp: 1_800_000_060,
        aud: 'shop',
      },
    });
    const claims = await verifyToken(token, secretKey('a-secret'), { audience: 'shop', nowMs: now });
    expect(claims).toEqual({
      uid: 'u1',
      topics: ['orders', 'news.*'],
      exp: 1_800_000_060,
      iat: 1_800_000_000,
    });
  });

  it('gives tokens an hour by default, and none of another key verifies', async () => {
    const token = await createTokenSigner({ secret: 'a-secret', now: () => 0 }).sign({ uid: 'u1' });
    expect(decode(token).claims).toEqual({ sub: 'u1', iat: 0, exp: 3600 });
    await expect(verifyToken(token, secretKey('another'), { nowMs: 0 })).rejects.toThrow(
      'token signature invalid',
    );
  });

  it.each([
    [{ uid: '' }, 'uid must be a non-empty string'],
    [{ uid: 'u1', ttlSeconds: 0 }, 'ttlSeconds must be a positive integer of at most 86400 (24 h)'],
    [{ uid: 'u1', ttlSeconds: 1.5 }, 'ttlSeconds must be a positive integer of at most 86400 (24 h)'],
    [
      { uid: 'u1', ttlSeconds: LIMITS.maxTokenLifetimeSeconds + 1 },
      'ttlSeconds must be a positive integer of at most 86400 (24 h)',
    ],
  ])('refuses the grant %j', async (grant, message) => {
    await expect(createTokenSigner({ secret: 's' }).sign(grant)).rejects.toThrow(new TypeError(message));
  });
});

describe('the signer refuses what the authorizer would refuse at the handshake', () => {
  const topic128 = (i: number) => `${String(i).padStart(3, '0')}${'t'.repeat(125)}`;
  it.each([
    ['a uid of 129 code points', { uid: 'u'.repeat(129) }, /^uid must be 1-128 Unicode code points/],
    ['a uid with a control character', { uid: 'u\u0000' }, /^uid must be 1-128 Unicode code points/],
    ['a uid with a bidi override', { uid: 'u\u202e' }, /^uid must be 1-128 Unicode code points/],
    ['a uid with a lone surrogate', { uid: 'u\ud800' }, /^uid must be 1-128 Unicode code points/],
    [
      `${LIMITS.maxGrants + 1} topics (one past the authorizer's LIMITS.maxGrants)`,
      { uid: 'u1', topics: Array.from({ length: LIMITS.maxGrants + 1 }, (_, i) => `t${i}`) },
      /^topics must be/,
    ],
    [
      `a uid of ${LIMITS.maxUidLength + 1} code points (one past LIMITS.maxUidLength)`,
      { uid: 'u'.repeat(LIMITS.maxUidLength + 1) },
      /^uid must be 1-128 Unicode code points/,
    ],
    ['a topic with a space', { uid: 'u1', topics: ['new orders'] }, /^topics must be/],
    ['a pattern with a slash', { uid: 'u1', topics: ['orders/*'] }, /^topics must be/],
    [
      'a token too long for the handshake URL (30 topics of 128 characters, about 5,300)',
      { uid: 'u1', topics: Array.from({ length: 30 }, (_, i) => topic128(i)) },
      new RegExp(
        `^the token would be \\d+ characters; API Gateway's 4,096-character handshake URL fits at most ${QUOTAS.maxUrlTokenChars} `,
      ),
    ],
  ])('%s: throws TypeError instead of signing', async (_case, grant, message) => {
    const signed = createTokenSigner({ secret: 'a-secret', now: () => 0 }).sign(grant);
    await expect(signed).rejects.toThrow(TypeError);
    await expect(signed).rejects.toThrow(message);
  });

  it.each([
    ['a uid of 128 code points outside the BMP', { uid: '😀'.repeat(128) }],
    [
      `${LIMITS.maxGrants} short topics and patterns (the authorizer's LIMITS.maxGrants)`,
      { uid: 'u1', topics: Array.from({ length: LIMITS.maxGrants }, (_, i) => `t${i}.*`) },
    ],
    [`a uid of ${LIMITS.maxUidLength} code points`, { uid: 'u'.repeat(LIMITS.maxUidLength) }],
    ['every topic', { uid: 'u1', topics: ['*'] }],
    [
      '15 topics of 128 characters (about 2,700)',
      { uid: 'u1', topics: Array.from({ length: 15 }, (_, i) => topic128(i)) },
    ],
  ])('%s: signs a token the authorizer accepts', async (_case, grant) => {
    const token = await createTokenSigner({ secret: 'a-secret', now: () => 0 }).sign(grant);
    await expect(verifyToken(token, secretKey('a-secret'), { nowMs: 0 })).resolves.toMatchObject({
      uid: grant.uid,
    });
  });
});

describe('the signer and the authorizer agree on the longest token lifetime', () => {
  it('is the same number on both sides, and a token of exactly that lifetime is accepted', async () => {
    expect(MAX_TOKEN_LIFETIME_SECONDS).toBe(LIMITS.maxTokenLifetimeSeconds);
    const token = await createTokenSigner({ secret: 'a-secret', now: () => 0 }).sign({
      uid: 'u1',
      ttlSeconds: MAX_TOKEN_LIFETIME_SECONDS,
    });
    await expect(verifyToken(token, secretKey('a-secret'), { nowMs: 0 })).resolves.toMatchObject({
      uid: 'u1',
    });
  });
});

describe('a Secrets Manager secret', () => {
  function signer(now: () => number, cacheMs?: number) {
    const secret = secretsManagerSecret({
      secretId: SECRET_ID,
      client: new SecretsManagerClient({}),
      now,
      ...(cacheMs === undefined ? {} : { cacheMs }),
    });
    return createTokenSigner({ secret, now });
  }

  it('signs with the AWSCURRENT version', async () => {
    sm.on(GetSecretValueCommand, { SecretId: SECRET_ID, VersionStage: 'AWSCURRENT' }).resolves({
      SecretString: 'current-key',
    });
    const token = await signer(() => 0).sign({ uid: 'u1' });
    await expect(verifyToken(token, secretKey('current-key'), { nowMs: 0 })).resolves.toMatchObject({
      uid: 'u1',
    });
  });

  it('reads once per cache period, concurrent signs sharing the read', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'current-key' });
    let now = 0;
    const sign = signer(() => now);
    await Promise.all([sign.sign({ uid: 'a' }), sign.sign({ uid: 'b' })]);
    now = MAX_SECRET_CACHE_MS - 1;
    await sign.sign({ uid: 'c' });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('moves to the rotated key once the cache expires, within 5 minutes', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'old-key' })
      .resolves({ SecretString: 'new-key' });
    let now = 0;
    const sign = signer(() => now);
    const before = await sign.sign({ uid: 'u1' });
    now = MAX_SECRET_CACHE_MS;
    const after = await sign.sign({ uid: 'u1' });
    await expect(verifyToken(before, secretKey('old-key'), { nowMs: now })).resolves.toBeDefined();
    await expect(verifyToken(after, secretKey('new-key'), { nowMs: now })).resolves.toBeDefined();
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('throws a failed read as unavailable, and reads again on the next sign', async () => {
    sm.on(GetSecretValueCommand)
      .rejectsOnce(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }))
      .resolves({ SecretString: 'current-key' });
    const sign = signer(() => 0);
    const error = await sign.sign({ uid: 'u1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PushApiError);
    expect(error).toMatchObject({ code: 'unavailable', cause: { name: 'TimeoutError' } });
    await expect(sign.sign({ uid: 'u1' })).resolves.toMatch(/^ey/);
  });

  it('keeps signing with the last key when a read fails retryably, and reads again 5 s later', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'old-key' })
      .rejectsOnce(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }))
      .resolves({ SecretString: 'new-key' });
    let now = 0;
    const stale: [string, number][] = [];
    const secret = secretsManagerSecret({
      secretId: SECRET_ID,
      client: new SecretsManagerClient({}),
      now: () => now,
      onStale: (error, ageMs) => stale.push([error.code, ageMs]),
    });
    const sign = createTokenSigner({ secret, now: () => now });
    await sign.sign({ uid: 'u1' });
    now = MAX_SECRET_CACHE_MS;
    const during = await sign.sign({ uid: 'u1' });
    await expect(verifyToken(during, secretKey('old-key'), { nowMs: now })).resolves.toMatchObject({
      uid: 'u1',
    });
    expect(stale).toEqual([['unavailable', MAX_SECRET_CACHE_MS]]);
    // Within the pause, no sign waits on Secrets Manager again.
    now += SECRET_RETRY_AFTER_MS - 1;
    await sign.sign({ uid: 'u1' });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    now += 1;
    const after = await sign.sign({ uid: 'u1' });
    await expect(verifyToken(after, secretKey('new-key'), { nowMs: now })).resolves.toBeDefined();
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });

  it('signs with the last key when a read hangs, after waiting 1 s, and tells onStale once', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'old-key' })
      .callsFake(() => new Promise(() => {}));
    let now = 0;
    const stale: [string, string][] = [];
    const secret = secretsManagerSecret({
      secretId: SECRET_ID,
      client: new SecretsManagerClient({}),
      now: () => now,
      onStale: (error) => stale.push([error.code, error.message]),
    });
    const sign = createTokenSigner({ secret, now: () => now });
    await sign.sign({ uid: 'u1' });
    now = MAX_SECRET_CACHE_MS;
    // Two signs share the hanging read; both go on with the old key once the wait is over.
    const during = await Promise.all([sign.sign({ uid: 'a' }), sign.sign({ uid: 'b' })]);
    for (const token of during) {
      await expect(verifyToken(token, secretKey('old-key'), { nowMs: now })).resolves.toBeDefined();
    }
    expect(stale).toEqual([
      ['unavailable', `reading the token secret took longer than ${SECRET_STALE_WAIT_MS} ms`],
    ]);
    // Inside the pause a sign neither waits nor reads again.
    now += 1;
    await sign.sign({ uid: 'c' });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(stale).toHaveLength(1);
  });

  it('tells onStale once for a failed read however many signs shared it', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'old-key' })
      .rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));
    let now = 0;
    let told = 0;
    const secret = secretsManagerSecret({
      secretId: SECRET_ID,
      client: new SecretsManagerClient({}),
      now: () => now,
      onStale: () => {
        told++;
      },
    });
    const sign = createTokenSigner({ secret, now: () => now });
    await sign.sign({ uid: 'u1' });
    now = MAX_SECRET_CACHE_MS;
    await Promise.all([sign.sign({ uid: 'a' }), sign.sign({ uid: 'b' }), sign.sign({ uid: 'c' })]);
    expect(told).toBe(1);
  });

  it('throws the failure once the last key is more than an hour past its cache period', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'old-key' })
      .rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));
    let now = 0;
    const sign = signer(() => now);
    await sign.sign({ uid: 'u1' });
    now = MAX_SECRET_CACHE_MS + MAX_STALE_SECRET_MS - 1;
    await expect(sign.sign({ uid: 'u1' })).resolves.toMatch(/^ey/);
    now = MAX_SECRET_CACHE_MS + MAX_STALE_SECRET_MS;
    await expect(sign.sign({ uid: 'u1' })).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('throws a refusal at once even with a key read before', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'old-key' })
      .rejects(
        Object.assign(new Error('not authorized'), {
          name: 'AccessDeniedException',
          $metadata: { httpStatusCode: 400 },
        }),
      );
    let now = 0;
    const sign = signer(() => now);
    await sign.sign({ uid: 'u1' });
    now = MAX_SECRET_CACHE_MS;
    await expect(sign.sign({ uid: 'u1' })).rejects.toMatchObject({ code: 'internal' });
  });

  it('throws internal when the caller may not read the secret', async () => {
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error('not authorized'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const error = await signer(() => 0)
      .sign({ uid: 'u1' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'PushApiError', code: 'internal', retryable: false });
  });

  it('refuses a cache longer than the 5 minutes a rotation allows', () => {
    expect(() => signer(() => 0, MAX_SECRET_CACHE_MS + 1)).toThrow(RangeError);
  });
});
