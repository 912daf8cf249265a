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
import { createPushClient, type PushClient, type PushClientOptions } from '../../client/index';
import { ENV } from '../../lambdas/shared/env';
import type { LocalStack } from '../../local/stack';
import { collect, nextEvent } from '../client/testing/events';
import type { DynamoFaults, DynamoRequestInfo } from '../support/dynamo-faults';
import { within } from '../support/within';
import {
  connect,
  postJson,
  publishOk,
  type TestSocket,
  tokenFor,
  useFaultProxyStack,
  WAIT_MS,
} from './helpers';

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
 * Holds every PutItem carrying `marker` (a publish's data) at the fault proxy until `release` opens;
 * resolves once one has reached it.
 */
function holdWrite(faults: DynamoFaults, marker: string, release: Promise<void>): Promise<void> {
  const held = gate();
  faults.hold = (request: DynamoRequestInfo) => {
    if (request.operation !== 'PutItem' || !request.body.includes(marker)) return undefined;
    held.open();
    return release;
  };
  return within(held.opened, WAIT_MS, `the write of ${marker} to reach DynamoDB`);
}

/**
 * Opens `release` at the `n`th read of `uid`'s log (a Query naming its stream), keeping the holds
 * already set; `reads()` is how many there were.
 */
function releaseAtRead(uid: string, n: number, release: () => void): { reads: () => number } {
  let reads = 0;
  const holding = proxy.faults.hold;
  proxy.faults.hold = (request) => {
    if (request.operation === 'Query' && request.body.includes(`"uid#${uid}"`) && ++reads === n) release();
    return holding?.(request);
  };
  return { reads: () => reads };
}

/** The client library connected to `running` as `uid`. */
function clientOf(running: LocalStack, uid: string, options: Partial<PushClientOptions> = {}): PushClient {
  return createPushClient({ url: running.wsUrl, WebSocket, token: () => tokenFor(running, uid), ...options });
}

/**
 * Logs seq 1 for `uid`, then publishes seq 2, whose write is held until `release` opens, and seq
 * 3, stored at once. Resolves once seq 3 is stored and seq 2's write is held; `second` is seq 2's
 * publish, answered once its write lands.
 */
async function withSeqTwoHeld(uid: string, release: Promise<void>) {
  await publishOk(stack, { to: { uid }, id: `${uid}-1`, data: 1 });
  const marker = `${uid}-slow`;
  const held = holdWrite(proxy.faults, marker, release);
  const second = postJson(stack, '/publish', { to: { uid }, id: `${uid}-2`, data: marker });
  await held;
  await publishOk(stack, { to: { uid }, id: `${uid}-3`, data: 3 });
  return { second };
}

describe('a resume across a seq still being written', () => {
  it('waits for the seq, and replays 1, 2, 3 in order once its write lands', async () => {
    const uid = 'hole-filled';
    const release = gate();
    const { second } = await withSeqTwoHeld(uid, release.opened);
    // Seq 2's write goes on once the replay reads the log a second time: it is waiting on the hole.
    releaseAtRead(uid, 2, release.open);
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
      // The first resume reads the log 4 times (once, then every 100 ms of its 300 ms wait) and answers
      // `latest`; seq 2's write goes on at the next read, the client's second look.
      const { reads } = releaseAtRead(uid, 5, release.open);
      try {
        client = clientOf(stack, uid);
        const gaps: unknown[] = [];
        client.on('gap', (gap) => gaps.push(gap));
        const received = collect(client);
        await nextEvent(client, 'status', (status) => status === 'open');
        await within(received.until(3), WAIT_MS * 2, 'seqs 1 to 3');
        expect(received.messages.map((message) => message.seq)).toEqual([1, 2, 3]);
        expect(client.seq).toBe(3);
        expect(gaps).toEqual([]);
        expect(reads()).toBeGreaterThanOrEqual(5);
        expect((await second).status).toBe(200);
      } finally {
        release.open();
        proxy.faults.hold = undefined;
      }
    });

    it('holds a live message above the hole while it looks again, so the app still gets 1, 2, 3 in order', async () => {
      const uid = 'hole-held';
      await publishOk(stack, { to: { uid }, id: `${uid}-1`, data: 1 });
      const release = gate();
      const marker = `${uid}-slow`;
      const held = holdWrite(proxy.faults, marker, release.opened);
      // Seq 2's publish looked the uid up before the client connected; its write is held.
      const second = postJson(stack, '/publish', { to: { uid }, id: `${uid}-2`, data: marker });
      await held;
      // Seq 2's write goes on once a resume has answered that 2 is missing below 3, which the
      // client, holding 3, then looks past once more.
      const off = stack.emulator.onInvoke((record) => {
        const body = (record.result as { body?: string } | undefined)?.body ?? '';
        if (
          record.functionName === 'default' &&
          body.includes('"type":"resumed"') &&
          body.includes('"latest":3')
        )
          release.open();
      });
      try {
        client = clientOf(stack, uid);
        const gaps: unknown[] = [];
        client.on('gap', (gap) => gaps.push(gap));
        const received = collect(client);
        await within(received.until(1), WAIT_MS, 'seq 1');
        // Seq 3's publish finds the client's connection: 3 is posted live while 2 is missing.
        await publishOk(stack, { to: { uid }, id: `${uid}-3`, data: 3 });
        await within(received.until(3), WAIT_MS * 2, 'seqs 1 to 3');
        expect(received.messages.map((message) => message.seq)).toEqual([1, 2, 3]);
        expect(gaps).toEqual([]);
        expect((await second).status).toBe(200);
      } finally {
        off();
        release.open();
        proxy.faults.hold = undefined;
      }
    });
  });
});

describe('a uid seq whose publish failed for good, with the client library', () => {
  // A write window of 2 × 1 s + 1 s, so the seq counts as lost within the test.
  const lost = useFaultProxyStack({ environment: { [ENV.publishTimeoutMs]: '1000' } });
  let client: PushClient | undefined;
  afterEach(() => client?.close());

  it('is reported as a gap once it counts as lost: each heartbeat past the cursor asks again', async () => {
    const uid = 'hole-lost';
    await publishOk(lost.stack, { to: { uid }, id: `${uid}-1`, data: 1 });
    // Seq 2's publish looks the uid up before the client connects, takes seq 2, and its write is
    // held, then refused: the publish fails having posted to no one, and nobody sends it again.
    const refuse = gate();
    const doomed = `${uid}-doomed`;
    lost.proxy.faults.plan = (request) =>
      request.operation === 'PutItem' && request.body.includes(doomed) ? 'reject' : undefined;
    const held = holdWrite(lost.proxy.faults, doomed, refuse.opened);
    try {
      const failed = postJson(lost.stack, '/publish', { to: { uid }, id: `${uid}-2`, data: doomed });
      await held;
      client = clientOf(lost.stack, uid, { heartbeatMs: 500 });
      const received = collect(client);
      const gap = nextEvent(client, 'gap');
      await within(received.until(1), WAIT_MS, 'seq 1');
      refuse.open();
      expect((await failed).status).toBe(500);
      // Seq 3 reaches the client live; 2 never comes.
      await publishOk(lost.stack, { to: { uid }, id: `${uid}-3`, data: 3 });
      expect(await within(gap, WAIT_MS * 2, 'a gap event')).toEqual({ seq: 3 });
      expect(received.messages.map((message) => message.seq)).toEqual([1, 3]);
    } finally {
      refuse.open();
      lost.proxy.faults.plan = undefined;
      lost.proxy.faults.hold = undefined;
    }
  });
});
