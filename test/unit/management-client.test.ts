/**
 * The tuned Management API client against a real HTTP server on port 0: the request timeout must
 * throw and free the socket (smithy only warns without `throwOnRequestTimeout`), and the cached
 * middleware chain must still sign and send every post.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createManagementClient, ManagementGateway } from '../../lambdas/adapters/management-gateway';

const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

async function listen(onRequest: (req: IncomingMessage, respond: (status: number) => void) => void) {
  server = createServer((req, res) => {
    onRequest(req, (status) => {
      res.writeHead(status, { 'content-length': 0 });
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/dev`;
}

function gatewayFor(endpoint: string, timeoutMs: number): ManagementGateway {
  const client = createManagementClient({
    endpoint,
    region: 'us-east-1',
    credentials,
    requestTimeoutMs: timeoutMs,
  });
  return new ManagementGateway(client, { timeoutMs: 10_000 });
}

describe('createManagementClient', () => {
  it('caches the middleware chain and still signs every post', async () => {
    const seen: { path: string; auth: string; body: string }[] = [];
    const endpoint = await listen((req, respond) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          path: req.url ?? '',
          auth: req.headers.authorization ?? '',
          body: Buffer.concat(chunks).toString(),
        });
        respond(200);
      });
    });
    const resolve = vi.spyOn(PostToConnectionCommand.prototype, 'resolveMiddleware');
    const gateway = gatewayFor(endpoint, 1_000);
    for (const id of ['a1', 'b2', 'c3']) await gateway.send(id, `{"to":"${id}"}`);
    // One chain for three sends: the gateway passes no per-call options, so the cache applies.
    expect(resolve).toHaveBeenCalledTimes(1);
    resolve.mockRestore();
    expect(seen.map((s) => [s.path, s.body])).toEqual([
      ['/dev/@connections/a1', '{"to":"a1"}'],
      ['/dev/@connections/b2', '{"to":"b2"}'],
      ['/dev/@connections/c3', '{"to":"c3"}'],
    ]);
    for (const s of seen) expect(s.auth).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDLOCAL\//);
    // Three different signatures: the cached chain signs each request anew.
    expect(new Set(seen.map((s) => s.auth)).size).toBe(3);
  });

  it('rejects a post that never answers at the request timeout and closes its socket', async () => {
    let closed: Promise<unknown> | undefined;
    const endpoint = await listen((req) => {
      // Never answer; record when the client gives the socket up.
      closed = once(req.socket, 'close');
    });
    const gateway = gatewayFor(endpoint, 200);
    const started = performance.now();
    await expect(gateway.send('hung', 'x')).rejects.toMatchObject({ code: 'unavailable' });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    // Well before the gateway's own 10 s bound: the client's timeout fired.
    expect(elapsed).toBeLessThan(5_000);
    await closed;
  });
});
