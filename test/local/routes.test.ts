/**
 * Client frames against the running local stack: the wire protocol through the real `$default`
 * handler, route selection, binary frames, the 32 KB / 128 KB limits, the authorizer context as
 * routes receive it, and the `$disconnect` event.
 */
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { WebSocketAuthorizerEvent } from '../../lambdas/shared/events';
import { ROUTES } from '../../lambdas/shared/protocol';
import { QUOTAS } from '../../lambdas/shared/quotas';
import { ATTR, SK } from '../../lambdas/shared/tables';
import {
  connect,
  disconnectOf,
  documentClient,
  eventOf,
  nextInvocation,
  recordsOf,
  useTestStack,
} from './helpers';

const stack = useTestStack();

describe('the wire protocol through $default', () => {
  it('answers a ping with a pong carrying the server time and the uid stream’s latest seq', async () => {
    const socket = await connect(stack, 'proto-ping');
    const before = Date.now();

    const reply = await socket.request({ action: 'ping' });

    expect(reply).toEqual({ type: 'pong', ts: expect.any(Number), seq: 0 });
    expect(reply.ts).toBeGreaterThanOrEqual(before);
    await socket.close();
  });

  it('subscribes to a granted topic and stores the subscription record', async () => {
    const socket = await connect(stack, 'proto-sub', { topics: ['orders.*'] });

    expect(await socket.request({ action: 'subscribe', topic: 'orders.eu' })).toEqual({
      type: 'subscribed',
      topic: 'orders.eu',
    });

    const records = await recordsOf(stack, socket.connectionId);
    expect(records.map((r) => r.sk).sort()).toEqual(['conn', 'topic#orders.eu']);
    await socket.close();
  });

  it('refuses a topic the token does not grant with a forbidden error and keeps the socket open', async () => {
    const socket = await connect(stack, 'proto-forbidden', { topics: ['orders'] });

    const reply = await socket.request({ action: 'subscribe', topic: 'payroll' });

    expect(reply).toEqual({
      type: 'error',
      code: 'forbidden',
      message: 'token does not grant topic payroll',
      topic: 'payroll',
    });
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await recordsOf(stack, socket.connectionId)).toHaveLength(1);
    await socket.close();
  });

  it('unsubscribes and deletes the subscription record', async () => {
    const socket = await connect(stack, 'proto-unsub', { topics: ['news'] });
    await socket.request({ action: 'subscribe', topic: 'news' });

    expect(await socket.request({ action: 'unsubscribe', topic: 'news' })).toEqual({
      type: 'unsubscribed',
      topic: 'news',
    });

    expect((await recordsOf(stack, socket.connectionId)).map((r) => r.sk)).toEqual(['conn']);
    await socket.close();
  });

  it('answers a frame that is not JSON with a bad_request error', async () => {
    const socket = await connect(stack, 'proto-garbage');
    socket.ws.send('hello?');

    expect(await socket.nextJson()).toEqual({
      type: 'error',
      code: 'bad_request',
      message: 'frame is not valid JSON',
    });
    await socket.close();
  });

  it.each([
    [
      'a negative since',
      { action: 'resume', since: -1, topic: 'orders' },
      '"since" must be a non-negative integer',
    ],
    ['no since', { action: 'resume', topic: 'orders' }, 'missing "since"'],
    [
      'a bad epoch',
      { action: 'resume', since: 0, topic: 'orders', epoch: 'no spaces' },
      '"epoch" must match [A-Za-z0-9_-]{1,32}',
    ],
  ])('carries the topic on the error of a topic resume refused for %s', async (_, frame, message) => {
    const socket = await connect(stack, 'proto-resume-topic', { topics: ['orders'] });

    expect(await socket.request(frame)).toEqual({
      type: 'error',
      code: 'bad_request',
      message,
      topic: 'orders',
    });
    await socket.close();
  });

  it('answers gone to a ping, a subscribe and a resume once the connection record vanished, and stays open', async () => {
    const socket = await connect(stack, 'proto-gone', { topics: ['orders'] });
    const doc = documentClient(stack);
    try {
      await doc.send(
        new DeleteCommand({
          TableName: stack.tableName,
          Key: { [ATTR.pk]: socket.connectionId, [ATTR.sk]: SK.connection },
        }),
      );
    } finally {
      doc.destroy();
    }

    // Each says what to do about it, whichever frame met the vanished record.
    const message = `connection ${socket.connectionId} is no longer registered; reconnect`;
    expect(await socket.request({ action: 'ping' })).toEqual({ type: 'error', code: 'gone', message });
    expect(await socket.request({ action: 'subscribe', topic: 'orders' })).toEqual({
      type: 'error',
      code: 'gone',
      message,
      topic: 'orders',
    });
    expect(await socket.request({ action: 'resume', since: 0 })).toEqual({
      type: 'error',
      code: 'gone',
      message,
    });
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    await socket.close();
  });
});

describe('route selection', () => {
  it('hands {"action":"nope"} to $default with requestContext.routeKey "$default"', async () => {
    const socket = await connect(stack, 'route-nope');
    const invoked = nextInvocation(
      stack,
      'default',
      (r) => eventOf(r).requestContext.connectionId === socket.connectionId,
    );

    const reply = await socket.request({ action: 'nope' });

    const event = eventOf(await invoked);
    expect(event.requestContext.routeKey).toBe(ROUTES.default);
    expect(event.requestContext.eventType).toBe('MESSAGE');
    expect(event.requestContext.messageId).toMatch(/^[\w-]{15}=$/);
    expect(event.body).toBe('{"action":"nope"}');
    expect(event.isBase64Encoded).toBe(false);
    expect(reply).toMatchObject({ type: 'error', code: 'bad_request' });
    await socket.close();
  });

  it('sends the client the frame AWS sends when the $default integration fails', async () => {
    const socket = await connect(stack, 'route-broken');
    const restore = stack.emulator.setHandler('default', async () => {
      throw new Error('boom');
    });
    try {
      const reply = await socket.request({ action: 'ping' });
      expect(reply).toEqual({
        message: 'Internal server error',
        connectionId: socket.connectionId,
        requestId: expect.stringMatching(/^[\w-]{15}=$/),
      });
    } finally {
      restore();
    }
    await socket.close();
  });
});

describe('frames API Gateway refuses', () => {
  it('closes with 1003 when the client sends a binary frame, and never invokes $default', async () => {
    const socket = await connect(stack, 'frame-binary');
    let defaultRan = false;
    const off = stack.emulator.onInvoke((r) => {
      if (r.functionName === 'default') defaultRan = true;
    });
    const disconnected = disconnectOf(stack, socket.connectionId);

    socket.ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));

    expect((await socket.waitForClose()).code).toBe(1003);
    expect(eventOf(await disconnected).requestContext.disconnectStatusCode).toBe(1003);
    off();
    expect(defaultRan).toBe(false);
  });

  it('closes with 1009 when one frame exceeds 32 KB', async () => {
    const socket = await connect(stack, 'frame-32k');
    const disconnected = disconnectOf(stack, socket.connectionId);

    socket.ws.send('x'.repeat(QUOTAS.maxFrameBytes + 1));

    expect((await socket.waitForClose()).code).toBe(1009);
    expect(eventOf(await disconnected).requestContext).toMatchObject({
      disconnectStatusCode: 1009,
      disconnectReason: 'Message too big',
    });
  });

  it('passes a frame of exactly 32 KB on to $default', async () => {
    const socket = await connect(stack, 'frame-32k-exact');

    socket.ws.send('x'.repeat(QUOTAS.maxFrameBytes));

    // The gateway lets it through; the handler's own 8 KB control-frame limit answers it.
    expect(await socket.nextJson()).toMatchObject({ type: 'error', code: 'payload_too_large' });
    await socket.close();
  });

  it('passes a 128 KB message sent as four 32 KB frames on to $default', async () => {
    const socket = await connect(stack, 'frame-128k');
    const invoked = nextInvocation(
      stack,
      'default',
      (r) => eventOf(r).requestContext.connectionId === socket.connectionId,
    );
    const fragment = 'y'.repeat(QUOTAS.maxFrameBytes);

    for (let i = 0; i < 4; i++) socket.ws.send(fragment, { fin: i === 3 });

    expect(eventOf(await invoked).body).toHaveLength(QUOTAS.maxMessageBytes);
    expect(await socket.nextJson()).toMatchObject({ type: 'error', code: 'payload_too_large' });
    await socket.close();
  });

  it('closes with 1009 when a fragmented message exceeds 128 KB', async () => {
    const socket = await connect(stack, 'frame-129k');
    const disconnected = disconnectOf(stack, socket.connectionId);
    const fragment = 'z'.repeat(QUOTAS.maxFrameBytes);

    for (let i = 0; i < 5; i++) socket.ws.send(fragment, { fin: i === 4 });

    expect((await socket.waitForClose()).code).toBe(1009);
    expect(eventOf(await disconnected).requestContext.disconnectStatusCode).toBe(1009);
  });
});

describe('the authorizer context on later routes', () => {
  it('delivers strings as they are, numbers and booleans as strings, null as null, and drops undefined', async () => {
    const restore = stack.emulator.setHandler('authorizer', async (event: WebSocketAuthorizerEvent) => ({
      principalId: 'ctx-user',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      context: {
        uid: 'ctx-user',
        grants: '[]',
        str: 'text',
        num: 42,
        float: 1.5,
        yes: true,
        no: false,
        nothing: null,
        missing: undefined,
      },
    }));
    let socket: Awaited<ReturnType<typeof connect>>;
    try {
      socket = await connect(stack, 'ctx-user');
    } finally {
      restore();
    }
    const expected = {
      uid: 'ctx-user',
      grants: '[]',
      str: 'text',
      num: '42',
      float: '1.5',
      yes: 'true',
      no: 'false',
      nothing: null,
      principalId: 'ctx-user',
      integrationLatency: expect.any(Number),
    };
    const invoked = nextInvocation(
      stack,
      'default',
      (r) => eventOf(r).requestContext.connectionId === socket.connectionId,
    );

    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    const onDefault = eventOf(await invoked).requestContext.authorizer;
    expect(onDefault).toEqual(expected);
    expect(onDefault).not.toHaveProperty('missing');

    const disconnected = disconnectOf(stack, socket.connectionId);
    await socket.close();
    expect(eventOf(await disconnected).requestContext.authorizer).toEqual(expected);
  });
});

describe('$disconnect events', () => {
  it('carries the client close code and reason', async () => {
    const socket = await connect(stack, 'bye-normal');
    const disconnected = disconnectOf(stack, socket.connectionId);

    socket.ws.close(1000, 'done here');

    const event = eventOf(await disconnected);
    expect(event.requestContext).toMatchObject({
      routeKey: ROUTES.disconnect,
      eventType: 'DISCONNECT',
      connectionId: socket.connectionId,
      disconnectStatusCode: 1000,
      disconnectReason: 'done here',
      identity: { sourceIp: '127.0.0.1' },
      authorizer: { uid: 'bye-normal', principalId: 'bye-normal' },
    });
    expect(event.headers?.Host).toBe(`127.0.0.1:${stack.port}`);
  });

  it('reports 1005 with AWS wording when the close frame has no status', async () => {
    const socket = await connect(stack, 'bye-nostatus');
    const disconnected = disconnectOf(stack, socket.connectionId);

    socket.ws.close();

    expect(eventOf(await disconnected).requestContext).toMatchObject({
      disconnectStatusCode: 1005,
      disconnectReason: 'Client-side close frame status not set',
    });
  });

  it('runs after an abrupt close with 1006, and the record is deleted', async () => {
    const socket = await connect(stack, 'bye-abrupt');
    const disconnected = disconnectOf(stack, socket.connectionId);

    socket.ws.terminate();

    const record = await disconnected;
    expect(eventOf(record).requestContext.disconnectStatusCode).toBe(1006);
    expect(record.error).toBeUndefined();
    expect(await recordsOf(stack, socket.connectionId)).toEqual([]);
  });
});
