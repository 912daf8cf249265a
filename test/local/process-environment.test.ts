/**
 * local/process-environment.ts on its own, with a fixture handler: invocations over IPC with a
 * Lambda context, one module instance per environment, Ctrl-C ignored (the stack stops its
 * children), a start failure that leaves no process behind, and a process that dies: its
 * invocation fails and a fresh process takes the next.
 */
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { captureHandlerOutput } from '../../local/handler-output';
import { invocationScope, runInInvocation } from '../../local/invocation-scope';
import { lambdaContext } from '../../local/lambda-context';
import { type EnvironmentProcess, startEnvironmentProcess } from '../../local/process-environment';
import { within } from '../support/within';
import { alive } from './helpers';

const ROOT = join(import.meta.dirname, '..', '..');
const ECHO = join(import.meta.dirname, 'fixtures', 'echo-handler.ts');
const LATE_REQUEST = join(import.meta.dirname, 'fixtures', 'late-request-handler.ts');

let running: EnvironmentProcess | undefined;

afterEach(async () => {
  await running?.stop();
  running = undefined;
});

function context(timeoutMs = 10_000): Context {
  return lambdaContext({
    functionName: 'echo',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:echo',
    memoryLimitInMB: '1024',
    awsRequestId: 'req',
    deadline: Date.now() + timeoutMs,
    logStreamName: 'local',
  });
}

async function start(environments = 1, heapMb?: number): Promise<EnvironmentProcess> {
  running = await startEnvironmentProcess({
    modulePath: ECHO,
    functionName: 'echo',
    env: { ...process.env },
    cwd: ROOT,
    environments,
    ...(heapMb === undefined ? {} : { heapMb }),
  });
  return running;
}

describe('startEnvironmentProcess', () => {
  it('runs invocations in the child with the Lambda context, one module instance per environment', async () => {
    const p = await start(2);
    const [first, second] = p.handlers as [
      EnvironmentProcess['handlers'][0],
      EnvironmentProcess['handlers'][0],
    ];
    const a = (await first({ echo: 'a' }, context())) as Record<string, number | string>;
    const b = (await first({ echo: 'b' }, context())) as Record<string, number | string>;
    const c = (await second({ echo: 'c' }, context())) as Record<string, number | string>;
    expect([a.echo, b.echo, c.echo]).toEqual(['a', 'b', 'c']);
    expect(a).toMatchObject({ functionName: 'echo', pid: p.pid });
    expect(a.remainingMs).toBeGreaterThan(8_000);
    // Module state is per environment: the second one counts from 1.
    expect([a.invocations, b.invocations, c.invocations]).toEqual([1, 2, 1]);
    expect(p.stats.invocations).toBe(3);
  }, 30_000);

  it("takes a child's Powertools lines (its WARN and ERROR) from stderr to stdout, as in-process handlers' are, and leaves its other stderr lines there", async () => {
    const warn = JSON.stringify({
      level: 'WARN',
      message: 'child warn',
      timestamp: '2026-12-04T21:00:00.000Z',
      service: 'push',
    });
    const other = '{"level":"WARN","message":"not Powertools: no service or timestamp"}';
    const toStdout: string[] = [];
    const toStderr: string[] = [];
    const stdoutWrite = process.stdout.write;
    const stderrWrite = process.stderr.write;
    let seen!: () => void;
    const bothSeen = new Promise<void>((resolve) => {
      seen = resolve;
    });
    const check = () => {
      if (
        toStdout.some((l) => l.includes('child warn')) &&
        toStderr.some((l) => l.includes('not Powertools'))
      )
        seen();
    };
    // Under the capture, as a stack installs it: the spies see what it lets through to each stream.
    process.stdout.write = ((chunk: unknown) => {
      toStdout.push(String(chunk));
      check();
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = ((chunk: unknown) => {
      toStderr.push(String(chunk));
      check();
      return true;
    }) as typeof process.stderr.write;
    const release = captureHandlerOutput();
    try {
      const p = await start();
      await p.handlers[0]?.({ echo: 'x', stderr: [warn, other] }, context());
      // The lines come through the child's stderr pipe, not with its answer over IPC.
      await within(bothSeen, 10_000, 'the child stderr lines');
    } finally {
      release();
      process.stdout.write = stdoutWrite;
      process.stderr.write = stderrWrite;
    }
    expect(toStdout.filter((l) => l.includes('child warn'))).toEqual([`${warn}\n`]);
    expect(toStderr.filter((l) => l.includes('child warn'))).toEqual([]);
    expect(toStderr.filter((l) => l.includes('not Powertools'))).toEqual([`${other}\n`]);
  }, 30_000);

  it("limits the child's heap to the function's memory, with a semi-space of a twentieth of it per environment", async () => {
    const p = await start(2, 512);
    const answer = (await (p.handlers[0] as EnvironmentProcess['handlers'][0])({}, context())) as {
      execArgv: string[];
    };
    expect(answer.execArgv).toEqual(
      expect.arrayContaining(['--max-old-space-size=512', '--max-semi-space-size=50']),
    );
  }, 30_000);

  it('ignores Ctrl-C (SIGINT) and keeps answering until the stack stops it', async () => {
    const p = await start();
    process.kill(p.pid, 'SIGINT');
    const [handler] = p.handlers;
    expect(await handler?.({ echo: 'still here', waitMs: 50 }, context())).toMatchObject({
      echo: 'still here',
    });
    await p.stop();
    expect(alive(p.pid)).toBe(false);
  }, 30_000);

  it('fails the invocation a dying process was running, then starts a fresh one for the next', async () => {
    const p = await start();
    const [handler] = p.handlers;
    const first = (await handler?.({ echo: 0 }, context())) as { invocations: number };
    expect(first.invocations).toBe(1);
    const deadPid = p.pid;
    const pending = handler?.({ hang: true }, context());
    process.kill(deadPid, 'SIGKILL');
    await expect(pending).rejects.toMatchObject({ code: 'environment_exited' });
    // As Lambda replaces a crashed environment: a new process, fresh module state.
    const next = (await handler?.({ echo: 1 }, context())) as {
      echo: number;
      invocations: number;
      pid: number;
    };
    expect(next).toMatchObject({ echo: 1, invocations: 1 });
    expect(next.pid).not.toBe(deadPid);
    expect(p.pid).toBe(next.pid);
    expect(p.stats.restarts).toBe(1);
    await p.stop();
    expect(alive(next.pid)).toBe(false);
    await expect(handler?.({ echo: 2 }, context())).rejects.toMatchObject({ code: 'environment_exited' });
  }, 30_000);

  it('fails invocations sent into a process that was just killed as exited, whichever comes first: the failed send or the exit', async () => {
    const p = await start();
    const [handler] = p.handlers;
    await handler?.({ echo: 0 }, context());
    const deadPid = p.pid;
    process.kill(deadPid, 'SIGKILL');
    // Sent before the exit event can arrive: each fails either on its send (the channel is
    // closed) or with the exit, and both are the same error to the caller.
    const sent = Array.from({ length: 5 }, (_, i) => handler?.({ echo: i }, context()));
    const outcomes = await Promise.allSettled(sent);
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'environment_exited' } });
    }
    const next = (await handler?.({ echo: 'after' }, context())) as { echo: string; pid: number };
    expect(next.echo).toBe('after');
    expect(next.pid).not.toBe(deadPid);
    await p.stop();
  }, 30_000);

  it('fails to start on a module without a handler, and leaves no process behind', async () => {
    await expect(
      startEnvironmentProcess({
        modulePath: join(import.meta.dirname, 'fixtures', 'no-handler.ts'),
        functionName: 'broken',
        env: { ...process.env },
        cwd: ROOT,
      }),
    ).rejects.toThrow('broken environment failed to start');
    const processes = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(processes).not.toContain('no-handler.ts');
  }, 30_000);

  it('ends, without an error, when its parent went away while its handler modules were still loading', async () => {
    const child = fork(join(ROOT, 'local', 'environment-child.ts'), [ECHO, 'echo', '1'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    try {
      // Closed at once: loading the child's modules takes far longer than this.
      child.disconnect();
      const [code] = (await within(once(child, 'exit'), 20_000, 'the environment process to end')) as [
        number,
      ];
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 30_000);

  it('cuts an invocation in the child when its invocation here is cut: its later request is never sent', async () => {
    const received: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push(body);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    running = await startEnvironmentProcess({
      modulePath: LATE_REQUEST,
      functionName: 'late',
      env: { ...process.env },
      cwd: ROOT,
    });
    const handler = running.handlers[0] as EnvironmentProcess['handlers'][0];
    try {
      const invocation = invocationScope('late', 'req-cut');
      const outcome = runInInvocation(invocation.scope, () => handler({ url, waitMs: 500 }, context()));
      invocation.cut();

      expect(await outcome).toEqual({ name: 'InvocationCutError', code: 'invocation_cut' });
      expect(received).toEqual([]);
      // The same environment's next invocation is not cut.
      expect(await handler({ url, waitMs: 0 }, context())).toEqual({ status: 200 });
      expect(received).toEqual(['late']);
    } finally {
      server.close();
    }
  });
});
