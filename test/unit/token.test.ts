import { base64url, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { secretKey, signToken, verifyToken } from '../../lambdas/core/token';
import { UnauthorizedError } from '../../lambdas/shared/errors';

const key = secretKey('unit-test-secret-of-sufficient-length');
const otherKey = secretKey('some-other-secret-of-sufficient-length');
const now = 1_700_000_000_000;

async function rejection(promise: Promise<unknown>): Promise<UnauthorizedError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UnauthorizedError);
    return error as UnauthorizedError;
  }
  throw new Error('expected the token to be refused');
}

function unsigned(header: object, payload: object): string {
  const enc = (o: object) => base64url.encode(JSON.stringify(o));
  return `${enc(header)}.${enc(payload)}.`;
}

describe('verifyToken', () => {
  it('accepts a valid token and returns uid, topics and exp', async () => {
    const token = await signToken(
      { uid: 'u1', topics: ['orders', 'chat.*'], ttlSeconds: 60, nowMs: now },
      key,
    );
    await expect(verifyToken(token, key, { nowMs: now })).resolves.toEqual({
      uid: 'u1',
      topics: ['orders', 'chat.*'],
      exp: now / 1000 + 60,
    });
  });

  it('grants no topics when the claim is absent', async () => {
    const token = await signToken({ uid: 'u1', nowMs: now }, key);
    await expect(verifyToken(token, key, { nowMs: now })).resolves.toMatchObject({ topics: [] });
  });

  it.each([
    ['missing', async () => undefined, 'token missing'],
    ['empty', async () => '', 'token missing'],
    ['garbage', async () => 'not-a-jwt', 'token malformed'],
    [
      'expired',
      async () => signToken({ uid: 'u1', ttlSeconds: 60, nowMs: now - 120_000 }, key),
      'token expired',
    ],
    ['forged', async () => signToken({ uid: 'u1', nowMs: now }, otherKey), 'token signature invalid'],
    [
      'alg none',
      async () => unsigned({ alg: 'none', typ: 'JWT' }, { sub: 'u1', exp: now / 1000 + 60 }),
      'token algorithm not allowed',
    ],
    [
      'HS512 instead of HS256',
      async () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS512' })
          .setSubject('u1')
          .setExpirationTime(now / 1000 + 60)
          .sign(key),
      'token algorithm not allowed',
    ],
    [
      'RS256 (algorithm confusion)',
      async () => {
        const { privateKey } = await generateKeyPair('RS256', { extractable: true });
        return new SignJWT({})
          .setProtectedHeader({ alg: 'RS256' })
          .setSubject('u1')
          .setExpirationTime(now / 1000 + 60)
          .sign(privateKey);
      },
      'token algorithm not allowed',
    ],
    [
      'missing sub',
      async () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime(now / 1000 + 60)
          .sign(key),
      'token claim sub invalid: missing',
    ],
    [
      'missing exp',
      async () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').sign(key),
      'token claim exp invalid: missing',
    ],
    [
      'not yet valid',
      async () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('u1')
          .setNotBefore(now / 1000 + 600)
          .setExpirationTime(now / 1000 + 900)
          .sign(key),
      'token claim nbf invalid: check_failed',
    ],
    [
      'bad topics claim',
      async () => signToken({ uid: 'u1', topics: ['no spaces allowed'], nowMs: now }, key),
      'token topics must be an array of topic names or prefix* patterns',
    ],
    [
      'oversized',
      async () =>
        signToken(
          { uid: 'u1', topics: Array.from({ length: 100 }, (_, i) => `t${i}.${'x'.repeat(90)}`), nowMs: now },
          key,
        ),
      'token too large',
    ],
  ])('refuses a %s token', async (_label, make, message) => {
    const token = await make();
    const error = await rejection(verifyToken(token, key, { nowMs: now }));
    expect(error.message).toBe(message);
    expect(error.code).toBe('unauthorized');
  });

  it('checks the audience when one is configured', async () => {
    const staging = await signToken({ uid: 'u1', audience: 'staging', nowMs: now }, key);
    const prod = await signToken({ uid: 'u1', audience: 'prod', nowMs: now }, key);
    await expect(verifyToken(prod, key, { nowMs: now, audience: 'prod' })).resolves.toMatchObject({
      uid: 'u1',
    });
    expect((await rejection(verifyToken(staging, key, { nowMs: now, audience: 'prod' }))).message).toBe(
      'token claim aud invalid: check_failed',
    );
  });
});
