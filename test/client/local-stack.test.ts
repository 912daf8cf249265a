import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPushClient, type PushClient } from '../../client/index';
import { STREAM } from '../../lambdas/shared/tables';
import type { LocalStack } from '../../local/stack';
import { publishOk, resetStream, stackPerTest } from '../local/helpers';
import { within } from '../support/within';
import { collect, nextEvent } from './testing/events';

/**
 * The client over real sockets against the local stack (the real handlers, dynalite and the API
 * Gateway emulator with its idle timeout and age limit). Every wait is on an event; the stack's
 * limits are shrunk so the 10-minute and 2-hour behaviours happen in about a second.
 */
let client: PushClient | undefined;
const own = stackPerTest(() => {
  client?.close();
  client = undefined;
});

const start = own.start;

async function devToken(running: LocalStack, uid: string): Promise<string> {
  const response = await fetch(`${running.httpUrl}/dev/token?uid=${uid}&topics=orders`);
  return ((await response.json()) as { token: string }).token;
}

/** Resolves at the `$disconnect` of `connectionId`: however the socket ended, its records are going. */
async function disconnectOf(running: LocalStack, connectionId: string, what: string): Promise<void> {
  let off = () => {};
  await within(
    new Promise<void>((resolve) => {
      off = running.emulator.onInvoke((record) => {
        const event = record.event as { requestContext?: { connectionId?: string } };
        if (record.functionName === 'disconnect' && event.requestContext?.connectionId === connectionId) {
          resolve();
        }
      });
    }),
    5_000,
    what,
  ).finally(() => off());
}

/** Publishes `count` messages to a uid in one batch, ids `${prefix}1`…. */
async function publishMany(running: LocalStack, uid: string, prefix: string, count: number): Promise<void> {
  await publishOk(running, {
    batch: Array.from({ length: count }, (_, i) => ({ to: { uid }, id: `${prefix}${i + 1}`, data: i + 1 })),
  });
}

describe('the client across a reset of its stream', () => {
  it('resumes a kept cursor of an old epoch with gap and receives every message of the new one', async () => {
    const running = await start();
    const token = () => devToken(running, 'u-epoch');
    client = createPushClient({ url: running.wsUrl, WebSocket, token });
    const before = collect(client);
    await nextEvent(client, 'status', (status) => status === 'open');
    await publishMany(running, 'u-epoch', 'old', 3);
    await before.until(3);
    // What an app keeps across a reload: the cursor and its epoch.
    const kept = { since: client.seq, epoch: client.epoch };
    expect(kept).toEqual({ since: 3, epoch: expect.stringMatching(/^[A-Za-z0-9_-]{12}$/) });
    client.close();

    await resetStream(running, STREAM.uid('u-epoch'));
    // The new stream grows past the kept cursor: by seq alone, 1–3 would look already seen.
    await publishMany(running, 'u-epoch', 'new', 5);

    client = createPushClient({ url: running.wsUrl, WebSocket, token, ...kept });
    const gap = nextEvent(client, 'gap');
    const after = collect(client);
    await after.until(5);
    expect(await gap).toEqual({ seq: 5 });
    expect(after.messages.map((m) => [m.id, m.seq])).toEqual([
      ['new1', 1],
      ['new2', 2],
      ['new3', 3],
      ['new4', 4],
      ['new5', 5],
    ]);
    expect(client.epoch).not.toBe(kept.epoch);
    expect(after.messages.every((m) => m.epoch === client?.epoch)).toBe(true);
    expect(client.seq).toBe(5);
  });

  it('notices a reset on a live message, says gap, and delivers the new epoch from its first seq', async () => {
    const running = await start();
    client = createPushClient({
      url: running.wsUrl,
      WebSocket,
      token: () => devToken(running, 'u-live-epoch'),
    });
    const { messages, until } = collect(client);
    await nextEvent(client, 'status', (status) => status === 'open');
    await publishMany(running, 'u-live-epoch', 'old', 3);
    await until(3);
    const oldEpoch = client.epoch;

    // Only the counter goes: the old messages stay behind and must not be replayed as new ones.
    await resetStream(running, STREAM.uid('u-live-epoch'), { counterOnly: true });
    const gap = nextEvent(client, 'gap');
    await publishMany(running, 'u-live-epoch', 'new', 5);
    await until(8);
    expect(await gap).toEqual({ seq: 1 });
    expect(messages.map((m) => [m.id, m.seq])).toEqual([
      ['old1', 1],
      ['old2', 2],
      ['old3', 3],
      ['new1', 1],
      ['new2', 2],
      ['new3', 3],
      ['new4', 4],
      ['new5', 5],
    ]);
    expect(client.epoch).not.toBe(oldEpoch);
    expect(client.seq).toBe(5);
  });
});

describe('the client against the local stack', () => {
  it('resumes what was published to its uid while it was away, each message once', async () => {
    const running = await start();
    let release: () => void = () => {};
    const secondTokenHeld = new Promise<void>((resolve) => {
      release = resolve;
    });
    let tokens = 0;
    client = createPushClient({
      url: running.wsUrl,
      WebSocket,
      backoffBaseMs: 50,
      token: async () => {
        // The reconnect waits here, so the publish below lands while no socket is open.
        if (++tokens === 2) await secondTokenHeld;
        return devToken(running, 'u-resume');
      },
    });
    const { messages, until } = collect(client);
    await nextEvent(client, 'status', (status) => status === 'open');
    expect(
      (await publishOk(running, { to: { uid: 'u-resume' }, data: { n: 1 }, id: 'first' })).delivered,
    ).toBe(1);
    await until(1);

    const [connectionId] = running.emulator.connectionIds();
    const reconnecting = nextEvent(client, 'status', (status) => status === 'reconnecting');
    const deleted = await fetch(`${running.managementEndpoint}/@connections/${connectionId}`, {
      method: 'DELETE',
    });
    expect(deleted.status).toBe(204);
    await reconnecting;
    expect(
      (await publishOk(running, { to: { uid: 'u-resume' }, data: { n: 2 }, id: 'second' })).delivered,
    ).toBe(0);
    release();

    await until(2);
    expect(messages.map((m) => [m.id, m.seq, m.data])).toEqual([
      ['first', 1, { n: 1 }],
      ['second', 2, { n: 2 }],
    ]);
    expect(client.seq).toBe(2);
  });

  it('recovers a message whose live delivery failed, from the log, once the next one shows the hole', async () => {
    const running = await start();
    client = createPushClient({
      url: running.wsUrl,
      WebSocket,
      token: () => devToken(running, 'u-hole'),
      reorderMs: 100,
    });
    const { messages, until } = collect(client);
    const resumes: string[] = [];
    // The handshake's resume, then the one that fills the hole (recorded once it has answered).
    const twoResumes = new Promise<void>((resolve) => {
      running.emulator.onInvoke((record) => {
        const body = (record.event as { body?: string }).body ?? '';
        if (record.functionName !== 'default' || !body.includes('"resume"')) return;
        resumes.push(body);
        if (resumes.length === 2) resolve();
      });
    });
    await nextEvent(client, 'status', (status) => status === 'open');

    // Every post of the first publish fails (500 on each attempt), but its log entry is written.
    running.emulator.faults.management = { errorRate: 1 };
    const lost = await publishOk(running, { to: { uid: 'u-hole' }, data: { n: 1 }, id: 'lost-live' });
    expect(lost).toMatchObject({ delivered: 0, failed: 1 });
    running.emulator.faults.management = undefined;
    expect(await publishOk(running, { to: { uid: 'u-hole' }, data: { n: 2 }, id: 'next' })).toMatchObject({
      delivered: 1,
    });

    await until(2);
    await twoResumes;
    expect(messages.map((m) => [m.id, m.seq])).toEqual([
      ['lost-live', 1],
      ['next', 2],
    ]);
    // The second resume names the epoch the messages so far came in.
    expect(client.epoch).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(messages.map((m) => m.epoch)).toEqual([client.epoch, client.epoch]);
    expect(resumes.map((body) => JSON.parse(body))).toEqual([
      { action: 'resume', since: 0 },
      { action: 'resume', since: 0, epoch: client.epoch },
    ]);
    expect(client.seq).toBe(2);
  });

  it('rolls over to a new socket before the age limit without losing or repeating a message', async () => {
    const running = await start({ maxConnectionMs: 4000 });
    client = createPushClient({
      url: running.wsUrl,
      WebSocket,
      token: () => devToken(running, 'u-roll'),
      rotateAfterMs: 1000,
    });
    const statuses: string[] = [];
    const errors: string[] = [];
    client.on('status', (status) => statuses.push(status));
    client.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
    const { messages, until } = collect(client);
    client.subscribe('orders');
    await nextEvent(client, 'status', (status) => status === 'open');

    // Publish to the uid and to the topic until the first socket is gone and a few more after, so
    // pushes land before, during and after the overlap of the two sockets.
    const firstSocket = running.emulator.connectionIds()[0];
    let sent = 0;
    let afterHandover = 0;
    while (afterHandover < 3) {
      sent += 1;
      await publishOk(running, { to: { uid: 'u-roll' }, data: { n: sent }, id: `uid-${sent}` });
      await publishOk(running, { to: { topic: 'orders' }, data: { n: sent }, id: `topic-${sent}` });
      if (!running.emulator.connectionIds().includes(firstSocket ?? '')) afterHandover += 1;
    }
    await until(sent * 2);

    const ids = messages.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id.startsWith('uid-'))).toHaveLength(sent);
    expect(ids.filter((id) => id.startsWith('topic-'))).toHaveLength(sent);
    expect(statuses).toEqual(['connecting', 'open']);
    expect(errors).toEqual([]);
  });

  it("rolls over at its uid's connection cap: the old socket evicted for the new one does not close the client", async () => {
    // One connection per uid: the new socket of a rollover puts the uid over the cap, and the
    // server evicts the old one with kicked/connection_limit, as it would the 21st of 20.
    const running = await start({ maxConnectionMs: 4000, cdk: { props: { maxConnectionsPerUid: 1 } } });
    client = createPushClient({
      url: running.wsUrl,
      WebSocket,
      token: () => devToken(running, 'u-cap'),
      rotateAfterMs: 1000,
    });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
    const statuses: string[] = [];
    client.on('status', (status) => statuses.push(status));
    const { messages, until } = collect(client);
    await nextEvent(client, 'status', (status) => status === 'open');
    const firstSocket = running.emulator.connectionIds()[0] as string;
    // The first socket's $disconnect: evicted, or closed by the client once the new one took over.
    await disconnectOf(running, firstSocket, 'the first socket to end');
    expect(errors).toEqual([]);
    // Evicted for a socket the server had already taken: never without one, so never reconnecting.
    expect(statuses).toEqual(['connecting', 'open']);
    await publishOk(running, { to: { uid: 'u-cap' }, data: 1, id: 'after-rollover' });
    await within(until(1), 5_000, 'the message published after the rollover');
    expect(messages.map((m) => m.id)).toEqual(['after-rollover']);
  });

  it("rolls over at its uid's connection cap without ending another tab's connection", async () => {
    // Two tabs of one uid at a cap of two. The rollover's new socket is the third; the other tab,
    // connected first and silent since, is the uid's least recently seen connection, which the
    // cap alone would end for good. The client names its sockets, so its own old one goes instead.
    const running = await start({ maxConnectionMs: 4000, cdk: { props: { maxConnectionsPerUid: 2 } } });
    const other = createPushClient({
      url: running.wsUrl,
      WebSocket,
      token: () => devToken(running, 'u-tabs'),
    });
    try {
      const otherErrors: string[] = [];
      other.on('error', (error) => otherErrors.push(`${error.code}: ${error.message}`));
      const otherMessages = collect(other);
      await nextEvent(other, 'status', (status) => status === 'open');
      const otherSocket = running.emulator.connectionIds()[0] as string;

      client = createPushClient({
        url: running.wsUrl,
        WebSocket,
        token: () => devToken(running, 'u-tabs'),
        rotateAfterMs: 1000,
      });
      const { messages, until } = collect(client);
      await nextEvent(client, 'status', (status) => status === 'open');
      const firstSocket = running.emulator.connectionIds().find((id) => id !== otherSocket) as string;
      await disconnectOf(running, firstSocket, "the rolling tab's first socket to end");

      expect(running.emulator.connectionIds()).toContain(otherSocket);
      expect([client.status, other.status]).toEqual(['open', 'open']);
      expect(otherErrors).toEqual([]);
      await publishOk(running, { to: { uid: 'u-tabs' }, data: 1, id: 'both-tabs' });
      await within(Promise.all([until(1), otherMessages.until(1)]), 5_000, 'the message in both tabs');
      expect([messages.map((m) => m.id), otherMessages.messages.map((m) => m.id)]).toEqual([
        ['both-tabs'],
        ['both-tabs'],
      ]);
    } finally {
      other.close();
    }
  });

  it('starts its stream over when the stack restarts with an empty log, and takes the new seqs', async () => {
    const first = await start();
    const port = first.port;
    client = createPushClient({
      url: first.wsUrl,
      WebSocket,
      backoffBaseMs: 50,
      // The stack in service at the time signs it: after the restart, the new one.
      token: () => devToken(own.stack as LocalStack, 'u-restart'),
    });
    const { messages, until } = collect(client);
    await nextEvent(client, 'status', (status) => status === 'open');
    for (const n of [1, 2, 3])
      await publishOk(first, { to: { uid: 'u-restart' }, data: { n }, id: `before-${n}` });
    await until(3);
    expect(client.seq).toBe(3);

    // An in-memory stack restarted on the same port: same URL, a log that counts from 1 again.
    const reconnecting = nextEvent(client, 'status', (status) => status === 'reconnecting');
    await first.stop();
    await reconnecting;
    const gap = nextEvent(client, 'gap');
    const second = await start({ port });
    expect(await gap).toEqual({ seq: 0 });
    await publishOk(second, { to: { uid: 'u-restart' }, data: { n: 4 }, id: 'after-restart' });
    await until(4);
    expect(messages.map((m) => [m.id, m.seq])).toEqual([
      ['before-1', 1],
      ['before-2', 2],
      ['before-3', 3],
      ['after-restart', 1],
    ]);
    expect(client.seq).toBe(1);
  });

  it('stops resuming a topic the server no longer keeps history for, once told, and stays subscribed to it', async () => {
    const first = await start({ topicHistory: ['orders'] });
    const port = first.port;
    // Sockets roll over every 1.5 s: each new one sends its whole handshake, and the one it
    // replaces closes only once every frame of that handshake has had its answer.
    client = createPushClient({
      url: first.wsUrl,
      WebSocket,
      backoffBaseMs: 50,
      rotateAfterMs: 1500,
      timeoutMs: 500,
      token: () => devToken(own.stack as LocalStack, 'u-history'),
    });
    const refusals: string[] = [];
    client.on('error', (error) => {
      if (error.code === 'bad_request') refusals.push(`${error.topic}: ${error.message}`);
    });
    const { messages, until } = collect(client);
    client.subscribe('orders');
    await nextEvent(client, 'status', (status) => status === 'open');
    await publishOk(first, { to: { topic: 'orders' }, data: 1, id: 'logged' });
    await until(1);
    expect(client.seqOf('orders')).toBe(1);

    // The operator takes `orders` out of the topics that keep history, and restarts the stack.
    const refused = nextEvent(client, 'error', (error) => error.code === 'bad_request');
    await first.stop();
    const second = await start({ port });
    await refused;
    expect(refusals).toEqual(['orders: topic orders keeps no history']);
    expect(client.seqOf('orders')).toBeUndefined();

    // The socket that was refused is replaced; the replacement's handshake is fully answered
    // before it closes, and asked nothing that was refused.
    const [socket] = second.emulator.connectionIds();
    await disconnectOf(second, socket ?? '', 'the refused socket, replaced');
    expect(refusals).toEqual(['orders: topic orders keeps no history']);
    await publishOk(second, { to: { topic: 'orders' }, data: 2, id: 'live' });
    await until(2);
    expect(messages.map((m) => [m.id, m.seq])).toEqual([
      ['logged', 1],
      ['live', undefined],
    ]);
  });

  it('receives, at the next heartbeat, a message whose publish looked its uid up before the index showed the socket', async () => {
    // A minute of index lag: the publish below cannot see the socket, whatever the machine's speed.
    const running = await start({ indexLagMs: 60_000 });
    // Every frame the client sent, with the reply it got, as each invocation settles.
    const answered: { frame: unknown; reply: Record<string, unknown> }[] = [];
    const waiters: { match: (reply: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
    const reply = (match: (reply: Record<string, unknown>) => boolean, what: string) =>
      within(new Promise<void>((resolve) => waiters.push({ match, resolve })), 5_000, what);
    running.emulator.onInvoke((record) => {
      if (record.functionName !== 'default') return;
      const frame = JSON.parse((record.event as { body?: string }).body ?? 'null');
      const answer = JSON.parse((record.result as { body?: string } | undefined)?.body ?? 'null');
      answered.push({ frame, reply: answer });
      for (const waiter of waiters) if (waiter.match(answer)) waiter.resolve();
    });
    const handshakeResumed = reply((r) => r.type === 'resumed', 'the handshake resume');
    client = createPushClient({
      url: running.wsUrl,
      WebSocket,
      token: () => devToken(running, 'u-lag'),
      heartbeatMs: 300,
    });
    const { messages, until } = collect(client);
    await nextEvent(client, 'status', (status) => status === 'open');
    await handshakeResumed;
    const replayed = reply((r) => r.type === 'resumed' && r.seq === 1, 'the resume that finds seq 1');
    expect(await publishOk(running, { to: { uid: 'u-lag' }, data: { n: 1 }, id: 'lagged' })).toMatchObject({
      connections: 0,
      delivered: 0,
      stored: 1,
    });
    await until(1);
    await replayed;
    expect(messages.map((m) => [m.id, m.seq])).toEqual([['lagged', 1]]);
    // Found by the resume a pong's seq prompted: nothing else asks for it (no later message, no hole).
    expect(answered.map((a) => a.reply)).toContainEqual(expect.objectContaining({ type: 'pong', seq: 1 }));
    expect(answered.filter((a) => (a.frame as { action: string }).action === 'resume')).toEqual([
      { frame: { action: 'resume', since: 0 }, reply: { type: 'resumed', seq: 0 } },
      {
        frame: { action: 'resume', since: 0 },
        reply: { type: 'resumed', seq: 1, epoch: messages[0]?.epoch },
      },
    ]);
  });

  it('keeps an idle connection open past the idle timeout by pinging', async () => {
    const running = await start({ idleTimeoutMs: 600 });
    client = createPushClient({
      url: running.wsUrl,
      WebSocket,
      token: () => devToken(running, 'u-idle'),
      heartbeatMs: 200,
    });
    const statuses: string[] = [];
    client.on('status', (status) => statuses.push(status));
    await nextEvent(client, 'status', (status) => status === 'open');
    const [connectionId] = running.emulator.connectionIds();

    // Five pings span 1 s, well past the 600 ms idle timeout.
    await new Promise<void>((resolve) => {
      let pings = 0;
      const off = running.emulator.onInvoke((record) => {
        const body = (record.event as { body?: string }).body ?? '';
        if (record.functionName === 'default' && body.includes('"ping"') && ++pings === 5) {
          off();
          resolve();
        }
      });
    });
    expect(running.emulator.connectionIds()).toEqual([connectionId]);
    expect(statuses).toEqual(['connecting', 'open']);
  });
});
