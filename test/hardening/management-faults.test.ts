/**
 * `@connections` faults: the emulator answers PostToConnection with random 429s, 500s,
 * 410s and delays (`stack.emulator.faults.management`, seeded), and the real publish handler must
 * still get every message to every live connection, count every outcome exactly, and never lose a
 * message silently.
 *
 * Why the first test runs with 8 attempts per delivery: at 10% 429s and 5% 500s one attempt fails
 * with p = 0.15, so with the default 4 attempts a delivery fails for good with p = 0.15^4 ≈ 5e-4,
 * about 1 in 2,000, and a run of 700 deliveries would fail now and then. With 8, p ≈ 2.6e-7. The
 * second describe shows what happens when a delivery does fail for good: it is counted `failed`,
 * and the message waits in the uid's log for the next resume.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import type { LocalStack } from '../../local/stack';
import { recordsOf } from '../local/helpers';
import {
  type Client,
  deliveredOnce,
  type HardeningStack,
  openClient,
  parallel,
  publish,
  recordFigures,
  seeded,
  startHardeningStack,
} from './helpers';

const UIDS = 20;
const PER_UID = 4;
const TOPIC = 'orders';

describe('@connections answering 10% 429s and 5% 500s', () => {
  let h: HardeningStack;
  let stack: LocalStack;
  const clients: Client[] = [];

  beforeAll(async () => {
    h = await startHardeningStack({ handlerEnv: { [ENV.sendAttempts]: '8' } });
    stack = h.stack;
    for (let u = 0; u < UIDS; u++) {
      for (let k = 0; k < PER_UID; k++) {
        const client = await openClient(stack, `mf-${u}`, [TOPIC]);
        clients.push(client);
        if (k % 2 === 0)
          expect(await client.request({ action: 'subscribe', topic: TOPIC })).toEqual({
            type: 'subscribed',
            topic: TOPIC,
          });
      }
    }
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await h?.stop();
  });

  it('gets every message to every live connection, with exact publish counts and no duplicate beyond a same-id retry', async () => {
    type Planned = { body: Record<string, unknown>; targets: Client[] };
    const subscribers = clients.filter((_, i) => i % 2 === 0);
    const ofUid = (u: number) => clients.filter((c) => c.uid === `mf-${u}`);
    const plan: Planned[] = [];
    for (let i = 0; i < 10; i++) plan.push({ body: { to: { uid: `mf-${i}` } }, targets: ofUid(i) });
    for (let i = 0; i < 5; i++) {
      const uids = [10 + i, 15 + i, (3 * i) % 10].map((u) => `mf-${u}`);
      plan.push({ body: { to: { uids } }, targets: clients.filter((c) => uids.includes(c.uid)) });
    }
    for (let i = 0; i < 5; i++) plan.push({ body: { to: { topic: TOPIC } }, targets: subscribers });
    for (let i = 0; i < 5; i++) plan.push({ body: { to: { all: true } }, targets: clients });
    const expected = new Map<Client, string[]>(clients.map((c) => [c, []]));
    plan.forEach((p, i) => {
      p.body.id = `mf-msg-${i}`;
      p.body.data = { n: i };
      for (const target of p.targets) expected.get(target)?.push(`mf-msg-${i}`);
    });
    const before = stack.emulator.stats.management;
    stack.emulator.faults.management = { throttleRate: 0.1, errorRate: 0.05, random: seeded(7) };

    const results: Record<string, unknown>[] = [];
    try {
      await parallel(plan, 4, async (p, i) => {
        const answer = await publish(stack, p.body);
        expect(answer.status).toBe(200);
        results[i] = answer.body;
      });
    } finally {
      stack.emulator.faults.management = undefined;
    }

    plan.forEach((p, i) => {
      const n = p.targets.length;
      expect(results[i]).toEqual({
        id: p.body.id,
        connections: n,
        delivered: n,
        gone: 0,
        failed: 0,
        stored: 0,
      });
    });
    const owed = (c: Client) => expected.get(c) ?? [];
    await Promise.all(clients.map((c) => c.waitUntil(() => owed(c).every((id) => c.messages.includes(id)))));
    const after = stack.emulator.stats.management;
    // A marker sent with the switch off is the last frame each socket gets: nothing is in flight.
    expect((await publish(stack, { to: { all: true }, data: 'marker', id: 'mf-marker' })).body).toMatchObject(
      {
        delivered: clients.length,
      },
    );
    await Promise.all(clients.map((c) => c.waitUntil(() => c.messages.includes('mf-marker'))));
    let frames = 0;
    let duplicates = 0;
    for (const client of clients) {
      const got = client.messages.filter((id) => id !== 'mf-marker');
      // Nothing missing, nothing foreign. A post that outlived the send timeout may still have
      // gone out before its retry did: a duplicate with the same id, which clients drop.
      expect([...new Set(got)].sort()).toEqual([...owed(client)].sort());
      frames += got.length;
      duplicates += got.length - new Set(got).size;
    }
    const delivered = plan.reduce((sum, p) => sum + p.targets.length, 0);
    const throttles = after.injectedThrottles - before.injectedThrottles;
    const errors = after.injectedErrors - before.injectedErrors;
    recordFigures('management-faults', {
      connections: clients.length,
      publishes: plan.length,
      deliveries: delivered,
      posts: after.requests - before.requests,
      injected429: throttles,
      injected500: errors,
      failed: 0,
      lost: 0,
      duplicates,
    });
    expect(delivered).toBe(700);
    // Every post was a frame sent or an injected fault, and there were plenty of faults.
    expect(after.requests - before.requests).toBe(frames + throttles + errors);
    expect(throttles).toBeGreaterThan(30);
    expect(errors).toBeGreaterThan(10);
  });
});

describe('@connections failing past every retry, and saying gone (default settings)', () => {
  let h: HardeningStack;

  beforeAll(async () => {
    h = await startHardeningStack();
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('counts each delivery that fails every attempt as failed, and the message waits in the log for the resume', async () => {
    const stack = h.stack;
    const clients = await Promise.all(Array.from({ length: 4 }, () => openClient(stack, 'mf-hard')));
    const first = await publish(stack, { to: { uid: 'mf-hard' }, data: 1, id: 'mf-hard-1' });
    const before = stack.emulator.stats.management;
    stack.emulator.faults.management = { errorRate: 1 };
    let second: Awaited<ReturnType<typeof publish>>;
    try {
      second = await publish(stack, { to: { uid: 'mf-hard' }, data: 2, id: 'mf-hard-2' });
    } finally {
      stack.emulator.faults.management = undefined;
    }
    const after = stack.emulator.stats.management;
    const third = await publish(stack, { to: { uid: 'mf-hard' }, data: 3, id: 'mf-hard-3' });

    const counts = { connections: 4, gone: 0, stored: 0 };
    expect(first.body).toEqual({ id: 'mf-hard-1', ...counts, delivered: 4, failed: 0 });
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ id: 'mf-hard-2', ...counts, delivered: 0, failed: 4 });
    expect(third.body).toEqual({ id: 'mf-hard-3', ...counts, delivered: 4, failed: 0 });
    // Every post of the failing publish was a 500, and each delivery made exactly its 4 attempts:
    // the Management API client retries nothing underneath the fan-out.
    recordFigures('management-failed-for-good', {
      deliveries: 4,
      posts500: after.injectedErrors - before.injectedErrors,
      failed: 4,
      replayedOnResume: 4,
    });
    expect(after.injectedErrors - before.injectedErrors).toBe(after.requests - before.requests);
    expect(after.injectedErrors - before.injectedErrors).toBe(4 * LIMITS.sendAttempts);
    await Promise.all(clients.map((c) => c.waitForMessages(2)));
    for (const c of clients) expect(c.messages).toEqual(['mf-hard-1', 'mf-hard-3']);

    // Nothing was lost: a resume from 0 replays the whole log, the failed message included.
    for (const client of clients) {
      expect(await client.request({ action: 'resume', since: 0 })).toEqual({
        type: 'resumed',
        seq: 3,
        epoch: expect.any(String),
      });
      expect(client.messages).toEqual(['mf-hard-1', 'mf-hard-3', 'mf-hard-1', 'mf-hard-2', 'mf-hard-3']);
    }
    await Promise.all(clients.map((c) => c.close()));
  });

  it('counts a 410 for a young open connection as gone but keeps its records, so the next publish reaches it', async () => {
    const stack = h.stack;
    const client = await openClient(stack, 'mf-gone');
    const records = await recordsOf(stack, client.connectionId);
    expect(records).toHaveLength(1);
    stack.emulator.faults.management = { goneRate: 1 };
    let answer: Awaited<ReturnType<typeof publish>>;
    try {
      answer = await publish(stack, { to: { uid: 'mf-gone' }, data: 1, id: 'mf-gone-1' });
    } finally {
      stack.emulator.faults.management = undefined;
    }

    expect(answer.body).toEqual({
      id: 'mf-gone-1',
      connections: 1,
      delivered: 0,
      gone: 1,
      failed: 0,
      stored: 0,
    });
    // API Gateway also says 410 while $connect runs; within the connect grace the record stays.
    expect(Date.now() - Number(records[0]?.connectedAt)).toBeLessThan(LIMITS.connectGraceMs);
    expect(await recordsOf(stack, client.connectionId)).toEqual(records);
    const next = await publish(stack, { to: { uid: 'mf-gone' }, data: 2, id: 'mf-gone-2' });
    expect(next.body).toEqual(deliveredOnce('mf-gone-2'));
    await client.waitForMessages(1);
    expect(await client.request({ action: 'resume', since: 0 })).toEqual({
      type: 'resumed',
      seq: 2,
      epoch: expect.any(String),
    });
    expect(client.messages).toEqual(['mf-gone-2', 'mf-gone-1', 'mf-gone-2']);
    await client.close();
  });
});

describe('slow @connections answers', () => {
  let h: HardeningStack;

  beforeAll(async () => {
    // 1 s, so an undelayed retry on a loaded machine stays well inside it (at 300 ms one could not).
    h = await startHardeningStack({ handlerEnv: { [ENV.sendTimeoutMs]: '1000' } });
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('retries a post that outlives the send timeout, and the duplicate the late original causes carries the same id', async () => {
    const stack = h.stack;
    const clients = await Promise.all(Array.from({ length: 3 }, () => openClient(stack, 'mf-slow')));
    // The first three posts (one per connection) take 2 s, past the 1 s send timeout; the
    // rest answer at once. Only the delay is drawn (no error rates), one draw per post.
    let draws = 0;
    stack.emulator.faults.management = {
      delayMs: 2_000,
      delayRate: 0.5,
      random: () => (draws++ < 3 ? 0 : 0.99),
    };
    let answer: Awaited<ReturnType<typeof publish>>;
    try {
      answer = await publish(stack, { to: { uid: 'mf-slow' }, data: 1, id: 'mf-slow-1' });
    } finally {
      stack.emulator.faults.management = undefined;
    }

    expect(answer.body).toEqual({
      id: 'mf-slow-1',
      connections: 3,
      delivered: 3,
      gone: 0,
      failed: 0,
      stored: 0,
    });
    expect(stack.emulator.stats.management.injectedDelays).toBe(3);
    // The retry arrived first; the abandoned original still reached the socket after its delay,
    // as it may in AWS: same id, same seq, so the client library drops it.
    await Promise.all(clients.map((c) => c.waitForMessages(2)));
    for (const c of clients) expect(c.messages).toEqual(['mf-slow-1', 'mf-slow-1']);
    await Promise.all(clients.map((c) => c.close()));
  });
});
