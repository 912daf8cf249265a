/**
 * A resume that reads a uid's log while a publish is still storing a lower seq than one already
 * stored: two publishes took seqs 2 and 3, and 3's write landed first (a throttled write's retry,
 * a slow partition). The connection is newer than both publishes' lookups, so no post reaches it:
 * only the replay can bring seq 2. Replayed across the hole, it answered `seq: 3` and the client's
 * cursor stood past a message it never got (found by the attacker helper). DynamoDB sits behind
 * the fault proxy, which holds seq 2's write until the test lets it go.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPushClient, type PushClient } from '../../client/index';
import { collect, nextEvent } from '../client/testing/events';
import type { DynamoRequestInfo } from '../support/dynamo-faults';
import { within } from '../support/within';
import { connect, postJson, publishOk, type TestSocket, useFaultProxyStack, WAIT_MS } from './helpers';

const { stack, proxy } = useFaultProxyStack();

/** A gate that opens once. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** The seqs of the messages before the next frame that is not one, and that frame. */
async function replayOf(socket: TestSocket): Promise<{ seqs: number[]; reply: Record<string, unknown> }> {
  const seqs: number[] = [];
  for (;;) {
    const frame = await socket.nextJson();
    if (frame.type === 'message') seqs.push(Number(frame.seq));
    else if (frame.type === 'messages') {
      for (const message of frame.messages as { seq: number }[]) seqs.push(message.seq);
    } else return { seqs, reply: frame };
  }
}

/**
 * Logs seq 1 for `uid`, then publishes seq 2, whose write is held until `release` opens, and seq
 * 3, stored at once. Resolves once seq 3 is stored and seq 2's write is held; `second` is seq 2's
 * publish, answered once its write lands.
 */
async function withSeqTwoHeld(uid: string, release: Promise<void>) {
  await publishOk(stack, { to: { uid }, id: `${uid}-1`, data: 1 });
  const held = gate();
  const marker = `${uid}-slow`;
  proxy.faults.hold = (request: DynamoRequestInfo) => {
    if (request.operation !== 'PutItem' || !request.body.includes(marker)) return undefined;
    held.open();
    return release;
  };
  const second = postJson(stack, '/publish', { to: { uid }, id: `${uid}-2`, data: marker });
  await within(held.opened, WAIT_MS, "seq 2's write to reach DynamoDB");
  await publishOk(stack, { to: { uid }, id: `${uid}-3`, data: 3 });
  return { second };
}

describe('a resume across a seq still being written', () => {
  it('waits for the seq, and replays 1, 2, 3 in order once its write lands', async () => {
    const uid = 'hole-filled';
    const release = gate();
    // Seq 2's write goes on once the replay reads the log a second time: it is waiting on the hole.
    let reads = 0;
    const { second } = await withSeqTwoHeld(uid, release.opened);
    const holding = proxy.faults.hold;
    proxy.faults.hold = (request) => {
      if (request.operation === 'Query' && request.body.includes(`"uid#${uid}"`) && ++reads === 2)
        release.open();
      return holding?.(request);
    };
    try {
      const socket = await connect(stack, uid);
      socket.ws.send(JSON.stringify({ action: 'resume', since: 0 }));
      const { seqs, reply } = await replayOf(socket);
      expect(seqs).toEqual([1, 2, 3]);
      expect(reply).toEqual({ type: 'resumed', seq: 3, epoch: expect.any(String) });
      expect((await second).status).toBe(200);
    } finally {
      release.open();
      proxy.faults.hold = undefined;
    }
  });

  it('stops before a seq still missing after its wait and answers latest; a resume once it is stored brings it', async () => {
    const uid = 'hole-late';
    const release = gate();
    const { second } = await withSeqTwoHeld(uid, release.opened);
    try {
      const socket = await connect(stack, uid);
      socket.ws.send(JSON.stringify({ action: 'resume', since: 0 }));
      const first = await replayOf(socket);
      expect(first.seqs).toEqual([1]);
      expect(first.reply).toEqual({ type: 'resumed', seq: 1, epoch: expect.any(String), latest: 3 });

      release.open();
      expect((await second).status).toBe(200);
      socket.ws.send(JSON.stringify({ action: 'resume', since: 1, epoch: first.reply.epoch }));
      const again = await replayOf(socket);
      expect(again.seqs).toEqual([2, 3]);
      expect(again.reply).toEqual({ type: 'resumed', seq: 3, epoch: first.reply.epoch });
    } finally {
      release.open();
      proxy.faults.hold = undefined;
    }
  });

  describe('with the client library', () => {
    let client: PushClient | undefined;
    afterEach(() => client?.close());

    it('gets 1, 2, 3 in order, with no gap, when seq 2 is stored only after its first resume gave up waiting', async () => {
      const uid = 'hole-client';
      const release = gate();
      const { second } = await withSeqTwoHeld(uid, release.opened);
      // The first resume reads the log 7 times (once, then after each wait of its 2 s) and answers
      // `latest`; seq 2's write goes on at the next read, the client's second look.
      let reads = 0;
      const holding = proxy.faults.hold;
      proxy.faults.hold = (request) => {
        if (request.operation === 'Query' && request.body.includes(`"uid#${uid}"`) && ++reads === 8)
          release.open();
        return holding?.(request);
      };
      try {
        const token = async () => {
          const response = await fetch(`${stack.httpUrl}/dev/token?uid=${uid}`);
          return ((await response.json()) as { token: string }).token;
        };
        client = createPushClient({ url: stack.wsUrl, WebSocket, token });
        const gaps: unknown[] = [];
        client.on('gap', (gap) => gaps.push(gap));
        const received = collect(client);
        await nextEvent(client, 'status', (status) => status === 'open');
        await within(received.until(3), WAIT_MS * 2, 'seqs 1 to 3');
        expect(received.messages.map((message) => message.seq)).toEqual([1, 2, 3]);
        expect(client.seq).toBe(3);
        expect(gaps).toEqual([]);
        expect(reads).toBeGreaterThanOrEqual(8);
        expect((await second).status).toBe(200);
      } finally {
        release.open();
        proxy.faults.hold = undefined;
      }
    });
  });
});
