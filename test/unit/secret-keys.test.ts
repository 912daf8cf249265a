import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  KEY_CACHE_TTL_MS,
  MIN_REFRESH_INTERVAL_MS,
  secretsManagerKey,
  secretsManagerKeyRing,
  staticKeyRing,
} from '../../lambdas/adapters/secret';
import { secretKey, signToken, verifyTokenWithKeyRing } from '../../lambdas/core/token';
import type { AuthorizerResult, WebSocketAuthorizerEvent } from '../../lambdas/shared/events';

const sm = mockClient(SecretsManagerClient);
// The authorizer's revocation read: no uid here is revoked.
const ddb = mockClient(DynamoDBDocumentClient);
const ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:push-token-AbCdEf';
const notFound = () =>
  new ResourceNotFoundException({
    message: "Secrets Manager can't find the specified secret value",
    $metadata: {},
  });

/** Stages the secret's versions: `previous` undefined means the secret was never rotated. */
function versions(current: string, previous?: string): void {
  sm.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: 'AWSCURRENT' }).resolves({
    SecretString: current,
  });
  const onPrevious = sm.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: 'AWSPREVIOUS' });
  if (previous === undefined) onPrevious.rejects(notFound());
  else onPrevious.resolves({ SecretString: previous });
}

const reads = () => sm.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input.VersionStage);

/** From here on, every read of the secret fails (Secrets Manager is down). */
function outage(): void {
  sm.reset();
  sm.on(GetSecretValueCommand).rejects(new Error('InternalServiceError'));
}

beforeEach(() => sm.reset());

describe('secretsManagerKeyRing', () => {
  let clock = 0;
  const make = () => secretsManagerKeyRing(new SecretsManagerClient({}), ARN, { now: () => clock });
  beforeEach(() => {
    clock = 1_000_000;
  });

  it('reads the current and previous versions together, current first', async () => {
    versions('current-key', 'previous-key');
    await expect(make().keys()).resolves.toEqual([secretKey('current-key'), secretKey('previous-key')]);
    expect(reads()).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
  });

  it('reads current again when a rotation moved the labels between its two reads', async () => {
    // Current read just before the rotation (the old version), previous just after it: the
    // previous label is on the version that was read as current.
    sm.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: 'AWSCURRENT' })
      .resolvesOnce({ SecretString: 'old-key', VersionId: 'v1' })
      .resolves({ SecretString: 'new-key', VersionId: 'v2' });
    sm.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: 'AWSPREVIOUS' }).resolves({
      SecretString: 'old-key',
      VersionId: 'v1',
    });
    const ring = make();
    await expect(ring.keys()).resolves.toEqual([secretKey('new-key'), secretKey('old-key')]);
    expect(reads()).toEqual(['AWSCURRENT', 'AWSPREVIOUS', 'AWSCURRENT']);
    // A token the backend signed with the new key right after the rotation is accepted at once.
    const token = await signToken({ uid: 'u1' }, secretKey('new-key'));
    await expect(verifyTokenWithKeyRing(token, ring)).resolves.toMatchObject({ uid: 'u1' });
  });

  it('reads previous again when current moved on since its last read and previous is not what current was', async () => {
    // The ring knows v1 as current. Then previous is read just before a rotation (still v0) and
    // current just after it (v2): previous should be v1, the version current was.
    const stage = (VersionStage: string) => sm.on(GetSecretValueCommand, { SecretId: ARN, VersionStage });
    stage('AWSCURRENT').resolves({ SecretString: 'k1', VersionId: 'v1' });
    stage('AWSPREVIOUS').resolves({ SecretString: 'k0', VersionId: 'v0' });
    const ring = make();
    await ring.keys();
    sm.reset();
    stage('AWSCURRENT').resolves({ SecretString: 'k2', VersionId: 'v2' });
    stage('AWSPREVIOUS')
      .resolvesOnce({ SecretString: 'k0', VersionId: 'v0' })
      .resolves({ SecretString: 'k1', VersionId: 'v1' });
    clock += KEY_CACHE_TTL_MS;
    await expect(ring.keys()).resolves.toEqual([secretKey('k2'), secretKey('k1')]);
    expect(reads()).toEqual(['AWSCURRENT', 'AWSPREVIOUS', 'AWSPREVIOUS']);
    // A token signed with k1 a moment before the rotation still connects.
    const token = await signToken({ uid: 'u1' }, secretKey('k1'));
    await expect(verifyTokenWithKeyRing(token, ring)).resolves.toMatchObject({ uid: 'u1' });
  });

  it('reads each stage once when current and previous are different versions', async () => {
    sm.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: 'AWSCURRENT' }).resolves({
      SecretString: 'new-key',
      VersionId: 'v2',
    });
    sm.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: 'AWSPREVIOUS' }).resolves({
      SecretString: 'old-key',
      VersionId: 'v1',
    });
    await expect(make().keys()).resolves.toEqual([secretKey('new-key'), secretKey('old-key')]);
    expect(reads()).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
  });

  it('holds the current key alone while the secret has never been rotated', async () => {
    versions('current-key');
    await expect(make().keys()).resolves.toEqual([secretKey('current-key')]);
  });

  it('serves both keys from cache while warm, and reads both again once the cache is old', async () => {
    versions('current-key', 'previous-key');
    const ring = make();
    await ring.keys();
    clock += KEY_CACHE_TTL_MS - 1;
    await ring.keys();
    expect(reads()).toHaveLength(2);
    clock += 1;
    await ring.keys();
    expect(reads()).toHaveLength(4);
  });

  it('reads the secret once for concurrent cold callers', async () => {
    versions('current-key', 'previous-key');
    const ring = make();
    await Promise.all([ring.keys(), ring.keys(), ring.keys()]);
    expect(reads()).toHaveLength(2);
  });

  it('refreshes only when the last read is at least the minimum interval old', async () => {
    versions('k1');
    const ring = make();
    await ring.keys();
    clock += MIN_REFRESH_INTERVAL_MS - 1;
    await expect(ring.refresh()).resolves.toBeUndefined();
    expect(reads()).toHaveLength(2);

    versions('k2', 'k1');
    clock += 1;
    await expect(ring.refresh()).resolves.toEqual([secretKey('k2'), secretKey('k1')]);
    expect(reads()).toHaveLength(4);
    // The refresh restarted the cache as well as the interval.
    await expect(ring.keys()).resolves.toEqual([secretKey('k2'), secretKey('k1')]);
    await expect(ring.refresh()).resolves.toBeUndefined();
    expect(reads()).toHaveLength(4);
  });

  it('shares one read between concurrent refreshes', async () => {
    versions('k1');
    const ring = make();
    await ring.keys();
    clock += MIN_REFRESH_INTERVAL_MS;
    const [a, b] = await Promise.all([ring.refresh(), ring.refresh()]);
    expect(a).toEqual([secretKey('k1')]);
    expect(b).toEqual(a);
    expect(reads()).toHaveLength(4);
  });

  it('counts a failed read towards the interval, so an outage is not called on every connect', async () => {
    versions('k1');
    const ring = make();
    await ring.keys();
    sm.reset();
    sm.on(GetSecretValueCommand).rejects(new Error('throttled'));
    clock += MIN_REFRESH_INTERVAL_MS;
    await expect(ring.refresh()).rejects.toMatchObject({ code: 'unavailable' });
    await expect(ring.refresh()).resolves.toBeUndefined();
    expect(reads()).toHaveLength(2);
  });

  it('keeps its keys when reading them again after the cache expired fails, and reports the failure once', async () => {
    versions('k2', 'k1');
    const ring = make();
    await ring.keys();
    sm.reset();
    const outage = new Error('InternalServiceError');
    sm.on(GetSecretValueCommand).rejects(outage);
    clock += KEY_CACHE_TTL_MS;

    await expect(ring.keys()).resolves.toEqual([secretKey('k2'), secretKey('k1')]);
    expect(ring.takeReadFailure?.()).toEqual({
      error: expect.objectContaining({ code: 'unavailable', cause: outage }),
      keysAgeMs: KEY_CACHE_TTL_MS,
    });
    expect(ring.takeReadFailure?.()).toBeUndefined();
  });

  it('reads again after the cache expired no sooner than the minimum interval after a failed read', async () => {
    versions('k1');
    const ring = make();
    await ring.keys();
    outage();
    clock += KEY_CACHE_TTL_MS;
    await ring.keys();
    expect(reads()).toHaveLength(2);

    clock += MIN_REFRESH_INTERVAL_MS - 1;
    await expect(ring.keys()).resolves.toEqual([secretKey('k1')]);
    await expect(ring.refresh()).resolves.toBeUndefined();
    expect(reads()).toHaveLength(2);
    expect(ring.takeReadFailure?.()).toMatchObject({ keysAgeMs: KEY_CACHE_TTL_MS });
    expect(ring.takeReadFailure?.()).toBeUndefined();

    // Secrets Manager is back, with a rotation that finished during the outage.
    sm.reset();
    versions('k2', 'k1');
    clock += 1;
    await expect(ring.keys()).resolves.toEqual([secretKey('k2'), secretKey('k1')]);
    expect(reads()).toHaveLength(2);
    expect(ring.takeReadFailure?.()).toBeUndefined();
  });

  it('reports each failed read once, however many callers it served', async () => {
    versions('k1');
    const ring = make();
    await ring.keys();
    outage();
    clock += KEY_CACHE_TTL_MS;
    await Promise.all([ring.keys(), ring.keys(), ring.keys()]);
    expect(reads()).toHaveLength(2);
    expect(ring.takeReadFailure?.()).toBeDefined();
    expect(ring.takeReadFailure?.()).toBeUndefined();

    clock += MIN_REFRESH_INTERVAL_MS;
    await ring.keys();
    expect(reads()).toHaveLength(4);
    expect(ring.takeReadFailure?.()).toMatchObject({ keysAgeMs: KEY_CACHE_TTL_MS + MIN_REFRESH_INTERVAL_MS });
  });

  it('fails as unavailable while it has never read the keys, trying again no sooner than the minimum interval', async () => {
    const outage = new Error('InternalServiceError');
    sm.on(GetSecretValueCommand).rejects(outage);
    const ring = make();
    await expect(ring.keys()).rejects.toMatchObject({ code: 'unavailable' });
    expect(reads()).toHaveLength(2);

    clock += MIN_REFRESH_INTERVAL_MS - 1;
    await expect(ring.keys()).rejects.toMatchObject({
      code: 'unavailable',
      cause: expect.objectContaining({ cause: outage }),
    });
    expect(reads()).toHaveLength(2);
    // Nothing was covered with older keys: the failures went to the callers.
    expect(ring.takeReadFailure?.()).toBeUndefined();

    sm.reset();
    versions('k1');
    clock += 1;
    await expect(ring.keys()).resolves.toEqual([secretKey('k1')]);
    expect(reads()).toHaveLength(2);
  });

  it.each([
    ['the current version cannot be read', () => sm.on(GetSecretValueCommand).rejects(new Error('down'))],
    ['the current version is missing', () => sm.on(GetSecretValueCommand).rejects(notFound())],
    [
      'the previous version fails with anything but not-found',
      () => {
        versions('k1');
        sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).rejects(new Error('AccessDenied'));
      },
    ],
    ['the current version has no SecretString', () => sm.on(GetSecretValueCommand).resolves({})],
  ])('fails as unavailable when %s', async (_label, stage) => {
    stage();
    await expect(make().keys()).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('a rotation seen through the authorizer', () => {
  let clock = 0;
  const nowMs = 1_700_000_000_000;
  beforeEach(() => {
    clock = 1_000_000;
  });

  async function afterRotation() {
    versions('key-before-the-rotation');
    const ring = secretsManagerKeyRing(new SecretsManagerClient({}), ARN, { now: () => clock });
    await ring.keys();
    sm.reset();
    versions('key-after-the-rotation', 'key-before-the-rotation');
    return ring;
  }

  it('accepts a token signed with the new key at once, once the cache is past the minimum interval', async () => {
    const ring = await afterRotation();
    clock += MIN_REFRESH_INTERVAL_MS;
    const token = await signToken({ uid: 'u1', nowMs }, secretKey('key-after-the-rotation'));
    await expect(verifyTokenWithKeyRing(token, ring, { nowMs })).resolves.toMatchObject({ uid: 'u1' });
  });

  it('keeps accepting tokens signed with the old key after the rotation', async () => {
    const ring = await afterRotation();
    clock += KEY_CACHE_TTL_MS;
    const token = await signToken({ uid: 'u1', nowMs }, secretKey('key-before-the-rotation'));
    await expect(verifyTokenWithKeyRing(token, ring, { nowMs })).resolves.toMatchObject({ uid: 'u1' });
    expect(reads()).toHaveLength(2);
  });

  it('accepts valid tokens through a Secrets Manager outage after the cache expired, reading once per interval', async () => {
    versions('key-after-the-rotation', 'key-before-the-rotation');
    const ring = secretsManagerKeyRing(new SecretsManagerClient({}), ARN, { now: () => clock });
    const current = await signToken({ uid: 'u1', nowMs }, secretKey('key-after-the-rotation'));
    const previous = await signToken({ uid: 'u2', nowMs }, secretKey('key-before-the-rotation'));
    await verifyTokenWithKeyRing(current, ring, { nowMs });
    outage();
    clock += KEY_CACHE_TTL_MS;

    // Five connects in half a second, then one more after the interval.
    for (let i = 0; i < 5; i += 1) {
      clock += 100;
      await expect(
        verifyTokenWithKeyRing(i % 2 === 0 ? current : previous, ring, { nowMs }),
      ).resolves.toBeDefined();
    }
    expect(reads()).toHaveLength(2);
    clock += MIN_REFRESH_INTERVAL_MS;
    await expect(verifyTokenWithKeyRing(current, ring, { nowMs })).resolves.toMatchObject({ uid: 'u1' });
    expect(reads()).toHaveLength(4);
  });

  it('reads the secret once per interval however many forged tokens arrive', async () => {
    const ring = await afterRotation();
    clock += MIN_REFRESH_INTERVAL_MS;
    const forged = await signToken({ uid: 'victim', nowMs }, secretKey('guessed-by-an-attacker'));
    for (let i = 0; i < 100; i += 1) {
      await expect(verifyTokenWithKeyRing(forged, ring, { nowMs })).rejects.toThrow(
        'token signature invalid',
      );
      clock += 50;
    }
    // 100 connects over 5 s: one refresh, both versions.
    expect(reads()).toHaveLength(2);
  });
});

describe('the authorizer during a Secrets Manager outage', () => {
  const start = Date.UTC(2026, 10, 22, 12);
  let authorize: (event: WebSocketAuthorizerEvent) => Promise<AuthorizerResult>;
  let warnings: unknown[][];
  const event = (token: string): WebSocketAuthorizerEvent => ({
    type: 'REQUEST',
    methodArn: 'arn:aws:execute-api:us-east-1:123456789012:api/prod/$connect',
    queryStringParameters: { token },
    requestContext: { connectionId: 'c1' },
  });

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(start);
    vi.stubEnv('PUSH_TOKEN_SECRET_ARN', ARN);
    vi.stubEnv('PUSH_CONNECTIONS_TABLE', 'unit-connections');
    ddb.reset();
    ddb.on(GetCommand).resolves({});
    vi.resetModules();
    const { Logger } = await import('@aws-lambda-powertools/logger');
    warnings = [];
    vi.spyOn(Logger.prototype, 'warn').mockImplementation((...args: unknown[]) => {
      warnings.push(args);
    });
    ({ handler: authorize } = await import('../../lambdas/authorizer'));
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('lets valid tokens connect with the keys it read before, and warns once per failed read', async () => {
    versions('key-after-the-rotation', 'key-before-the-rotation');
    const token = await signToken({ uid: 'u1', ttlSeconds: 3600 }, secretKey('key-before-the-rotation'));
    await expect(authorize(event(token))).resolves.toMatchObject({ principalId: 'u1' });
    outage();
    vi.setSystemTime(start + KEY_CACHE_TTL_MS);

    for (let i = 0; i < 5; i += 1) {
      await expect(authorize(event(token))).resolves.toMatchObject({ principalId: 'u1' });
      vi.setSystemTime(Date.now() + 100);
    }
    expect(reads()).toHaveLength(2);
    expect(warnings).toEqual([
      [
        'token secret could not be read again; verifying with the keys read before',
        expect.objectContaining({ connectionId: 'c1', keysAgeMs: KEY_CACHE_TTL_MS }),
      ],
    ]);
  });

  it('fails the connect (500) while it has never read the keys', async () => {
    sm.on(GetSecretValueCommand).rejects(new Error('InternalServiceError'));
    const token = await signToken({ uid: 'u1' }, secretKey('key-after-the-rotation'));
    await expect(authorize(event(token))).rejects.toMatchObject({ code: 'unavailable' });
    expect(warnings).toEqual([]);
  });
});

describe('secretsManagerKey', () => {
  it('signs with the current version', async () => {
    versions('current-key', 'previous-key');
    const key = secretsManagerKey(new SecretsManagerClient({}), ARN);
    await expect(key()).resolves.toEqual(secretKey('current-key'));
    expect(reads()).toEqual(['AWSCURRENT']);
  });
});

describe('staticKeyRing', () => {
  it('holds its keys in order and never has fresher ones', async () => {
    const ring = staticKeyRing('local-secret', 'older-local-secret');
    await expect(ring.keys()).resolves.toEqual([secretKey('local-secret'), secretKey('older-local-secret')]);
    await expect(ring.refresh()).resolves.toBeUndefined();
  });
});
