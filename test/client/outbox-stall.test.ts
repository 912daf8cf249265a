/**
 * The client library's outbox when replies go missing: a socket holding its unsent-bytes limit is
 * sent nothing (the emulator drops a route's reply as it refuses a post), so frames sent to it
 * meanwhile are never answered. The subscribes waiting behind them must still go out once the
 * client reads again, on the same socket.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { createPushClient, type PushClient } from '../../client/index';
import { TOPIC_FRAMES_IN_FLIGHT } from '../../client/push-client';
import { eventOf, postUntilRefused, stackPerTest, tokenFor, WAIT_MS } from '../local/helpers';
import { observeWebSockets } from '../support/observed-websocket';
import { within } from '../support/within';

let client: PushClient | undefined;
const own = stackPerTest(() => {
  client?.close();
  client = undefined;
});

const observed = observeWebSockets();
/** Every frame the client's sockets received, parsed, in order. */
const received = () => observed.frames();
const until = (check: () => boolean, what: string) => observed.until(check, what, WAIT_MS * 2);

describe('the client outbox behind replies that never come', () => {
  it('sends the subscribes waiting behind them once the socket is read again', async () => {
    const stack = await own.start();
    observed.reset();
    const topics = Array.from({ length: TOPIC_FRAMES_IN_FLIGHT + 1 }, (_, i) => `t${i}`);
    const subscribes: string[] = [];
    let connectionId = '';
    const off = stack.emulator.onInvoke((record) => {
      const event = eventOf(record);
      if (record.functionName === 'connect') connectionId = event.requestContext.connectionId;
      const body = typeof event.body === 'string' ? event.body : '';
      if (body.includes('"subscribe"')) subscribes.push((JSON.parse(body) as { topic: string }).topic);
    });
    onTestFinished(off);
    client = createPushClient({
      url: stack.wsUrl,
      WebSocket: observed.WebSocket,
      token: await tokenFor(stack, 'stalled', topics),
      backoffBaseMs: 50,
      // Short, so the test does not wait out the default; the behaviour does not depend on it.
      timeoutMs: 3_000,
    });
    const opened = new Promise<void>((resolve) => client?.on('status', (s) => s === 'open' && resolve()));
    await within(opened, WAIT_MS, 'the client to open');
    // Its handshake (the uid's resume) is answered: nothing is in flight on the socket.
    await until(() => received().some((f) => f.type === 'resumed'), 'the uid resume to be answered');
    const socket = observed.sockets[0]?.ws as WebSocket;

    // The client stops reading (a busy tab), and posts fill its socket until one is refused.
    socket.pause();
    onTestFinished(() => socket.resume());
    const payload = JSON.stringify({ type: 'noise', data: 'x'.repeat(100_000) });
    await postUntilRefused(stack, connectionId, payload);

    // Meanwhile the app subscribes: the first TOPIC_FRAMES_IN_FLIGHT go out and run, and their
    // replies are dropped; the last waits in the outbox for one of them.
    for (const topic of topics) client.subscribe(topic);
    // Nothing reaches a client that does not read: the emulator's counter is all there is to wait on.
    await vi.waitFor(() => expect(stack.emulator.stats.refusedFrames).toBe(1 + TOPIC_FRAMES_IN_FLIGHT), {
      timeout: WAIT_MS,
    });
    expect([...subscribes].sort()).toEqual(topics.slice(0, TOPIC_FRAMES_IN_FLIGHT).sort());

    socket.resume();
    const last = topics[TOPIC_FRAMES_IN_FLIGHT] as string;
    await until(
      () => received().some((f) => f.type === 'subscribed' && f.topic === last),
      `the subscribe of ${last} to be sent and answered`,
    );
    expect(observed.sockets).toHaveLength(1);
  });
});
