/**
 * The client library against `$default`'s per-connection frame allowance and reserved concurrency
 * at their defaults, on the local stack: a client holding the most topics a connection may hold
 * subscribes to them all on every new socket (with its uid resume), and must never be refused for
 * it, neither on its first socket nor on the one it reconnects with.
 */
import { DeleteConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { describe, expect, it } from 'vitest';
import { createPushClient, type PushClient } from '../../client/index';
import { LIMITS, minFrameBurstFor } from '../../lambdas/shared/limits';
import { eventOf, managementClient, stackPerTest, tokenFor } from '../local/helpers';
import { observeWebSockets } from '../support/observed-websocket';

let client: PushClient | undefined;
const own = stackPerTest(() => {
  client?.close();
  client = undefined;
});

const observed = observeWebSockets();
/** Waits for a frame that makes `check` hold. */
const until = (check: () => boolean, what: string) => observed.until(check, what, 30_000);

/** True once socket `n` has answered every topic's subscribe and the uid's resume. */
const handshakeAnswered = (n: number, topics: readonly string[]) => () => {
  const frames = observed.sockets[n]?.frames ?? [];
  const subscribed = new Set(frames.filter((f) => f.type === 'subscribed').map((f) => f.topic));
  return topics.every((t) => subscribed.has(t)) && frames.some((f) => f.type === 'resumed');
};

describe("the client library beside $default's frame allowance", () => {
  it('reconnects holding the most topics a connection may hold without one frame refused', async () => {
    // The smallest allowance the stack accepts at this subscription cap: a reconnect fits only if
    // the client sends each subscribe once, paced inside $default's concurrency.
    const stack = await own.start({
      cdk: { props: { frameBurst: minFrameBurstFor(LIMITS.maxSubscriptions) } },
    });
    observed.reset();
    const connectionIds: string[] = [];
    const off = stack.emulator.onInvoke((record) => {
      if (record.functionName === 'connect') connectionIds.push(eventOf(record).requestContext.connectionId);
    });
    const topics = Array.from({ length: LIMITS.maxSubscriptions }, (_, i) => `t${i}`);
    client = createPushClient({
      url: stack.wsUrl,
      WebSocket: observed.WebSocket,
      token: await tokenFor(stack, 'holder', topics),
      backoffBaseMs: 50,
    });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    for (const topic of topics) client.subscribe(topic);
    await until(handshakeAnswered(0, topics), "the first socket's handshake answered");

    // The server ends the socket (as a kick or a deploy would): the client reconnects and sends
    // its whole handshake again, on a connection of its own.
    const management = managementClient(stack);
    try {
      await management.send(new DeleteConnectionCommand({ ConnectionId: connectionIds[0] }));
    } finally {
      management.destroy();
      off();
    }
    await until(handshakeAnswered(1, topics), "the second socket's handshake answered");

    // No frame was refused by the service, nor answered by API Gateway itself: the client keeps
    // at most TOPIC_FRAMES_IN_FLIGHT of them in flight, well inside $default's reserved
    // concurrency, past which API Gateway would answer `Internal server error`.
    expect(observed.frames().filter((f) => f.type === 'error')).toEqual([]);
    expect(observed.frames().filter((f) => f.type === undefined)).toEqual([]);
    expect(errors.filter((e) => !e.startsWith('socket_closed'))).toEqual([]);
  });

  it("stays within the allowance while the resume budget refuses most of its topics' resumes", async () => {
    // Every topic keeps history, so each gets a resume after its subscribe: the budget lets 30 a
    // minute through and refuses the rest, which the client asks again for after a backoff.
    const stack = await own.start({ topicHistory: ['t*'] });
    observed.reset();
    const subscribes: string[] = [];
    const off = stack.emulator.onInvoke((record) => {
      if (record.functionName !== 'default') return;
      const frame = JSON.parse(String(eventOf(record).body)) as { action?: string; topic?: string };
      if (frame.action === 'subscribe' && frame.topic !== undefined) subscribes.push(frame.topic);
    });
    const topics = Array.from({ length: LIMITS.maxSubscriptions }, (_, i) => `t${i}`);
    client = createPushClient({
      url: stack.wsUrl,
      WebSocket: observed.WebSocket,
      token: await tokenFor(stack, 'historian', topics),
    });
    const refused = (start: string) =>
      observed.frames().filter((f) => f.code === 'rate_limited' && String(f.message).startsWith(start));
    try {
      for (const topic of topics) client.subscribe(topic, { since: 0 });
      // Well past the first round of refusals (70 of the handshake's 100), into the retries; or
      // the first frame the allowance refused, which fails below.
      await until(
        () => refused('more than').length >= 120 || refused('too many frames').length > 0,
        "120 of the topics' resumes refused by the budget",
      );
    } finally {
      off();
    }
    expect(refused('too many frames')).toEqual([]);
    // Each subscribe went out once: a refused resume is asked again alone.
    expect(subscribes.sort()).toEqual([...topics].sort());
    expect(observed.sockets).toHaveLength(1);
  }, 60_000);
});
