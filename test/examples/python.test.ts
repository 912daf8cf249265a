/**
 * The Python example (examples/python/publish.py), run with Debian's python3 and python3-boto3
 * against a local stack: its tokens open sockets, and its Invoke and SNS publishes arrive. Where
 * boto3 is missing the test is not run, loudly, except in CI, where it must run.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { secretKey, verifyToken } from '../../lambdas/core/token';
import type { LocalStack } from '../../local/stack';
import { closeOpenSockets, connect, startTestStack, TestSocket } from '../local/helpers';
import { ROOT } from '../packages/pack';
import { startLostAnswerProxy } from '../support/lost-answer-proxy';

const run = promisify(execFile);
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const SCRIPT = join(ROOT, 'examples', 'python', 'publish.py');
const CI = process.env.CI === 'true';

function hasBoto3(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import boto3'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const available = hasBoto3();
if (!available && !CI) {
  console.warn(
    `\n${'!'.repeat(78)}\n! SKIPPED: the Python example's test. ${PYTHON} cannot import boto3.\n` +
      `! Install it to run it: apt-get install python3-boto3 (CI installs it and fails without it).\n${'!'.repeat(78)}\n`,
  );
}

let stack: LocalStack;

async function python(...args: string[]): Promise<string> {
  const { stdout } = await run(PYTHON, [SCRIPT, '--local', stack.httpUrl, ...args], { cwd: ROOT });
  return stdout.trim();
}

describe.runIf(available || CI)('the Python example', () => {
  beforeAll(async () => {
    stack = await startTestStack();
  });

  afterAll(async () => {
    await closeOpenSockets();
    await stack?.stop();
  });

  it('mints a token the authorizer accepts, with the dev secret', async () => {
    const token = await python('token', '--uid', 'py-u1', '--topics', 'orders,news.*', '--ttl', '120');
    const claims = await verifyToken(token, secretKey(stack.tokenSecret));
    expect(claims).toMatchObject({ uid: 'py-u1', topics: ['orders', 'news.*'] });

    const socket = new TestSocket(new WebSocket(`${stack.wsUrl}?token=${encodeURIComponent(token)}`));
    await new Promise<void>((resolve, reject) => {
      socket.ws.once('open', () => resolve());
      socket.ws.once('error', reject);
    });
    expect(await socket.request({ action: 'subscribe', topic: 'orders' })).toEqual({
      type: 'subscribed',
      topic: 'orders',
    });
    socket.ws.close();
    await socket.waitForClose();
  });

  it('publishes through Lambda Invoke and prints the result', async () => {
    const socket = await connect(stack, 'py-u2');
    const out = await python('invoke', '--uid', 'py-u2', '--data', '{"orderId": 42}', '--id', 'py-1');
    expect(JSON.parse(out)).toEqual({
      id: 'py-1',
      connections: 1,
      delivered: 1,
      gone: 0,
      failed: 0,
      stored: 0,
    });
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'py-1', data: { orderId: 42 } });
    await socket.close();
  });

  it('publishes through SNS to a topic', async () => {
    const socket = await connect(stack, 'py-u3', { topics: ['orders'] });
    await socket.request({ action: 'subscribe', topic: 'orders' });
    const receipt = JSON.parse(await python('sns', '--topic', 'orders', '--data', '"hello"', '--id', 'py-2'));
    expect(receipt).toEqual({ messageId: expect.stringMatching(/^[0-9a-f-]{36}$/), ids: ['py-2'] });
    expect(await socket.nextJson()).toMatchObject({
      type: 'message',
      id: 'py-2',
      topic: 'orders',
      data: 'hello',
    });
    await socket.close();
  });

  it('says which id it gave an SNS publish sent without one, and the client gets that id', async () => {
    const socket = await connect(stack, 'py-u4', { topics: ['orders-py'] });
    await socket.request({ action: 'subscribe', topic: 'orders-py' });
    const receipt = JSON.parse(await python('sns', '--topic', 'orders-py', '--data', '"no id"'));
    expect(receipt.ids).toEqual([expect.stringMatching(/^[0-9a-f-]{36}$/)]);
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: receipt.ids[0], data: 'no id' });
    await socket.close();
  });

  it("delivers once when Invoke's answer is lost and botocore sends the publish again", async () => {
    // A proxy that lets the first Invoke reach the function, then drops the connection instead of
    // its answer: the publish ran, and botocore retries the call as a new request (a new request
    // id, which named a publish without an id, so it ran twice).
    const proxy = await startLostAnswerProxy(stack.httpUrl);
    try {
      const socket = await connect(stack, 'py-lost-answer');
      const args = ['--local', proxy.url, 'invoke', '--uid', 'py-lost-answer'];
      const { stdout } = await run(PYTHON, [SCRIPT, ...args, '--data', '"once"'], { cwd: ROOT });
      expect(proxy.requests()).toBe(2);
      const result = JSON.parse(stdout) as { id: string };
      expect(result).toMatchObject({ delivered: 1 });
      // The retry answered the first attempt's result and sent nothing: the next frame is the marker.
      await python('invoke', '--uid', 'py-lost-answer', '--data', '"marker"', '--id', 'py-lost-marker');
      expect(await socket.nextJson()).toMatchObject({ type: 'message', id: result.id, data: 'once' });
      expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'py-lost-marker' });
      await socket.close();
    } finally {
      await proxy.close();
    }
  });

  it("gives a kick with revoke one line, so botocore's resend of it after a lost answer is the same kick", async () => {
    // publish_invoke is meant to be copied into a backend: like the server package, it must fix the
    // line once per call, or each attempt draws it from the function's clock when it runs.
    const proxy = await startLostAnswerProxy(stack.httpUrl);
    try {
      const socket = await connect(stack, 'py-kick');
      const code = [
        'import argparse, json, sys',
        `sys.path.insert(0, ${JSON.stringify(join(ROOT, 'examples', 'python'))})`,
        'import publish',
        `client = publish._client(argparse.Namespace(local=${JSON.stringify(proxy.url)}), "lambda")`,
        'body = {"kick": {"uid": "py-kick", "reason": "stolen", "revoke": True}}',
        'print(json.dumps(publish.publish_invoke(client, "publish", body)))',
      ].join('\n');
      const { stdout } = await run(PYTHON, ['-c', code], { cwd: ROOT });
      expect(JSON.parse(stdout)).toEqual({ closed: 0, revoked: true });
      const sent = proxy.bodies().map((body) => JSON.parse(body) as { kick: { before?: unknown } });
      expect(sent).toHaveLength(2);
      expect(sent[0]?.kick.before).toEqual(expect.any(Number));
      expect(sent[1]).toEqual(sent[0]);
      expect(await socket.nextJson()).toEqual({ type: 'kicked', reason: 'stolen' });
    } finally {
      await proxy.close();
    }
  });

  it('says to set a region, or to pass --local, when run for AWS with none, and exits 1', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_CONFIG_FILE: join(ROOT, 'no-such-aws-config') };
    for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete env[name];
    const failed = await run(PYTHON, [SCRIPT, 'invoke', '--uid', 'u1', '--data', '1'], {
      cwd: ROOT,
      env,
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    // One line of JSON, as a refusal prints, not botocore's traceback.
    expect(JSON.parse(failed?.stderr ?? '')).toEqual({
      error: {
        code: 'internal',
        message:
          "no AWS region: set AWS_DEFAULT_REGION (boto3 does not read AWS_REGION) or a profile's region, or pass --local URL",
      },
    });
  });

  it('raises the wire code of a refused publish and exits 1', async () => {
    const failed = await python('invoke', '--topic', 'no spaces', '--data', '1').then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(JSON.parse(failed?.stderr ?? '')).toMatchObject({ error: { code: 'bad_request' } });
  });
});
