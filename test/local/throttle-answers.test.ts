/**
 * Every frame the emulator refuses under a throttle is answered in a frame of its own: the one
 * over its route's token bucket and every frame read while the connection is held back for it
 * (ws emits each frame of a chunk it has read, paused or not). Nothing runs for them, nothing is
 * lost, and the flood they come from leaves other connections served. The one exception is a
 * connection already holding `maxBufferedBytes` unsent: it is sent nothing more, and its refused
 * frames are counted as refused frames instead.
 */
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { connect, postUntilRefused, type TestSocket, useTestStack, WAIT_MS } from './helpers';

/** The answer API Gateway sends for a throttled frame, each with a request id of its own. */
function tooManyRequests(socket: TestSocket) {
  return {
    message: 'Too Many Requests',
    connectionId: socket.connectionId,
    requestId: expect.stringMatching(/^[A-Za-z0-9_-]{15}=$/),
  };
}

/** The next `count` frames, parsed, in the order received. */
async function answers(socket: TestSocket, count: number): Promise<Record<string, unknown>[]> {
  const frames: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) frames.push(await socket.nextJson());
  return frames;
}

/**
 * Checks that nothing else was sent to `socket`: a frame sent now (over an empty bucket) is
 * answered next, with nothing before it and nothing after it.
 */
async function expectNothingElse(socket: TestSocket): Promise<void> {
  expect(socket.pending).toBe(0);
  socket.ws.send('{"action":"ping"}');
  expect(await socket.nextJson()).toEqual(tooManyRequests(socket));
  expect(socket.pending).toBe(0);
}

/** Counters to compare before and after: what ran, and what was refused. */
function counters(stack: LocalStack) {
  const { invocations, throttledRequests, refusedFrames } = stack.emulator.stats;
  return { invocations, throttledRequests, refusedFrames };
}

function since(stack: LocalStack, before: ReturnType<typeof counters>) {
  const now = counters(stack);
  return {
    invocations: now.invocations - before.invocations,
    throttledRequests: now.throttledRequests - before.throttledRequests,
    refusedFrames: now.refusedFrames - before.refusedFrames,
  };
}

describe('a burst over its route throttle', () => {
  // A burst and almost no refill, so which frames pass does not depend on how fast the test runs.
  const stack = useTestStack({
    cdk: { props: { defaultRouteThrottle: { rateLimit: 0.001, burstLimit: 3 } } },
  });

  it("answers every frame once: the first three with the route's reply, each other with Too Many Requests", async () => {
    const socket = await connect(stack, 'burst', { topics: ['t-*'] });
    const before = counters(stack);
    // Sent in one go, so the emulator reads them a chunk at a time: most are read with the frame
    // that got the connection held back, or while it is.
    const sent = 2_000;
    for (let i = 0; i < sent; i++) socket.ws.send(JSON.stringify({ action: 'subscribe', topic: `t-${i}` }));

    const received = await answers(socket, sent);

    const replies = received.filter((frame) => frame.type === 'subscribed');
    const refusals = received.filter((frame) => frame.type !== 'subscribed');
    // The bucket let the first three through; their replies come whenever $default returns.
    expect(replies.map((frame) => frame.topic).sort()).toEqual(['t-0', 't-1', 't-2']);
    expect(replies).toEqual(replies.map((frame) => ({ type: 'subscribed', topic: frame.topic })));
    expect(refusals).toEqual(Array.from({ length: sent - 3 }, () => tooManyRequests(socket)));
    expect(new Set(refusals.map((frame) => frame.requestId)).size).toBe(sent - 3);
    expect(since(stack, before)).toEqual({ invocations: 3, throttledRequests: sent - 3, refusedFrames: 0 });
    await expectNothingElse(socket);
  });
});

describe('a flood beside another connection', () => {
  const stack = useTestStack({
    cdk: { props: { defaultRouteThrottle: { rateLimit: 0.001, burstLimit: 2 } } },
  });

  it("answers each of the flooder's frames while every post to the other connection arrives, in order", async () => {
    const flooder = await connect(stack, 'flooder');
    const neighbour = await connect(stack, 'neighbour');
    const client = new ApiGatewayManagementApiClient({ endpoint: stack.managementEndpoint, maxAttempts: 1 });
    const before = counters(stack);
    const sent = 20_000;
    for (let i = 0; i < sent; i++) flooder.ws.send('{"action":"ping"}');
    const flood = answers(flooder, sent);

    const posts = 20;
    const delivered: string[] = [];
    try {
      for (let n = 0; n < posts; n++) {
        await client.send(
          new PostToConnectionCommand({ ConnectionId: neighbour.connectionId, Data: `post-${n}` }),
        );
        delivered.push((await neighbour.next()).text);
      }
    } finally {
      client.destroy();
    }
    const received = await flood;

    expect(delivered).toEqual(Array.from({ length: posts }, (_, n) => `post-${n}`));
    expect(received.filter((frame) => frame.type === 'pong')).toHaveLength(2);
    expect(received.filter((frame) => frame.type !== 'pong')).toEqual(
      Array.from({ length: sent - 2 }, () => tooManyRequests(flooder)),
    );
    expect(since(stack, before)).toEqual({ invocations: 2, throttledRequests: sent - 2, refusedFrames: 0 });
    await expectNothingElse(flooder);
    expect(neighbour.pending).toBe(0);
  });
});

describe('a connection holding its unsent-bytes limit', () => {
  const stack = useTestStack({
    cdk: { props: { defaultRouteThrottle: { rateLimit: 0.001, burstLimit: 1 } } },
  });

  it('is sent nothing for the frames it has refused meanwhile; they are counted as refused frames', async () => {
    const socket = await connect(stack, 'full');
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    // The client stops reading, and posts fill its socket until the emulator refuses one.
    socket.ws.pause();
    // Read again whatever happens, or a failed assertion would leave the socket unable to close.
    onTestFinished(() => socket.ws.resume());
    const payload = 'x'.repeat(100_000);
    const posted = await postUntilRefused(stack, socket.connectionId, payload);
    expect(stack.emulator.stats.refusedFrames).toBe(1);

    const before = counters(stack);
    const sent = 100;
    for (let i = 0; i < sent; i++) socket.ws.send('{"action":"ping"}');
    // Nothing reaches a client that does not read: the counters are all there is to wait on.
    await vi.waitFor(() => expect(since(stack, before).throttledRequests).toBe(sent), { timeout: WAIT_MS });
    expect(since(stack, before)).toEqual({ invocations: 0, throttledRequests: sent, refusedFrames: sent });

    socket.ws.resume();
    for (let n = 0; n < posted; n++) expect((await socket.next()).text).toHaveLength(payload.length);
    await expectNothingElse(socket);
  });
});
