/**
 * Request targets the stack's one port must read as paths, never as hosts: `//x` and `/\x` are
 * paths that `new URL(target, base)` would take for a host name (serving the demo page for
 * `//publish`), and `//[` one it would throw on, which went unhandled and killed a stack started
 * from code. A web page can send any of them to the port with `fetch(..., { mode: 'no-cors' })`.
 * Each is answered, a WebSocket handshake on such a path is refused as any wrong path is, and a
 * client connected all along still gets its push. HEAD is answered as GET without the body.
 */
import { request } from 'node:http';
import { connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, publishOk, useTestStack } from './helpers';

const stack = useTestStack();

/** One request with this exact target, as a raw socket writes it; resolves to the status line's code. */
function statusOf(method: string, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(stack.port, '127.0.0.1', () => {
      socket.write(
        `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${stack.port}\r\nConnection: close\r\n\r\n`,
      );
    });
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
  });
}

/** The status a WebSocket handshake on `path` is refused with. */
function handshakeStatus(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${stack.port}${path}`);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => reject(new Error(`handshake on ${path} was accepted`)));
    ws.on('error', () => {});
  });
}

describe('a request target that starts like a host', () => {
  it.each([
    ['//', 404],
    ['//publish', 404],
    ['/\\publish', 404],
    ['//@', 404],
    ['//a:b', 404],
    ['//[', 404],
    ['http://[', 400],
  ])('GET %s is answered %i, and the stack goes on serving', async (target, status) => {
    const listener = await connect(stack, 'target-watcher');
    expect(await statusOf('GET', target)).toBe(status);
    await publishOk(stack, { to: { uid: 'target-watcher' }, data: { after: target } });
    expect(await listener.nextJson()).toMatchObject({ type: 'message', data: { after: target } });
    await listener.close();
  });

  it.each([`//?token=x`, `//${'local'}?token=x`])(
    'a WebSocket handshake on %s is refused 403',
    async (path) => {
      expect(await handshakeStatus(path)).toBe(403);
    },
  );
});

describe('HEAD', () => {
  it.each(['/', '/index.html', '/metrics'])('on %s is answered 200 as GET is, with no body', async (path) => {
    const answer = await new Promise<{ status: number; body: string; length: string | undefined }>(
      (resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: stack.port, method: 'HEAD', path }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => {
            body += chunk.toString('utf8');
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body, length: res.headers['content-length'] }),
          );
        });
        req.on('error', reject);
        req.end();
      },
    );
    expect(answer).toMatchObject({ status: 200, body: '' });
  });
});
