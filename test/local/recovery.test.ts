/**
 * Message recovery end to end: the client library over real sockets against the local stack,
 * with the real handlers storing every uid message before delivery. Every wait is on an event.
 */

import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPushClient, type PushClient } from '../../client/index';
import { collect, nextEvent } from '../client/testing/events';
import { publishOk, stackPerTest, tokenFor } from './helpers';

let client: PushClient | undefined;
const own = stackPerTest(() => {
  client?.close();
  client = undefined;
});

const start = own.start;

/** A `ws` WebSocket that remembers every instance, so a test can kill the client's socket. */
function trackedWebSocket() {
  const sockets: WebSocket[] = [];
  class Tracked extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      sockets.push(this);
    }
  }
  return { WebSocket: Tracked, sockets };
}

describe('recovery', () => {
  it('streams 1,000 messages through two abrupt kills: all arrive, in order, exactly once', async () => {
    const running = await start();
    const tracked = trackedWebSocket();
    client = createPushClient({
      url: running.wsUrl,
      WebSocket: tracked.WebSocket,
      backoffBaseMs: 20,
      backoffCapMs: 100,
      token: () => tokenFor(running, 'streamer'),
    });
    const { messages, until } = collect(client);
    await nextEvent(client, 'status', (s) => s === 'open');

    // One stream from the backend: each publish answers before the next is sent.
    for (let n = 1; n <= 1000; n++) {
      if (n === 300 || n === 650) tracked.sockets.at(-1)?.terminate();
      await publishOk(running, { to: { uid: 'streamer' }, data: { n }, id: `m${n}` });
    }
    await until(1000);

    expect(messages.map((m) => (m.data as { n: number }).n)).toEqual(
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(tracked.sockets.length).toBeGreaterThanOrEqual(3);
  }, 90_000);

  it('delivers the 5 messages published while the uid was offline when it connects', async () => {
    const running = await start();
    for (let n = 1; n <= 5; n++) {
      expect(await publishOk(running, { to: { uid: 'away' }, data: { n }, id: `o${n}` })).toMatchObject({
        connections: 0,
        stored: 1,
      });
    }
    client = createPushClient({ url: running.wsUrl, WebSocket, token: () => tokenFor(running, 'away') });
    const { messages, until } = collect(client);
    await until(5);
    expect(messages.map((m) => m.id)).toEqual(['o1', 'o2', 'o3', 'o4', 'o5']);
  });

  it('flags a gap when the log was trimmed below since, and delivers what is left', async () => {
    const running = await start({ cdk: { props: { messageLogMaxMessages: 3 } } });
    for (let n = 1; n <= 6; n++)
      await publishOk(running, { to: { uid: 'trimmed' }, data: { n }, id: `t${n}` });
    client = createPushClient({
      url: running.wsUrl,
      WebSocket,
      since: 1,
      token: () => tokenFor(running, 'trimmed'),
    });
    const { messages, until } = collect(client);
    const gap = nextEvent(client, 'gap');
    await until(3);
    expect(await gap).toEqual({ seq: 6 });
    expect(messages.map((m) => m.id)).toEqual(['t4', 't5', 't6']);
  });

  it('calls the token function again when the token expired during a reconnect', async () => {
    const running = await start();
    const tracked = trackedWebSocket();
    let calls = 0;
    client = createPushClient({
      url: running.wsUrl,
      WebSocket: tracked.WebSocket,
      backoffBaseMs: 20,
      backoffCapMs: 100,
      // The second token has already expired, as a cached token would after a long outage.
      token: () => tokenFor(running, 'refresh', [], { ttlSeconds: ++calls === 2 ? -60 : 3600 }),
    });
    await nextEvent(client, 'status', (s) => s === 'open');
    const refused = nextEvent(client, 'error', (e) => e.code === 'socket_closed');
    tracked.sockets.at(-1)?.terminate();
    await refused;
    await nextEvent(client, 'status', (s) => s === 'open');
    expect(calls).toBe(3);
    expect(await publishOk(running, { to: { uid: 'refresh' }, data: 1 })).toMatchObject({ delivered: 1 });
  });

  it('rolls over before a 2 s hard limit with no message lost or repeated', async () => {
    const running = await start({ maxConnectionMs: 2000 });
    client = createPushClient({
      url: running.wsUrl,
      WebSocket,
      rotateAfterMs: 1200,
      token: () => tokenFor(running, 'roller'),
    });
    const statuses: string[] = [];
    client.on('status', (s) => statuses.push(s));
    const { messages, until } = collect(client);
    await nextEvent(client, 'status', (s) => s === 'open');
    const first = running.emulator.connectionIds()[0];
    let sent = 0;
    let afterFirstClosed = 0;
    while (afterFirstClosed < 5) {
      sent++;
      await publishOk(running, { to: { uid: 'roller' }, data: { n: sent }, id: `r${sent}` });
      if (!running.emulator.connectionIds().includes(first ?? '')) afterFirstClosed++;
    }
    await until(sent);
    expect(messages.map((m) => m.id)).toEqual(Array.from({ length: sent }, (_, i) => `r${i + 1}`));
    expect(statuses).toEqual(['connecting', 'open']);
  });
});
