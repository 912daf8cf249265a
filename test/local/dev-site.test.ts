/**
 * The local-only endpoints: dev tokens and config under `/dev/`, and the demo page (`/` and the
 * in-memory `/app.js` bundle), or its placeholder while the page does not exist.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestStack, TestSocket, useTestStack } from './helpers';

const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'local', 'public');

const stack = useTestStack();

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.httpUrl}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('GET /dev/token', () => {
  it('signs a token the real authorizer accepts, granting the topics asked for', async () => {
    const { status, body } = await getJson('/dev/token?uid=dev-u1&topics=orders,news');
    expect(status).toBe(200);

    const socket = new TestSocket(new WebSocket(`${stack.wsUrl}?token=${body.token}`));
    await new Promise((resolve, reject) => {
      socket.ws.once('open', resolve);
      socket.ws.once('error', reject);
    });

    expect(await socket.request({ action: 'subscribe', topic: 'news' })).toEqual({
      type: 'subscribed',
      topic: 'news',
    });
    expect(await socket.request({ action: 'subscribe', topic: 'payroll' })).toMatchObject({
      code: 'forbidden',
    });
    await socket.close();
  });

  it.each([
    ['/dev/token', 'uid is required, as in /dev/token?uid=u1'],
    [
      `/dev/token?uid=${'u'.repeat(129)}`,
      'uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
    ],
    ['/dev/token?uid=u1&topics=not%20a%20topic', 'topics must be topic names or prefix* patterns'],
    ['/dev/token?uid=u1&ttl=0', 'ttl must be a whole number of seconds from 1 to 86400'],
  ])('answers %s with 400 and says why', async (path, message) => {
    expect(await getJson(path)).toEqual({ status: 400, body: { error: { code: 'bad_request', message } } });
  });

  it('answers a grant whose token would not fit a handshake URL with 400 and says why, not 500', async () => {
    const uid = encodeURIComponent('😀'.repeat(128));
    const topics = Array.from({ length: 30 }, (_, k) => `t${k}-${'x'.repeat(110)}`).join(',');
    expect(await getJson(`/dev/token?uid=${uid}&topics=${topics}`)).toEqual({
      status: 400,
      body: {
        error: {
          code: 'bad_request',
          message: expect.stringMatching(
            /^the token would be \d+ characters; API Gateway's 4,096-character handshake URL fits at most 3584 \(grant fewer or shorter topics, or a prefix\* pattern\)$/,
          ),
        },
      },
    });
  });
});

describe('GET /dev/config', () => {
  it('tells a page where the WebSocket and the other endpoints are', async () => {
    expect(await getJson('/dev/config')).toEqual({
      status: 200,
      body: {
        stage: stack.stage,
        wsUrl: stack.wsUrl,
        httpUrl: stack.httpUrl,
        managementEndpoint: stack.managementEndpoint,
        tokenQueryParam: 'token',
      },
    });
  });
});

describe('the demo page', () => {
  it('serves local/public/index.html at /', async () => {
    const res = await fetch(`${stack.httpUrl}/`);

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe(readFileSync(join(PUBLIC_DIR, 'index.html'), 'utf8'));
  });

  it('serves a browser bundle of local/public/app.ts at /app.js', async () => {
    const res = await fetch(`${stack.httpUrl}/app.js`);
    const js = await res.text();

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js).not.toContain('failed to build');
    // Bundled: no bare module specifiers left for the browser to resolve.
    expect(js).not.toMatch(/^import .* from ['"][^./]/m);
  });

  it('serves a placeholder listing the endpoints while the demo page does not exist', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'push-public-'));
    const bare = await startTestStack({ publicDir: empty });
    try {
      const page = await fetch(`${bare.httpUrl}/`);
      const html = await page.text();
      expect(page.status).toBe(200);
      expect(html).toContain('is not there yet');
      expect(html).toContain(`${bare.wsUrl}?token=`);
      const script = await fetch(`${bare.httpUrl}/app.js`);
      expect(script.status).toBe(404);
      await script.arrayBuffer();
    } finally {
      await bare.stop();
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('answers an unknown path with 404', async () => {
    expect(await getJson('/nope')).toEqual({ status: 404, body: { message: 'Not Found' } });
  });
});
