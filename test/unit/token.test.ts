import { base64url, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  type KeyRing,
  secretKey,
  signToken,
  verifyToken,
  verifyTokenWithKeyRing,
} from '../../lambdas/core/token';
import { UnauthorizedError, UnavailableError } from '../../lambdas/shared/errors';

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
      iat: now / 1000,
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

  // A signer whose clock runs ahead: `iat` and `nbf` get the same allowance, `exp` none.
  const skew = (claims: { iat?: number; nbf?: number; exp: number }) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').sign(key);
  const nowS = now / 1000;
  it.each([
    ['nbf 60 s ahead', { nbf: nowS + 60, exp: nowS + 600 }, undefined],
    ['nbf 61 s ahead', { nbf: nowS + 61, exp: nowS + 600 }, 'token claim nbf invalid: check_failed'],
    ['iat 60 s ahead', { iat: nowS + 60, exp: nowS + 600 }, undefined],
    ['iat 61 s ahead', { iat: nowS + 61, exp: nowS + 600 }, 'token iat is in the future'],
    ['iat and nbf 60 s ahead', { iat: nowS + 60, nbf: nowS + 60, exp: nowS + 600 }, undefined],
    ['exp 1 s ago', { exp: nowS - 1 }, 'token expired'],
    ['exp 59 s ago', { exp: nowS - 59 }, 'token expired'],
    ['exp now', { exp: nowS }, 'token expired'],
  ])('a signer clock skew: %s', async (_label, claims, refusal) => {
    const token = await skew(claims);
    if (refusal === undefined) {
      await expect(verifyToken(token, key, { nowMs: now })).resolves.toMatchObject({ uid: 'u1' });
    } else {
      expect((await rejection(verifyToken(token, key, { nowMs: now }))).message).toBe(refusal);
    }
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

describe('verifyToken with the current and previous keys', () => {
  const current = key;
  const previous = otherKey;
  const stranger = secretKey('a-third-secret-nobody-configured-here');

  it.each([
    ['the current key', current],
    ['the previous key', previous],
  ])('accepts a token signed with %s', async (_label, signer) => {
    const token = await signToken({ uid: 'u1', nowMs: now }, signer);
    await expect(verifyToken(token, [current, previous], { nowMs: now })).resolves.toMatchObject({
      uid: 'u1',
    });
  });

  it.each([
    [
      'signed by neither key',
      async () => signToken({ uid: 'u1', audience: 'prod', nowMs: now }, stranger),
      'token signature invalid',
    ],
    [
      'expired and signed by the previous key',
      async () => signToken({ uid: 'u1', audience: 'prod', ttlSeconds: 60, nowMs: now - 120_000 }, previous),
      'token expired',
    ],
    [
      'expired and signed by neither key',
      async () => signToken({ uid: 'u1', audience: 'prod', ttlSeconds: 60, nowMs: now - 120_000 }, stranger),
      'token signature invalid',
    ],
    [
      'badly claimed and signed by the previous key',
      async () =>
        signToken({ uid: 'u1', audience: 'prod', topics: ['no spaces allowed'], nowMs: now }, previous),
      'token topics must be an array of topic names or prefix* patterns',
    ],
    [
      'for another audience and signed by the previous key',
      async () => signToken({ uid: 'u1', audience: 'staging', nowMs: now }, previous),
      'token claim aud invalid: check_failed',
    ],
  ])('refuses a token %s with its own reason', async (_label, make, message) => {
    const error = await rejection(
      verifyToken(await make(), [current, previous], { nowMs: now, audience: 'prod' }),
    );
    expect(error.message).toBe(message);
  });

  it('fails as a configuration error, not a bad token, with no key at all', async () => {
    const token = await signToken({ uid: 'u1', nowMs: now }, current);
    await expect(verifyToken(token, [], { nowMs: now })).rejects.not.toBeInstanceOf(UnauthorizedError);
  });
});

/** A key ring that counts its reads; `fresh` is what `refresh()` answers. */
function ring(cached: readonly Uint8Array[], fresh?: readonly Uint8Array[] | Error) {
  const calls = { keys: 0, refresh: 0 };
  const keyRing: KeyRing = {
    keys: async () => {
      calls.keys += 1;
      return cached;
    },
    refresh: async () => {
      calls.refresh += 1;
      if (fresh instanceof Error) throw fresh;
      return fresh;
    },
  };
  return { keyRing, calls };
}

describe('verifyTokenWithKeyRing', () => {
  const rotatedIn = secretKey('the-key-a-rotation-just-made-current-0');

  it('accepts a token signed with a cached key without asking for fresher keys', async () => {
    const { keyRing, calls } = ring([key, otherKey], [rotatedIn]);
    const token = await signToken({ uid: 'u1', nowMs: now }, otherKey);
    await expect(verifyTokenWithKeyRing(token, keyRing, { nowMs: now })).resolves.toMatchObject({
      uid: 'u1',
    });
    expect(calls).toEqual({ keys: 1, refresh: 0 });
  });

  it('accepts a token signed with a key rotated in after the ring was read, after one refresh', async () => {
    const { keyRing, calls } = ring([key], [rotatedIn, key]);
    const token = await signToken({ uid: 'u1', nowMs: now }, rotatedIn);
    await expect(verifyTokenWithKeyRing(token, keyRing, { nowMs: now })).resolves.toMatchObject({
      uid: 'u1',
    });
    expect(calls).toEqual({ keys: 1, refresh: 1 });
  });

  it.each([
    ['the refreshed keys do not sign it either', [rotatedIn, key]],
    ['the ring has nothing fresher', undefined],
  ])('refuses a forged token as badly signed when %s, asking once', async (_label, fresh) => {
    const { keyRing, calls } = ring([key], fresh);
    const token = await signToken({ uid: 'u1', nowMs: now }, otherKey);
    const error = await rejection(verifyTokenWithKeyRing(token, keyRing, { nowMs: now }));
    expect(error.message).toBe('token signature invalid');
    expect(calls.refresh).toBe(1);
  });

  it.each([
    [
      'expired',
      async () => signToken({ uid: 'u1', ttlSeconds: 60, nowMs: now - 120_000 }, key),
      'token expired',
    ],
    ['malformed', async () => 'not-a-jwt', 'token malformed'],
    [
      'alg none',
      async () => unsigned({ alg: 'none' }, { sub: 'u1', exp: now / 1000 + 60 }),
      'token algorithm not allowed',
    ],
  ])('refuses an %s token without refreshing: only a signature miss may', async (_label, make, message) => {
    const { keyRing, calls } = ring([key], [rotatedIn]);
    const error = await rejection(verifyTokenWithKeyRing(await make(), keyRing, { nowMs: now }));
    expect(error.message).toBe(message);
    expect(calls.refresh).toBe(0);
  });

  it.each([
    ['missing', undefined, 'token missing'],
    ['oversized', 'x'.repeat(8 * 1024 + 1), 'token too large'],
  ])('refuses a %s token without reading the ring at all', async (_label, token, message) => {
    const { keyRing, calls } = ring([key], [rotatedIn]);
    expect((await rejection(verifyTokenWithKeyRing(token, keyRing))).message).toBe(message);
    expect(calls).toEqual({ keys: 0, refresh: 0 });
  });

  it('lets a failed refresh surface as the failure it is, not as a bad token', async () => {
    const down = new UnavailableError('could not read the token secret (AWSCURRENT)');
    const { keyRing } = ring([key], down);
    const token = await signToken({ uid: 'u1', nowMs: now }, rotatedIn);
    await expect(verifyTokenWithKeyRing(token, keyRing, { nowMs: now })).rejects.toBe(down);
  });
});
