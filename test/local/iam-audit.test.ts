/**
 * Every handler, run for real through the flows it serves, with IAM enforced and its own role
 * from the synthesized template: not one call may be refused. One role is in force at a time and
 * each phase exercises only the handler that role belongs to, so a grant one handler lacks can
 * never be covered by another's. The shard worker is held until the publish phase is over, then
 * run as itself.
 */
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HandlerId } from '../../lambdas/shared/deployment';
import { TABLES } from '../../lambdas/shared/tables';
import { deploymentIam } from '../../local/deployment/enforcement';
import { localResolver } from '../../local/deployment/local-resolver';
import { type DeploymentModel, deploymentModel } from '../../local/deployment/model';
import { loadStack } from '../../local/deployment/template-cache';
import { assumedRoleArn, type CallerIdentity } from '../../local/iam/denials';
import type { LambdaHandler } from '../../local/lambda-types';
import type { Logger } from '../../local/logger';
import { SHARD_QUEUE_NAME } from '../../local/shard-queue';
import type { LocalStack } from '../../local/stack';
import { within } from '../support/within';
import { closeOpenSockets, connect, postJson, startTestStack, type TestSocket } from './helpers';

const THRESHOLD = 2;
let model: DeploymentModel;
let stack: LocalStack;
const denials: string[] = [];
const logger: Logger = {
  debug() {},
  info() {},
  warn: (message) => {
    if (message.startsWith('IAM denied')) denials.push(message);
  },
  error() {},
};

/**
 * The role of the phase. A call signed with a function's own credentials is judged by that
 * function's role (the stack names the signer from its access key id); any other credentials (the
 * worker module the test imports itself) are judged by the phase's role.
 */
let role: HandlerId = 'connect';

function callerOf(handler: HandlerId): CallerIdentity {
  const fn = model.functions[handler];
  return { arn: assumedRoleArn('000000000000', fn.role.name, fn.functionName), policies: fn.role.policies };
}

let releaseWorker: () => void = () => {};
const workerHeld = new Promise<void>((resolve) => {
  releaseWorker = resolve;
});

beforeAll(async () => {
  const loaded = await loadStack();
  const modelNamed = (names: Record<string, string>) =>
    deploymentModel(loaded, { resolver: localResolver(loaded.template, { sqsOrigin: 'http://x', names }) });
  const { api } = modelNamed({});
  let resources: ReturnType<typeof deploymentIam> | undefined;
  stack = await startTestStack({
    stage: api.stageName,
    logger,
    shardThreshold: THRESHOLD,
    topicHistory: ['orders'],
    iam: {
      keys: {
        table: (name) => resources?.keys?.table?.(name),
        queue: (name) => resources?.keys?.queue?.(name),
      },
      managementApi: { apiId: api.apiId, stage: api.stageName },
      callerFor: (key) => callerOf(stack?.callers.callerFor(key)?.handler ?? role),
    },
  });
  model = modelNamed({
    ...Object.fromEntries(TABLES.map((t) => [loaded.index.tables[t.id], stack.tableNames[t.id] as string])),
    [loaded.index.shardQueue]: SHARD_QUEUE_NAME,
  });
  resources = deploymentIam(model);
  // The real worker module, under the stack's environment, held until its phase.
  const { handler: worker } = (await import('../../lambdas/worker')) as { handler: LambdaHandler };
  stack.emulator.setHandler('worker', async (event, context) => {
    await workerHeld;
    return worker(event as SQSEvent, context);
  });
}, 60_000);

afterAll(async () => {
  role = 'disconnect';
  await closeOpenSockets();
  await stack?.stop();
});

describe('each handler, run with only its own synthesized role', () => {
  const sockets: TestSocket[] = [];

  it('connect: opens connections', async () => {
    role = 'connect';
    sockets.push(await connect(stack, 'a1', { topics: ['orders'] }));
    sockets.push(await connect(stack, 'a2', { topics: ['orders'] }));
    sockets.push(await connect(stack, 'a3', { topics: ['orders'] }));
    expect(denials).toEqual([]);
  });

  it('default: subscribes and pings', async () => {
    role = 'default';
    for (const socket of sockets) {
      expect(await socket.request({ action: 'subscribe', topic: 'orders' })).toMatchObject({
        type: 'subscribed',
      });
    }
    expect(await sockets[0]?.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect(denials).toEqual([]);
  });

  it('publish: to a uid, to a topic with history, presence, a kick, and a kick with revoke sent twice', async () => {
    role = 'publish';
    const [a1, a2] = sockets as [TestSocket, TestSocket];
    const toUid = await postJson(stack, '/publish', { id: 'audit-1', to: { uid: 'a1' }, data: 1 });
    expect(toUid).toMatchObject({ status: 200, body: { delivered: 1 } });
    expect(await a1.nextJson()).toMatchObject({ type: 'message', id: 'audit-1', seq: 1 });
    const presence = await postJson(stack, '/publish', { presence: { uid: 'a2' } });
    expect(presence).toMatchObject({ status: 200, body: { online: true } });
    const kick = await postJson(stack, '/publish', { kick: { uid: 'a3', reason: 'audit' } });
    expect(kick).toMatchObject({ status: 200, body: { closed: 1 } });
    // The second finds its line standing, and reads it.
    const revoke = { kick: { uid: 'a4', revoke: true, before: Math.floor(Date.now() / 1000) } };
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await postJson(stack, '/publish', revoke)).toMatchObject({
        status: 200,
        body: { closed: 0, revoked: true },
      });
    }
    // Two subscribers left: at the threshold, the topic is delivered inline and logged.
    const topic = await postJson(stack, '/publish', { id: 'audit-2', to: { topic: 'orders' }, data: 2 });
    expect(topic).toMatchObject({ status: 200, body: { delivered: 2 } });
    expect(await a1.nextJson()).toMatchObject({ id: 'audit-2', topic: 'orders' });
    expect(await a2.nextJson()).toMatchObject({ id: 'audit-2', topic: 'orders' });
    expect(denials).toEqual([]);
  });

  it('default: resumes a uid and a topic from their logs', async () => {
    role = 'default';
    const a1 = sockets[0] as TestSocket;
    a1.ws.send(JSON.stringify({ action: 'resume', since: 0 }));
    expect(await a1.nextJson()).toMatchObject({ id: 'audit-1', seq: 1 });
    expect(await a1.nextJson()).toMatchObject({ type: 'resumed', seq: 1 });
    a1.ws.send(JSON.stringify({ action: 'resume', since: 0, topic: 'orders' }));
    expect(await a1.nextJson()).toMatchObject({ id: 'audit-2' });
    expect(await a1.nextJson()).toMatchObject({ type: 'resumed', topic: 'orders' });
    expect(denials).toEqual([]);
  });

  it('publish, then worker: a sharded broadcast, and its status', async () => {
    role = 'connect';
    sockets.push(await connect(stack, 'a4'));
    role = 'publish';
    const queued = await postJson(stack, '/publish', { id: 'audit-3', to: { all: true }, data: 3 });
    expect(queued).toMatchObject({ status: 200, body: { queued: true } });
    role = 'worker';
    // Every shard's run settles (checkpoints included) before another role comes into force.
    const shards = (queued.body as { shards: number }).shards;
    let settled = 0;
    const allRan = new Promise<void>((resolve) => {
      const off = stack.emulator.onInvoke((record) => {
        if (record.functionName !== 'worker' || ++settled < shards) return;
        off();
        resolve();
      });
    });
    releaseWorker();
    await within(allRan, 10_000, `${shards} worker runs`);
    for (const socket of [sockets[0], sockets[1], sockets[3]] as TestSocket[]) {
      expect(await socket.nextJson()).toMatchObject({ id: 'audit-3' });
    }
    role = 'publish';
    const status = await postJson(stack, '/publish', { status: 'audit-3' });
    expect(status).toMatchObject({ status: 200, body: { id: 'audit-3' } });
    expect(denials).toEqual([]);
  });

  it('disconnect: closes every connection and removes its records', async () => {
    role = 'disconnect';
    for (const socket of sockets) await socket.close();
    expect(denials).toEqual([]);
    expect(stack.emulator.stats.iam.denials).toBe(0);
  });
});
