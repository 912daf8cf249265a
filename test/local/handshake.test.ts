import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { WebSocketAuthorizerEvent } from '../../lambdas/shared/events';
import { ROUTES, TOKEN_QUERY_PARAM } from '../../lambdas/shared/protocol';
import { QUOTAS } from '../../lambdas/shared/quotas';
import type { InvocationRecord } from '../../local/functions';
import type { LambdaHandler } from '../../local/lambda-types';
import {
  connect,
  eventOf,
  handshakeRefusal,
  nextInvocation,
  recordsOf,
  TestSocket,
  tokenFor,
  useTestStack,
  WAIT_MS,
  whenOpen,
} from './helpers';

const stack = useTestStack();

/** Records every invocation while `action` runs. */
async function invocationsDuring(action: () => Promise<unknown>): Promise<InvocationRecord[]> {
  const seen: InvocationRecord[] = [];
  const off = stack.emulator.onInvoke((record) => seen.push(record));
  try {
    await action();
  } finally {
    off();
  }
  return seen;
}

/** Runs `action` with the authorizer replaced. */
async function withAuthorizer<T>(authorizer: LambdaHandler, action: () => Promise<T>): Promise<T> {
  const restore = stack.emulator.setHandler('authorizer', authorizer);
  try {
    return await action();
  } finally {
    restore();
  }
}

function policy(
  effect: 'Allow' | 'Deny',
  resource: string,
  context: Record<string, unknown> = { uid: 'u1' },
) {
  return {
    principalId: 'u1',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
    },
    context,
  };
}

describe('handshake status codes', () => {
  it('opens the socket for a valid token and stores exactly one connection record', async () => {
    const socket = await connect(stack, 'hs-valid', {
      topics: ['orders'],
      headers: { 'User-Agent': 'handshake-test/1' },
    });

    const records = await recordsOf(stack, socket.connectionId);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      pk: socket.connectionId,
      sk: 'conn',
      connectionId: socket.connectionId,
      uid: 'hs-valid',
      grants: ['orders'],
      sourceIp: '127.0.0.1',
      userAgent: 'handshake-test/1',
    });
    await socket.close();
  });

  it('refuses a token signed with another secret with 401, running the authorizer but not $connect', async () => {
    const forged = await tokenFor({ ...stack, tokenSecret: 'not-the-secret' }, 'hs-forged');

    const seen = await invocationsDuring(async () => {
      const refusal = await handshakeRefusal(`${stack.wsUrl}?${TOKEN_QUERY_PARAM}=${forged}`);
      expect(refusal).toEqual({ status: 401, body: '{"message":"Unauthorized"}' });
    });

    expect(seen.map((r) => r.functionName)).toEqual(['authorizer']);
  });

  it('refuses an expired token with 401', async () => {
    const expired = await tokenFor(stack, 'hs-expired', [], {
      ttlSeconds: 60,
      nowMs: Date.now() - 3_600_000,
    });

    const refusal = await handshakeRefusal(`${stack.wsUrl}?token=${expired}`);

    expect(refusal.status).toBe(401);
  });

  it.each([
    ['no token parameter', ''],
    ['an empty token parameter', '?token='],
    ['the token under another name', '?jwt=abc'],
  ])('refuses %s with 401 without invoking the authorizer', async (_case, query) => {
    const seen = await invocationsDuring(async () => {
      const refusal = await handshakeRefusal(`${stack.wsUrl}${query}`);
      expect(refusal.status).toBe(401);
    });

    expect(seen).toEqual([]);
  });

  it('reads a token parameter given twice as its events carry it: the last value', async () => {
    const token = await tokenFor(stack, 'hs-twice');
    // The presence check and the authorizer's event used to read different values of the two.
    for (const query of [`?token=not-a-token&token=${token}`, `?token=&token=${token}`]) {
      const lastValid = new WebSocket(`${stack.wsUrl}${query}`);
      await whenOpen(lastValid, `the socket of ${query.slice(0, 30)}…`);
      // Its $disconnect runs before anything else is watched, here or in the next test.
      const disconnected = nextInvocation(stack, 'disconnect', () => true, WAIT_MS * 2);
      lastValid.close();
      await disconnected;
    }
    const seen = await invocationsDuring(async () => {
      for (const query of [`?token=${token}&token=not-a-token`, `?token=${token}&token=`]) {
        expect((await handshakeRefusal(`${stack.wsUrl}${query}`)).status).toBe(401);
      }
    });
    // The empty last value is missing: refused before the authorizer, as a lone empty one is.
    expect(seen.map((r) => r.functionName)).toEqual(['authorizer']);
  });

  it('answers 403 when the authorizer returns an explicit Deny policy', async () => {
    const token = await tokenFor(stack, 'hs-deny');
    const seen = await withAuthorizer(
      async (event: WebSocketAuthorizerEvent) => policy('Deny', event.methodArn),
      () =>
        invocationsDuring(async () => {
          const refusal = await handshakeRefusal(`${stack.wsUrl}?token=${token}`);
          expect(refusal).toEqual({ status: 403, body: '{"message":"Forbidden"}' });
        }),
    );

    expect(seen.map((r) => r.functionName)).toEqual(['authorizer']);
  });

  it('answers 403 when the Allow statement names another route', async () => {
    const token = await tokenFor(stack, 'hs-other-route');

    const refusal = await withAuthorizer(
      async (event: WebSocketAuthorizerEvent) =>
        policy('Allow', event.methodArn.replace('$connect', 'other')),
      () => handshakeRefusal(`${stack.wsUrl}?token=${token}`),
    );

    expect(refusal.status).toBe(403);
  });

  it('accepts an Allow whose Resource is a wildcard ARN', async () => {
    const restore = stack.emulator.setHandler('authorizer', async () =>
      policy('Allow', 'arn:aws:execute-api:*:*:*/*/*', { uid: 'hs-wildcard', grants: '[]' }),
    );
    try {
      const socket = await connect(stack, 'hs-wildcard');
      expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
      await socket.close();
    } finally {
      restore();
    }
  });

  it('answers 500 when the authorizer throws anything but Unauthorized', async () => {
    const token = await tokenFor(stack, 'hs-broken');

    const refusal = await withAuthorizer(
      async () => {
        throw new Error('Secrets Manager unreachable');
      },
      () => handshakeRefusal(`${stack.wsUrl}?token=${token}`),
    );

    expect(refusal).toEqual({ status: 500, body: '{"message":"Internal server error"}' });
  });

  it.each([
    ['an object', { uid: 'u1', nested: { a: 1 } }],
    ['an array', { uid: 'u1', list: [1, 2] }],
  ])('answers 500 when the authorizer context holds %s', async (_case, context) => {
    const token = await tokenFor(stack, 'hs-bad-context');
    const seen = await withAuthorizer(
      async (event: WebSocketAuthorizerEvent) => policy('Allow', event.methodArn, context),
      () =>
        invocationsDuring(async () => {
          const refusal = await handshakeRefusal(`${stack.wsUrl}?token=${token}`);
          expect(refusal.status).toBe(500);
        }),
    );

    expect(seen.map((r) => r.functionName)).toEqual(['authorizer']);
  });

  it('answers 500 when $connect throws, and nothing is stored', async () => {
    const token = await tokenFor(stack, 'hs-connect-throws');
    const restore = stack.emulator.setHandler('connect', async () => {
      throw new Error('DynamoDB down');
    });
    try {
      const refusal = await handshakeRefusal(`${stack.wsUrl}?token=${token}`);
      expect(refusal.status).toBe(500);
    } finally {
      restore();
    }
  });

  it('answers with the non-2xx status $connect returns', async () => {
    const token = await tokenFor(stack, 'hs-connect-429');
    const restore = stack.emulator.setHandler('connect', async () => ({ statusCode: 429 }));
    try {
      expect((await handshakeRefusal(`${stack.wsUrl}?token=${token}`)).status).toBe(429);
    } finally {
      restore();
    }
  });

  it('answers 403 from the real $connect when the authorizer context lacks a uid, and stores nothing', async () => {
    const token = await tokenFor(stack, 'hs-no-uid');
    const connected = nextInvocation(stack, 'connect');

    const refusal = await withAuthorizer(
      async (event: WebSocketAuthorizerEvent) => policy('Allow', event.methodArn, { role: 'guest' }),
      () => handshakeRefusal(`${stack.wsUrl}?token=${token}`),
    );

    expect(refusal.status).toBe(403);
    const record = await connected;
    expect(record.result).toEqual({ statusCode: 403 });
    expect(await recordsOf(stack, eventOf(record).requestContext.connectionId)).toEqual([]);
  });

  it('refuses a path other than the stage with 403', async () => {
    const token = await tokenFor(stack, 'hs-path');

    const refusal = await handshakeRefusal(`${stack.httpUrl.replace('http', 'ws')}/prod?token=${token}`);

    expect(refusal.status).toBe(403);
  });

  it('refuses a URL over 4,096 characters with 414 before the authorizer runs, and opens one of exactly 4,096', async () => {
    const token = await tokenFor(stack, 'hs-long-url');
    const base = `${stack.wsUrl}?${TOKEN_QUERY_PARAM}=${token}&pad=`;
    // Counted as the client would write it for AWS: with the wss scheme.
    const counted = base.replace(/^ws:/, 'wss:').length;
    const padded = (chars: number) => `${base}${'x'.repeat(chars - counted)}`;

    const seen = await invocationsDuring(async () => {
      const refusal = await handshakeRefusal(padded(QUOTAS.maxUrlChars + 1));
      expect(refusal).toEqual({ status: 414, body: '{"message":"URI Too Long"}' });
    });
    expect(seen).toEqual([]);

    const ws = new WebSocket(padded(QUOTAS.maxUrlChars));
    await whenOpen(ws, 'the socket to open');
    const socket = new TestSocket(ws, stack);
    await socket.close();
  });

  it('answers a plain GET on the stage URL with 426 Upgrade Required', async () => {
    const res = await fetch(`${stack.httpUrl}/${stack.stage}`);

    expect(res.status).toBe(426);
    await res.arrayBuffer();
  });
});

describe('events of the handshake', () => {
  it('gives the authorizer a REQUEST event with the token, headers and the $connect method ARN', async () => {
    const authorized = nextInvocation(stack, 'authorizer');
    const socket = await connect(stack, 'ev-auth', { headers: { 'User-Agent': 'events-test/2' } });

    const event = (await authorized).event as WebSocketAuthorizerEvent & Record<string, unknown>;
    expect(event.type).toBe('REQUEST');
    expect(event.methodArn).toBe(
      `arn:aws:execute-api:us-east-1:000000000000:localpush0/${stack.stage}/$connect`,
    );
    expect(event.queryStringParameters?.token).toMatch(/^ey/);
    expect(event.headers?.Host).toBe(`127.0.0.1:${stack.port}`);
    expect(event.headers?.['User-Agent']).toBe('events-test/2');
    expect(event.headers?.['X-Forwarded-For']).toBe('127.0.0.1');
    expect(event.requestContext).toMatchObject({
      routeKey: ROUTES.connect,
      eventType: 'CONNECT',
      connectionId: socket.connectionId,
      identity: { sourceIp: '127.0.0.1', userAgent: 'events-test/2' },
    });
    await socket.close();
  });

  it('opens for query parameters and headers named like Object properties, and passes them on as sent', async () => {
    const tag = 'proto-names';
    const connected = nextInvocation(stack, 'connect', (r) => eventOf(r).headers?.['x-test-tag'] === tag);
    // JSON.parse makes `__proto__` an own key, so ws sends it as a header like the others.
    const headers = JSON.parse(
      `{"x-test-tag":"${tag}","constructor":"c","toString":"t","hasOwnProperty":"h","__proto__":"p"}`,
    ) as Record<string, string>;
    const token = await tokenFor(stack, 'proto-names');
    const ws = new WebSocket(
      `${stack.wsUrl}?token=${encodeURIComponent(token)}&constructor=1&__proto__=2&toString=3&toString=4`,
      { headers },
    );
    const socket = new TestSocket(ws, stack);
    await whenOpen(ws, 'the socket to open');
    const event = eventOf(await connected);
    socket.connectionId = event.requestContext.connectionId;
    expect(Object.entries(event.queryStringParameters ?? {}).filter(([name]) => name !== 'token')).toEqual([
      ['constructor', '1'],
      ['__proto__', '2'],
      ['toString', '4'],
    ]);
    expect(Object.hasOwn(event.multiValueQueryStringParameters ?? {}, '__proto__')).toBe(true);
    expect(event.multiValueQueryStringParameters?.toString).toEqual(['3', '4']);
    for (const [name, value] of Object.entries({ constructor: 'c', toString: 't', hasOwnProperty: 'h' })) {
      expect(Object.hasOwn(event.headers ?? {}, name) && event.headers?.[name]).toBe(value);
    }
    expect(Object.hasOwn(event.headers ?? {}, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(event.headers)).toBe(Object.prototype);
    await socket.close();
  });

  it('gives $connect an AWS-shaped event whose identity is the real peer address and User-Agent', async () => {
    const connected = nextInvocation(
      stack,
      'connect',
      (r) => eventOf(r).headers?.['User-Agent'] === 'events-test/3',
    );
    const socket = await connect(stack, 'ev-connect', {
      topics: ['orders'],
      headers: { 'User-Agent': 'events-test/3' },
    });

    const event = eventOf(await connected);
    expect(event.isBase64Encoded).toBe(false);
    expect(event.queryStringParameters?.token).toMatch(/^ey/);
    expect(event.requestContext).toMatchObject({
      routeKey: ROUTES.connect,
      eventType: 'CONNECT',
      messageDirection: 'IN',
      stage: stack.stage,
      domainName: `127.0.0.1:${stack.port}`,
      apiId: 'localpush0',
      connectionId: socket.connectionId,
      identity: { sourceIp: '127.0.0.1', userAgent: 'events-test/3' },
      authorizer: { uid: 'ev-connect', grants: '["orders"]', principalId: 'ev-connect' },
    });
    expect(event.requestContext.connectionId).toMatch(/^[\w-]{15}=$/);
    expect(event.requestContext.requestId).toMatch(/^[\w-]{15}=$/);
    expect(event.requestContext.requestTime).toMatch(/^\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
    expect(event.requestContext.connectedAt).toBeLessThanOrEqual(event.requestContext.requestTimeEpoch);
    await socket.close();
  });
});
