/**
 * The client library beside the frame allowance a uid's connections share on `$default`, at its
 * default burst: every connection the uid may hold reconnecting at once, each resuming its uid
 * stream and subscribing to and resuming every topic it holds (topics that keep history), must
 * fit in it, without the refill's help. Small caps from the CDK app's props keep it quick; the
 * refill is slowed to one frame a second so that the burst alone must hold the handshakes. Every
 * other allowance and budget is the stack's default for the caps, and no resume budget is met.
 */
import { describe, expect, it } from 'vitest';
import { createPushClient, type PushClient } from '../../client/index';
import { stackPerTest, tokenFor } from '../local/helpers';
import { observeWebSockets } from '../support/observed-websocket';

const CAPS = { maxSubscriptions: 10, maxConnectionsPerUid: 4 };
const SLOW_REFILL = { framesPerSecond: 1, uidFramesPerSecond: 1 };

const clients: PushClient[] = [];
const own = stackPerTest(() => {
  for (const client of clients.splice(0)) client.close();
});
const observed = observeWebSockets();

describe("the client library beside the uid's shared frame allowance", () => {
  it('opens every connection a uid may hold at once, each with every topic it may hold and their history, without one frame refused', async () => {
    const stack = await own.start({ topicHistory: ['t*'], cdk: { props: { ...CAPS, ...SLOW_REFILL } } });
    observed.reset();
    const topics = Array.from({ length: CAPS.maxSubscriptions }, (_, i) => `t${i}`);
    const token = await tokenFor(stack, 'tabs', topics);
    for (let i = 0; i < CAPS.maxConnectionsPerUid; i++) {
      const client = createPushClient({ url: stack.wsUrl, WebSocket: observed.WebSocket, token });
      // A cursor kept from an earlier session: each topic is resumed after its subscribe.
      for (const topic of topics) client.subscribe(topic, { since: 0 });
      clients.push(client);
    }

    // Every socket answered each topic's subscribe and resume and the uid's resume, or the first
    // frame was refused (which fails below).
    const answered = (frames: Record<string, unknown>[]) =>
      topics.every((t) => frames.some((f) => f.type === 'subscribed' && f.topic === t)) &&
      topics.every((t) => frames.some((f) => f.type === 'resumed' && f.topic === t)) &&
      frames.some((f) => f.type === 'resumed' && f.topic === undefined);
    await observed.until(
      () =>
        observed.frames().some((f) => f.type === 'error') ||
        (observed.sockets.length === CAPS.maxConnectionsPerUid &&
          observed.sockets.every((s) => answered(s.frames))),
      'every handshake answered',
      30_000,
    );

    expect(observed.frames().filter((f) => f.type === 'error')).toEqual([]);
    expect(observed.sockets).toHaveLength(CAPS.maxConnectionsPerUid);
  });
});
