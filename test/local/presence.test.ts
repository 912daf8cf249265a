/**
 * Presence and kick through the running local stack: real sockets, the real publish handler,
 * and the emulator closing sockets on DeleteConnection as API Gateway does.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../lambdas/shared/limits';
import { QUOTAS } from '../../lambdas/shared/quotas';
import { ATTR, SK } from '../../lambdas/shared/tables';
import { virtualConnections } from '../support/virtual';
import { within } from '../support/within';
import {
  connect,
  documentClient,
  holdConnectAnswer,
  postJson,
  recordsOf,
  useTestStack,
  WAIT_MS,
} from './helpers';

const stack = useTestStack();

async function presence(query: unknown): Promise<Record<string, unknown>> {
  const { status, body } = await postJson(stack, '/publish', { presence: query });
  expect(status).toBe(200);
  return body as Record<string, unknown>;
}

describe('presence', () => {
  it('lists every socket of a uid, keeps it online while one remains, and offline after the last', async () => {
    const sockets = [
      await connect(stack, 'presence-1', { topics: ['orders'] }),
      await connect(stack, 'presence-1'),
      await connect(stack, 'presence-1'),
    ];
    expect(await sockets[0]?.request({ action: 'subscribe', topic: 'orders' })).toEqual({
      type: 'subscribed',
      topic: 'orders',
    });

    const all = await presence({ uid: 'presence-1' });
    expect(all.uid).toBe('presence-1');
    expect(all.online).toBe(true);
    const connections = all.connections as {
      connectionId: string;
      topics: string[];
      connectedAt: number;
      lastSeenAt: number;
    }[];
    expect(connections.map((c) => c.connectionId).sort()).toEqual(sockets.map((s) => s.connectionId).sort());
    expect(connections.find((c) => c.connectionId === sockets[0]?.connectionId)?.topics).toEqual(['orders']);
    for (const c of connections) expect(c.lastSeenAt).toBeGreaterThanOrEqual(c.connectedAt);

    await sockets[0]?.close();
    const two = await presence({ uid: 'presence-1' });
    expect(two.online).toBe(true);
    expect((two.connections as unknown[]).length).toBe(2);

    await sockets[1]?.close();
    await sockets[2]?.close();
    expect(await presence({ uid: 'presence-1' })).toEqual({
      uid: 'presence-1',
      online: false,
      connections: [],
    });
  });

  it('moves lastSeenAt forward on a ping', async () => {
    const socket = await connect(stack, 'presence-ping');
    const [before] = (await presence({ uid: 'presence-ping' })).connections as { lastSeenAt: number }[];
    const pong = await socket.request({ action: 'ping' });
    const [after] = (await presence({ uid: 'presence-ping' })).connections as { lastSeenAt: number }[];
    expect(after?.lastSeenAt).toBe(pong.ts);
    expect(after?.lastSeenAt).toBeGreaterThanOrEqual(before?.lastSeenAt ?? 0);
  });

  it('counts the connections and distinct uids of a topic', async () => {
    const sockets = [
      await connect(stack, 'topic-a', { topics: ['presence.*'] }),
      await connect(stack, 'topic-a', { topics: ['presence.*'] }),
      await connect(stack, 'topic-b', { topics: ['presence.*'] }),
    ];
    for (const s of sockets) await s.request({ action: 'subscribe', topic: 'presence.room' });
    expect(await presence({ topic: 'presence.room' })).toEqual({
      topic: 'presence.room',
      connections: 3,
      uids: 2,
    });
  });

  it('says which of several uids are online', async () => {
    await connect(stack, 'many-1');
    expect(await presence({ uids: ['many-0', 'many-1'] })).toEqual({
      online: ['many-1'],
      offline: ['many-0'],
    });
  });

  it("answers a topic's presence at exactly maxPresenceTopicUids subscribing uids, and refuses one more with 400 limit_exceeded", async () => {
    // Read one Query per uid, a topic the size of a broadcast outlasted the function: a timeout,
    // which the caller reads as worth retrying.
    await virtualConnections(stack).add(LIMITS.maxPresenceTopicUids, { topics: ['crowd'] });
    expect(await postJson(stack, '/publish', { presence: { topic: 'crowd' } })).toEqual({
      status: 200,
      body: { topic: 'crowd', connections: LIMITS.maxPresenceTopicUids, uids: LIMITS.maxPresenceTopicUids },
    });

    await virtualConnections(stack).add(1, { topics: ['crowd'] });
    const { status, body } = await postJson(stack, '/publish', { presence: { topic: 'crowd' } });
    expect({ status, body }).toEqual({
      status: 400,
      body: {
        error: {
          code: 'limit_exceeded',
          message: `topic crowd has more than ${LIMITS.maxPresenceTopicUids} subscribing uids; its presence reads each uid's connections, so it answers only up to ${LIMITS.maxPresenceTopicUids}`,
        },
      },
    });
  });

  it('answers a malformed query with 400 and the field', async () => {
    expect(await postJson(stack, '/publish', { presence: { uid: '' } })).toEqual({
      status: 400,
      body: {
        error: {
          code: 'bad_request',
          message:
            'presence.uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
        },
      },
    });
  });

  it('names an unknown field beside a valid one, as kick does, instead of asking for exactly one target', async () => {
    expect(await postJson(stack, '/publish', { presence: { uid: 'u1', group: 'g' } })).toEqual({
      status: 400,
      body: { error: { code: 'bad_request', message: 'unknown field presence.group' } },
    });
  });
});

describe('presence is honest about quiet connections', () => {
  it('reports a connection not seen within the idle timeout as offline, and online again once it pings', async () => {
    const socket = await connect(stack, 'quiet-1');
    const idleMs = QUOTAS.idleTimeoutSeconds * 1000;
    // As if the socket had said nothing for the whole idle timeout (its $disconnect lost, say).
    await setLastSeenAt(socket.connectionId, Date.now() - idleMs);
    expect(await presence({ uid: 'quiet-1' })).toEqual({ uid: 'quiet-1', online: false, connections: [] });
    expect(await presence({ uids: ['quiet-1'] })).toEqual({ online: [], offline: ['quiet-1'] });

    // Just inside the timeout it still counts.
    await setLastSeenAt(socket.connectionId, Date.now() - idleMs + 60_000);
    expect((await presence({ uid: 'quiet-1' })).online).toBe(true);

    await setLastSeenAt(socket.connectionId, Date.now() - idleMs);
    const pong = await socket.request({ action: 'ping' });
    const seen = await presence({ uid: 'quiet-1' });
    expect(seen.online).toBe(true);
    expect((seen.connections as { lastSeenAt: number }[])[0]?.lastSeenAt).toBe(pong.ts);
    expect(await presence({ uids: ['quiet-1'] })).toEqual({ online: ['quiet-1'], offline: [] });
  });

  it('leaves a topic subscriber not seen within the idle timeout out of the topic’s counts, by the same rule', async () => {
    const topic = 'presence.quiet';
    const live = await connect(stack, 'quiet-topic-live', { topics: [topic] });
    const quiet = await connect(stack, 'quiet-topic-q', { topics: [topic] });
    const quietToo = await connect(stack, 'quiet-topic-q', { topics: [topic] });
    for (const s of [live, quiet, quietToo]) {
      expect(await s.request({ action: 'subscribe', topic })).toEqual({ type: 'subscribed', topic });
    }
    expect(await presence({ topic })).toEqual({ topic, connections: 3, uids: 2 });

    const idleMs = QUOTAS.idleTimeoutSeconds * 1000;
    await setLastSeenAt(quiet.connectionId, Date.now() - idleMs);
    expect(await presence({ topic })).toEqual({ topic, connections: 2, uids: 2 });
    await setLastSeenAt(quietToo.connectionId, Date.now() - idleMs);
    expect(await presence({ topic })).toEqual({ topic, connections: 1, uids: 1 });
    expect((await presence({ uid: 'quiet-topic-q' })).online).toBe(false);

    // A ping brings a connection back, in the topic's counts as in its uid's presence.
    await quiet.request({ action: 'ping' });
    expect(await presence({ topic })).toEqual({ topic, connections: 2, uids: 2 });
    expect((await presence({ uid: 'quiet-topic-q' })).online).toBe(true);
  });
});

async function setLastSeenAt(connectionId: string, lastSeenAt: number): Promise<void> {
  const doc = documentClient(stack);
  try {
    await doc.send(
      new UpdateCommand({
        TableName: stack.tableName,
        Key: { [ATTR.pk]: connectionId, [ATTR.sk]: SK.connection },
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': ATTR.lastSeenAt },
        ExpressionAttributeValues: { ':s': lastSeenAt },
      }),
    );
  } finally {
    doc.destroy();
  }
}

describe('kick', () => {
  it('sends kicked first, then really closes every socket of the uid and removes its records', async () => {
    const sockets = [await connect(stack, 'kick-me'), await connect(stack, 'kick-me')];
    const bystander = await connect(stack, 'stay');

    const { status, body } = await postJson(stack, '/publish', {
      kick: { uid: 'kick-me', reason: 'logout' },
    });
    expect(status).toBe(200);
    expect(body).toEqual({ closed: 2 });

    for (const socket of sockets) {
      expect(await socket.nextJson()).toEqual({ type: 'kicked', reason: 'logout' });
      const closed = await socket.waitForClose();
      expect(closed.code).toBe(1000);
      expect(await recordsOf(stack, socket.connectionId)).toEqual([]);
    }
    expect(await bystander.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await presence({ uid: 'kick-me' })).toEqual({ uid: 'kick-me', online: false, connections: [] });
  });

  it('leaves a connection whose handshake was still running when the kick found it open with its record, never open with none', async () => {
    const uid = 'kick-handshake';
    // The real $connect has stored the record; its answer, and so the socket's opening, waits for
    // the test. API Gateway answers 410 to a post until then.
    const held = await holdConnectAnswer(stack, 'kick-handshake');
    let socket: Awaited<ReturnType<typeof connect>> | undefined;
    try {
      const opening = connect(stack, uid);
      await within(held.answered, WAIT_MS, 'the handshake to store its record');
      expect(await postJson(stack, '/publish', { kick: { uid } })).toEqual({
        status: 200,
        body: { closed: 0 },
      });
      held.release();
      socket = await opening;
    } finally {
      held.release();
      held.restore();
    }
    const id = socket.connectionId;
    // Open, so it must be reachable: its record is there, presence lists it and a push reaches it.
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect((await presence({ uid })).connections).toEqual([expect.objectContaining({ connectionId: id })]);
    const pushed = await postJson(stack, '/publish', { to: { uid }, data: 'after the kick' });
    expect(pushed.body).toMatchObject({ connections: 1, delivered: 1 });
    expect(await socket.nextJson()).toMatchObject({ type: 'message', data: 'after the kick' });
  });

  it('answers closed 0 for a uid with no connection', async () => {
    expect(await postJson(stack, '/publish', { kick: { uid: 'nobody-here' } })).toEqual({
      status: 200,
      body: { closed: 0 },
    });
  });
});
