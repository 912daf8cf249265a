import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { secretKey, verifyToken } from '../../lambdas/core/token';
import {
  createTokenSigner,
  MAX_STALE_SECRET_MS,
  type PushApiError,
  SECRETS_CLIENT_DEFAULTS,
  secretsManagerSecret,
} from '../../server/src/index';

/** A Secrets Manager on port 0 that answers its first read and holds every later one unanswered. */
async function hangingSecretsManager() {
  const held: ServerResponse[] = [];
  let reads = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      reads += 1;
      if (reads > 1) {
        held.push(res);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ ARN: 'arn', Name: 'push-token', SecretString: 'old-key', VersionId: 'v1' }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    reads: () => reads,
    close: () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

let close: (() => void) | undefined;
afterEach(() => close?.());

describe('a token signer whose Secrets Manager hangs', () => {
  it('signs with the last key read instead of waiting on the read, and tells onStale once', async () => {
    const sm = await hangingSecretsManager();
    close = sm.close;
    const stale: [string, string][] = [];
    const secret = secretsManagerSecret({
      secretId: 'push-token',
      cacheMs: 0,
      clientConfig: {
        endpoint: sm.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      },
      onStale: (error: PushApiError) => stale.push([error.code, error.message]),
    });
    const signer = createTokenSigner({ secret });
    await signer.sign({ uid: 'u1' });

    // The read now hangs: the sign still answers, with the key read before.
    const token = await signer.sign({ uid: 'u1' });
    await expect(verifyToken(token, secretKey('old-key'))).resolves.toMatchObject({ uid: 'u1' });
    expect(stale).toEqual([['unavailable', 'reading the token secret took longer than 1000 ms']]);
    // A sign while that read is still under way does not wait for it, nor start another.
    await signer.sign({ uid: 'u2' });
    expect(sm.reads()).toBe(2);
    expect(stale).toHaveLength(1);
  });

  it('fails a sign with no key to fall back on as unavailable, once the created client cuts its attempts', async () => {
    const sm = await hangingSecretsManager();
    close = sm.close;
    // The first read answers a key that is then too old to fall back on.
    let now = 0;
    const secret = secretsManagerSecret({
      secretId: 'push-token',
      cacheMs: 0,
      now: () => now,
      clientConfig: {
        endpoint: sm.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      },
    });
    const signer = createTokenSigner({ secret, now: () => now });
    await signer.sign({ uid: 'u1' });
    now = MAX_STALE_SECRET_MS;
    await expect(signer.sign({ uid: 'u1' })).rejects.toMatchObject({ code: 'unavailable', retryable: true });
    // Both of the created client's attempts were made and cut.
    expect(sm.reads()).toBe(1 + SECRETS_CLIENT_DEFAULTS.maxAttempts);
  });
});
