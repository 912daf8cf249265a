/**
 * The client library beside a flooding neighbour, on the local stack. API Gateway's `$default`
 * throttle is one bucket for the whole route, not one per connection, so a client that floods
 * empties it for everyone: a neighbour's `subscribe` is then answered by API Gateway itself,
 * `{"message":"Too Many Requests",…}`, and runs nothing. The client must send it again (the
 * contract: a throttled frame ran nothing), or the topic stays unsubscribed on that socket, and
 * every push to it is lost, until the next reconnect, up to 2 hours later.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPushClient, type PushClient } from '../../client/index';
import {
  closeOpenSockets,
  connect,
  publishOk,
  stackPerTest,
  type TestSocket,
  tokenFor,
} from '../local/helpers';
import { TOO_MANY_REQUESTS } from '../support/throttled';
import { within } from '../support/within';
import { collect } from './testing/events';

let client: PushClient | undefined;
let flooding = false;
const own = stackPerTest(() => {
  flooding = false;
  client?.close();
  client = undefined;
});

/** What the client's own socket received, as API Gateway sent it. */
const received: Record<string, unknown>[] = [];
const arrivals: (() => void)[] = [];

/** The client's WebSocket, with its frames recorded as they arrive. */
class ObservedWebSocket extends WebSocket {
  constructor(url: string) {
    super(url);
    this.on('message', (data: Buffer) => {
      received.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
      for (const wake of arrivals.splice(0)) wake();
    });
  }
}

/** Resolves once the client's socket has received a frame that passes `match`. */
async function until(match: (frame: Record<string, unknown>) => boolean, what: string): Promise<void> {
  await within(
    (async () => {
      while (!received.some(match)) await new Promise<void>((resolve) => arrivals.push(resolve));
    })(),
    20_000,
    what,
  );
}

/** Keeps `$default`'s bucket empty: a ping sent for every answer, ten in flight. */
function flood(socket: TestSocket): Promise<void> {
  flooding = true;
  let drained!: () => void;
  const bucketEmpty = new Promise<void>((resolve) => {
    drained = resolve;
  });
  socket.ws.on('message', (data: Buffer) => {
    if ((JSON.parse(data.toString('utf8')) as { message?: unknown }).message === TOO_MANY_REQUESTS) drained();
    if (flooding) socket.ws.send('{"action":"ping"}');
  });
  for (let i = 0; i < 10; i++) socket.ws.send('{"action":"ping"}');
  return bucketEmpty;
}

describe('a client beside a neighbour flooding $default', () => {
  it('sends a subscribe API Gateway throttled again, and receives the topic once the flood stops', async () => {
    // One frame every 5 s for the whole route: a flood empties it for everyone.
    const stack = await own.start({
      cdk: { props: { defaultRouteThrottle: { rateLimit: 0.2, burstLimit: 1 } } },
    });
    received.length = 0;
    const flooder = await connect(stack, 'flooder');
    await flood(flooder);

    client = createPushClient({
      url: stack.wsUrl,
      WebSocket: ObservedWebSocket,
      token: await tokenFor(stack, 'neighbour', ['news']),
      backoffBaseMs: 50,
      backoffCapMs: 500,
    });
    const messages = collect(client);
    client.subscribe('news');
    await until((frame) => frame.message === TOO_MANY_REQUESTS, 'the neighbour throttled');
    flooding = false;
    await closeOpenSockets();

    await until((frame) => frame.type === 'subscribed' && frame.topic === 'news', 'the subscribe sent again');
    await publishOk(stack, { to: { topic: 'news' }, data: { n: 1 }, id: 'news-1' });
    await within(messages.until(1), 5_000, 'the topic push');
    expect(messages.messages.map((m) => m.id)).toEqual(['news-1']);
  });

  it('asks again for a uid resume API Gateway throttled, and receives what was published to the uid meanwhile without waiting for a heartbeat', async () => {
    const stack = await own.start({
      cdk: { props: { defaultRouteThrottle: { rateLimit: 0.2, burstLimit: 1 } } },
    });
    received.length = 0;
    // Published while the uid had no connection: only the resume brings them.
    await publishOk(stack, {
      batch: [1, 2].map((n) => ({ to: { uid: 'away' }, id: `away-${n}`, data: { n } })),
    });
    const flooder = await connect(stack, 'flooder');
    await flood(flooder);

    client = createPushClient({
      url: stack.wsUrl,
      WebSocket: ObservedWebSocket,
      token: await tokenFor(stack, 'away', []),
      since: 0,
      // No heartbeat in this test: a pong's seq would prompt a resume of its own.
      heartbeatMs: 3_600_000,
      backoffBaseMs: 50,
      backoffCapMs: 500,
    });
    const messages = collect(client);
    // The handshake's only frame, so API Gateway's answer is the resume's.
    await until((frame) => frame.message === TOO_MANY_REQUESTS, 'the uid resume throttled');
    flooding = false;
    await closeOpenSockets();

    await within(messages.until(2), 15_000, 'the messages the resume asked again brings');
    expect(messages.messages.map((m) => [m.id, m.seq])).toEqual([
      ['away-1', 1],
      ['away-2', 2],
    ]);
    expect(received.filter((frame) => frame.type === 'pong')).toEqual([]);
  });
});
