/**
 * The authorizer's key ring against a real HTTP server on port 0 speaking Secrets Manager's
 * GetSecretValue, which the test can make hang: a slow or hanging Secrets Manager must not hold
 * every handshake of a warm environment, and must not hold a cold one past its timeout.
 */
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSecretsClient, KEY_CACHE_TTL_MS, secretsManagerKeyRing } from '../../lambdas/adapters/secret';
import { secretKey, signToken, verifyTokenWithKeyRing } from '../../lambdas/core/token';
import { UnavailableError } from '../../lambdas/shared/errors';

const ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:push-token-AbCdEf';
const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };

/** A Secrets Manager that answers each stage from `versions`, or holds every request while `hang`. */
class FakeSecretsManager {
  readonly versions = new Map<string, string>([['AWSCURRENT', 'current-key']]);
  hang = false;
  readonly held: ServerResponse[] = [];
  reads = 0;
  #server: Server | undefined;

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        this.reads++;
        if (this.hang) {
          this.held.push(res);
          return;
        }
        const stage = (JSON.parse(body) as { VersionStage: string }).VersionStage;
        const value = this.versions.get(stage);
        res.writeHead(value === undefined ? 400 : 200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(
          JSON.stringify(
            value === undefined
              ? { __type: 'ResourceNotFoundException', message: 'no such stage' }
              : { ARN, Name: 'push-token', SecretString: value, VersionStages: [stage] },
          ),
        );
      });
    });
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }
}

let sm: FakeSecretsManager | undefined;

afterEach(async () => {
  await sm?.stop();
  sm = undefined;
});

async function ringOn(clock: () => number, requestTimeoutMs = 60_000) {
  sm = new FakeSecretsManager();
  const endpoint = await sm.start();
  const client = createSecretsClient({
    requestTimeoutMs,
    config: { endpoint, region: 'us-east-1', credentials },
  });
  return secretsManagerKeyRing(client, ARN, { now: clock, staleWaitMs: 50 });
}

describe('a key ring whose Secrets Manager hangs', () => {
  it('answers a connect with the keys it read before while a read of expired keys hangs, and reports it once', async () => {
    let now = 1_000_000;
    const ring = await ringOn(() => now);
    await expect(ring.keys()).resolves.toEqual([secretKey('current-key')]);
    const server = sm as FakeSecretsManager;
    server.hang = true;
    now += KEY_CACHE_TTL_MS;

    // Every connect of the storm is answered while the read is still held by the server.
    const storm = await Promise.all(Array.from({ length: 20 }, () => ring.keys()));
    expect(
      storm.every(
        (keys) => keys.length === 1 && Buffer.from(keys[0] as Uint8Array).equals(secretKey('current-key')),
      ),
    ).toBe(true);
    expect(server.held.length).toBeGreaterThan(0);
    expect(server.held.every((res) => !res.writableEnded)).toBe(true);
    const token = await signToken({ uid: 'u1' }, secretKey('current-key'));
    await expect(verifyTokenWithKeyRing(token, ring)).resolves.toMatchObject({ uid: 'u1' });
    const failure = ring.takeReadFailure?.();
    expect(failure?.error).toEqual(new UnavailableError('reading the token secret took longer than 50 ms'));
    expect(ring.takeReadFailure?.()).toBeUndefined();
  });

  it('answers a token no key at hand signed with unavailable (500) rather than holding it for the read', async () => {
    let now = 1_000_000;
    const ring = await ringOn(() => now);
    await ring.keys();
    const server = sm as FakeSecretsManager;
    server.hang = true;
    now += 10_000;
    const forged = await signToken({ uid: 'u1' }, secretKey('some-other-key'));
    await expect(verifyTokenWithKeyRing(forged, ring)).rejects.toThrow(UnavailableError);
    expect(server.held.every((res) => !res.writableEnded)).toBe(true);
  });

  it('fails a cold read as unavailable once every attempt has timed out, instead of hanging', async () => {
    const ring = await ringOn(() => 1_000_000, 200);
    const server = sm as FakeSecretsManager;
    server.hang = true;
    await expect(ring.keys()).rejects.toThrow(UnavailableError);
    // Two attempts of each stage, then no more.
    expect(server.reads).toBe(4);
  });
});
