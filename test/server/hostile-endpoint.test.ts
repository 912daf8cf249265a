/**
 * A publisher pointed at a server that is not the publish function, or one that misbehaves: real
 * `node:http` servers on port 0 answer each hostile shape. The publisher used to read any answer
 * whole (a 1.5 GB body took the process to 3.2 GB before failing), wait for ever on a body sent a
 * byte at a time (`fetch`'s own timeout restarts with each chunk), resolve to `null` or `[]` (the
 * caller's `result.delivered` then threw a TypeError), and copy a body's ANSI escapes into its
 * error message.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createPublisher,
  type FetchLike,
  httpPublisher,
  lambdaPublisher,
  MAX_ANSWER_BYTES,
} from '../../server/src/index';
import { refusal } from '../support/push-api-refusal';
import { within } from '../support/within';

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

const BODY = { to: { uid: 'u1' }, data: 1, id: 'hostile-1' } as const;

/** Any character a terminal acts on or a log splits at, which no message may carry raw. */
const RAW_CONTROL = /[\p{Cc}\u2028\u2029]/u;

describe('an HTTP publisher given an answer too long to be the publish function’s', () => {
  it('stops reading past MAX_ANSWER_BYTES, closes the connection, and throws internal', async () => {
    let sent = 0;
    const endpoint = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // An endless JSON string, written as fast as the client reads it, until it hangs up.
      const chunk = Buffer.alloc(64 * 1024, 'a');
      res.write('{"pad":"');
      const pump = () => {
        while (!res.destroyed && !res.writableEnded) {
          sent += chunk.byteLength;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      res.socket?.once('close', () => res.removeAllListeners('drain'));
      pump();
    });
    const error = await refusal(httpPublisher({ url: endpoint.url }).publish(BODY));
    expect(error).toMatchObject({ code: 'internal', retryable: false });
    expect(error.message).toBe(
      `${endpoint.url}/publish answered more than ${MAX_ANSWER_BYTES} bytes, which is not an outcome: the publish function answers at most Lambda's 6 MB`,
    );
    await within(endpoint.firstSocketClosed, 5_000, 'the client to close the connection');
    expect(sent).toBeGreaterThan(MAX_ANSWER_BYTES);
  });

  it('takes an answer of exactly MAX_ANSWER_BYTES, as sent', async () => {
    const head = '{"id":"big","pad":"';
    const answer = `${head}${'b'.repeat(MAX_ANSWER_BYTES - head.length - 2)}"}`;
    expect(Buffer.byteLength(answer)).toBe(MAX_ANSWER_BYTES);
    const endpoint = await serve(json(200, answer));
    const result = await httpPublisher({ url: endpoint.url }).publish(BODY);
    expect(result).toEqual(JSON.parse(answer));
  });

  it('applies the same bound to a fetch of the caller’s that gives only text()', async () => {
    const fetch: FetchLike = async () => ({
      status: 200,
      ok: true,
      text: async () => `"${'c'.repeat(MAX_ANSWER_BYTES)}"`,
    });
    const error = await refusal(httpPublisher({ url: 'http://127.0.0.1:1', fetch }).publish(BODY));
    expect(error).toMatchObject({ code: 'internal', retryable: false });
    expect(error.message).toContain(`answered more than ${MAX_ANSWER_BYTES} bytes`);
  });
});

describe('an HTTP publisher reading a body that is not fetch’s', () => {
  const OUTCOME = { id: 'x', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 };

  it('reads a Node stream, as node-fetch answers, in bytes or in strings, under the same bound', async () => {
    // node-fetch and cross-fetch give a Node Readable as `body`: it used to fail every call with
    // `res.body.getReader is not a function`, as unavailable, so a retrying caller retried for ever.
    for (const chunks of [
      [Buffer.from(JSON.stringify(OUTCOME))],
      ['{"id":"x",', '"connections":1,"delivered":1,"gone":0,"failed":0,"stored":0}'],
    ]) {
      const fetch: FetchLike = async () => ({
        status: 200,
        ok: true,
        body: Readable.from(chunks),
        text: async () => {
          throw new Error('text() is not called when the body can be read');
        },
      });
      expect(await httpPublisher({ url: 'http://127.0.0.1:1', fetch }).publish(BODY)).toEqual(OUTCOME);
    }
    const endless: FetchLike = async () => ({
      status: 200,
      ok: true,
      body: Readable.from(
        (function* () {
          for (;;) yield Buffer.alloc(64 * 1024, 0x20);
        })(),
      ),
      text: async () => '',
    });
    const error = await refusal(httpPublisher({ url: 'http://127.0.0.1:1', fetch: endless }).publish(BODY));
    expect(error).toMatchObject({ code: 'internal', retryable: false });
  });

  it('holds nothing per chunk read beyond the chunk: 300,000 one-byte chunks leave the heap as it was', async () => {
    // Each wait races the timeout. Racing one promise that lives as long as the call left a
    // reaction per wait until the call ended: about 330 bytes a chunk, so an answer trickled a
    // byte at a time grew the heap by hundreds of MB within the 6 MB bound.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const CHUNKS = 300_000;
    const space = new Uint8Array([0x20]);
    const text = JSON.stringify(OUTCOME);
    let grownBy = Number.NaN;
    const fetch: FetchLike = async () => {
      let sent = 0;
      gc();
      const before = process.memoryUsage().heapUsed;
      return {
        status: 200,
        ok: true,
        body: {
          [Symbol.asyncIterator]: () => ({
            next: async () => {
              sent++;
              if (sent <= CHUNKS) return { done: false, value: space };
              if (sent === CHUNKS + 1) {
                // Measured while the call still runs, as its waits are all still reachable then.
                gc();
                grownBy = process.memoryUsage().heapUsed - before;
                return { done: false, value: Buffer.from(text) };
              }
              return { done: true, value: undefined };
            },
          }),
        },
        text: async () => text,
      };
    };
    expect(await httpPublisher({ url: 'http://127.0.0.1:1', fetch }).publish(BODY)).toEqual(OUTCOME);
    // The chunks array holds one reference per chunk (8 bytes each, 2.4 MB); 330 bytes a chunk
    // more would be 99 MB.
    expect(grownBy).toBeLessThan(30 * 1024 * 1024);
  });
});

describe('an HTTP publisher given no whole answer within timeoutMs', () => {
  it('aborts a body sent a byte at a time, and throws unavailable', async () => {
    let timer: NodeJS.Timeout | undefined;
    const endpoint = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      // Each byte comes well within the timeout of the last, so only a deadline on the whole
      // answer ends this one.
      timer = setInterval(() => res.write(' '), 20);
      res.socket?.once('close', () => clearInterval(timer));
    });
    try {
      const push = httpPublisher({ url: endpoint.url, timeoutMs: 200 });
      const error = await refusal(push.publish(BODY));
      expect(error).toMatchObject({ code: 'unavailable', retryable: true });
      expect(error.message).toBe(`${endpoint.url}/publish did not answer within 200 ms`);
      expect(error.cause).toMatchObject({ name: 'TimeoutError' });
      await within(endpoint.firstSocketClosed, 5_000, 'the client to close the connection');
    } finally {
      clearInterval(timer);
    }
  });

  it('aborts a request whose answer never starts', async () => {
    const endpoint = await serve(() => {});
    const error = await refusal(httpPublisher({ url: endpoint.url, timeoutMs: 200 }).presence({ uid: 'u1' }));
    expect(error).toMatchObject({ code: 'unavailable', retryable: true });
    expect(error.message).toBe(`${endpoint.url}/publish did not answer within 200 ms`);
    await within(endpoint.firstSocketClosed, 5_000, 'the client to close the connection');
  });

  it('stops waiting for a fetch of the caller’s that ignores the signal, having aborted it', async () => {
    let signal: unknown;
    const fetch: FetchLike = (_url, init) => {
      signal = init.signal;
      return new Promise(() => {});
    };
    const error = await refusal(
      httpPublisher({ url: 'http://127.0.0.1:1', fetch, timeoutMs: 200 }).publish(BODY),
    );
    expect(error).toMatchObject({ code: 'unavailable', retryable: true });
    expect(signal).toBeInstanceOf(AbortSignal);
    expect((signal as AbortSignal).aborted).toBe(true);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '1000' as unknown as number])(
    'throws a RangeError for timeoutMs %s when the publisher is made',
    (timeoutMs) => {
      expect(() => httpPublisher({ url: 'http://127.0.0.1:3000', timeoutMs })).toThrow(RangeError);
      expect(() => httpPublisher({ url: 'http://127.0.0.1:3000', timeoutMs })).toThrow(
        'timeoutMs must be a number of milliseconds above 0 and at most 2147483647',
      );
    },
  );
});

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

  it('is cut to its first 1,000 characters in a refusal’s message', async () => {
    const endpoint = await serve(
      json(400, JSON.stringify({ error: { code: 'bad_request', message: 'm'.repeat(100_000) } })),
    );
    const error = await refusal(httpPublisher({ url: endpoint.url }).publish(BODY));
    expect(error).toMatchObject({ code: 'bad_request', message: `${'m'.repeat(1_000)}…` });
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

describe('an HTTP publisher given a legitimate answer', () => {
  it('decodes it as fetch’s text() does, however its bytes are split', async () => {
    const answer = '\uFEFF{"id":"é😀","connections":1,"delivered":1,"gone":0,"failed":0,"stored":0}';
    const bytes = Buffer.from(answer);
    const endpoint = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // One byte per write, and a flush between: every multi-byte character arrives split.
      let at = 0;
      const next = () => {
        if (at === bytes.byteLength) return void res.end();
        res.write(bytes.subarray(at, ++at), () => setImmediate(next));
      };
      next();
    });
    const result = await httpPublisher({ url: endpoint.url }).publish(BODY);
    expect(result).toEqual(JSON.parse(await new Response(bytes).text()));
    expect(result.id).toBe('é😀');
  });
});
