/**
 * The client library against `$default`'s per-connection frame allowance and reserved concurrency
 * at their defaults, on the local stack: a client holding the most topics a connection may hold
 * subscribes to them all on every new socket (with its uid resume), and must never be refused for
 * it, neither on its first socket nor on the one it reconnects with.
 */
import { DeleteConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPushClient, type PushClient } from '../../client/index';
import { LIMITS, minFrameBurstFor } from '../../lambdas/shared/limits';
import { eventOf, managementClient, stackPerTest, tokenFor } from '../local/helpers';
import { within } from '../support/within';

let client: PushClient | undefined;
const own = stackPerTest(() => {
  client?.close();
  client = undefined;
});

/** Every frame each socket of the client received, per socket, in order. */
const sockets: Record<string, unknown>[][] = [];
const arrivals: (() => void)[] = [];

class ObservedWebSocket extends WebSocket {
  constructor(url: string) {
    super(url);
    const received: Record<string, unknown>[] = [];
    sockets.push(received);
    this.on('message', (data: Buffer) => {
      received.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
      for (const wake of arrivals.splice(0)) wake();
    });
  }
}

/** Resolves once `check` holds, looked at on every frame the client receives. */
async function until(check: () => boolean, what: string): Promise<void> {
  await within(
    (async () => {
      while (!check()) await new Promise<void>((resolve) => arrivals.push(resolve));
    })(),
    30_000,
    what,
  );
}

/** True once socket `n` has answered every topic's subscribe and the uid's resume. */
const handshakeAnswered = (n: number, topics: readonly string[]) => () => {
  const frames = sockets[n] ?? [];
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
    sockets.length = 0;
    const connectionIds: string[] = [];
    const off = stack.emulator.onInvoke((record) => {
      if (record.functionName === 'connect') connectionIds.push(eventOf(record).requestContext.connectionId);
    });
    const topics = Array.from({ length: LIMITS.maxSubscriptions }, (_, i) => `t${i}`);
    client = createPushClient({
      url: stack.wsUrl,
      WebSocket: ObservedWebSocket,
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
    expect(sockets.flat().filter((f) => f.type === 'error')).toEqual([]);
    expect(sockets.flat().filter((f) => f.type === undefined)).toEqual([]);
    expect(errors.filter((e) => !e.startsWith('socket_closed'))).toEqual([]);
  });

  it("stays within the allowance while the resume budget refuses most of its topics' resumes", async () => {
    // Every topic keeps history, so each gets a resume after its subscribe: the budget lets 30 a
    // minute through and refuses the rest, which the client asks again for after a backoff.
    const stack = await own.start({ topicHistory: ['t*'] });
    sockets.length = 0;
    const subscribes: string[] = [];
    const off = stack.emulator.onInvoke((record) => {
      if (record.functionName !== 'default') return;
      const frame = JSON.parse(String(eventOf(record).body)) as { action?: string; topic?: string };
      if (frame.action === 'subscribe' && frame.topic !== undefined) subscribes.push(frame.topic);
    });
    const topics = Array.from({ length: LIMITS.maxSubscriptions }, (_, i) => `t${i}`);
    client = createPushClient({
      url: stack.wsUrl,
      WebSocket: ObservedWebSocket,
      token: await tokenFor(stack, 'historian', topics),
    });
    const refused = (start: string) =>
      sockets.flat().filter((f) => f.code === 'rate_limited' && String(f.message).startsWith(start));
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
    expect(sockets).toHaveLength(1);
  }, 60_000);
});
