/**
 * API Gateway's two connection lifetimes, scaled down: the idle timeout (10 min in AWS) and the
 * maximum connection age (2 h in AWS), configured here as 600 ms and 2 s. Time passing is the
 * subject of these tests, so they wait on timers; every other wait is on an event.
 */
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { describe, expect, it } from 'vitest';
import { connect, disconnectOf, eventOf, managementClient, useTestStack } from './helpers';

const IDLE_MS = 600;
const MAX_AGE_MS = 2_000;
const TICK_MS = 100;

const stack = useTestStack({ idleTimeoutMs: IDLE_MS, maxConnectionMs: MAX_AGE_MS });

const tick = () => new Promise((resolve) => setTimeout(resolve, TICK_MS));
describe('idle timeout', () => {
  it('closes a connection with no traffic with 1001 once the idle timeout passes, and runs $disconnect', async () => {
    const socket = await connect(stack, 'idle-quiet');
    const disconnected = disconnectOf(stack, socket.connectionId);

    const closed = await socket.waitForClose();

    expect(closed.code).toBe(1001);
    const context = eventOf(await disconnected).requestContext;
    expect(context).toMatchObject({ disconnectStatusCode: 1001, disconnectReason: 'Going away' });
    // Both times are the gateway's own: the client's `open` event comes after the gateway's clock
    // started, so timing from it would undercount under load.
    expect(context.requestTimeEpoch - context.connectedAt).toBeGreaterThanOrEqual(IDLE_MS);
  });

  it('keeps a connection open while the client sends a message within every idle window', async () => {
    const socket = await connect(stack, 'idle-chatty');
    let sent = 0;
    const chatting = setInterval(() => {
      socket.ws.send('{"action":"ping"}');
      sent++;
    }, TICK_MS);

    await new Promise((resolve) => setTimeout(resolve, 2 * IDLE_MS));
    clearInterval(chatting);

    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    for (let i = 0; i < sent; i++) expect(await socket.nextJson()).toMatchObject({ type: 'pong' });
    await socket.close();
  });

  it('keeps a connection open while the server pushes to it within every idle window', async () => {
    const socket = await connect(stack, 'idle-listener');
    const client = managementClient(stack);
    const posts: Promise<unknown>[] = [];
    const pushing = setInterval(() => {
      posts.push(
        client.send(new PostToConnectionCommand({ ConnectionId: socket.connectionId, Data: 'keepalive' })),
      );
    }, TICK_MS);

    await new Promise((resolve) => setTimeout(resolve, 2 * IDLE_MS));
    clearInterval(pushing);
    await Promise.all(posts);
    client.destroy();

    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    for (let i = 0; i < posts.length; i++) expect((await socket.next()).text).toBe('keepalive');
    await socket.close();
  });

  it('counts a frame sent in time that the emulator, held up past the idle timeout, had not yet read', async () => {
    const socket = await connect(stack, 'idle-held-up');
    socket.ws.send('{"action":"ping"}');
    // The process (client and emulator alike) is held up, as a loaded machine may hold it: the
    // ping waits unread in the socket. API Gateway reads on machines of its own, so it would have
    // had the ping in time; the emulator must not take its own delay for the client's silence.
    const heldUntil = Date.now() + IDLE_MS + 200;
    while (Date.now() < heldUntil) {
      // Nothing else runs meanwhile.
    }

    expect(await socket.nextJson()).toMatchObject({ type: 'pong' });
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    await socket.close();
  });

  it('does not count ping control frames as activity', async () => {
    const socket = await connect(stack, 'idle-pinger');
    const pinging = setInterval(() => socket.ws.ping(), TICK_MS);

    const closed = await socket.waitForClose();
    clearInterval(pinging);

    expect(closed.code).toBe(1001);
  });
});

describe('maximum connection age', () => {
  it('closes an active connection with 1001 at the maximum age', async () => {
    const socket = await connect(stack, 'max-age');
    const disconnected = disconnectOf(stack, socket.connectionId, MAX_AGE_MS + 5_000);
    let closedCode: number | undefined;
    void socket.closed.then((closed) => {
      closedCode = closed.code;
    });

    while (closedCode === undefined) {
      await tick();
      if (socket.ws.readyState === socket.ws.OPEN) socket.ws.send('{"action":"ping"}');
    }

    expect(closedCode).toBe(1001);
    const context = eventOf(await disconnected).requestContext;
    expect(context.disconnectStatusCode).toBe(1001);
    expect(context.requestTimeEpoch - context.connectedAt).toBeGreaterThanOrEqual(MAX_AGE_MS);
  });
});
