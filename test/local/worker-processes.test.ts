/**
 * Shard workers in child processes (`processes: { worker: n }`, what the bench runs): the same worker
 * module, imported once per environment and spread over the processes, delivers a sharded publish
 * exactly once per connection; its EMF lines
 * reach `GET /metrics` through the pipe; its CPU is measured inside the children; and stopping
 * the stack ends every child.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../../lambdas/core/shard';
import type { LocalStack } from '../../local/stack';
import { virtualConnections } from '../support/virtual';
import { alive, postJson, startTestStack, WAIT_MS } from './helpers';

const ENVIRONMENTS = 5;
const PROCESSES = 2;

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    shardThreshold: 5,
    workerConcurrency: ENVIRONMENTS,
    processes: { worker: PROCESSES },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function deliveredMetric(): Promise<number> {
  const res = await fetch(`${stack.httpUrl}/metrics`);
  const body = (await res.json()) as { metrics: Record<string, { sum: number }> };
  return body.metrics.Delivered?.sum ?? 0;
}

describe('worker environments as processes', () => {
  it('delivers a sharded publish once to each connection, with metrics and CPU from the children', async () => {
    const ids = await virtualConnections(stack).add(60, { topics: ['procs'], shardSpread: 8 });
    const shards = new Set(ids.map((id) => shardOf(id))).size;
    const deliveredBefore = await deliveredMetric();

    const answer = await postJson(stack, '/publish', {
      to: { topic: 'procs' },
      data: { n: 1 },
      id: 'procs-1',
    });
    expect(answer).toEqual({ status: 200, body: { id: 'procs-1', queued: true, shards } });
    await stack.shardQueue.whenDrained(WAIT_MS * 4);

    const status = await fetch(`${stack.httpUrl}/publish/procs-1`);
    expect(await status.json()).toMatchObject({
      status: 'done',
      shardsDone: shards,
      delivered: 60,
      failed: 0,
    });
    expect(ids.map((id) => virtualConnections(stack).deliveriesTo(id))).toEqual(ids.map(() => 1));
    expect(JSON.parse(virtualConnections(stack).lastPayload(ids[0] as string) as string)).toMatchObject({
      type: 'message',
      id: 'procs-1',
      topic: 'procs',
      data: { n: 1 },
    });

    const worker = stack.shardQueue.stats.worker;
    expect(worker.processes?.pids).toHaveLength(PROCESSES);
    expect(worker.processes?.invocations).toBe(shards);
    expect(worker.processes?.cpuMs).toBeGreaterThan(0);
    // The children's EMF lines were piped here and counted like in-process handlers' lines.
    expect((await deliveredMetric()) - deliveredBefore).toBe(60);
  });

  it('ends every environment process when the stack stops', async () => {
    const own = await startTestStack({ workerConcurrency: 3, processes: { worker: 3 } });
    const pids = own.shardQueue.stats.worker.processes?.pids ?? [];
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(alive(pid)).toBe(true);
    await own.stop();
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 60_000);
});

describe('the publish handler in a process', () => {
  it('delivers a uid push from its process and counts the invocation and its CPU', async () => {
    const own = await startTestStack({ processes: { publish: 1 } });
    try {
      const [id] = await virtualConnections(own).add(1, { uid: () => 'proc-user' });
      const answer = await postJson(own, '/publish', {
        to: { uid: 'proc-user' },
        data: 'hi',
        id: 'proc-push',
      });
      expect(answer).toEqual({
        status: 200,
        body: { id: 'proc-push', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
      });
      expect(virtualConnections(own).deliveriesTo(id as string)).toBe(1);
      const stats = own.processStats('publish');
      expect(stats?.invocations).toBe(1);
      expect(stats?.pids).toHaveLength(1);
      expect(stats?.cpuMs).toBeGreaterThan(0);
      expect(own.processStats('worker')).toBeUndefined();
    } finally {
      await own.stop();
    }
  }, 60_000);

  it('refuses a process count for a function the stack does not host', async () => {
    await expect(startTestStack({ processes: { nope: 1 } as never })).rejects.toThrow(
      'processes names an unknown function: nope',
    );
  });
});

describe('PUSH_LOCAL_CPU_PROFILE', () => {
  it.each([
    ['a directory that exists', ''],
    ['a directory not made yet', join('not-yet', 'made')],
  ])(
    'writes a CPU profile of each environment process when the stack stops, into %s',
    async (_name, below) => {
      const root = mkdtempSync(join(tmpdir(), 'push-profile-'));
      const dir = join(root, below);
      process.env.PUSH_LOCAL_CPU_PROFILE = dir;
      try {
        const own = await startTestStack({ processes: { publish: 1 } });
        const pid = own.processStats('publish')?.pids[0];
        await postJson(own, '/publish', { to: { uid: 'nobody-here' }, data: 1 });
        await own.stop();
        const profile = JSON.parse(readFileSync(join(dir, `publish-${pid}.cpuprofile`), 'utf8')) as {
          nodes: unknown[];
          samples: unknown[];
        };
        expect(profile.nodes.length).toBeGreaterThan(0);
      } finally {
        delete process.env.PUSH_LOCAL_CPU_PROFILE;
        rmSync(root, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
