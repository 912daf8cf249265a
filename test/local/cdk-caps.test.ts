/**
 * The caps as PushStack props: the local stack builds each function's environment from the
 * synthesized template, so a prop set here changes what the real handlers allow, with no
 * environment variable set by hand.
 */
import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import { ATTR, SK } from '../../lambdas/shared/tables';
import { connect, postJson, recordsOf, useTestStack } from './helpers';

const stack = useTestStack({
  topicHistory: ['history.*'],
  cdk: {
    props: {
      maxSubscriptions: 2,
      maxConnectionsPerUid: 2,
      resumesPerWindow: 3,
      resumesPerUidPerWindow: 4,
      resumeWindow: Duration.minutes(5),
    },
  },
});

/** The uid resume window the stack above counts in (its `resumeWindow`), in ms. */
const UID_WINDOW_MS = 300_000;
const RESUMED = { type: 'resumed', seq: 0 };
/** What a resume past the uid's budget of 4 is answered. */
const UID_REFUSAL = {
  type: 'error',
  code: 'rate_limited',
  message: "more than 4 resumes in 300 s across this uid's connections; resume later",
};

/**
 * Runs `run` with a fresh uid (`<prefix>-<attempt>`) and resolves to what it answered. The uid's
 * windows are fixed (counted from the epoch): a run that straddles a window's end starts counting
 * again, so such a run is repeated with the next uid (one in 150 runs or so), up to three times.
 */
async function inOneUidWindow<T>(prefix: string, run: (uid: string) => Promise<T>): Promise<T> {
  const windowOf = (ms: number) => Math.floor(ms / UID_WINDOW_MS);
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const result = await run(`${prefix}-${attempt}`);
    if (windowOf(started) === windowOf(Date.now()) || attempt === 3) return result;
  }
}

describe('caps set through the stack props', () => {
  it('reach the handlers through the template', () => {
    expect(stack.environmentOf('default')).toMatchObject({
      [ENV.maxSubscriptions]: '2',
      [ENV.resumesPerWindow]: '3',
      [ENV.resumesPerUidPerWindow]: '4',
      [ENV.resumeWindowSeconds]: '300',
    });
    expect(stack.environmentOf('connect')[ENV.maxConnectionsPerUid]).toBe('2');
  });

  it('refuse the fourth resume on a connection when resumesPerWindow is 3 per 5 minutes', async () => {
    const socket = await connect(stack, 'prop-resumes');
    // Up to one past the default budget: a stack that ignored the props would refuse only there.
    let refusal: Record<string, unknown> | undefined;
    let sent = 0;
    while (refusal === undefined && sent <= LIMITS.resumesPerWindow) {
      sent++;
      const reply = await socket.request({ action: 'resume', since: 0 });
      if (reply.type === 'error') refusal = reply;
      else expect(reply).toEqual({ type: 'resumed', seq: 0 });
    }
    expect(sent).toBe(4);
    expect(refusal).toEqual({
      type: 'error',
      code: 'rate_limited',
      message: 'more than 3 resumes in 300 s on this connection; resume later',
    });
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong', seq: 0 });
  });

  it("name the topic when refusing a topic resume past the connection's budget", async () => {
    const socket = await connect(stack, 'prop-topic-resumes', { topics: ['history.*'] });
    const resume = { action: 'resume', since: 0, topic: 'history.orders' };
    for (let n = 0; n < 3; n++) {
      expect(await socket.request(resume)).toEqual({ type: 'resumed', topic: 'history.orders', seq: 0 });
    }

    expect(await socket.request(resume)).toEqual({
      type: 'error',
      code: 'rate_limited',
      message: 'more than 3 resumes in 300 s on this connection; resume later',
      topic: 'history.orders',
    });
  });

  it("refuse the fifth resume of a uid's connections together, on a new connection too, when resumesPerUidPerWindow is 4", async () => {
    const { replies, third } = await inOneUidWindow('prop-uid-resumes', async (uid) => {
      const first = await connect(stack, uid);
      const second = await connect(stack, uid);
      const replies: Record<string, unknown>[] = [];
      for (const socket of [first, first, first, first, second, second]) {
        replies.push(await socket.request({ action: 'resume', since: 0 }));
      }
      // A reconnect brings a fresh connection budget, not a fresh uid budget.
      second.close();
      const third = await connect(stack, uid);
      replies.push(await third.request({ action: 'resume', since: 0 }));
      const other = await connect(stack, `${uid}-other`);
      replies.push(await other.request({ action: 'resume', since: 0 }));
      return { replies, third };
    });
    expect(replies).toEqual([
      RESUMED,
      RESUMED,
      RESUMED,
      // The connection's own budget refuses first, and spends none of the uid's.
      {
        type: 'error',
        code: 'rate_limited',
        message: 'more than 3 resumes in 300 s on this connection; resume later',
      },
      RESUMED,
      UID_REFUSAL,
      UID_REFUSAL,
      RESUMED,
    ]);
    // Refused for the uid, the reconnected tab's lease was given back: nothing holds it.
    const [record] = (await recordsOf(stack, third.connectionId)).filter((r) => r[ATTR.sk] === SK.connection);
    expect(record).toBeDefined();
    expect(record?.[ATTR.replayUntil]).toBeUndefined();
  });

  it("leave a connection's own budget unspent by resumes the uid's budget refused", async () => {
    const replies = await inOneUidWindow('prop-uid-refusals', async (uid) => {
      const first = await connect(stack, uid);
      const second = await connect(stack, uid);
      const replies: Record<string, unknown>[] = [];
      // 3 + 1 spend the uid's 4; the second connection has started one of its own 3.
      for (const socket of [first, first, first, second, second, second, second]) {
        replies.push(await socket.request({ action: 'resume', since: 0 }));
      }
      return replies;
    });
    // Had the refusals counted on the connection, its third would name its own spent budget.
    expect(replies).toEqual([RESUMED, RESUMED, RESUMED, RESUMED, UID_REFUSAL, UID_REFUSAL, UID_REFUSAL]);
  });

  it("count a resume refused for the uid against neither budget: the connection's stays as it was", async () => {
    const { replies, record } = await inOneUidWindow('prop-uid-refund', async (uid) => {
      const first = await connect(stack, uid);
      const second = await connect(stack, uid);
      const replies: string[] = [];
      const resume = async (socket: typeof first) => {
        const reply = await socket.request({ action: 'resume', since: 0 });
        replies.push(reply.type === 'error' ? String(reply.message) : String(reply.type));
      };
      // One on the first connection, three on the second: the uid's four are spent.
      for (const socket of [first, second, second, second]) await resume(socket);
      // Refused for the uid, twice: spent on the connection too, they would leave it one resume
      // of its three once the uid's window turns, for resumes that never ran.
      await resume(first);
      await resume(first);
      const [record] = (await recordsOf(stack, first.connectionId)).filter(
        (r) => r[ATTR.sk] === SK.connection,
      );
      return { replies, record };
    });
    const refusal = UID_REFUSAL.message;
    expect(replies).toEqual(['resumed', 'resumed', 'resumed', 'resumed', refusal, refusal]);
    expect(record?.[ATTR.resumeCount]).toBe(1);
    expect(record?.[ATTR.replayUntil]).toBeUndefined();
  });

  it('refuse a third subscription on a connection when maxSubscriptions is 2', async () => {
    const socket = await connect(stack, 'prop-subs', { topics: ['*'] });
    for (const topic of ['a', 'b']) {
      expect(await socket.request({ action: 'subscribe', topic })).toEqual({ type: 'subscribed', topic });
    }
    expect(await socket.request({ action: 'subscribe', topic: 'c' })).toEqual({
      type: 'error',
      code: 'limit_exceeded',
      message: 'a connection may subscribe to at most 2 topics; unsubscribe from one first',
      topic: 'c',
    });
  });

  it('evict the least recently seen of two connections of a uid when a third connects', async () => {
    const first = await connect(stack, 'prop-conns');
    const second = await connect(stack, 'prop-conns');
    // The first is seen again, so the second is the least recently seen.
    expect((await first.request({ action: 'ping' })).type).toBe('pong');
    await connect(stack, 'prop-conns');
    expect(await second.nextJson()).toEqual({ type: 'kicked', reason: 'connection_limit' });
    expect((await second.waitForClose()).code).toBe(1000);
    expect(first.pending).toBe(0);
  });

  it.each([
    ['a valid instance (64 characters)', 'sibling', 'i'.repeat(64)],
    ['an instance over 64 characters, ignored', 'least recently seen', 'i'.repeat(65)],
    ['an instance outside [A-Za-z0-9_-], ignored', 'least recently seen', 'tab.1'],
  ])('evict, for a third connection naming %s, the %s', async (_, expected, instance) => {
    const uid = `prop-instance-${instance.length}-${instance.slice(0, 3)}`;
    const quiet = await connect(stack, uid);
    const sibling = await connect(stack, uid, { query: { instance } });
    // The sibling is seen again, so the other connection is the least recently seen.
    expect((await sibling.request({ action: 'ping' })).type).toBe('pong');

    await connect(stack, uid, { query: { instance } });

    const [evicted, kept] = expected === 'sibling' ? [sibling, quiet] : [quiet, sibling];
    expect(await evicted.nextJson()).toEqual({ type: 'kicked', reason: 'connection_limit' });
    expect((await evicted.waitForClose()).code).toBe(1000);
    expect(kept.pending).toBe(0);
    // The instance only orders evictions: presence never answers it back.
    const { body } = await postJson(stack, '/publish', { presence: { uid } });
    for (const connection of (body as { connections: object[] }).connections) {
      expect(Object.keys(connection).sort()).toEqual(['connectedAt', 'connectionId', 'lastSeenAt', 'topics']);
    }
  });
});
