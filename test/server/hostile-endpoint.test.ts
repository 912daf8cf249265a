/**
 * A publisher pointed at a server that is not the publish function, or one that misbehaves: real
 * `node:http` servers on port 0 answer each hostile shape. The publisher used to resolve to `null`
 * or `[]` (the caller's `result.delivered` then threw a TypeError), and copy a body's ANSI escapes
 * into its error message.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createPublisher, httpPublisher, lambdaPublisher, PushApiError } from '../../server/src/index';

/** A fake endpoint: its url, and a promise per request that settles when that request's socket closes. */
interface FakeEndpoint {
  readonly url: string;
  /** Resolves when the socket of the first request the server gets has closed. */
  readonly firstSocketClosed: Promise<void>;
}

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** Starts a server on port 0 that answers every request with `answer`, once its body is read. */
async function serve(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<FakeEndpoint> {
  let closed!: () => void;
  const firstSocketClosed = new Promise<void>((resolve) => {
    closed = resolve;
  });
  let first = true;
  const server = createServer((req, res) => {
    if (first) {
      first = false;
      req.socket.once('close', () => closed());
    }
    req.resume();
    req.once('end', () => answer(req, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, firstSocketClosed };
}

/** Answers `status` with `body` as JSON's content type. */
const json =
  (status: number, body: string | Buffer) =>
  (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  };

/** Resolves to the PushApiError `promise` rejects with; fails the test if it resolves. */
async function refusal(promise: Promise<unknown>): Promise<PushApiError> {
  const error = await promise.then(
    (value) => {
      throw new Error(`expected a PushApiError, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(PushApiError);
  return error as PushApiError;
}

const BODY = { to: { uid: 'u1' }, data: 1, id: 'hostile-1' } as const;

/** Any character a terminal acts on or a log splits at, which no message may carry raw. */
const RAW_CONTROL = /[\p{Cc}\u2028\u2029]/u;

describe('an answer that is not a JSON object', () => {
  it.each([
    ['null', 'null'],
    ['[]', 'an array'],
    ['"delivered"', 'a string'],
    ['42', 'a number'],
    ['true', 'a boolean'],
  ])('answered 200 as %s, throws internal: %s is not an outcome', async (answer, kind) => {
    const endpoint = await serve(json(200, answer));
    const error = await refusal(httpPublisher({ url: endpoint.url }).publish(BODY));
    expect(error).toMatchObject({ code: 'internal', retryable: false });
    expect(error.message).toBe(`the publish function answered ${kind}, which is not an outcome`);
  });

  it('is refused on every path, as createPublisher checks it: an Invoke of your own that resolves to nothing', async () => {
    const push = createPublisher(async () => undefined);
    const error = await refusal(push.status('x'));
    expect(error).toMatchObject({ code: 'internal', retryable: false });
    expect(error.message).toBe('the publish function answered nothing, which is not an outcome');
  });

  it('through Lambda Invoke, a Payload of [] throws internal', async () => {
    const endpoint = await serve(json(200, '[]'));
    const push = lambdaPublisher({
      functionName: 'publish',
      clientConfig: { endpoint: endpoint.url, maxAttempts: 1 },
    });
    const error = await refusal(push.publish(BODY));
    expect(error).toMatchObject({ code: 'internal', retryable: false });
    expect(error.message).toBe('the publish function answered an array, which is not an outcome');
  });
});

describe('a server’s text in an error message', () => {
  const ANSI = '\u001b[2J\u001b[31mPWNED\u001b[0m\r\nnext line\u2028\u0085\u007f\u0000\ttab';
  const ESCAPED = '\\u001b[2J\\u001b[31mPWNED\\u001b[0m\\r\\nnext line\\u2028\\u0085\\u007f\\u0000\\ttab';

  it('is escaped when the body is not JSON', async () => {
    const endpoint = await serve(json(502, ANSI));
    const error = await refusal(httpPublisher({ url: endpoint.url }).publish(BODY));
    expect(error).toMatchObject({ code: 'unavailable' });
    expect(error.message).toBe(`${endpoint.url}/publish answered 502 with no JSON: ${ESCAPED}`);
    expect(error.message).not.toMatch(RAW_CONTROL);
  });

  it('is escaped in a refusal’s message', async () => {
    const endpoint = await serve(
      json(400, JSON.stringify({ error: { code: 'bad_request', message: ANSI } })),
    );
    const error = await refusal(httpPublisher({ url: endpoint.url }).publish(BODY));
    expect(error).toMatchObject({ code: 'bad_request', message: ESCAPED });
  });

  it('is escaped in a Lambda function error’s message, and in a Payload that is not JSON', async () => {
    const failed = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' });
      res.end(JSON.stringify({ errorType: 'Error', errorMessage: ANSI }));
    });
    const viaFailed = lambdaPublisher({
      functionName: 'publish',
      clientConfig: { endpoint: failed.url, maxAttempts: 1 },
    });
    const error = await refusal(viaFailed.publish(BODY));
    expect(error).toMatchObject({ code: 'unavailable' });
    expect(error.message).toBe(`the publish function failed: Error: ${ESCAPED}`);

    const garbled = await serve(json(200, ANSI));
    const viaGarbled = lambdaPublisher({
      functionName: 'publish',
      clientConfig: { endpoint: garbled.url, maxAttempts: 1 },
    });
    const second = await refusal(viaGarbled.publish(BODY));
    expect(second).toMatchObject({ code: 'internal' });
    expect(second.message).toBe(`the publish function answered with no JSON: ${ESCAPED}`);
  });

  it('is cut to its first 200 characters, marked as cut, and never halves a character', async () => {
    const endpoint = await serve(json(500, `${'x'.repeat(199)}😀${'y'.repeat(5_000)}`));
    const error = await refusal(httpPublisher({ url: endpoint.url }).publish(BODY));
    expect(error.message).toBe(`${endpoint.url}/publish answered 500 with no JSON: ${'x'.repeat(199)}…`);
  });
});
