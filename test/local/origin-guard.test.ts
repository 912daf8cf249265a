/**
 * The local stack answers only its own pages: real HTTP requests with the headers a browser sends
 * (`Origin`, `Sec-Fetch-Site`, a rebinding `Host`) are refused on every endpoint that acts or signs,
 * while the AWS SDK clients, which send none of them, keep working.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, it, vi } from 'vitest';
import { CUSTOM_SECRET_REFUSAL } from '../../local/dev-endpoints';
import type { LocalStack } from '../../local/stack';
import { connect, eventOf, startTestStack, tokenFor, useTestStack } from './helpers';

const stack = useTestStack();
const EVIL = 'http://evil.example';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP request with exactly these headers (fetch would add its own and forbid some). */
function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body = '',
  port = stack.port,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const publishBody = (id: string) => JSON.stringify({ to: { uid: 'guarded' }, data: { id }, id });
const snsForm = (id: string) =>
  new URLSearchParams({
    Action: 'Publish',
    TopicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
    Message: publishBody(id),
  }).toString();
const INVOKE = '/2015-03-31/functions/publish/invocations';

describe('requests a web page could make', () => {
  it.each([
    [
      'POST /publish, JSON, from another origin',
      'POST',
      '/publish',
      { origin: EVIL, 'content-type': 'application/json' },
      publishBody('p1'),
    ],
    [
      'POST /publish, text/plain, from the stack’s own origin',
      'POST',
      '/publish',
      { origin: 'own', 'content-type': 'text/plain' },
      publishBody('p2'),
    ],
    [
      'SNS Publish, form-encoded, from another origin',
      'POST',
      '/',
      { origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' },
      snsForm('s1'),
    ],
    [
      'SNS Publish, form-encoded, cross-site with no Origin',
      'POST',
      '/',
      { 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' },
      snsForm('s2'),
    ],
    [
      'SNS Publish, form-encoded, from the stack’s own origin',
      'POST',
      '/',
      { origin: 'own', 'content-type': 'application/x-www-form-urlencoded' },
      snsForm('s3'),
    ],
    [
      'Lambda Invoke, text/plain, from another origin',
      'POST',
      INVOKE,
      { origin: EVIL, 'content-type': 'text/plain' },
      publishBody('i1'),
    ],
    [
      'Lambda Invoke, text/plain, from a sandboxed page (Origin: null)',
      'POST',
      INVOKE,
      { origin: 'null', 'content-type': 'text/plain' },
      publishBody('i2'),
    ],
    [
      'Lambda Invoke, no content type, same-site',
      'POST',
      INVOKE,
      { 'sec-fetch-site': 'same-site' },
      publishBody('i3'),
    ],
    [
      'a kick through Invoke, from another origin',
      'POST',
      INVOKE,
      { origin: EVIL, 'content-type': 'application/json' },
      JSON.stringify({ kick: { uid: 'guarded' } }),
    ],
    [
      'a Management API post, from another origin',
      'POST',
      '/local/@connections/abc%3D',
      { origin: EVIL, 'content-type': 'text/plain' },
      'hello',
    ],
  ] as [string, string, string, Record<string, string>, string][])(
    'refuses %s with 403, and nothing happens',
    async (_, method, path, headers, body) => {
      const socket = await connect(stack, 'guarded');
      const origin = headers.origin === 'own' ? stack.httpUrl : headers.origin;
      const answer = await send(
        method,
        path,
        { ...headers, ...(origin === undefined ? {} : { origin }) },
        body,
      );
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'forbidden' } });
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
      // Nothing was published or kicked: the next frame the socket gets is the answer to this ping.
      expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
      expect(socket.pending).toBe(0);
    },
  );

  it('serves the stack’s own page: a same-origin JSON publish goes through', async () => {
    const socket = await connect(stack, 'guarded');
    const answer = await send(
      'POST',
      '/publish',
      { origin: stack.httpUrl, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' },
      publishBody('own-page'),
    );
    expect(answer.status).toBe(200);
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'own-page' });
  });

  it("serves a dev server's proxy (Vite, say) once it sends the stack's Host and drops the page's Origin, as the README says", async () => {
    const socket = await connect(stack, 'guarded');
    // What the proxy passes on from a page on http://localhost:5173 posting to its own /publish.
    const page = { 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' };
    const stackHost = `127.0.0.1:${stack.port}`;
    const asIs = await send('POST', '/publish', { ...page, host: 'localhost:5173' }, publishBody('proxy-0'));
    const pageOrigin = { ...page, host: stackHost, origin: 'http://localhost:5173' };
    const withOrigin = await send('POST', '/publish', pageOrigin, publishBody('proxy-1'));
    expect([asIs.status, withOrigin.status]).toEqual([403, 403]);

    const rewritten = await send('POST', '/publish', { ...page, host: stackHost }, publishBody('proxy-2'));
    expect(rewritten.status).toBe(200);
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'proxy-2' });
  });

  it('keeps the AWS SDK clients working: SNS Publish and Lambda Invoke send no Origin', async () => {
    const socket = await connect(stack, 'guarded');
    const sns = new SNSClient({ endpoint: stack.httpUrl, region: stack.region, credentials });
    const lambda = new LambdaClient({ endpoint: stack.httpUrl, region: stack.region, credentials });
    try {
      await sns.send(
        new PublishCommand({
          TopicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
          Message: publishBody('via-sns'),
        }),
      );
      expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'via-sns' });
      const out = await lambda.send(
        new InvokeCommand({ FunctionName: 'publish', Payload: Buffer.from(publishBody('via-invoke')) }),
      );
      expect(out.FunctionError).toBeUndefined();
      expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'via-invoke' });
    } finally {
      sns.destroy();
      lambda.destroy();
    }
  });
});

/**
 * A WebSocket handshake with exactly these headers, answered 101 (the socket is then closed) or
 * refused with a status and body. `host: null` sends no Host header at all.
 */
async function handshake(
  on: LocalStack,
  headers: Record<string, string | null>,
): Promise<{ status: number; body: string }> {
  const token = await tokenFor(on, 'guarded-socket', ['orders']);
  const { host, ...rest } = headers;
  return new Promise((resolve, reject) => {
    const req = request({
      host: new URL(on.httpUrl).hostname,
      port: on.port,
      path: `/${on.stage}?token=${token}`,
      setHost: host === undefined,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...(typeof host === 'string' ? { host } : {}),
        ...(rest as Record<string, string>),
      },
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve({ status: 101, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The `$connect`s a stack runs from now on, by the Origin of their handshake. */
function connectsOf(on: LocalStack): { origins: (string | undefined)[]; stop: () => void } {
  const origins: (string | undefined)[] = [];
  const stop = on.emulator.onInvoke((record) => {
    if (record.functionName === 'connect') origins.push(eventOf(record).headers?.origin);
  });
  return { origins, stop };
}

describe('WebSocket handshakes a web page could make', () => {
  it.each([
    [
      'from a page on another site',
      { origin: EVIL },
      'WebSocket connections from pages on http://evil.example are refused',
    ],
    [
      'from a file: page or a sandboxed frame (Origin: null)',
      { origin: 'null' },
      'pages on null are refused',
    ],
    [
      'naming another host (DNS rebinding)',
      { host: 'evil.example:3000' },
      'Host "evil.example:3000" is not this stack',
    ],
    ['naming no host at all', { host: null }, 'Host "" is not this stack'],
  ])('refuses one %s with 403 and why, before $connect runs', async (_case, headers, why) => {
    const connects = connectsOf(stack);
    try {
      const refused = await handshake(stack, headers);
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body).message).toContain(why);
      // The same handshake from a page on this machine runs $connect: the only one this test saw.
      expect((await handshake(stack, { origin: 'http://localhost:5173' })).status).toBe(101);
      expect(connects.origins).toEqual(['http://localhost:5173']);
    } finally {
      connects.stop();
    }
  });

  it.each([
    ['the stack’s own page', (on: LocalStack) => on.httpUrl],
    ['a dev server on localhost', () => 'http://localhost:5173'],
    ['a page on 127.0.0.1 over https', () => 'https://127.0.0.1:8443'],
    ['a page on [::1]', () => 'http://[::1]:8080'],
  ])('lets %s connect, as clients outside a browser (no Origin) do', async (_case, origin) => {
    expect((await handshake(stack, { origin: origin(stack) })).status).toBe(101);
    expect((await handshake(stack, {})).status).toBe(101);
  });

  it('lets the stack’s own page on another loopback address connect, and says each refusal once at warn', async () => {
    const logged: string[] = [];
    const record = (level: string) => (message: string, fields?: object) =>
      message === 'WebSocket handshake refused' && logged.push(`${level} ${JSON.stringify(fields)}`);
    const other = await startTestStack({
      host: '127.0.0.2',
      logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
    });
    try {
      expect(other.httpUrl).toMatch(/^http:\/\/127\.0\.0\.2:/);
      expect((await handshake(other, { origin: other.httpUrl })).status).toBe(101);
      for (let k = 0; k < 3; k++) expect((await handshake(other, { origin: EVIL })).status).toBe(403);
      const reason = expect.stringContaining('pages on http://evil.example are refused');
      expect(logged.map((line) => line.split(' ')[0])).toEqual(['warn', 'debug', 'debug']);
      expect(logged[0]).toEqual(reason);
      // Many origins in one minute: 20 reasons a minute at warn, the rest at debug.
      for (let k = 0; k < 25; k++) await handshake(other, { origin: `https://s${k}.evil.example` });
      const levels = logged.map((line) => line.split(' ')[0]);
      expect([levels.filter((l) => l === 'warn').length, levels.filter((l) => l === 'debug').length]).toEqual(
        [20, 8],
      );
      // A minute later a refusal is told again: a page cannot silence the log for good.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 61_000 });
      try {
        await handshake(other, { origin: 'http://app.test:8080' });
      } finally {
        vi.useRealTimers();
      }
      expect(logged.at(-1)).toMatch(/^warn .*pages on http:\/\/app\.test:8080 are refused/);
    } finally {
      await other.stop();
    }
  });

  it('lets the origins given as allowedOrigins (--allow-origin) connect, and still refuses the rest', async () => {
    const allowing = await startTestStack({ allowedOrigins: ['http://App.test:8080', 'null'] });
    try {
      expect((await handshake(allowing, { origin: 'http://app.test:8080' })).status).toBe(101);
      expect((await handshake(allowing, { origin: 'null' })).status).toBe(101);
      expect((await handshake(allowing, { origin: 'http://app.test:8081' })).status).toBe(403);
      expect((await handshake(allowing, { origin: EVIL })).status).toBe(403);
    } finally {
      await allowing.stop();
    }
  });
});

describe('GET /dev/token', () => {
  it.each([
    ['from another origin', { origin: EVIL }],
    ['cross-site without an Origin', { 'sec-fetch-site': 'cross-site' }],
    ['through a rebound host name', { host: `evil.example:PORT` }],
  ])('refuses a request %s with 403', async (_, headers) => {
    const fixed = Object.fromEntries(
      Object.entries(headers).map(([k, v]) => [k, v.replace('PORT', String(stack.port))]),
    );
    const answer = await send('GET', '/dev/token?uid=u1', fixed);
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'forbidden' } });
  });

  it('answers the stack’s own page without any CORS header', async () => {
    const answer = await send('GET', '/dev/token?uid=u1', { 'sec-fetch-site': 'same-origin' });
    expect(answer.status).toBe(200);
    expect(typeof JSON.parse(answer.body).token).toBe('string');
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    const config = await send('GET', '/dev/config', {});
    expect(config.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses to sign with a secret of the developer’s own, with 403 and why', async () => {
    const custom = await startTestStack({ tokenSecret: 'a-secret-someone-chose-on-purpose-0123456789' });
    try {
      const answer = await send('GET', '/dev/token?uid=u1', {}, '', custom.port);
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body)).toEqual({
        error: { code: 'forbidden', message: CUSTOM_SECRET_REFUSAL },
      });
    } finally {
      await custom.stop();
    }
  });
});
