/**
 * The local stack answers only its own pages: real HTTP requests with the headers a browser sends
 * (`Origin`, `Sec-Fetch-Site`, a rebinding `Host`) are refused on every endpoint that acts or signs,
 * while the AWS SDK clients, which send none of them, keep working.
 */
import { request } from 'node:http';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import { CUSTOM_SECRET_REFUSAL } from '../../local/dev-endpoints';
import { connect, startTestStack, useTestStack } from './helpers';

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
