import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../lambdas/shared/limits';
import { STREAM } from '../../lambdas/shared/tables';
import type { LocalStack } from '../../local/stack';
import { connect, resetStream, seedLog, type TestSocket, useTestStack } from './helpers';

/**
 * Replays on the local stack, with `@connections` as slow as from a Lambda in AWS (25 ms a post):
 * packed into 32 KB frames, one at a time per connection, a bounded number per minute, and a
 * stream whose log was reset answered with a gap.
 */
const stack = useTestStack({ managementLatencyMs: 25 });

async function publishBatch(running: LocalStack, items: object[]): Promise<void> {
  const response = await fetch(`${running.httpUrl}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ batch: items }),
  });
  expect(response.status).toBe(200);
}

/** Publishes `count` messages to a uid in one batch. */
async function logMessages(running: LocalStack, uid: string, count: number): Promise<void> {
  await publishBatch(
    running,
    Array.from({ length: count }, (_, i) => ({ to: { uid }, id: `${uid}-${i + 1}`, data: i + 1 })),
  );
}

/** Frames until the one that is not a pushed message; the seqs of the messages before it. */
async function replayOf(socket: TestSocket): Promise<{ seqs: number[]; frames: number; reply: object }> {
  const seqs: number[] = [];
  let frames = 0;
  for (;;) {
    const frame = await socket.nextJson();
    if (frame.type === 'message') seqs.push(Number(frame.seq));
    else if (frame.type === 'messages') {
      for (const message of frame.messages as { seq: number }[]) seqs.push(message.seq);
    } else return { seqs, frames, reply: frame };
    frames++;
  }
}

function postsSince(running: LocalStack, before: number): number {
  return running.emulator.stats.management.requests - before;
}

describe('replays on the local stack', () => {
  it('replays 1,000 messages of 100 bytes in 7 posts, then answers resumed', async () => {
    const epoch = await seedLog(stack, 'rp-big', 1000, 100);
    const socket = await connect(stack, 'rp-big');
    const before = stack.emulator.stats.management.requests;
    socket.ws.send(JSON.stringify({ action: 'resume', since: 0 }));
    const { seqs, frames, reply } = await replayOf(socket);
    expect(reply).toEqual({ type: 'resumed', seq: 1000, epoch });
    expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(postsSince(stack, before)).toBe(frames);
    expect(frames).toBe(7);
  });

  it('replays a log of large messages in resumes of at most maxReplayBytes each, answering more', async () => {
    // 80 messages of the largest data a publish may carry: 10 MB, which one read would hold whole
    // in a 256 MB function (and, locally, in the stack every other client shares).
    const size = LIMITS.maxDataBytes;
    const perResume = Math.floor(LIMITS.maxReplayBytes / size);
    const epoch = await seedLog(stack, 'rp-huge', 80, size);
    const socket = await connect(stack, 'rp-huge');
    socket.ws.send(JSON.stringify({ action: 'resume', since: 0 }));
    const first = await replayOf(socket);
    expect(first.reply).toEqual({ type: 'resumed', seq: perResume, epoch, more: true });
    expect(first.seqs).toEqual(Array.from({ length: perResume }, (_, i) => i + 1));
    socket.ws.send(JSON.stringify({ action: 'resume', since: perResume }));
    const second = await replayOf(socket);
    expect(second.reply).toEqual({ type: 'resumed', seq: 80, epoch });
    expect(second.seqs).toEqual(Array.from({ length: 80 - perResume }, (_, i) => perResume + i + 1));
  });

  it('refuses a second resume while a replay runs on the connection, which stays open', async () => {
    await logMessages(stack, 'rp-lease', 3);
    const socket = await connect(stack, 'rp-lease');
    // Posts slow enough that the first replay still holds the lease when the second frame lands.
    stack.emulator.managementLatencyMs = 1_000;
    try {
      socket.ws.send(JSON.stringify({ action: 'resume', since: 0 }));
      socket.ws.send(JSON.stringify({ action: 'resume', since: 0 }));
      const first = await replayOf(socket);
      const second = await replayOf(socket);
      const replies = [first.reply, second.reply];
      expect(replies).toContainEqual({ type: 'resumed', seq: 3, epoch: expect.any(String) });
      expect(replies).toContainEqual({
        type: 'error',
        code: 'rate_limited',
        message: 'a replay is already running on this connection; resume after its resumed',
      });
      expect([...first.seqs, ...second.seqs]).toEqual([1, 2, 3]);
    } finally {
      stack.emulator.managementLatencyMs = 25;
    }
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong', seq: 3 });
    // The lease was given back: the next resume runs.
    expect(await socket.request({ action: 'resume', since: 3 })).toEqual({
      type: 'resumed',
      seq: 3,
      epoch: expect.any(String),
    });
  });

  it(`answers rate_limited past ${LIMITS.resumesPerWindow} resumes in a window, and the connection stays open`, async () => {
    const socket = await connect(stack, 'rp-budget');
    for (let i = 0; i < LIMITS.resumesPerWindow; i++) {
      expect(await socket.request({ action: 'resume', since: 0 })).toEqual({ type: 'resumed', seq: 0 });
    }
    expect(await socket.request({ action: 'resume', since: 0 })).toEqual({
      type: 'error',
      code: 'rate_limited',
      message: `more than ${LIMITS.resumesPerWindow} resumes in ${LIMITS.resumeWindowSeconds} s on this connection; resume later`,
    });
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong', seq: 0 });
    // Another connection of the same uid has its own budget.
    const other = await connect(stack, 'rp-budget');
    expect(await other.request({ action: 'resume', since: 0 })).toEqual({ type: 'resumed', seq: 0 });
  });

  it('answers a since beyond the counter with gap after the log was reset, and delivers the new seqs', async () => {
    await logMessages(stack, 'rp-reset', 3);
    // What a replaced table or a restarted in-memory stack leaves: no counter, no messages.
    expect(await resetStream(stack, STREAM.uid('rp-reset'))).toEqual([0, 1, 2, 3]);

    const socket = await connect(stack, 'rp-reset');
    expect(await socket.request({ action: 'resume', since: 3 })).toEqual({
      type: 'resumed',
      seq: 0,
      gap: true,
    });
    await publishBatch(stack, [{ to: { uid: 'rp-reset' }, id: 'after-reset', data: 1 }]);
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'after-reset', seq: 1 });
  });

  it('answers a resume of an old epoch with gap and the new epoch from seq 1, once the reset stream has grown past since', async () => {
    await logMessages(stack, 'rp-epoch', 3);
    const first = await connect(stack, 'rp-epoch');
    // One message replayed (a plain message frame), then the answer, both naming the epoch.
    const third = await first.request({ action: 'resume', since: 2 });
    const oldEpoch = third.epoch;
    expect(third).toMatchObject({
      type: 'message',
      seq: 3,
      epoch: expect.stringMatching(/^[A-Za-z0-9_-]{12}$/),
    });
    expect(await first.nextJson()).toEqual({ type: 'resumed', seq: 3, epoch: oldEpoch });
    await first.close();

    // Only the counter goes: its old messages stay and must not be taken for the new epoch's.
    await resetStream(stack, STREAM.uid('rp-epoch'), { counterOnly: true });
    await publishBatch(
      stack,
      [1, 2, 3, 4, 5].map((n) => ({ to: { uid: 'rp-epoch' }, id: `rp-epoch-new-${n}`, data: n })),
    );

    const socket = await connect(stack, 'rp-epoch');
    const frames: Record<string, unknown>[] = [];
    let frame = await socket.request({ action: 'resume', since: 3, epoch: oldEpoch });
    for (; ; frame = await socket.nextJson()) {
      if (frame.type === 'messages') frames.push(...(frame.messages as Record<string, unknown>[]));
      else if (frame.type === 'message') frames.push(frame);
      else {
        expect(frame).toEqual({ type: 'resumed', seq: 5, epoch: expect.any(String), gap: true });
        const newEpoch = frame.epoch;
        expect(newEpoch).not.toBe(oldEpoch);
        expect(frames.map((m) => [m.id, m.seq, m.epoch])).toEqual(
          [1, 2, 3, 4, 5].map((n) => [`rp-epoch-new-${n}`, n, newEpoch]),
        );
        break;
      }
    }
    // In the new epoch, the same cursor is simply up to date.
    expect(await socket.request({ action: 'resume', since: 5, epoch: frames[0]?.epoch })).toMatchObject({
      type: 'resumed',
      seq: 5,
    });
  });
});
