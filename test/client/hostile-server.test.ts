/**
 * The client against a server, network or app that does what the protocol allows but rarely: a
 * hole that is never filled while more than `dedupSize` seqs arrive above it, pings answered
 * late, a listener that closes the client in the middle of a frame, a token function that
 * resolves to something that is not a string. Each was found by an attacker's tests; fake sockets
 * and fake timers, so every step is exact.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect, settle } from './testing/connect';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

const message = (seq: number, extra: Record<string, unknown> = {}) => ({
  type: 'message',
  id: `m${seq}`,
  seq,
  epoch: 'EP',
  data: seq,
  ts: 1,
  ...extra,
});

describe('a hole stepped over', () => {
  it.each([
    ['the uid stream', undefined],
    ['a topic', 'news'],
  ])(
    'on %s, once more than dedupSize seqs wait above it, is reported as a gap at the seq that gave it up',
    async (_, topic) => {
      const dedupSize = 5;
      const { client, last, events } = await connect({ dedupSize });
      last().open();
      last().receive({ type: 'resumed', seq: 0 });
      if (topic !== undefined) {
        client.subscribe(topic, { since: 0 });
        await settle();
        last().receive({ type: 'subscribed', topic });
        last().receive({ type: 'resumed', topic, seq: 0 });
      }
      const extra = topic === undefined ? {} : { topic };
      // Seq 1 missed this socket; its resume is refused for now (the server's resume budget).
      last().receive(message(2, extra));
      await vi.advanceTimersByTimeAsync(500);
      expect(last().sent.at(-1)).toEqual({ action: 'resume', since: 0, epoch: 'EP', ...extra });
      last().receive({ type: 'error', code: 'rate_limited', message: 'resume budget', ...extra });
      // Live traffic goes on: the sixth seq held above the hole gives it up.
      for (let seq = 3; seq <= dedupSize + 1; seq++) last().receive(message(seq, extra));
      expect(events.filter(([kind]) => kind === 'gap')).toEqual([]);
      last().receive(message(dedupSize + 2, extra));
      expect(events.filter(([kind]) => kind === 'gap')).toEqual([['gap', { seq: dedupSize + 2, ...extra }]]);
      // The position an app keeps is past the hole, and the gap told it what that cost.
      expect(topic === undefined ? client.seq : client.seqOf(topic)).toBe(dedupSize + 2);
      client.close();
    },
  );
});

describe('the heartbeat', () => {
  it('keeps a socket whose every pong comes within timeoutMs, also when pings go out faster than that', async () => {
    const { client, last, events, sockets } = await connect({ heartbeatMs: 300, timeoutMs: 1000 });
    last().open();
    last().receive({ type: 'resumed', seq: 0 });
    // Each ping is answered 400 ms after it went out: a second ping leaves before the first pong.
    for (let round = 0; round < 8; round++) {
      await vi.advanceTimersByTimeAsync(400);
      last().receive({ type: 'pong', seq: 0 });
    }
    expect(events.filter(([kind]) => kind === 'error')).toEqual([]);
    expect(sockets).toHaveLength(1);
    expect(client.status).toBe('open');
    client.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('still drops a socket that answers nothing, timeoutMs after the first unanswered ping', async () => {
    const { last, events } = await connect({ heartbeatMs: 300, timeoutMs: 1000 });
    last().open();
    last().receive({ type: 'resumed', seq: 0 });
    await vi.advanceTimersByTimeAsync(300 + 999);
    expect(events.filter(([kind]) => kind === 'error')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(events.filter(([kind]) => kind === 'error')).toEqual([
      ['error', 'heartbeat_timeout', 'no reply to ping within 1000 ms'],
    ]);
  });
});

describe('close() from a listener in the middle of a frame', () => {
  it.each([
    [
      'a gap listener, on a resumed that says more',
      async (t: Awaited<ReturnType<typeof connect>>) => {
        t.client.on('gap', () => t.client.close());
        t.last().receive({ type: 'resumed', seq: 10, gap: true, more: true });
      },
      { since: 5 },
    ],
    [
      'a message listener, in a batch that skips a seq',
      async (t: Awaited<ReturnType<typeof connect>>) => {
        t.last().receive({ type: 'resumed', seq: 0 });
        t.client.on('message', () => t.client.close());
        t.last().receive({ type: 'messages', messages: [message(1), message(3)] });
      },
      {},
    ],
    [
      'a gap listener, on a live message of a new epoch',
      async (t: Awaited<ReturnType<typeof connect>>) => {
        t.last().receive({ type: 'resumed', seq: 3, epoch: 'AAAA' });
        t.client.on('gap', () => t.client.close());
        t.last().receive(message(1, { epoch: 'BBBB' }));
      },
      {},
    ],
  ])('%s, leaves no timer running', async (_, act, options) => {
    const t = await connect(options);
    t.last().open();
    await act(t);
    await settle();
    expect(t.client.status).toBe('closed');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('a token function that resolves to something else than a string', () => {
  it.each([
    ['a Symbol', () => Symbol('t')],
    [
      'an object whose toString throws',
      () => ({
        toString: () => {
          throw new Error('no string');
        },
      }),
    ],
  ])('resolving to %s: reported as socket_closed, and dialled again after the backoff', async (_, value) => {
    let calls = 0;
    const token = async () => {
      calls += 1;
      return value() as unknown as string;
    };
    const { client, events, sockets } = await connect({ token, backoffBaseMs: 100, backoffCapMs: 100 });
    expect(sockets).toHaveLength(0);
    expect(events.filter(([kind]) => kind === 'error').map(([, code]) => code)).toEqual(['socket_closed']);
    // Half the base delay, with the test's random() of 0.5.
    await vi.advanceTimersByTimeAsync(50);
    expect(calls).toBe(2);
    expect(client.status).toBe('connecting');
    client.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('a reset seen live while a resume of the stream is out, and that resume never tells it', () => {
  /** A uid stream at seq 3 of AAAA, a hole at 4 asked for, and seq 1 of BBBB seen live meanwhile. */
  async function resetDuringResume() {
    const t = await connect({ since: 3, epoch: 'AAAA' });
    t.last().open();
    t.last().receive({ type: 'resumed', seq: 3, epoch: 'AAAA' });
    t.last().receive(message(5, { epoch: 'AAAA' }));
    await vi.advanceTimersByTimeAsync(500);
    expect(t.last().sent.at(-1)).toEqual({ action: 'resume', since: 3, epoch: 'AAAA' });
    t.last().receive(message(1, { id: 'n1', epoch: 'BBBB' }));
    // Left to the resume out, which was asked in AAAA: no gap yet.
    expect(t.events.filter(([kind]) => kind === 'gap')).toEqual([]);
    return t;
  }

  it('refused for now: the retry still asks in the old epoch, and the gap its answer says is told', async () => {
    const t = await resetDuringResume();
    t.last().receive({ type: 'error', code: 'rate_limited', message: 'resume budget' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.last().sent.at(-1)).toEqual({ action: 'resume', since: 1, epoch: 'AAAA' });
    t.last().receive({ type: 'resumed', seq: 1, epoch: 'BBBB', gap: true });
    expect(t.events.filter(([kind]) => kind === 'gap')).toEqual([['gap', { seq: 1 }]]);
    // Told once: the next resume asks in the new epoch.
    t.last().receive(message(3, { id: 'n3', epoch: 'BBBB' }));
    await vi.advanceTimersByTimeAsync(500);
    expect(t.last().sent.at(-1)).toEqual({ action: 'resume', since: 1, epoch: 'BBBB' });
    t.client.close();
  });

  it('lost with its socket: the next socket asks in the old epoch, and the gap is told', async () => {
    const t = await resetDuringResume();
    t.last().drop();
    await vi.advanceTimersByTimeAsync(1000);
    t.last().open();
    expect(t.last().sent[0]).toEqual({ action: 'resume', since: 1, epoch: 'AAAA' });
    t.last().receive({ type: 'resumed', seq: 1, epoch: 'BBBB', gap: true });
    expect(t.events.filter(([kind]) => kind === 'gap')).toEqual([['gap', { seq: 1 }]]);
    t.client.close();
  });
});

describe('no gap where nothing was lost', () => {
  const gaps = (events: unknown[][]) => events.filter(([kind]) => kind === 'gap');

  it('the server told a gap with nothing replayed; then more than dedupSize live seqs: that gap only', async () => {
    const dedupSize = 5;
    const { client, last, events } = await connect({ dedupSize, since: 10, epoch: 'EP' });
    last().open();
    last().receive({ type: 'resumed', seq: 100, epoch: 'EP', gap: true });
    for (let seq = 101; seq <= 100 + dedupSize + 1; seq++) last().receive(message(seq));
    expect(events.filter(([kind]) => kind === 'message')).toHaveLength(dedupSize + 1);
    expect(gaps(events)).toEqual([['gap', { seq: 100 }]]);
    client.close();
  });

  it('a full page replayed from a trimmed log, its gap, then live seqs (the default limits): that gap only', async () => {
    const { client, last, events } = await connect({ since: 10, epoch: 'EP' });
    last().open();
    last().receive({ type: 'messages', messages: Array.from({ length: 1000 }, (_, i) => message(4001 + i)) });
    last().receive({ type: 'resumed', seq: 5000, epoch: 'EP', gap: true });
    last().receive(message(5001));
    expect(events.filter(([kind]) => kind === 'message')).toHaveLength(1001);
    expect(gaps(events)).toEqual([['gap', { seq: 5000 }]]);
    client.close();
  });

  it('a session without since: a trimmed first replay, then live seqs, tells none', async () => {
    const { client, last, events } = await connect();
    last().open();
    last().receive({ type: 'messages', messages: Array.from({ length: 1000 }, (_, i) => message(4001 + i)) });
    last().receive({ type: 'resumed', seq: 5000, epoch: 'EP', gap: true });
    last().receive(message(5001));
    expect(events.filter(([kind]) => kind === 'message')).toHaveLength(1001);
    expect(gaps(events)).toEqual([]);
    client.close();
  });

  it('a session without since whose first resume is refused for now: live seqs above dedupSize tell none', async () => {
    const { client, last, events } = await connect({ dedupSize: 5 });
    last().open();
    last().receive({ type: 'error', code: 'rate_limited', message: 'resume budget' });
    for (let seq = 5001; seq <= 5006; seq++) last().receive(message(seq));
    expect(gaps(events)).toEqual([]);
    client.close();
  });

  it('a session without since that sees a reset before its first answer: told none, and owes none after', async () => {
    const t = await connect();
    t.last().open();
    expect(t.last().sent[0]).toEqual({ action: 'resume', since: 0 });
    t.last().receive(message(1, { id: 'a1', epoch: 'AAAA' }));
    t.last().receive(message(1, { id: 'b1', epoch: 'BBBB' }));
    t.last().receive({ type: 'resumed', seq: 1, epoch: 'BBBB' });
    t.last().receive(message(3, { id: 'b3', epoch: 'BBBB' }));
    await vi.advanceTimersByTimeAsync(500);
    expect(t.last().sent.at(-1)).toEqual({ action: 'resume', since: 1, epoch: 'BBBB' });
    expect(gaps(t.events)).toEqual([]);
    t.client.close();
  });
});

describe('a replay that says more yet gets nowhere', () => {
  it.each([true, 1, 'yes'])('with more: %j, is asked again after the backoff, not at once', async (more) => {
    const { client, last } = await connect({ since: 7, epoch: 'EP', backoffBaseMs: 1000 });
    last().open();
    expect(last().sent.at(-1)).toEqual({ action: 'resume', since: 7, epoch: 'EP' });
    last().receive({ type: 'resumed', seq: 7, epoch: 'EP', more });
    const resumes = () => last().sent.filter((frame) => (frame as { action: string }).action === 'resume');
    expect(resumes()).toHaveLength(1);
    // Half the base delay, with the test's random() of 0.5.
    await vi.advanceTimersByTimeAsync(500);
    expect(resumes()).toHaveLength(2);
    client.close();
  });
});
