import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createPushClient, type PushClient } from '../../client/index';
import { nextEvent } from './testing/events';

/**
 * The client on Node 20 with the `ws` package, against a small server speaking the wire protocol.
 * It checks what the fake socket cannot: that `ws` fits the injected constructor, hands text frames
 * over as strings, and reports a refused handshake as a close the client recovers from.
 */
let server: WebSocketServer;
let url: string;
let client: PushClient | undefined;
const tokensSeen: string[] = [];
/** Every frame the server got, parsed, in order. */
const received: unknown[] = [];

beforeEach(async () => {
  tokensSeen.length = 0;
  received.length = 0;
  server = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: ({ req }, done) => {
      const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token') ?? '';
      tokensSeen.push(token);
      done(token === 'good', 401);
    },
  });
  await once(server, 'listening');
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/local`;
  server.on('connection', (socket) => {
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data));
      received.push(frame);
      server.emit('frame');
      if (frame.action === 'ping') socket.send(JSON.stringify({ type: 'pong', ts: Date.now() }));
      if (frame.action === 'resume') socket.send(JSON.stringify({ type: 'resumed', seq: frame.since }));
      if (frame.action === 'subscribe')
        socket.send(JSON.stringify({ type: 'subscribed', topic: frame.topic }));
    });
  });
});

afterEach(async () => {
  client?.close();
  client = undefined;
  for (const socket of server.clients) socket.terminate();
  await new Promise((resolve) => server.close(resolve));
});

/** Resolves once the server has received `count` frames. */
async function serverReceived(count: number): Promise<unknown[]> {
  while (received.length < count) await once(server, 'frame');
  return received;
}

describe('the client over the ws package', () => {
  it('subscribes, receives a push as parsed JSON and closes with 1000', async () => {
    client = createPushClient({ url, token: 'good', WebSocket });
    const [socket] = (await once(server, 'connection')) as [import('ws').WebSocket];
    client.subscribe('orders');
    expect(await serverReceived(2)).toEqual([
      { action: 'resume', since: 0 },
      { action: 'subscribe', topic: 'orders' },
    ]);

    const delivered = nextEvent(client, 'message');
    const frame = { type: 'message', id: 'p1', topic: 'orders', data: { total: 42, note: 'é' }, ts: 1 };
    socket.send(JSON.stringify(frame));
    expect(await delivered).toEqual(frame);

    const closed = once(socket, 'close');
    client.close();
    const [code] = await closed;
    expect(code).toBe(1000);
  });

  it('gets in with a fresh token after the server refused the first with 401', async () => {
    const tokens = ['expired', 'good'];
    client = createPushClient({
      url,
      token: async () => tokens.shift() ?? 'none',
      WebSocket,
      backoffBaseMs: 10,
    });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(error.code));
    await nextEvent(client, 'status', (status) => status === 'open');
    expect(tokensSeen).toEqual(['expired', 'good']);
    expect(errors).toEqual(['socket_closed']);
  });

  it('names the status of a refused handshake in the socket_closed error, as ws reports it', async () => {
    // A backend signing with the wrong secret, or a URL without the stage, sees its client retry
    // for ever: the message says which of the two (401 the token, 403 the path) it is.
    client = createPushClient({ url, token: 'wrong-secret', WebSocket, backoffBaseMs: 60_000 });
    const error = await nextEvent(client, 'error');
    expect({ code: error.code, message: error.message }).toEqual({
      code: 'socket_closed',
      message: 'socket closed (1006): Unexpected server response: 401',
    });
    // ws's error event, kept as the cause.
    expect(error.cause).toMatchObject({ message: 'Unexpected server response: 401' });
  });

  it('reports an error frame that carries no message under its code, and keeps the socket', async () => {
    // A server of its own, or a proxy in between, may send less than the contract says: the
    // client reads it inside ws's data handler, where a throw would end the whole process.
    server.removeAllListeners('connection');
    server.on('connection', (socket) => {
      socket.on('message', (data) => {
        const frame = JSON.parse(String(data));
        if (frame.action === 'resume') socket.send(JSON.stringify({ type: 'error', code: 'bad_request' }));
        if (frame.action === 'ping') socket.send(JSON.stringify({ type: 'pong', ts: Date.now() }));
      });
    });
    client = createPushClient({ url, token: 'good', WebSocket });
    const error = await nextEvent(client, 'error');
    expect({ code: error.code, message: error.message }).toEqual({ code: 'bad_request', message: '' });
    expect(client.status).toBe('open');
    expect(client.seq).toBe(0);
  });
});
