/**
 * A seq missing below stored ones (the server answers `latest` while it may still be written): the
 * client looks again once per position, holding live messages meanwhile, and then lets them go;
 * a pong past its cursor asks again at most once a heartbeat (README, the client library).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect } from './testing/connect';
import type { FakeWebSocket } from './testing/fake-websocket';

const message = (id: string, extra: object = {}) => ({ type: 'message', id, data: { id }, ts: 1, ...extra });
const resumes = (s: FakeWebSocket) => s.sent.filter((f) => (f as { action: string }).action === 'resume');
const delivered = (events: unknown[][]) => events.filter((e) => e[0] === 'message').map((e) => e[1]);

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/**
 * Seq 2 stays missing below stored messages (its publish died after taking it; the server calls
 * it pending for 2 x publish timeout + 1 s after seq 3's ts), while the uid gets a live message
 * every 400 ms. Every resume is answered as the server does then: nothing replayed, seq 1, latest =
 * the counter; with `budget`, the 31st resume in 60 s is refused (resumesPerWindow).
 */
async function busyPendingHole(ms: number, budget: boolean) {
  const { events, last } = await connect({ reorderMs: 500, timeoutMs: 15_000, heartbeatMs: 600_000 });
  last().open();
  last().receive(message('m1', { seq: 1 }));
  last().receive({ type: 'resumed', seq: 1 });
  let seq = 3;
  let answered = resumes(last()).length;
  const started: number[] = [];
  let firstHeldShownAt = -1;
  for (let t = 0; t < ms; t += 100) {
    if (t % 400 === 0) last().receive(message(`m${seq}`, { seq: seq++ }));
    await vi.advanceTimersByTimeAsync(100);
    while (answered < resumes(last()).length) {
      answered++;
      if (budget && started.filter((s) => s > t - 60_000).length >= 30) {
        last().receive({ type: 'error', code: 'rate_limited', message: 'more than 30 resumes in 60 s' });
      } else {
        started.push(t);
        last().receive({ type: 'resumed', seq: 1, latest: seq - 1 });
      }
    }
    if (firstHeldShownAt < 0 && delivered(events).includes('m3')) firstHeldShownAt = t + 100;
  }
  return {
    firstHeldShownAt,
    resumes: resumes(last()).length,
    rateLimitedErrors: events.filter((e) => e[0] === 'error' && e[1] === 'rate_limited').length,
  };
}

describe('look-again on a busy stream', () => {
  it('lets held messages go after about a second, not only once the hole counts as lost', async () => {
    const outcome = await busyPendingHole(20_000, false);
    // Looking at every new `latest` (f8c2b9e) showed nothing past m1 in 20 s, with a resume every
    // reorderMs: the stream never left its replay, and each look re-armed its timeoutMs deadline.
    expect(outcome.firstHeldShownAt).toBeGreaterThan(0);
    expect(outcome.firstHeldShownAt).toBeLessThanOrEqual(2_000);
    expect(outcome.resumes).toBeLessThanOrEqual(4);
  });

  it('with the server resume budget: no rate_limited errors to the app, held messages out in ~1 s', async () => {
    const outcome = await busyPendingHole(60_000, true);
    // Looking at every new `latest`: the first held message at 46 s, 38 resumes, 7 rate_limited.
    expect(outcome).toEqual({
      firstHeldShownAt: expect.any(Number),
      resumes: expect.any(Number),
      rateLimitedErrors: 0,
    });
    expect(outcome.firstHeldShownAt).toBeLessThanOrEqual(2_000);
  });
});

describe('pong past the cursor', () => {
  it('asks again once a heartbeat, no faster, for a seq taken but never stored with nothing after it', async () => {
    const { last } = await connect({ reorderMs: 100, heartbeatMs: 1000 });
    last().open();
    last().receive({ type: 'resumed', seq: 0, latest: 1 });
    await vi.advanceTimersByTimeAsync(100);
    last().receive({ type: 'resumed', seq: 0, latest: 1 });
    const before = resumes(last()).length;
    for (let beat = 0; beat < 10; beat++) {
      await vi.advanceTimersByTimeAsync(1000);
      last().receive({ type: 'pong', ts: beat, seq: 1 });
      if (resumes(last()).length > before + beat) last().receive({ type: 'resumed', seq: 0, latest: 1 });
    }
    // The server cannot tell such a seq from one still being written (nothing stored after it has
    // an age), so the client keeps asking, once a heartbeat, until the uid's next publish.
    expect(resumes(last()).length - before).toBe(10);
  });
});

describe('a reset while the client waits to look again', () => {
  it('says gap and resumes the new epoch from its start, where it used to wait and ask in the new epoch', async () => {
    // The handshake's resume met seq 1 still being written (`latest` 1): the client looks again in
    // reorderMs. Before that, seq 1 comes live, the stream is reset, and its new seq 1 comes live.
    // Waiting, the look-again went out in the new epoch from seq 1 and heard no gap: the app never
    // learnt of the reset (test/client/local-stack.test.ts met it through the stack).
    const { events, last } = await connect({ reorderMs: 500, heartbeatMs: 600_000 });
    last().open();
    const epochs = { old: 'AAAAAAAAAAAA', new: 'BBBBBBBBBBBB' };
    last().receive({ type: 'resumed', seq: 0, epoch: epochs.old, latest: 1 });
    last().receive(message('old1', { seq: 1, epoch: epochs.old }));
    last().receive(message('new1', { seq: 1, epoch: epochs.new }));

    expect(events.filter((e) => e[0] === 'gap').map((e) => e[1])).toEqual([{ seq: 1 }]);
    await vi.advanceTimersByTimeAsync(0);
    expect(resumes(last()).at(-1)).toEqual({ action: 'resume', since: 0, epoch: epochs.new });
  });

  it("says gap once when the replacement socket's handshake resume, sent in the old epoch, answers it", async () => {
    // A reset seen live on the socket being replaced, while the new socket's resume is in flight:
    // that resume's answer says gap, so the live message must not say it a second time.
    const { sockets, events, last } = await connect({ rotateAfterMs: 1000, heartbeatMs: 600_000 });
    const epochs = { old: 'AAAAAAAAAAAA', new: 'BBBBBBBBBBBB' };
    last().open();
    const first = last();
    first.receive(message('old1', { seq: 1, epoch: epochs.old }));
    first.receive({ type: 'resumed', seq: 1, epoch: epochs.old });
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets).toHaveLength(2);
    const second = last();
    second.open();
    expect(resumes(second)).toEqual([{ action: 'resume', since: 1, epoch: epochs.old }]);

    first.receive(message('new1', { seq: 1, epoch: epochs.new }));
    second.receive({ type: 'messages', messages: [message('new1', { seq: 1, epoch: epochs.new })] });
    second.receive({ type: 'resumed', seq: 1, epoch: epochs.new, gap: true });

    expect(events.filter((e) => e[0] === 'gap').map((e) => e[1])).toEqual([{ seq: 1 }]);
    expect(delivered(events)).toEqual(['old1', 'new1']);
  });
});
