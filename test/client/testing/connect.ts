import { vi } from 'vitest';
import { createPushClient, type PushClient, type PushClientOptions } from '../../../client/push-client';
import { type FakeWebSocket, fakeWebSocket } from './fake-websocket';

/** The URL the test clients dial. */
export const URL = 'ws://push.test/local';

/** Lets queued microtasks and promise chains (the token function) run, without moving the clock. */
export const settle = () => vi.advanceTimersByTimeAsync(0);

/** A client on a fake socket, recording every event it emits in order. */
export async function connect(options: Partial<PushClientOptions> = {}) {
  const { WebSocket, sockets } = fakeWebSocket();
  const client: PushClient = createPushClient({
    url: URL,
    token: 't1',
    WebSocket,
    random: () => 0.5,
    ...options,
  });
  const events: unknown[][] = [];
  client.on('status', (status) => events.push(['status', status]));
  client.on('message', (message) => events.push(['message', message.id]));
  client.on('error', (error) => events.push(['error', error.code, error.message]));
  client.on('gap', (gap) => events.push(['gap', gap]));
  await settle();
  /** The newest socket. */
  const last = (): FakeWebSocket => {
    const socket = sockets.at(-1);
    if (!socket) throw new Error('no socket was opened');
    return socket;
  };
  return { client, sockets, events, last };
}
