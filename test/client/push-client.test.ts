import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPushClient, type PushClientOptions, TOPIC_FRAMES_IN_FLIGHT } from '../../client/push-client';
import { connect, settle, URL } from './testing/connect';
import { type FakeWebSocket, fakeWebSocket } from './testing/fake-websocket';

/** A string as a literal part of a RegExp. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** The URL a client dials with `token`: the token, then its instance id. */
const INSTANCE_URL = (token: string) =>
  new RegExp(`^${literal(URL)}\\?token=${token}&instance=[0-9a-f]{24}$`);

/** What every first socket sends before anything else: resume the uid's log from the start. */
const RESUME_0 = { action: 'resume', since: 0 };
/** The server's answer to it when the log is empty. */
const RESUMED_0 = { type: 'resumed', seq: 0 };

/** What a server that predates resume answers to it. */
const NO_RESUME = {
  type: 'error',
  code: 'bad_request',
  message: 'unknown action "resume"; expected one of ping, subscribe, unsubscribe',
};

const message = (id: string, extra: object = {}) => ({ type: 'message', id, data: { id }, ts: 1, ...extra });

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Topic frames go out at the end of the task that changed the topics (the net change): let them. */
const topicFrames = () => Promise.resolve();

describe('connecting', () => {
  it('reports connecting, dials with the token in the query, then reports open', async () => {
    const { sockets, events, last } = await connect();
    expect(sockets.map((s) => s.url)).toEqual([expect.stringMatching(INSTANCE_URL('t1'))]);
    expect(events).toEqual([['status', 'connecting']]);
    last().open();
    expect(events).toEqual([
      ['status', 'connecting'],
      ['status', 'open'],
    ]);
  });

  it("keeps the url's own query and encodes the token", async () => {
    const { last } = await connect({ url: `${URL}?region=eu`, token: 'a b+c' });
    expect(last().url).toMatch(
      new RegExp(`^${literal(URL)}\\?region=eu&token=a\\+b%2Bc&instance=[0-9a-f]{24}$`),
    );
  });

  it('names the same instance on every socket it opens, and another client another', async () => {
    const { sockets, last } = await connect();
    last().open();
    last().drop();
    await vi.advanceTimersByTimeAsync(500);
    const instance = (url: string) => new globalThis.URL(url).searchParams.get('instance');
    const [first, second] = sockets.map((s) => instance(s.url));
    expect(first).toMatch(/^[0-9a-f]{24}$/);
    expect(second).toBe(first);
    const other = await connect();
    expect(instance(other.last().url)).not.toBe(first);
  });

  it('calls the token function again before every reconnect', async () => {
    const token = vi.fn().mockResolvedValueOnce('tok-1').mockResolvedValueOnce('tok-2');
    const { sockets, last } = await connect({ token });
    last().open();
    last().drop();
    await vi.advanceTimersByTimeAsync(500);
    expect(sockets.map((s) => s.token)).toEqual(['tok-1', 'tok-2']);
    expect(token).toHaveBeenCalledTimes(2);
  });

  it('reports a failing token function as token_failed and tries again after the backoff', async () => {
    const token = vi.fn().mockRejectedValueOnce(new Error('offline')).mockResolvedValueOnce('tok-2');
    const { sockets, events } = await connect({ token });
    expect(sockets).toHaveLength(0);
    expect(events).toEqual([
      ['status', 'connecting'],
      // The cause's message too, so that logging code and message says why.
      ['error', 'token_failed', 'the token function failed: offline'],
    ]);
    await vi.advanceTimersByTimeAsync(499);
    expect(sockets).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets.map((s) => s.token)).toEqual(['tok-2']);
  });

  it.each([
    ['a string', 'offline', 'the token function failed'],
    ['an error with an empty message', new Error(''), 'the token function failed: '],
    ['undefined', undefined, 'the token function failed'],
    ['an object whose message is not a string', { message: { toString: 0 } }, 'the token function failed'],
  ])('reports a token function that throws %s with what its message says', async (_case, thrown, message) => {
    const token = vi.fn().mockRejectedValueOnce(thrown).mockResolvedValueOnce('tok-2');
    const { events } = await connect({ token });
    expect(events).toEqual([
      ['status', 'connecting'],
      ['error', 'token_failed', message],
    ]);
  });

  it('gives up on a socket that does not open within timeoutMs and dials again', async () => {
    const { sockets, events, last } = await connect({ timeoutMs: 5000 });
    await vi.advanceTimersByTimeAsync(4999);
    expect(sockets[0]?.closeCalls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets[0]?.closeCalls).toEqual([{ code: 1000 }]);
    expect(events.at(-1)).toEqual(['error', 'socket_closed', 'socket did not open in time']);
    await vi.advanceTimersByTimeAsync(500);
    expect(sockets).toHaveLength(2);
    last().open();
    expect(events.at(-1)).toEqual(['status', 'open']);
  });

  it.each(['https://push.test/local', 'not a url'])('refuses the url %j with a TypeError', (url) => {
    const { WebSocket } = fakeWebSocket();
    expect(() => createPushClient({ url, token: 't', WebSocket })).toThrow(TypeError);
  });

  const TIMINGS = [
    'heartbeatMs',
    'timeoutMs',
    'rotateAfterMs',
    'backoffBaseMs',
    'backoffCapMs',
    'reorderMs',
  ] as const;

  it.each(
    TIMINGS.flatMap((name) =>
      [0, -1, Number.NaN, 2 ** 31, Number.POSITIVE_INFINITY].map((ms) => [name, ms] as const),
    ),
  )('refuses %s %s with a TypeError, opening nothing', async (name, ms) => {
    // heartbeatMs: 0 read as "no heartbeat" pinged as fast as the event loop turned: 4,185 frames in
    // 8 s, closed for flooding and its uid cooled off. A delay past 2^31 - 1 ms fires at once.
    const { WebSocket, sockets } = fakeWebSocket();
    expect(() => createPushClient({ url: URL, token: 't1', WebSocket, [name]: ms })).toThrow(
      new TypeError(`${name} must be 1 to 2147483647, got ${ms}`),
    );
    await settle();
    expect(sockets).toHaveLength(0);
  });

  it.each([0, -1, 0.5, Number.NaN, 10_001, Number.POSITIVE_INFINITY])(
    'refuses dedupSize %s with a TypeError, opening nothing',
    async (size) => {
      // 0 delivered every repeat again and stepped over every hole at once; NaN kept every id.
      const { WebSocket, sockets } = fakeWebSocket();
      expect(() => createPushClient({ url: URL, token: 't1', WebSocket, dedupSize: size })).toThrow(
        new TypeError(`dedupSize must be 1 to 10000, got ${size}`),
      );
      await settle();
      expect(sockets).toHaveLength(0);
    },
  );

  it.each([1, 10_000])('takes dedupSize %s', (size) => {
    const { WebSocket } = fakeWebSocket();
    createPushClient({ url: URL, token: 't1', WebSocket, dedupSize: size }).close();
  });

  it.each(TIMINGS.flatMap((name) => [1, 2 ** 31 - 1].map((ms) => [name, ms] as const)))(
    'takes %s %s',
    (name, ms) => {
      const { WebSocket } = fakeWebSocket();
      createPushClient({ url: URL, token: 't1', WebSocket, [name]: ms }).close();
    },
  );

  it('names a mistaken option before a missing WebSocket (Node 20 without ws)', () => {
    vi.stubGlobal('WebSocket', undefined);
    try {
      expect(() => createPushClient({ url: URL, token: 't', since: -1 })).toThrow(
        new TypeError('since must be a non-negative integer, got -1'),
      );
      expect(() => createPushClient({ url: 'http://push.test', token: 't' })).toThrow(/^url must start/);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('reports a socket that cannot even be created and tries again after the backoff', async () => {
    let calls = 0;
    const { WebSocket, sockets } = fakeWebSocket();
    class Refusing extends WebSocket {
      constructor(url: string) {
        calls += 1;
        if (calls === 1) throw new Error('refused by Content-Security-Policy');
        super(url);
      }
    }
    const client = createPushClient({ url: URL, token: 't', WebSocket: Refusing, random: () => 0.5 });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
    await settle();
    expect(errors).toEqual([
      'socket_closed: the socket could not be created: refused by Content-Security-Policy',
    ]);
    await vi.advanceTimersByTimeAsync(500);
    expect(sockets).toHaveLength(1);
    client.close();
  });

  it('throws a TypeError when there is no WebSocket to use', () => {
    vi.stubGlobal('WebSocket', undefined);
    try {
      expect(() => createPushClient({ url: URL, token: 't' })).toThrow(TypeError);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('reconnecting', () => {
  it('reports reconnecting when an open socket drops, and open again once a new one opens', async () => {
    const { events, last } = await connect();
    last().open();
    last().drop(1001);
    expect(events.slice(2)).toEqual([
      ['error', 'socket_closed', 'socket closed (1001)'],
      ['status', 'reconnecting'],
    ]);
    await vi.advanceTimersByTimeAsync(500);
    last().open();
    expect(events.at(-1)).toEqual(['status', 'open']);
  });

  it('waits a full-jitter delay that doubles per failed attempt, up to the cap', async () => {
    const { sockets, last } = await connect({ backoffBaseMs: 1000, backoffCapMs: 8000 });
    last().open();
    last().drop();
    // random() is 0.5, so each delay is half its ceiling: min(8000, 1000 * 2^attempt) / 2.
    for (const delay of [500, 1000, 2000, 4000, 4000, 4000]) {
      const before = sockets.length;
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(sockets).toHaveLength(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(sockets).toHaveLength(before + 1);
      last().drop();
    }
  });

  it('draws each delay from the injected random source', async () => {
    const draws = [0.1, 0.9];
    const { sockets, last } = await connect({ random: () => draws.shift() ?? 0 });
    last().open();
    last().drop();
    await vi.advanceTimersByTimeAsync(100);
    expect(sockets).toHaveLength(2);
    last().drop();
    await vi.advanceTimersByTimeAsync(1799);
    expect(sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(3);
  });

  it('starts again from the first delay once a socket has answered everything and stayed up for the cap', async () => {
    const { client, sockets, last } = await connect({ backoffCapMs: 8000 });
    client.subscribe('orders');
    last().open();
    last().drop();
    await vi.advanceTimersByTimeAsync(500);
    last().drop();
    await vi.advanceTimersByTimeAsync(1000);
    last().open();
    last().drop();
    // Opened but never answered its subscribe: the attempt count keeps growing.
    await vi.advanceTimersByTimeAsync(1999);
    expect(sockets).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(4);
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'subscribed', topic: 'orders' });
    await vi.advanceTimersByTimeAsync(8000);
    last().drop();
    await vi.advanceTimersByTimeAsync(499);
    expect(sockets).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(5);
  });

  it('keeps backing off from a server that drops every socket right after answering its handshake', async () => {
    // A broken deploy or proxy that ends each socket once it is up: the whole fleet of clients
    // must not come back every second.
    const { client, sockets, last } = await connect({ backoffCapMs: 8000 });
    client.subscribe('orders');
    for (const delay of [500, 1000, 2000, 4000, 4000]) {
      last().open();
      last().receive(RESUMED_0);
      last().receive({ type: 'subscribed', topic: 'orders' });
      await vi.advanceTimersByTimeAsync(7999);
      const before = sockets.length;
      last().drop();
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(sockets).toHaveLength(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(sockets).toHaveLength(before + 1);
    }
    client.close();
  });

  it('lets the count grow on after a socket dropped before the cap: its timer goes with it', async () => {
    const { client, sockets, last } = await connect({ backoffCapMs: 8000 });
    client.subscribe('orders');
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'subscribed', topic: 'orders' });
    await vi.advanceTimersByTimeAsync(7000);
    last().drop();
    await vi.advanceTimersByTimeAsync(500);
    expect(sockets).toHaveLength(2);
    last().drop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets).toHaveLength(3);
    // 8 s after the first socket was ready: had its timer outlived it, the count would be 0 now.
    last().drop();
    await vi.advanceTimersByTimeAsync(1999);
    expect(sockets).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(4);
    client.close();
  });

  it('subscribes every topic again on each new socket', async () => {
    const { client, sockets, last } = await connect();
    client.subscribe('orders');
    client.subscribe('alerts');
    last().open();
    expect(sockets[0]?.sent).toEqual([
      RESUME_0,
      { action: 'subscribe', topic: 'orders' },
      { action: 'subscribe', topic: 'alerts' },
    ]);
    client.unsubscribe('alerts');
    last().drop();
    await vi.advanceTimersByTimeAsync(500);
    last().open();
    expect(sockets[1]?.sent).toEqual([RESUME_0, { action: 'subscribe', topic: 'orders' }]);
  });
});

describe('pacing topic frames', () => {
  const subscribe = (topic: string) => ({ action: 'subscribe', topic });

  it(`sends no subscribe while ${TOPIC_FRAMES_IN_FLIGHT} frames are in flight on a socket, and the next as each reply comes`, async () => {
    const { client, last } = await connect();
    const topics = Array.from({ length: 25 }, (_, i) => `t${i}`);
    for (const topic of topics) client.subscribe(topic);
    last().open();
    // The uid's resume and nine subscribes: ten in flight.
    expect(last().sent).toEqual([RESUME_0, ...topics.slice(0, 9).map(subscribe)]);

    last().receive(RESUMED_0);
    expect(last().sent.slice(10)).toEqual([subscribe('t9')]);
    last().receive({ type: 'subscribed', topic: 't0' });
    last().receive({ type: 'subscribed', topic: 't1' });
    expect(last().sent.slice(11)).toEqual([subscribe('t10'), subscribe('t11')]);
    for (const topic of topics.slice(2)) last().receive({ type: 'subscribed', topic });
    expect(last().sent.slice(1)).toEqual(topics.map(subscribe));
  });

  it('sends nothing for a topic subscribed and unsubscribed while its subscribe waited for room', async () => {
    const { client, last } = await connect();
    const topics = Array.from({ length: 12 }, (_, i) => `t${i}`);
    for (const topic of topics) client.subscribe(topic);
    last().open();
    client.unsubscribe('t10');
    await topicFrames();
    for (const topic of topics.slice(0, 9)) last().receive({ type: 'subscribed', topic });
    last().receive(RESUMED_0);
    expect(last().sent).toEqual([
      RESUME_0,
      ...topics.slice(0, 9).map(subscribe),
      subscribe('t9'),
      subscribe('t11'),
    ]);
  });

  it('still resumes a topic subscribed again with a since while its unsubscribe waited for room', async () => {
    const { client, last } = await connect();
    last().open();
    last().receive(RESUMED_0);
    client.subscribe('x');
    await topicFrames();
    last().receive({ type: 'subscribed', topic: 'x' });
    const busy = Array.from({ length: 10 }, (_, i) => `b${i}`);
    for (const topic of busy) client.subscribe(topic);
    await topicFrames();
    client.unsubscribe('x');
    await topicFrames();
    client.subscribe('x', { since: 5 });
    await topicFrames();
    // The unsubscribe never went out, so no subscribe is needed; the resume from 5 is.
    expect(last().sent.slice(2)).toEqual([
      ...busy.map(subscribe),
      { action: 'resume', topic: 'x', since: 5 },
    ]);
  });

  it('sends a subscribe again when API Gateway refused it, after an unsubscribe and a subscribe of it met in the outbox', async () => {
    const { client, last } = await connect();
    const topics = Array.from({ length: 9 }, (_, i) => `t${i}`);
    for (const topic of topics) client.subscribe(topic);
    last().open();
    // The uid's resume and nine subscribes: ten in flight. t0 is left and taken back in two tasks
    // (a view unmounted, then mounted again): the unsubscribe waits, and the subscribe cancels it.
    client.unsubscribe('t0');
    await topicFrames();
    client.subscribe('t0');
    await topicFrames();
    expect(last().sent).toEqual([RESUME_0, ...topics.map(subscribe)]);
    // API Gateway answers one frame itself: it may have been t0's subscribe, still unanswered.
    last().receive({ message: 'Internal server error', connectionId: 'c', requestId: 'r' });
    last().receive(RESUMED_0);
    for (const topic of topics.slice(1)) last().receive({ type: 'subscribed', topic });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(last().sent.slice(10)).toEqual([subscribe('t0')]);
    last().receive({ type: 'subscribed', topic: 't0' });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(last().sent.slice(11)).toEqual([]);
  });

  it('paces a burst of unsubscribes behind the frames in flight', async () => {
    const { client, last } = await connect();
    last().open();
    last().receive(RESUMED_0);
    const topics = Array.from({ length: 12 }, (_, i) => `u${i}`);
    for (const topic of topics) client.subscribe(topic);
    await topicFrames();
    for (const topic of topics) client.unsubscribe(topic);
    await topicFrames();
    // Ten subscribes went out; the two waiting were cancelled, and the ten unsubscribes wait.
    expect(last().sent.slice(1)).toEqual(topics.slice(0, 10).map(subscribe));
    last().receive({ type: 'subscribed', topic: 'u0' });
    expect(last().sent.slice(11)).toEqual([{ action: 'unsubscribe', topic: 'u0' }]);
  });
});

describe('heartbeat', () => {
  it('pings heartbeatMs after the last ping or subscribe, however many messages arrive', async () => {
    const { last } = await connect({ heartbeatMs: 1000 });
    last().open();
    last().receive(RESUMED_0);
    for (let n = 0; n < 9; n++) {
      await vi.advanceTimersByTimeAsync(100);
      last().receive(message(`m${n}`));
    }
    await vi.advanceTimersByTimeAsync(99);
    expect(last().sent).toEqual([RESUME_0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
  });

  it('pings only after heartbeatMs with no ping or subscribe sent', async () => {
    const { client, last } = await connect({ heartbeatMs: 1000 });
    last().open();
    last().receive(RESUMED_0);
    await vi.advanceTimersByTimeAsync(600);
    client.subscribe('orders');
    await vi.advanceTimersByTimeAsync(999);
    expect(last().sent).toEqual([RESUME_0, { action: 'subscribe', topic: 'orders' }]);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([RESUME_0, { action: 'subscribe', topic: 'orders' }, { action: 'ping' }]);
  });

  it('pings after five idle minutes by default, inside the 10-minute idle timeout', async () => {
    const { last } = await connect();
    last().open();
    await vi.advanceTimersByTimeAsync(299_999);
    expect(last().sent).toEqual([RESUME_0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
  });

  it('keeps a socket whose pong arrives in time, and pings again a full interval after the last ping', async () => {
    const { events, last } = await connect({ heartbeatMs: 1000, timeoutMs: 200 });
    last().open();
    await vi.advanceTimersByTimeAsync(1199);
    last().receive({ type: 'pong', ts: 1 });
    await vi.advanceTimersByTimeAsync(800);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }, { action: 'ping' }]);
    expect(last().closeCalls).toEqual([]);
    expect(events.at(-1)).toEqual(['status', 'open']);
  });

  it('treats a missed pong as a dead socket: closes it, reports it and reconnects', async () => {
    const { sockets, events, last } = await connect({ heartbeatMs: 1000, timeoutMs: 200 });
    last().open();
    await vi.advanceTimersByTimeAsync(1199);
    expect(sockets[0]?.closeCalls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets[0]?.closeCalls).toEqual([{ code: 1000 }]);
    expect(events.slice(2)).toEqual([
      ['error', 'heartbeat_timeout', 'no reply to ping within 200 ms'],
      ['status', 'reconnecting'],
    ]);
    await vi.advanceTimersByTimeAsync(500);
    expect(sockets).toHaveLength(2);
  });
});

describe('messages, dedup and resume', () => {
  it('delivers each message once when the server repeats it', async () => {
    const { events, last } = await connect();
    last().open();
    last().receive(message('m1'));
    last().receive(message('m1'));
    last().receive(message('m2', { topic: 'orders' }));
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 'm1'],
      ['message', 'm2'],
    ]);
  });

  it('hands listeners the message exactly as the server sent it', async () => {
    const { client, last } = await connect();
    const received: unknown[] = [];
    client.on('message', (m) => received.push(m));
    last().open();
    const frame = { type: 'message', id: 'm1', topic: 'orders', data: { total: 42 }, ts: 1700000000000 };
    last().receive(frame);
    expect(received).toEqual([frame]);
  });

  it('ignores frames that are not JSON objects of a known type', async () => {
    const { events, last } = await connect();
    last().open();
    last().receive('not json');
    last().receive('null');
    last().receive({ type: 'future-thing' });
    expect(events).toEqual([
      ['status', 'connecting'],
      ['status', 'open'],
    ]);
  });

  it("replays the uid's log from the start on the first connection", async () => {
    const { client, events, last } = await connect();
    last().open();
    expect(last().sent).toEqual([RESUME_0]);
    last().receive(message('m1', { seq: 1 }));
    last().receive(message('m2', { seq: 2 }));
    last().receive({ type: 'resumed', seq: 2 });
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 'm1'],
      ['message', 'm2'],
    ]);
    expect(client.seq).toBe(2);
  });

  it('resumes from the last seq after a reconnect and drops replayed duplicates', async () => {
    const { client, sockets, events, last } = await connect();
    client.subscribe('orders');
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'subscribed', topic: 'orders' });
    last().receive(message('m1', { seq: 1 }));
    last().receive(message('m2', { seq: 2 }));
    last().drop();
    await vi.advanceTimersByTimeAsync(500);
    last().open();
    expect(sockets[1]?.sent).toEqual([
      { action: 'resume', since: 2 },
      { action: 'subscribe', topic: 'orders' },
    ]);
    last().receive(message('m2', { seq: 2 }));
    last().receive(message('m3', { seq: 3 }));
    last().receive({ type: 'resumed', seq: 3 });
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 'm1'],
      ['message', 'm2'],
      ['message', 'm3'],
    ]);
    expect(client.seq).toBe(3);
  });

  it('still delivers a seq that a gap answer counted but the server had not stored yet', async () => {
    const { client, events, last } = await connect({ since: 2 });
    last().open();
    // Seen on the local stack: seq 3 was allocated, not yet stored, when the resume read the log.
    last().receive({ type: 'resumed', seq: 3, gap: true });
    last().receive(message('m3', { seq: 3 }));
    expect(events.slice(-2)).toEqual([
      ['gap', { seq: 3 }],
      ['message', 'm3'],
    ]);
    expect(client.seq).toBe(3);
  });

  it('still delivers a seq the resume answer counted but the server had not delivered yet', async () => {
    const { client, events, last } = await connect();
    last().open();
    // The server allocates a seq before it stores and delivers the message, so `resumed` can name
    // a seq that arrives only afterwards, live.
    last().receive({ type: 'resumed', seq: 1 });
    last().receive(message('m1', { seq: 1 }));
    expect(events.at(-1)).toEqual(['message', 'm1']);
    expect(client.seq).toBe(1);
  });

  it('holds a live message that overtook the replay and hands both over in seq order', async () => {
    const { events, last } = await connect();
    last().open();
    last().receive(message('live', { seq: 3 }));
    last().receive(message('old-1', { seq: 1 }));
    expect(events.filter((e) => e[0] === 'message')).toEqual([['message', 'old-1']]);
    last().receive(message('old-2', { seq: 2 }));
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 'old-1'],
      ['message', 'old-2'],
      ['message', 'live'],
    ]);
  });

  it('lets held messages go, in order, once the replay is over even if a hole stays', async () => {
    const { events, last } = await connect();
    last().open();
    last().receive(message('five', { seq: 5 }));
    last().receive(message('four', { seq: 4 }));
    expect(events.filter((e) => e[0] === 'message')).toEqual([]);
    last().receive({ type: 'resumed', seq: 5 });
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 'four'],
      ['message', 'five'],
    ]);
  });

  describe('two live messages that crossed on their way (seq 6 before seq 5)', () => {
    /** An open client whose replay is over and which has handed over seq 4. */
    async function afterSeq4(options: Partial<PushClientOptions> = {}) {
      const c = await connect({ since: 3, ...options });
      c.last().open();
      expect(c.last().sent).toEqual([{ action: 'resume', since: 3 }]);
      c.last().receive(message('four', { seq: 4 }));
      c.last().receive({ type: 'resumed', seq: 4 });
      c.last().sent.length = 0;
      return c;
    }
    const delivered = (events: unknown[][]) => events.filter((e) => e[0] === 'message');
    /** The server's answer to a resume from seq 4: seqs 5 and 6, then `resumed`. */
    const replayFrom4 = (socket: FakeWebSocket) => {
      socket.receive(message('five', { seq: 5 }));
      socket.receive(message('six', { seq: 6 }));
      socket.receive({ type: 'resumed', seq: 6 });
    };

    it('holds seq 6 until seq 5 arrives, then hands both over in order without asking the server', async () => {
      const { events, last } = await afterSeq4();
      last().receive(message('six', { seq: 6 }));
      await vi.advanceTimersByTimeAsync(499);
      expect(delivered(events)).toEqual([['message', 'four']]);
      last().receive(message('five', { seq: 5 }));
      expect(delivered(events)).toEqual([
        ['message', 'four'],
        ['message', 'five'],
        ['message', 'six'],
      ]);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(last().sent).toEqual([]);
    });

    it('asks for the hole after reorderMs and hands over the replayed seq 5 before the held seq 6', async () => {
      const { client, events, last } = await afterSeq4({ reorderMs: 200 });
      last().receive(message('six', { seq: 6 }));
      await vi.advanceTimersByTimeAsync(199);
      expect(last().sent).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(last().sent).toEqual([{ action: 'resume', since: 4 }]);
      replayFrom4(last());
      expect(delivered(events)).toEqual([
        ['message', 'four'],
        ['message', 'five'],
        ['message', 'six'],
      ]);
      expect(client.seq).toBe(6);
    });

    it('lets seq 6 go when the server has no seq 5 either, and keeps the socket', async () => {
      const { client, events, last } = await afterSeq4();
      last().receive(message('six', { seq: 6 }));
      await vi.advanceTimersByTimeAsync(500);
      expect(last().sent).toEqual([{ action: 'resume', since: 4 }]);
      expect(delivered(events)).toEqual([['message', 'four']]);
      last().receive(message('six', { seq: 6 }));
      last().receive({ type: 'resumed', seq: 6 });
      expect(delivered(events)).toEqual([
        ['message', 'four'],
        ['message', 'six'],
      ]);
      expect(client.status).toBe('open');
    });

    it('keeps holding when no socket is open to ask, and the next socket fills the hole in order', async () => {
      const { events, last } = await afterSeq4();
      last().receive(message('six', { seq: 6 }));
      last().drop();
      await vi.advanceTimersByTimeAsync(500);
      expect(delivered(events)).toEqual([['message', 'four']]);
      last().open();
      expect(last().sent[0]).toEqual({ action: 'resume', since: 4 });
      replayFrom4(last());
      expect(delivered(events)).toEqual([
        ['message', 'four'],
        ['message', 'five'],
        ['message', 'six'],
      ]);
    });

    it('stops waiting for a resume that is never answered after timeoutMs, and lets held messages go', async () => {
      const { events, last } = await afterSeq4({ timeoutMs: 2_000 });
      last().receive(message('six', { seq: 6 }));
      await vi.advanceTimersByTimeAsync(500);
      expect(last().sent).toEqual([{ action: 'resume', since: 4 }]);
      // No answer at all (not even API Gateway's own: that one is asked again, below).
      last().receive(message('seven', { seq: 7 }));
      expect(delivered(events)).toEqual([['message', 'four']]);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(delivered(events)).toEqual([
        ['message', 'four'],
        ['message', 'six'],
        ['message', 'seven'],
      ]);
      // Later messages are in order again and flow at once.
      last().receive(message('eight', { seq: 8 }));
      expect(delivered(events).at(-1)).toEqual(['message', 'eight']);
    });

    it('asks again, after the backoff, for a resume API Gateway answered itself, and hands over what it held in order with its replay', async () => {
      // The resume is the only frame in flight, so API Gateway's own answer (no `type`, no topic)
      // can only be its: it ran nothing, or failed. Left to its deadline, seq 5 would wait for
      // the next heartbeat's pong.
      const { client, events, last } = await afterSeq4({ timeoutMs: 2_000 });
      last().receive(message('six', { seq: 6 }));
      await vi.advanceTimersByTimeAsync(500);
      expect(last().sent).toEqual([{ action: 'resume', since: 4 }]);
      last().receive({ message: 'Internal server error', connectionId: 'c', requestId: 'r' });
      last().receive(message('seven', { seq: 7 }));
      await vi.advanceTimersByTimeAsync(499);
      expect(last().sent).toEqual([{ action: 'resume', since: 4 }]);
      await vi.advanceTimersByTimeAsync(1);
      expect(last().sent).toEqual([
        { action: 'resume', since: 4 },
        { action: 'resume', since: 4 },
      ]);
      expect(delivered(events)).toEqual([['message', 'four']]);
      replayFrom4(last());
      last().receive(message('seven', { seq: 7 }));
      last().receive({ type: 'resumed', seq: 7 });
      expect(delivered(events)).toEqual([
        ['message', 'four'],
        ['message', 'five'],
        ['message', 'six'],
        ['message', 'seven'],
      ]);
      expect(client.seq).toBe(7);
    });

    it('after a gap, takes the next live message as the next in line, not as a hole', async () => {
      const { events, last } = await connect();
      last().open();
      last().receive({ type: 'resumed', seq: 100, gap: true });
      last().receive(message('next', { seq: 101 }));
      expect(delivered(events)).toEqual([['message', 'next']]);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(last().sent).toEqual([RESUME_0]);
      expect(events.filter((e) => e[0] === 'gap')).toEqual([]);
    });

    it('forgets a topic it held messages for once unsubscribed: no resume for it, nothing handed over', async () => {
      const { client, events, last } = await connect();
      client.subscribe('orders');
      last().open();
      last().receive(message('t1', { topic: 'orders', seq: 1 }));
      last().receive(message('t3', { topic: 'orders', seq: 3 }));
      client.unsubscribe('orders');
      const sentBefore = last().sent.length;
      await vi.advanceTimersByTimeAsync(10_000);
      expect(
        last()
          .sent.slice(sentBefore)
          .filter((f) => (f as { action: string }).action === 'resume'),
      ).toEqual([]);
      expect(delivered(events)).toEqual([['message', 't1']]);
    });

    it('does not hold anything from a server without resume, which has no log to fill a hole from', async () => {
      const { events, last } = await connect();
      last().open();
      last().receive(NO_RESUME);
      last().receive(message('seven', { seq: 7 }));
      expect(delivered(events)).toEqual([['message', 'seven']]);
    });
  });

  it('goes on silently when the server does not know resume yet', async () => {
    const { events, last } = await connect();
    last().open();
    last().receive(NO_RESUME);
    last().receive(message('m1'));
    expect(events).toEqual([
      ['status', 'connecting'],
      ['status', 'open'],
      ['message', 'm1'],
    ]);
  });

  it('reports a gap when the server log no longer reaches back, and next resumes from its latest', async () => {
    const { client, events, last } = await connect({ since: 7 });
    last().open();
    expect(last().sent).toEqual([{ action: 'resume', since: 7 }]);
    last().receive({ type: 'resumed', gap: true, seq: 40 });
    expect(events.at(-1)).toEqual(['gap', { seq: 40 }]);
    expect(client.seq).toBe(40);
    last().drop();
    await vi.advanceTimersByTimeAsync(500);
    last().open();
    expect(last().sent).toEqual([{ action: 'resume', since: 40 }]);
  });

  it('reports no gap to a fresh client, which has just loaded its state, but does on a later resume', async () => {
    const { events, last } = await connect();
    last().open();
    last().receive({ type: 'resumed', gap: true, seq: 1500 });
    expect(events.filter((e) => e[0] === 'gap')).toEqual([]);
    last().drop();
    await vi.advanceTimersByTimeAsync(500);
    last().open();
    expect(last().sent).toEqual([{ action: 'resume', since: 1500 }]);
    last().receive({ type: 'resumed', gap: true, seq: 2600 });
    expect(events.filter((e) => e[0] === 'gap')).toEqual([['gap', { seq: 2600 }]]);
  });

  it('asks for the next page while the server says there is more', async () => {
    const { last } = await connect();
    last().open();
    last().receive(message('m1', { seq: 1 }));
    last().receive({ type: 'resumed', seq: 1, more: true });
    expect(last().sent).toEqual([
      { action: 'resume', since: 0 },
      { action: 'resume', since: 1 },
    ]);
  });

  it('resumes a topic that carries seqs from its own cursor, apart from the uid stream', async () => {
    const { client, sockets, events, last } = await connect();
    client.subscribe('orders');
    last().open();
    last().receive(message('t7', { topic: 'orders', seq: 7 }));
    last().receive(message('u1', { seq: 1 }));
    last().drop();
    await vi.advanceTimersByTimeAsync(500);
    last().open();
    // One replay at a time per connection: the topic's resume waits for the uid's answer.
    expect(sockets[1]?.sent).toEqual([
      { action: 'resume', since: 1 },
      { action: 'subscribe', topic: 'orders' },
    ]);
    last().receive({ type: 'resumed', seq: 1 });
    expect(sockets[1]?.sent.at(-1)).toEqual({ action: 'resume', since: 7, topic: 'orders' });
    last().receive({ type: 'resumed', topic: 'orders', gap: true, seq: 12 });
    expect(events.at(-1)).toEqual(['gap', { seq: 12, topic: 'orders' }]);
  });

  it('moves its cursor past a seq that repeats an id already delivered (a retried topic publish logged twice)', async () => {
    const { client, events, last } = await connect();
    client.subscribe('orders');
    last().open();
    last().receive(RESUMED_0);
    // A topic publish whose first attempt failed after logging it, retried: one id, two seqs.
    last().receive(message('t1', { topic: 'orders', seq: 1 }));
    last().receive(message('t1', { topic: 'orders', seq: 2 }));
    last().receive(message('t2', { topic: 'orders', seq: 3 }));
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 't1'],
      ['message', 't2'],
    ]);
    // What the app keeps and resumes from after a reload: stuck at 1, it would replay t2 again.
    expect(client.seqOf('orders')).toBe(3);
  });

  it('resumes a topic from the since it was subscribed with, and drops what that since already covers', async () => {
    const { client, events, last } = await connect({ since: 4 });
    client.subscribe('orders', { since: 7 });
    expect(client.seqOf('orders')).toBe(7);
    last().open();
    // One replay at a time per connection: the topic's resume waits for the uid's answer.
    expect(last().sent).toEqual([
      { action: 'resume', since: 4 },
      { action: 'subscribe', topic: 'orders' },
    ]);
    last().receive({ type: 'resumed', seq: 4 });
    expect(last().sent.at(-1)).toEqual({ action: 'resume', since: 7, topic: 'orders' });
    last().receive(message('t7', { topic: 'orders', seq: 7 }));
    last().receive(message('t8', { topic: 'orders', seq: 8 }));
    last().receive({ type: 'resumed', topic: 'orders', seq: 8 });
    expect(events.filter(([type]) => type === 'message')).toEqual([['message', 't8']]);
    expect(client.seqOf('orders')).toBe(8);
  });

  it('resumes at once a topic subscribed with a since while the socket is open', async () => {
    const { client, last } = await connect();
    last().open();
    last().receive(RESUMED_0);
    client.subscribe('orders', { since: 3 });
    await topicFrames();
    expect(last().sent).toEqual([
      RESUME_0,
      { action: 'subscribe', topic: 'orders' },
      { action: 'resume', since: 3, topic: 'orders' },
    ]);
  });

  it.each([
    ['before the subscribe’s answer (the server refuses it before any I/O)', true],
    ['after the subscribe’s answer', false],
  ])(
    'stops resuming a topic whose resume is refused as keeping no history, answered %s',
    async (_order, refusalFirst) => {
      const { client, sockets, events, last } = await connect();
      last().open();
      last().receive(RESUMED_0);
      client.subscribe('orders', { since: 3 });
      await topicFrames();
      expect(last().sent.slice(1)).toEqual([
        { action: 'subscribe', topic: 'orders' },
        { action: 'resume', since: 3, topic: 'orders' },
      ]);
      const refusal = {
        type: 'error',
        code: 'bad_request',
        topic: 'orders',
        message: 'topic orders keeps no history',
      };
      const answers = [refusal, { type: 'subscribed', topic: 'orders' }];
      for (const answer of refusalFirst ? answers : answers.reverse()) last().receive(answer);
      expect(events.filter(([type]) => type === 'error')).toEqual([
        ['error', 'bad_request', 'topic orders keeps no history'],
      ]);
      expect(client.seqOf('orders')).toBeUndefined();

      // The next socket subscribes to the topic again, and resumes only the uid's stream.
      last().drop(1001);
      await vi.advanceTimersByTimeAsync(500);
      expect(sockets).toHaveLength(2);
      last().open();
      last().receive(RESUMED_0);
      last().receive({ type: 'subscribed', topic: 'orders' });
      expect(last().sent).toEqual([RESUME_0, { action: 'subscribe', topic: 'orders' }]);
      // Still subscribed: a message on the topic arrives.
      last().receive(message('o1', { topic: 'orders' }));
      expect(events.at(-1)).toEqual(['message', 'o1']);
    },
  );

  it('has no seq for a topic before a message showed it keeps history', async () => {
    const { client, last } = await connect();
    client.subscribe('orders');
    last().open();
    expect(client.seqOf('orders')).toBeUndefined();
    last().receive(message('t5', { topic: 'orders', seq: 5 }));
    expect(client.seqOf('orders')).toBe(5);
  });

  it.each([[-1], [1.5], [Number.NaN]])('refuses to subscribe with since %s', async (since) => {
    const { client } = await connect();
    expect(() => client.subscribe('orders', { since })).toThrow(
      new TypeError(`since must be a non-negative integer, got ${since}`),
    );
  });

  it.each([[-1], [1.5], [Number.NaN]])('refuses to be created with since %s', (since) => {
    // Number(localStorage.getItem(…)) of a value that is not a number is NaN: taken, every resume
    // of the uid stream would be refused (null on the wire), and client.seq would stay NaN.
    const { WebSocket, sockets } = fakeWebSocket();
    expect(() => createPushClient({ url: URL, token: 't1', WebSocket, since })).toThrow(
      new TypeError(`since must be a non-negative integer, got ${since}`),
    );
    expect(sockets).toHaveLength(0);
  });

  it("reports the server's error frames with the server's code", async () => {
    const { client, events, last } = await connect();
    last().open();
    client.subscribe('payroll');
    last().receive({ type: 'error', code: 'forbidden', message: 'token does not grant topic payroll' });
    expect(events.at(-1)).toEqual(['error', 'forbidden', 'token does not grant topic payroll']);
  });

  it('stops asking for a topic the server refused, and names it on the error', async () => {
    const { client, sockets, last } = await connect();
    const topics: (string | undefined)[] = [];
    client.on('error', (error) => topics.push(error.topic));
    last().open();
    client.subscribe('orders');
    client.subscribe('payroll');
    last().receive({
      type: 'error',
      code: 'forbidden',
      message: 'token does not grant topic payroll',
      topic: 'payroll',
    });
    expect(topics).toEqual(['payroll']);
    last().drop();
    await vi.advanceTimersByTimeAsync(500);
    last().open();
    expect(sockets[1]?.sent).toEqual([RESUME_0, { action: 'subscribe', topic: 'orders' }]);
  });
});

describe('replays, the heartbeat’s seq and resets', () => {
  it('delivers each message of a packed replay frame in order, once', async () => {
    const { events, last } = await connect();
    last().open();
    last().receive(message('m2', { seq: 2 }));
    last().receive({
      type: 'messages',
      messages: [message('m1', { seq: 1 }), message('m2', { seq: 2 }), message('m3', { seq: 3 })],
    });
    last().receive({ type: 'resumed', seq: 3 });
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 'm1'],
      ['message', 'm2'],
      ['message', 'm3'],
    ]);
  });

  it('resumes when a pong carries a seq it has not seen, and not when it has', async () => {
    const { last } = await connect({ heartbeatMs: 1000 });
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'pong', ts: 1, seq: 0 });
    expect(last().sent).toEqual([RESUME_0]);
    // A publish's lookup missed this socket: only the pong tells.
    last().receive({ type: 'pong', ts: 2, seq: 1 });
    expect(last().sent).toEqual([RESUME_0, { action: 'resume', since: 0 }]);
  });

  it('resumes once more, after reorderMs, when resumed says the counter is ahead of the replay', async () => {
    const { last } = await connect({ reorderMs: 100 });
    last().open();
    last().receive({ type: 'resumed', seq: 0, latest: 1 });
    await vi.advanceTimersByTimeAsync(99);
    expect(last().sent).toEqual([RESUME_0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([RESUME_0, RESUME_0]);
    // The same seq still missing (its publish failed before writing it): no third look.
    last().receive({ type: 'resumed', seq: 0, latest: 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(last().sent).toEqual([RESUME_0, RESUME_0]);
  });

  it('starts the stream over when the server was reset below its cursor, taking the new seqs', async () => {
    const { client, events, last } = await connect({ since: 9 });
    last().open();
    last().receive({ type: 'resumed', seq: 0, gap: true });
    expect(events.at(-1)).toEqual(['gap', { seq: 0 }]);
    expect(client.seq).toBe(0);
    last().receive(message('new-1', { seq: 1 }));
    last().receive(message('new-2', { seq: 2 }));
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 'new-1'],
      ['message', 'new-2'],
    ]);
    expect(client.seq).toBe(2);
  });

  it('resumes when a pong shows a seq below what it has seen, to learn of a reset', async () => {
    const { last } = await connect({ since: 9 });
    last().open();
    last().receive({ type: 'resumed', seq: 9 });
    last().receive({ type: 'pong', ts: 1, seq: 2 });
    expect(last().sent).toEqual([
      { action: 'resume', since: 9 },
      { action: 'resume', since: 9 },
    ]);
  });

  it('sends the kept epoch with its cursor, and the epoch the server named from then on', async () => {
    const { client, last } = await connect({ since: 4, epoch: 'E1' });
    last().open();
    expect(last().sent).toEqual([{ action: 'resume', since: 4, epoch: 'E1' }]);
    last().receive({ type: 'resumed', seq: 4, epoch: 'E1' });
    expect([client.seq, client.epoch]).toEqual([4, 'E1']);
    // A topic kept with its own epoch resumes with it.
    client.subscribe('orders', { since: 7, epoch: 'T1' });
    await topicFrames();
    expect(last().sent.at(-1)).toEqual({ action: 'resume', since: 7, topic: 'orders', epoch: 'T1' });
    expect(client.epochOf('orders')).toBe('T1');
  });

  it('takes an empty epoch as none, and refuses one the server could not have drawn', async () => {
    // An empty string is what a store that kept no epoch may give back: sent, it would be refused.
    const { client, last } = await connect({ since: 4, epoch: '' });
    last().open();
    expect(last().sent).toEqual([{ action: 'resume', since: 4 }]);
    expect(client.epoch).toBeUndefined();
    last().receive({ type: 'resumed', seq: 4 });
    client.subscribe('orders', { since: 7, epoch: '' });
    await topicFrames();
    expect(last().sent.at(-1)).toEqual({ action: 'resume', since: 7, topic: 'orders' });
    expect(() => client.subscribe('news', { since: 1, epoch: 'not an epoch' })).toThrow(
      new TypeError('invalid epoch "not an epoch"'),
    );
    const { WebSocket } = fakeWebSocket();
    expect(() => createPushClient({ url: URL, token: 't1', WebSocket, epoch: 'x'.repeat(33) })).toThrow(
      TypeError,
    );
  });

  it('adopts the new epoch a resume answers with gap, starting over at its seq', async () => {
    const { client, events, last } = await connect({ since: 3, epoch: 'E1' });
    last().open();
    last().receive(message('n1', { seq: 1, epoch: 'E2' }));
    last().receive(message('n2', { seq: 2, epoch: 'E2' }));
    last().receive({ type: 'resumed', seq: 2, epoch: 'E2', gap: true });
    expect(events.filter((e) => e[0] !== 'status')).toEqual([
      ['message', 'n1'],
      ['message', 'n2'],
      ['gap', { seq: 2 }],
    ]);
    expect([client.seq, client.epoch]).toEqual([2, 'E2']);
    last().receive(message('n3', { seq: 3, epoch: 'E2' }));
    expect(events.at(-1)).toEqual(['message', 'n3']);
  });

  it('takes a live message of another epoch as a reset: gap, then a resume from the new epoch’s start', async () => {
    const { client, events, last } = await connect();
    last().open();
    last().receive(RESUMED_0);
    last().receive(message('o1', { seq: 1, epoch: 'E1' }));
    last().receive(message('o2', { seq: 2, epoch: 'E1' }));
    // The stream was reset and has grown to 2 again: seq 2 is not a repeat.
    last().receive(message('n2', { seq: 2, epoch: 'E2' }));
    expect(events.at(-1)).toEqual(['gap', { seq: 2 }]);
    expect(last().sent.at(-1)).toEqual({ action: 'resume', since: 0, epoch: 'E2' });
    last().receive(message('n1', { seq: 1, epoch: 'E2' }));
    last().receive(message('n2', { seq: 2, epoch: 'E2' }));
    last().receive({ type: 'resumed', seq: 2, epoch: 'E2' });
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 'o1'],
      ['message', 'o2'],
      ['message', 'n1'],
      ['message', 'n2'],
    ]);
    expect([client.seq, client.epoch]).toEqual([2, 'E2']);
  });

  it('resumes with its epoch when a pong names another, even at a seq it has seen', async () => {
    const { last } = await connect({ heartbeatMs: 1000, since: 2, epoch: 'E1' });
    last().open();
    last().receive({ type: 'resumed', seq: 2, epoch: 'E1' });
    last().receive({ type: 'pong', ts: 1, seq: 2, epoch: 'E1' });
    expect(last().sent).toHaveLength(1);
    last().receive({ type: 'pong', ts: 2, seq: 2, epoch: 'E2' });
    expect(last().sent.at(-1)).toEqual({ action: 'resume', since: 2, epoch: 'E1' });
  });

  it.each([
    ['a string with a space', 'not an epoch'],
    ['a string of 33 characters', 'e'.repeat(33)],
  ])(
    'takes a pong whose epoch is %s for one without, instead of resuming on every heartbeat',
    async (_, epoch) => {
      const { last } = await connect({ heartbeatMs: 1000, since: 2, epoch: 'E1' });
      last().open();
      last().receive({ type: 'resumed', seq: 2, epoch: 'E1' });
      last().receive({ type: 'pong', ts: 1, seq: 2, epoch });
      last().receive({ type: 'pong', ts: 2, seq: 2, epoch });
      expect(last().sent).toHaveLength(1);
    },
  );

  it('sends a resume refused as rate_limited again after a backoff', async () => {
    const { events, last } = await connect();
    last().open();
    last().receive({ type: 'error', code: 'rate_limited', message: 'slow down' });
    expect(events.at(-1)).toEqual(['error', 'rate_limited', 'slow down']);
    await vi.advanceTimersByTimeAsync(499);
    expect(last().sent).toEqual([RESUME_0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([RESUME_0, RESUME_0]);
  });
});

describe("a connection's frame allowance (rate_limited on any frame)", () => {
  /** What `$default` answers a frame past the connection's allowance: it ran nothing. */
  const limited = (topic?: string) => ({
    type: 'error',
    code: 'rate_limited',
    message:
      'too many frames from this connection (250 at once, then 10 per second); frames refused: slow down, or the connection is closed',
    ...(topic === undefined ? {} : { topic }),
  });

  it('sends a refused subscribe again after a backoff, and only it', async () => {
    const { client, events, last } = await connect();
    for (const topic of ['a', 'b']) client.subscribe(topic);
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'subscribed', topic: 'a' });
    last().receive(limited('b'));
    expect(events.at(-1)).toEqual(['error', 'rate_limited', limited().message]);
    const sent = last().sent.length;
    await vi.advanceTimersByTimeAsync(499);
    expect(last().sent).toHaveLength(sent);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent.slice(sent)).toEqual([{ action: 'subscribe', topic: 'b' }]);
  });

  it('holds its waiting subscribes while it backs off from a refusal, then sends the refused one and them', async () => {
    const { client, last } = await connect();
    const topics = Array.from({ length: 14 }, (_, i) => `t${i}`);
    for (const topic of topics) client.subscribe(topic);
    last().open();
    // The uid's resume and nine subscribes in flight; t9 to t13 wait.
    expect(last().sent).toEqual([
      RESUME_0,
      ...topics.slice(0, 9).map((topic) => ({ action: 'subscribe', topic })),
    ]);
    last().receive(RESUMED_0);
    expect(last().sent.at(-1)).toEqual({ action: 'subscribe', topic: 't9' });
    // The allowance is spent: every further reply is a refusal, each freeing a slot.
    for (const topic of topics.slice(0, 5)) last().receive(limited(topic));
    expect(last().sent).toHaveLength(11);
    await vi.advanceTimersByTimeAsync(500);
    // After the backoff: the refused five again, which fill the room; the waiting ones go as
    // replies free it.
    expect(last().sent.slice(11)).toEqual(
      topics.slice(0, 5).map((topic) => ({ action: 'subscribe', topic })),
    );
    last().receive({ type: 'subscribed', topic: 't5' });
    expect(last().sent.slice(16)).toEqual([{ action: 'subscribe', topic: 't10' }]);
  });

  it('sends a refused unsubscribe again after a backoff, so the server does not keep the topic', async () => {
    const { client, last } = await connect();
    client.subscribe('a');
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'subscribed', topic: 'a' });
    client.unsubscribe('a');
    await topicFrames();
    expect(last().sent.at(-1)).toEqual({ action: 'unsubscribe', topic: 'a' });
    last().receive(limited('a'));
    const sent = last().sent.length;
    await vi.advanceTimersByTimeAsync(500);
    expect(last().sent.slice(sent)).toEqual([{ action: 'unsubscribe', topic: 'a' }]);
    last().receive({ type: 'unsubscribed', topic: 'a' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(
      last()
        .sent.slice(sent + 1)
        .filter((f) => (f as { action: string }).action !== 'ping'),
    ).toEqual([]);
  });

  it("sends a topic's refused subscribe and resume again once each, after one backoff", async () => {
    // Both answers name the topic, and either may be the subscribe's: the subscribe is sent again,
    // and with it the topic's resume, not a second one on a timer of its own.
    const { client, last } = await connect();
    client.subscribe('orders', { since: 3 });
    last().open();
    last().receive(RESUMED_0);
    const handshake = [
      RESUME_0,
      { action: 'subscribe', topic: 'orders' },
      { action: 'resume', since: 3, topic: 'orders' },
    ];
    expect(last().sent).toEqual(handshake);
    last().receive(limited('orders'));
    last().receive(limited('orders'));
    await vi.advanceTimersByTimeAsync(500);
    expect(last().sent.slice(3)).toEqual(handshake.slice(1));
    // Answered this time (a frame left unanswered for `timeoutMs` is sent again: see below).
    last().receive({ type: 'subscribed', topic: 'orders' });
    last().receive({ type: 'resumed', topic: 'orders', seq: 3 });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(last().sent.slice(5)).toEqual([]);
  });

  it("sends only the resume again when a topic's resume was refused after its subscribe was answered", async () => {
    // The resume budget refuses a handshake's resumes past 30 a minute: the subscribe went through
    // already, and sending it again with every refused resume doubles what the connection sends.
    const { client, last } = await connect();
    client.subscribe('orders', { since: 3 });
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'subscribed', topic: 'orders' });
    expect(last().sent.slice(2)).toEqual([{ action: 'resume', since: 3, topic: 'orders' }]);
    last().receive({
      type: 'error',
      code: 'rate_limited',
      message: 'more than 30 resumes in 60 s on this connection; resume later',
      topic: 'orders',
    });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(last().sent.slice(3)).toEqual([{ action: 'resume', since: 3, topic: 'orders' }]);
  });

  /** A client whose resume of `orders` is in flight with the subscribes of `orders` and `news`. */
  async function bothInFlight() {
    const c = await connect();
    c.client.subscribe('orders', { since: 3 });
    c.client.subscribe('news', { since: 5 });
    c.last().open();
    c.last().receive(RESUMED_0);
    expect(c.last().sent).toEqual([
      RESUME_0,
      { action: 'subscribe', topic: 'orders' },
      { action: 'subscribe', topic: 'news' },
      { action: 'resume', since: 3, topic: 'orders' },
    ]);
    return c;
  }

  describe("a topic's error while both its subscribe and its resume are in flight", () => {
    // Both answers name the topic, and the server runs the two concurrently. Taken as the resume's,
    // a subscribe's error would send the next resume while this one's replay may still run, which
    // the server refuses (`rate_limited`, a replay already running), spending the allowance.
    const ORDERS_3 = { action: 'resume', since: 3, topic: 'orders' };
    const NEWS_5 = { action: 'resume', since: 5, topic: 'news' };
    it("takes it as the subscribe's: the next resume waits for the topic's resumed", async () => {
      const { last } = await bothInFlight();
      last().receive(limited('orders'));
      expect(last().sent).toHaveLength(4);
      last().receive({ type: 'resumed', topic: 'orders', seq: 3 });
      expect(last().sent.slice(4)).toEqual([NEWS_5]);
      // The refused subscribe goes again after the backoff, with its resume, which waits its turn.
      await vi.advanceTimersByTimeAsync(500);
      expect(last().sent.slice(5)).toEqual([{ action: 'subscribe', topic: 'orders' }]);
      last().receive({ type: 'subscribed', topic: 'news' });
      last().receive({ type: 'resumed', topic: 'news', seq: 5 });
      expect(last().sent.slice(6)).toEqual([ORDERS_3]);
    });

    it("ends the resume's turn when the topic's subscribed follows: the error was the resume's, asked again alone", async () => {
      const { last } = await bothInFlight();
      last().receive({
        type: 'error',
        code: 'rate_limited',
        message: 'more than 30 resumes in 60 s on this connection; resume later',
        topic: 'orders',
      });
      expect(last().sent).toHaveLength(4);
      last().receive({ type: 'subscribed', topic: 'orders' });
      expect(last().sent.slice(4)).toEqual([NEWS_5]);
      last().receive({ type: 'subscribed', topic: 'news' });
      last().receive({ type: 'resumed', topic: 'news', seq: 5 });
      await vi.advanceTimersByTimeAsync(30_000);
      expect(last().sent.slice(5)).toEqual([ORDERS_3]);
    });
  });

  it("sends the subscribe again when API Gateway answers the last frame in flight after an error about its topic: the error may have been the resume's", async () => {
    const { last } = await bothInFlight();
    last().receive({ type: 'subscribed', topic: 'news' });
    // The resume failed, or the subscribe did: either way the other is API Gateway's own answer.
    last().receive({ type: 'error', code: 'internal', message: 'internal error', topic: 'orders' });
    last().receive({ message: 'Too Many Requests', connectionId: 'c1', requestId: 'r1' });
    expect(last().sent.slice(4)).toEqual([{ action: 'resume', since: 5, topic: 'news' }]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(last().sent.slice(5)).toEqual([{ action: 'subscribe', topic: 'orders' }]);
    last().receive({ type: 'resumed', topic: 'news', seq: 5 });
    expect(last().sent.slice(6)).toEqual([{ action: 'resume', since: 3, topic: 'orders' }]);
  });

  it('sends a refused uid resume again after a backoff', async () => {
    const { last } = await connect();
    last().open();
    last().receive(limited());
    await vi.advanceTimersByTimeAsync(499);
    expect(last().sent).toEqual([RESUME_0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([RESUME_0, RESUME_0]);
  });

  it('sends nothing again when a ping was refused: the next heartbeat is the retry', async () => {
    const { last } = await connect({ heartbeatMs: 1000, timeoutMs: 200 });
    last().open();
    last().receive(RESUMED_0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
    last().receive(limited());
    await vi.advanceTimersByTimeAsync(999);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }, { action: 'ping' }]);
  });
});

describe('a server that breaks the contract', () => {
  it.each([
    ['a fraction', '2.5'],
    ['a string', '"3"'],
    ['a negative number', '-1'],
    ['a number JSON.parse makes Infinity', '1e400'],
  ])('keeps its position when a resumed carries %s as its seq', async (_, seq) => {
    const { client, events, last } = await connect();
    last().open();
    last().receive(message('m1', { seq: 1 }));
    last().receive(`{"type":"resumed","seq":${seq},"gap":true}`);
    expect(client.seq).toBe(1);
    expect(events.filter((e) => e[0] === 'gap')).toEqual([]);
    // The turn is over all the same: the next resume goes out, from the position kept.
    last().receive({ type: 'pong', ts: 2, seq: 3 });
    expect(last().sent.at(-1)).toEqual({ action: 'resume', since: 1 });
  });

  it.each([
    ['a number', '7'],
    ['an object', '{"x":1}'],
    ['a string with a space', '"not an epoch"'],
    ['a string of 33 characters', `"${'e'.repeat(33)}"`],
  ])('takes no epoch from a resumed that names %s, and never sends it back', async (_, epoch) => {
    const { client, last } = await connect();
    last().open();
    last().receive(message('m1', { seq: 1 }));
    // A reset stream, as a buggy server would answer it: the seq is taken, its epoch is not.
    last().receive(`{"type":"resumed","seq":0,"epoch":${epoch},"gap":true}`);
    expect([client.seq, client.epoch]).toEqual([0, undefined]);
    last().receive({ type: 'pong', ts: 2, seq: 3 });
    expect(last().sent.at(-1)).toEqual({ action: 'resume', since: 0 });
  });

  it.each([
    ['a string with a space', '"not an epoch"'],
    ['a string of 33 characters', `"${'e'.repeat(33)}"`],
  ])(
    'backs off when every page says more and gap with an epoch that is %s, not one step past the one asked from',
    async (_, epoch) => {
      const { events, last } = await connect();
      last().open();
      const page = `{"type":"resumed","seq":0,"epoch":${epoch},"gap":true,"more":true}`;
      // Each resume answered as it goes out: an epoch the server could not have drawn names no reset,
      // so a page that got nowhere is a stall, and the next ask waits for the backoff.
      for (let answered = 0; answered < last().sent.length && answered < 10; answered++) last().receive(page);
      expect(last().sent).toEqual([RESUME_0]);
      expect(events.filter((e) => e[0] === 'gap')).toEqual([]);
      await vi.advanceTimersByTimeAsync(500);
      expect(last().sent).toEqual([RESUME_0, RESUME_0]);
    },
  );

  it('ignores a message whose seq is not a whole number from 0, delivering the next as usual', async () => {
    const { client, events, last } = await connect();
    last().open();
    last().receive(RESUMED_0);
    last().receive(message('bad', { seq: 1.5 }));
    last().receive(message('m1', { seq: 1 }));
    expect(events.filter((e) => e[0] === 'message')).toEqual([['message', 'm1']]);
    expect(client.seq).toBe(1);
  });

  it('keeps no place in a topic it does not hold when a push or a resume answer for it arrives', async () => {
    const { client, events, last } = await connect();
    client.subscribe('orders', { since: 3 });
    last().open();
    client.unsubscribe('orders');
    await topicFrames();
    // The answer to the resume sent before the unsubscribe, a push already on its way, and a
    // topic this client never asked for: the pushes are handed over once, and nothing is kept.
    last().receive({ type: 'resumed', topic: 'orders', seq: 9, epoch: 'E1', gap: true });
    last().receive(message('late', { topic: 'orders', seq: 10, epoch: 'E1' }));
    last().receive(message('late', { topic: 'orders', seq: 10, epoch: 'E1' }));
    last().receive(message('stray', { topic: 'never-asked', seq: 5, epoch: 'E2' }));
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 'late'],
      ['message', 'stray'],
    ]);
    expect(events.filter((e) => e[0] === 'gap')).toEqual([]);
    for (const topic of ['orders', 'never-asked']) {
      expect([client.seqOf(topic), client.epochOf(topic)]).toEqual([undefined, undefined]);
    }
  });

  it.each([
    // An Error's message is its ToString, which throws for an object whose toString is no function.
    ['an object with no string form', '{"toString":0}'],
    ['an array holding such an object', '[{"toString":0}]'],
    ['a number', '7'],
  ])(
    'closes for good on a kicked whose reason is %s, throwing nothing out of the socket handler',
    async (_, reason) => {
      const { client, sockets, events, last } = await connect();
      last().open();
      expect(() => last().receive(`{"type":"kicked","reason":${reason}}`)).not.toThrow();
      expect(client.status).toBe('closed');
      expect(events.slice(2)).toEqual([
        ['error', 'kicked', 'kicked by the server'],
        ['status', 'closed'],
      ]);
      expect(last().closeCalls).toEqual([{ code: 1000, reason: undefined }]);
      await vi.advanceTimersByTimeAsync(60 * 60 * 1000);
      expect(sockets).toHaveLength(1);
    },
  );

  it('backs off instead of asking again at once when more brings no seq past the one asked from', async () => {
    const { last } = await connect();
    last().open();
    last().receive(message('m1', { seq: 1 }));
    last().receive({ type: 'resumed', seq: 1, more: true });
    expect(last().sent).toEqual([RESUME_0, { action: 'resume', since: 1 }]);
    last().receive({ type: 'resumed', seq: 1, more: true });
    expect(last().sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(500);
    expect(last().sent).toEqual([RESUME_0, { action: 'resume', since: 1 }, { action: 'resume', since: 1 }]);
  });
});

describe('a reset stream replayed in pages', () => {
  it('goes on at once with the next page, whose seqs start below the one asked from', async () => {
    const { last, events } = await connect({ since: 5, epoch: 'old' });
    last().open();
    expect(last().sent).toEqual([{ action: 'resume', since: 5, epoch: 'old' }]);
    // The log was reset and holds more than one page: the first page ends at 2, below the 5
    // asked from in the old epoch, and is no stall.
    last().receive({
      type: 'messages',
      messages: [message('n1', { seq: 1, epoch: 'new' }), message('n2', { seq: 2, epoch: 'new' })],
    });
    last().receive({ type: 'resumed', seq: 2, epoch: 'new', gap: true, more: true });
    expect(last().sent).toEqual([
      { action: 'resume', since: 5, epoch: 'old' },
      { action: 'resume', since: 2, epoch: 'new' },
    ]);
    expect(events.filter((e) => e[0] === 'message')).toEqual([
      ['message', 'n1'],
      ['message', 'n2'],
    ]);
  });
});

describe('backoff on one socket', () => {
  it('starts from the first delay again once a resume was answered, however often it was refused before', async () => {
    const { last } = await connect();
    last().open();
    const refused = { type: 'error', code: 'rate_limited', message: 'slow down' };
    // Six refusals in a row: the seventh would wait half of min(30 s, 64 s).
    for (let i = 0; i < 6; i++) {
      last().receive(refused);
      await vi.advanceTimersByTimeAsync(30_000);
    }
    last().receive(RESUMED_0);
    // A pong ahead of the client asks for a resume, which is refused once more.
    last().receive({ type: 'pong', ts: 2, seq: 1 });
    last().receive(refused);
    const sent = last().sent.length;
    await vi.advanceTimersByTimeAsync(500);
    expect(last().sent.slice(sent)).toEqual([RESUME_0]);
  });
});

describe("the server's instructions", () => {
  it('reconnects when the server says the connection is gone', async () => {
    const { sockets, events, last } = await connect();
    last().open();
    last().receive({ type: 'error', code: 'gone', message: 'connection record not found' });
    expect(sockets[0]?.closeCalls).toEqual([{ code: 1000 }]);
    expect(events.slice(2)).toEqual([
      ['error', 'gone', 'connection record not found'],
      ['status', 'reconnecting'],
    ]);
    await vi.advanceTimersByTimeAsync(500);
    expect(sockets).toHaveLength(2);
  });

  it('sends the resume again after a backoff when a backend was unavailable, and only it', async () => {
    const { client, events, last } = await connect();
    client.subscribe('orders');
    last().open();
    last().receive({ type: 'subscribed', topic: 'orders' });
    last().receive({
      type: 'error',
      code: 'unavailable',
      message: 'replay stopped after seq 0; send resume again',
    });
    expect(events.at(-1)).toEqual(['error', 'unavailable', 'replay stopped after seq 0; send resume again']);
    const handshake = [RESUME_0, { action: 'subscribe', topic: 'orders' }];
    await vi.advanceTimersByTimeAsync(499);
    expect(last().sent).toEqual(handshake);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([...handshake, RESUME_0]);
    // A second failure on the same socket waits twice as long.
    last().receive({ type: 'error', code: 'unavailable', message: 'again' });
    await vi.advanceTimersByTimeAsync(999);
    expect(last().sent).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([...handshake, RESUME_0, RESUME_0]);
  });

  it('sends nothing again when a ping was answered unavailable: the next heartbeat is the retry', async () => {
    // With the uid's resume answered, a topic-less error can only answer the ping. Resuming the
    // uid's log for it, or pinging on the backoff, would have every idle client of an outage put
    // many times the heartbeat's load on the backend just as it struggles.
    const { events, last } = await connect({ heartbeatMs: 1000, timeoutMs: 200 });
    last().open();
    last().receive(RESUMED_0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
    last().receive({ type: 'error', code: 'unavailable', message: 'backend unavailable' });
    expect(events.at(-1)).toEqual(['error', 'unavailable', 'backend unavailable']);
    await vi.advanceTimersByTimeAsync(999);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }, { action: 'ping' }]);
    expect(events.filter((e) => e[0] === 'status')).toEqual([
      ['status', 'connecting'],
      ['status', 'open'],
    ]);
  });

  it('holds a ping that falls due during the uid resume until it is answered: a topic-less error then has one frame to answer', async () => {
    // Both a ping's errors and the uid resume's carry no topic, and the server may answer the two
    // in either order: with both in flight, a ping's `unavailable` would end the resume's turn and
    // send it again while its replay still runs.
    const { last } = await connect({ heartbeatMs: 1000, timeoutMs: 5000 });
    last().open();
    await vi.advanceTimersByTimeAsync(1000);
    expect(last().sent).toEqual([RESUME_0]);
    last().receive({ type: 'error', code: 'unavailable', message: 'log unavailable' });
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
    // The resume's own retry comes on the backoff (500 ms here), and waits in turn for the ping's answer.
    await vi.advanceTimersByTimeAsync(999);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
    last().receive({ type: 'pong', ts: 1, seq: 0 });
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }, RESUME_0]);
  });

  it('sends a uid resume asked for while a ping is in flight once the ping is answered, and takes the ping’s error as the ping’s', async () => {
    const { last } = await connect({ heartbeatMs: 10_000, timeoutMs: 5000, reorderMs: 100 });
    last().open();
    last().receive(RESUMED_0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
    // Seq 1 is missing: after reorderMs the client asks for it, but not while the ping is unanswered.
    last().receive(message('two', { seq: 2 }));
    await vi.advanceTimersByTimeAsync(100);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }]);
    last().receive({ type: 'error', code: 'unavailable', message: 'backend unavailable' });
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }, { action: 'resume', since: 0 }]);
    // The ping's error is not the resume's: nothing is sent again on the backoff.
    await vi.advanceTimersByTimeAsync(5000);
    expect(last().sent).toEqual([RESUME_0, { action: 'ping' }, { action: 'resume', since: 0 }]);
  });

  it('backs off from the first delay again once a ping is answered with a pong', async () => {
    // Failed subscribes stretch the backoff; a pong says the backend answers again, so a later
    // refusal on this socket must not wait as if the outage were still going on.
    const { client, last } = await connect({ heartbeatMs: 100_000, timeoutMs: 200 });
    last().open();
    last().receive(RESUMED_0);
    client.subscribe('orders');
    await topicFrames();
    const refused = { type: 'error', code: 'unavailable', message: 'try again', topic: 'orders' };
    last().receive(refused);
    await vi.advanceTimersByTimeAsync(500);
    last().receive(refused);
    await vi.advanceTimersByTimeAsync(1000);
    expect(last().sent.filter((f) => (f as { action: string }).action === 'subscribe')).toHaveLength(3);
    last().receive({ type: 'subscribed', topic: 'orders' });
    await vi.advanceTimersByTimeAsync(100_000);
    expect(last().sent.at(-1)).toEqual({ action: 'ping' });
    last().receive({ type: 'pong', ts: 1, seq: 0 });
    last().receive(refused);
    const sent = last().sent.length;
    await vi.advanceTimersByTimeAsync(499);
    expect(last().sent).toHaveLength(sent);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent.slice(sent)).toEqual([{ action: 'subscribe', topic: 'orders' }]);
  });

  it('sends again only the subscriptions a backend failed, not every topic and the uid resume', async () => {
    // The whole handshake again per failure would multiply a struggling backend's load by the
    // topics each client holds, just when it can least take it.
    const { client, last } = await connect();
    for (const topic of ['a', 'b', 'c']) client.subscribe(topic);
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'subscribed', topic: 'a' });
    last().receive({ type: 'error', code: 'unavailable', message: 'try again', topic: 'b' });
    last().receive({ type: 'error', code: 'unavailable', message: 'try again', topic: 'c' });
    const sent = last().sent.length;
    await vi.advanceTimersByTimeAsync(500);
    expect(last().sent.slice(sent)).toEqual([
      { action: 'subscribe', topic: 'b' },
      { action: 'subscribe', topic: 'c' },
    ]);
  });

  it('sends again, after a backoff, only the subscribes still unanswered when API Gateway answers a frame itself', async () => {
    // `Too Many Requests` (a route throttle another client emptied) names no frame; it ran nothing.
    const { client, events, last } = await connect();
    for (const topic of ['a', 'b']) client.subscribe(topic);
    last().open();
    last().receive({ type: 'subscribed', topic: 'a' });
    last().receive({ message: 'Too Many Requests', connectionId: 'c1', requestId: 'r1' });
    const sent = last().sent.length;
    await vi.advanceTimersByTimeAsync(499);
    expect(last().sent).toHaveLength(sent);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sent.slice(sent)).toEqual([{ action: 'subscribe', topic: 'b' }]);
    expect(events.filter((e) => e[0] === 'error')).toEqual([]);
  });

  it('gives a uid resume held past its deadline by an unanswered ping a deadline of its own, so a lost answer stops neither resumes nor the heartbeat', async () => {
    // The uid resume waits behind a topic's, then behind a ping API Gateway answered itself (the
    // ping's wait runs out only after the resume's deadline did); sent then, its answer is lost too.
    const { client, sockets, last } = await connect({ heartbeatMs: 10_000, timeoutMs: 5000, reorderMs: 100 });
    client.subscribe('orders', { since: 3 });
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'subscribed', topic: 'orders' });
    last().receive({ type: 'resumed', topic: 'orders', seq: 3 });
    await vi.advanceTimersByTimeAsync(6000);
    last().receive(message('o5', { topic: 'orders', seq: 5 }));
    await vi.advanceTimersByTimeAsync(100);
    last().receive(message('u2', { seq: 2 }));
    await vi.advanceTimersByTimeAsync(100);
    const ORDERS_3 = { action: 'resume', since: 3, topic: 'orders' };
    expect(last().sent.slice(2)).toEqual([ORDERS_3, ORDERS_3]);
    await vi.advanceTimersByTimeAsync(3800);
    expect(last().sent.slice(4)).toEqual([{ action: 'ping' }]);
    last().receive({ message: 'Too Many Requests', connectionId: 'c1', requestId: 'r1' });
    last().receive({ type: 'resumed', topic: 'orders', seq: 5 });
    expect(last().sent.slice(5)).toEqual([]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(last().sent.slice(5)).toEqual([RESUME_0]);
    // The only frame in flight: API Gateway's own answer is the resume's, asked again after the backoff.
    last().receive({ message: 'Too Many Requests', connectionId: 'c1', requestId: 'r2' });
    await vi.advanceTimersByTimeAsync(500);
    expect(last().sent.slice(6)).toEqual([RESUME_0]);
    // Its answer is lost: its deadline ends its turn, and the heartbeat due meanwhile pings (and,
    // unanswered, replaces the socket).
    await vi.advanceTimersByTimeAsync(4999);
    expect(last().sent.slice(6)).toEqual([RESUME_0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets[0]?.sent.slice(6)).toEqual([RESUME_0, { action: 'ping' }]);
  });

  it("sends a subscribe again after API Gateway's own answer when the only later answer about its topic was its resume's", async () => {
    const { client, last } = await connect();
    client.subscribe('orders', { since: 3 });
    last().open();
    last().receive(RESUMED_0);
    expect(last().sent).toEqual([
      RESUME_0,
      { action: 'subscribe', topic: 'orders' },
      { action: 'resume', since: 3, topic: 'orders' },
    ]);
    last().receive({ message: 'Too Many Requests', connectionId: 'c1', requestId: 'r1' });
    last().receive({ type: 'error', code: 'rate_limited', message: 'slow down', topic: 'orders' });
    await vi.advanceTimersByTimeAsync(500);
    expect(last().sent.slice(3)).toContainEqual({ action: 'subscribe', topic: 'orders' });
  });

  it('sends nothing again when API Gateway answers a frame itself and every subscribe was answered', async () => {
    const { client, last } = await connect({ heartbeatMs: 1000, timeoutMs: 200 });
    client.subscribe('a');
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'subscribed', topic: 'a' });
    await vi.advanceTimersByTimeAsync(1000);
    const sent = last().sent.length;
    last().receive({ message: 'Too Many Requests', connectionId: 'c1', requestId: 'r1' });
    await vi.advanceTimersByTimeAsync(999);
    expect(last().sent).toHaveLength(sent);
  });

  it('reconnects at once when the token expires on a socket that answered its handshake', async () => {
    const { sockets, events, last } = await connect();
    last().open();
    last().receive(RESUMED_0);
    last().receive({ type: 'expired' });
    await settle();
    expect(sockets).toHaveLength(2);
    expect(events.filter((e) => e[0] === 'error')).toEqual([]);
  });

  it('waits a backoff before reconnecting when the token expires before the handshake was answered', async () => {
    // A token function that hands out a token at its very end (or a server whose clock runs
    // ahead) would otherwise make every socket expire at once, and the client dial in a loop.
    const { sockets, last } = await connect();
    last().open();
    last().receive({ type: 'expired' });
    await settle();
    expect(sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(sockets).toHaveLength(2);
    last().open();
    last().receive({ type: 'expired' });
    await vi.advanceTimersByTimeAsync(999);
    expect(sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(3);
  });

  it('closes for good when kicked, reporting the reason', async () => {
    const { client, sockets, events, last } = await connect();
    last().open();
    last().receive({ type: 'kicked', reason: 'logout' });
    expect(client.status).toBe('closed');
    expect(events.slice(2)).toEqual([
      ['error', 'kicked', 'logout'],
      ['status', 'closed'],
    ]);
    last().drop(1000);
    await vi.advanceTimersByTimeAsync(60 * 60 * 1000);
    expect(sockets).toHaveLength(1);
  });
});

describe('replacing the socket before the 2-hour limit', () => {
  // Heartbeats are pushed out of the way so each test controls every frame.
  const quiet = { heartbeatMs: 3 * 60 * 60 * 1000 };

  it('opens a new socket at rotateAfterMs and lets the old one go only once the new one has answered', async () => {
    const token = vi.fn().mockResolvedValueOnce('tok-1').mockResolvedValueOnce('tok-2');
    const { client, sockets, events } = await connect({ ...quiet, token });
    client.subscribe('orders');
    sockets[0]?.open();
    sockets[0]?.receive(RESUMED_0);
    sockets[0]?.receive({ type: 'subscribed', topic: 'orders' });
    sockets[0]?.receive(message('m1', { seq: 1 }));
    await vi.advanceTimersByTimeAsync(115 * 60 * 1000 - 1);
    expect(sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets.map((s) => s.token)).toEqual(['tok-1', 'tok-2']);
    const [old, fresh] = sockets as [FakeWebSocket, FakeWebSocket];
    fresh.open();
    expect(fresh.sent).toEqual([
      { action: 'resume', since: 1 },
      { action: 'subscribe', topic: 'orders' },
    ]);
    // While they overlap both sockets carry the same pushes (and the replay repeats one); the app
    // sees each message once.
    old.receive(message('m2', { seq: 2 }));
    fresh.receive(message('m2', { seq: 2 }));
    fresh.receive({ type: 'resumed', seq: 2 });
    old.receive(message('t1', { topic: 'orders' }));
    fresh.receive(message('t1', { topic: 'orders' }));
    fresh.receive({ type: 'subscribed', topic: 'orders' });
    // The new socket now serves alone; the old one only drains for timeoutMs (15 s), since a
    // publish that chose its targets before the new socket subscribed may still reach it.
    client.unsubscribe('orders');
    await topicFrames();
    expect(fresh.sent.at(-1)).toEqual({ action: 'unsubscribe', topic: 'orders' });
    expect(old.sent).toEqual([RESUME_0, { action: 'subscribe', topic: 'orders' }]);
    old.receive(message('t2', { topic: 'orders' }));
    await vi.advanceTimersByTimeAsync(14_999);
    expect(old.closeCalls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(old.closeCalls).toEqual([{ code: 1000 }]);
    expect(events).toEqual([
      ['status', 'connecting'],
      ['status', 'open'],
      ['message', 'm1'],
      ['message', 'm2'],
      ['message', 't1'],
      ['message', 't2'],
    ]);
  });

  it('takes over once a subscribe whose reply was lost is sent again and answered', async () => {
    const { client, sockets } = await connect({ ...quiet, rotateAfterMs: 1000, timeoutMs: 200 });
    client.subscribe('orders');
    sockets[0]?.open();
    sockets[0]?.receive(RESUMED_0);
    sockets[0]?.receive({ type: 'subscribed', topic: 'orders' });
    await vi.advanceTimersByTimeAsync(1000);
    const [old, fresh] = sockets as [FakeWebSocket, FakeWebSocket];
    fresh.open();
    fresh.receive(RESUMED_0);
    // The subscribe's reply never comes (API Gateway dropped it): the old socket still serves.
    await vi.advanceTimersByTimeAsync(199);
    expect(old.closeCalls).toEqual([]);
    expect(fresh.sent.slice(2)).toEqual([]);
    // Given up on after timeoutMs: sent again after a backoff, and its answer completes the handover.
    await vi.advanceTimersByTimeAsync(1 + 1000);
    expect(fresh.sent.slice(2)).toEqual([{ action: 'subscribe', topic: 'orders' }]);
    fresh.receive({ type: 'subscribed', topic: 'orders' });
    await vi.advanceTimersByTimeAsync(200);
    expect(old.closeCalls).toEqual([{ code: 1000 }]);
  });

  it('sends a subscription made during the overlap on both sockets', async () => {
    const { client, sockets } = await connect({ ...quiet, rotateAfterMs: 1000 });
    sockets[0]?.open();
    await vi.advanceTimersByTimeAsync(1000);
    sockets[1]?.open();
    client.subscribe('orders');
    await topicFrames();
    expect(sockets.map((s) => s.sent)).toEqual([
      [RESUME_0, { action: 'subscribe', topic: 'orders' }],
      [RESUME_0, { action: 'subscribe', topic: 'orders' }],
    ]);
  });

  it('hands over as soon as the resume is answered when no topic is subscribed', async () => {
    const { client, sockets, events } = await connect({ ...quiet, rotateAfterMs: 1000, timeoutMs: 5000 });
    sockets[0]?.open();
    await vi.advanceTimersByTimeAsync(1000);
    sockets[1]?.open();
    sockets[1]?.receive(RESUMED_0);
    client.subscribe('orders');
    await topicFrames();
    expect(sockets.map((s) => s.sent.length)).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(sockets[0]?.closeCalls).toEqual([{ code: 1000 }]);
    expect(events).toEqual([
      ['status', 'connecting'],
      ['status', 'open'],
    ]);
  });

  it('lets the old socket go only once the replacement has subscribed again what API Gateway answered itself, and sends again only what stayed unanswered', async () => {
    const { client, sockets } = await connect({ ...quiet, rotateAfterMs: 1000, timeoutMs: 5000 });
    for (const topic of ['orders', 'news']) client.subscribe(topic);
    sockets[0]?.open();
    sockets[0]?.receive(RESUMED_0);
    for (const topic of ['orders', 'news']) sockets[0]?.receive({ type: 'subscribed', topic });
    await vi.advanceTimersByTimeAsync(1000);
    const [old, fresh] = sockets as [FakeWebSocket, FakeWebSocket];
    fresh.open();
    const sent = fresh.sent.length;
    // The throttle answered the orders subscribe; the others' answers come after it.
    fresh.receive({ message: 'Too Many Requests', connectionId: 'c2', requestId: 'r1' });
    fresh.receive({ type: 'subscribed', topic: 'news' });
    fresh.receive(RESUMED_0);
    await vi.advanceTimersByTimeAsync(500);
    expect(fresh.sent.slice(sent)).toEqual([{ action: 'subscribe', topic: 'orders' }]);
    // Until orders is subscribed on the new socket, the old one still carries its pushes.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(old.closeCalls).toEqual([]);
    fresh.receive({ type: 'subscribed', topic: 'orders' });
    await vi.advanceTimersByTimeAsync(5000);
    expect(old.closeCalls).toEqual([{ code: 1000 }]);
  });

  it('keeps the old socket serving when the replacement fails, and tries again after the backoff', async () => {
    const { sockets, events, last } = await connect({ ...quiet, rotateAfterMs: 1000 });
    sockets[0]?.open();
    await vi.advanceTimersByTimeAsync(1000);
    last().drop();
    expect(sockets[0]?.closeCalls).toEqual([]);
    await vi.advanceTimersByTimeAsync(500);
    expect(sockets).toHaveLength(3);
    last().open();
    last().receive(RESUMED_0);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(sockets[0]?.closeCalls).toEqual([{ code: 1000 }]);
    expect(events).toEqual([
      ['status', 'connecting'],
      ['status', 'open'],
      ['error', 'socket_closed', 'socket closed (1006)'],
    ]);
  });

  it.each([
    ['opens', 'open', [], 2],
    [
      'fails',
      'reconnecting',
      [
        ['error', 'socket_closed', 'socket closed (1006)'],
        ['status', 'reconnecting'],
      ],
      3,
    ],
  ])(
    'stays open when the old socket is evicted at the cap for a replacement still opening, until the replacement %s',
    async (_, status, after, socketsAfterBackoff) => {
      // The server evicts the old socket while the new one's $connect runs, so the kick can come
      // before the new socket's open: the client was never without a socket the server holds.
      const { client, sockets, events } = await connect({ ...quiet, rotateAfterMs: 1000 });
      sockets[0]?.open();
      sockets[0]?.receive(RESUMED_0);
      await vi.advanceTimersByTimeAsync(1000);
      sockets[0]?.receive({ type: 'kicked', reason: 'connection_limit' });
      expect(client.status).toBe('open');
      if (status === 'open') sockets[1]?.open();
      else sockets[1]?.drop();
      expect(client.status).toBe(status);
      expect(events).toEqual([['status', 'connecting'], ['status', 'open'], ...after]);
      await vi.advanceTimersByTimeAsync(500);
      expect(sockets).toHaveLength(socketsAfterBackoff);
    },
  );

  it('lets an open replacement take over at once when the old socket dies first', async () => {
    const { client, sockets, events } = await connect({ ...quiet, rotateAfterMs: 1000 });
    client.subscribe('orders');
    sockets[0]?.open();
    await vi.advanceTimersByTimeAsync(1000);
    sockets[1]?.open();
    sockets[0]?.drop(1001);
    sockets[1]?.receive(message('m1'));
    expect(events).toEqual([
      ['status', 'connecting'],
      ['status', 'open'],
      ['error', 'socket_closed', 'socket closed (1001)'],
      ['message', 'm1'],
    ]);
    // No reconnect is scheduled: the next socket is the replacement's own rotation, a full period on.
    await vi.advanceTimersByTimeAsync(999);
    expect(sockets).toHaveLength(2);
  });
});

describe('close', () => {
  it('closes the socket, reports closed and never reconnects', async () => {
    const { client, sockets, events, last } = await connect();
    last().open();
    client.close();
    client.close();
    expect(sockets[0]?.closeCalls).toEqual([{ code: 1000 }]);
    expect(client.status).toBe('closed');
    await vi.advanceTimersByTimeAsync(3 * 60 * 60 * 1000);
    expect(sockets).toHaveLength(1);
    expect(events).toEqual([
      ['status', 'connecting'],
      ['status', 'open'],
      ['status', 'closed'],
    ]);
  });

  it('also closes a replaced socket that is still draining', async () => {
    const { client, sockets } = await connect({ heartbeatMs: 3 * 60 * 60 * 1000, rotateAfterMs: 1000 });
    sockets[0]?.open();
    await vi.advanceTimersByTimeAsync(1000);
    sockets[1]?.open();
    sockets[1]?.receive(RESUMED_0);
    client.close();
    expect(sockets.map((s) => s.closeCalls)).toEqual([[{ code: 1000 }], [{ code: 1000 }]]);
  });

  it.each([
    ['a socket that never opened (a refused handshake)', (socket: FakeWebSocket) => socket.drop(1006)],
    [
      'an open socket that drops',
      (socket: FakeWebSocket) => {
        socket.open();
        socket.drop(1001);
      },
    ],
  ])(
    'stays closed when an error listener closes it, for %s: no reconnecting, no new socket',
    async (_case, fail) => {
      // "Stop on the first failure" used to report closed, then reconnecting, and dial for ever.
      const { client, sockets, events, last } = await connect();
      client.on('error', () => client.close());
      fail(last());
      await vi.advanceTimersByTimeAsync(3 * 60 * 60 * 1000);
      expect(sockets).toHaveLength(1);
      expect(client.status).toBe('closed');
      expect(events.filter(([kind]) => kind === 'status').at(-1)).toEqual(['status', 'closed']);
      expect(events.filter(([kind, status]) => kind === 'status' && status === 'reconnecting')).toEqual([]);
    },
  );

  it('tells nothing after closed when a message listener closes it while held messages are handed over', async () => {
    const { client, events, last } = await connect();
    client.on('message', () => client.close());
    last().open();
    last().receive(message('five', { seq: 5 }));
    last().receive(message('four', { seq: 4 }));
    // The replay's end hands over four, then five: the listener closed the client on four.
    last().receive({ type: 'resumed', seq: 5 });
    expect(events.slice(-2)).toEqual([
      ['message', 'four'],
      ['status', 'closed'],
    ]);
    await vi.advanceTimersByTimeAsync(3 * 60 * 60 * 1000);
    expect(events.at(-1)).toEqual(['status', 'closed']);
  });

  it('sends nothing more when an error listener closes it on an error frame a retry would follow', async () => {
    const { client, events, last } = await connect();
    last().open();
    last().receive(RESUMED_0);
    client.subscribe('orders');
    await topicFrames();
    client.on('error', () => client.close());
    const sent = last().sent.length;
    last().receive({ type: 'error', code: 'unavailable', topic: 'orders', message: 'try again' });
    // Closed holds no timer: a retry scheduled after the close would keep a Node process alive.
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(3 * 60 * 60 * 1000);
    expect(last().sent).toHaveLength(sent);
    expect(events.at(-1)).toEqual(['status', 'closed']);
  });

  it('opens no socket when closed while the token is being fetched', async () => {
    let resolve: (token: string) => void = () => {};
    const token = () => new Promise<string>((r) => (resolve = r));
    const { client, sockets } = await connect({ token });
    client.close();
    resolve('late');
    await settle();
    expect(sockets).toHaveLength(0);
  });
});

describe('topics', () => {
  it('sends one frame per change of the topic set', async () => {
    const { client, last } = await connect();
    last().open();
    client.subscribe('orders');
    client.subscribe('orders');
    await topicFrames();
    client.unsubscribe('orders');
    client.unsubscribe('orders');
    await topicFrames();
    expect(last().sent).toEqual([
      RESUME_0,
      { action: 'subscribe', topic: 'orders' },
      { action: 'unsubscribe', topic: 'orders' },
    ]);
  });

  it('sends only the net change of one task: the server would run its frames in any order', async () => {
    const { client, last } = await connect();
    last().open();
    // Mounted, unmounted and mounted again in one go (React's StrictMode): one subscribe.
    client.subscribe('orders');
    client.unsubscribe('orders');
    client.subscribe('orders');
    // Subscribed and dropped again before the task ends: nothing at all.
    client.subscribe('alerts');
    client.unsubscribe('alerts');
    await topicFrames();
    expect(last().sent).toEqual([RESUME_0, { action: 'subscribe', topic: 'orders' }]);
    // Unmounted and mounted again while subscribed: the socket stays subscribed, nothing is sent.
    client.unsubscribe('orders');
    client.subscribe('orders');
    await topicFrames();
    expect(last().sent).toEqual([RESUME_0, { action: 'subscribe', topic: 'orders' }]);
  });

  it('refuses an invalid topic name with a TypeError, sending nothing', async () => {
    const { client, last } = await connect();
    last().open();
    expect(() => client.subscribe('orders/*')).toThrow(new TypeError('invalid topic "orders/*"'));
    expect(last().sent).toEqual([RESUME_0]);
  });
});
