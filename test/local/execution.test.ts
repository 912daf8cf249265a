/**
 * Each function runs as the template deploys it: its own environment (in process and in a child
 * process), its own credentials, its timeout cut as Lambda and API Gateway cut it, its reserved
 * concurrency and the route throttles enforced, and a changed CDK app changing the local stack
 * with no edit under local/.
 */
import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { Duration } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { secretKey, signToken } from '../../lambdas/core/token';
import { HANDLER_NAMES } from '../../lambdas/shared/deployment';
import { ENV } from '../../lambdas/shared/env';
import { ATTR } from '../../lambdas/shared/tables';
import { MAX_HOLD_BACK_MS } from '../../local/emulator/rate-limit';
import { importEnvironment } from '../../local/handlers';
import { lambdaContext } from '../../local/lambda-context';
import { type EnvironmentProcess, startEnvironmentProcess } from '../../local/process-environment';
import type { LocalStack } from '../../local/stack';
import {
  connect,
  documentClientAs,
  handshakeRefusal,
  type TestSocket,
  tokenFor,
  useTestStack,
} from './helpers';

const ROOT = join(import.meta.dirname, '..', '..');
const ENV_FIXTURE = join(import.meta.dirname, 'fixtures', 'env-handler.ts');

function context() {
  return lambdaContext({
    functionName: 'env',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:env',
    memoryLimitInMB: '128',
    awsRequestId: 'req',
    deadline: Date.now() + 10_000,
    logStreamName: 'local',
  });
}

/** A promise the test settles by hand, for handlers that must stay busy until told. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * Holds one publish invocation running, then invokes publish again and returns what that second
 * Invoke was refused with; `release` lets the first one end and resolves to its status code.
 */
async function holdOnePublishAndInvokeAgain(stack: Pick<LocalStack, 'httpUrl' | 'emulator'>) {
  const held = gate();
  const running = gate();
  const restore = stack.emulator.setHandler('publish', async () => {
    running.open();
    await held.opened;
    return { ok: true };
  });
  const lambda = new LambdaClient({ endpoint: stack.httpUrl, maxAttempts: 1 });
  let ended = false;
  const done = () => {
    if (ended) return;
    ended = true;
    held.open();
    restore();
    lambda.destroy();
  };
  try {
    const first = lambda.send(new InvokeCommand({ FunctionName: 'publish', Payload: '{}' }));
    // A test that fails before `release` ends the client under it: not an unhandled rejection.
    first.catch(() => undefined);
    await running.opened;
    const refused = await lambda.send(new InvokeCommand({ FunctionName: 'publish', Payload: '{}' })).then(
      () => undefined,
      (error: unknown) => error,
    );
    const release = async () => {
      held.open();
      try {
        return (await first).StatusCode;
      } finally {
        done();
      }
    };
    return { refused, release, done };
  } catch (error) {
    done();
    throw error;
  }
}

describe('each function in its own environment', () => {
  it('shows an in-process function only its own variables, at import and across awaits', async () => {
    const a = await importEnvironment(ENV_FIXTURE, '?execution=a', { PUSH_FIXTURE: 'a' });
    const b = await importEnvironment(ENV_FIXTURE, '?execution=b', { PUSH_FIXTURE: 'b', OTHER: '1' });

    // Interleaved: a is still waiting when b runs and returns.
    const [seenA, seenB] = await Promise.all([a({ waitMs: 50 }, context()), b({ waitMs: 1 }, context())]);

    expect(seenA).toEqual({ atImport: 'a', now: 'a', keys: ['PUSH_FIXTURE'] });
    expect(seenB).toEqual({ atImport: 'b', now: 'b', keys: ['OTHER', 'PUSH_FIXTURE'] });
    expect(process.env.PUSH_FIXTURE).toBeUndefined();
  });

  let child: EnvironmentProcess | undefined;
  afterAll(async () => {
    await child?.stop();
  });

  it('starts a child-process environment with exactly its variables', async () => {
    child = await startEnvironmentProcess({
      modulePath: ENV_FIXTURE,
      functionName: 'env',
      env: { PUSH_FIXTURE: 'child', PATH: process.env.PATH ?? '' },
      heapMb: 128,
      cwd: ROOT,
    });
    const handler = child.handlers[0] as EnvironmentProcess['handlers'][0];

    expect(await handler({}, context())).toEqual({
      atImport: 'child',
      now: 'child',
      keys: ['PATH', 'PUSH_FIXTURE'],
    });
  });

  describe('on the stack', () => {
    const stack = useTestStack({});

    it("gives each function the template's variables and no one else's", () => {
      const authorizer = stack.environmentOf('authorizer');
      const connect = stack.environmentOf('connect');
      const publish = stack.environmentOf('publish');

      // There is no local Secrets Manager: the authorizer gets the key in place of the ARN.
      expect(authorizer[ENV.tokenSecret]).toBe(stack.tokenSecret);
      expect(authorizer[ENV.tokenSecretArn]).toBeUndefined();
      expect(authorizer[ENV.messagesTable]).toBeUndefined();
      expect(connect[ENV.connectionsTable]).toBe('Connections');
      expect(connect[ENV.tokenSecret]).toBeUndefined();
      expect(connect[ENV.shardQueueUrl]).toBeUndefined();
      expect(publish[ENV.shardQueueUrl]).toBe(stack.shardQueue.url);
      expect(publish[ENV.managementEndpoint]).toBe(stack.managementEndpoint);
      expect(publish.AWS_LAMBDA_FUNCTION_MEMORY_SIZE).toBe('512');
      expect(publish.AWS_EXECUTION_ENV).toBe('AWS_Lambda_nodejs24.x');
      expect(process.env[ENV.connectionsTable]).toBeUndefined();
    });

    it('gives each function credentials of its own, which name it', () => {
      const keys = HANDLER_NAMES.map((name) => stack.environmentOf(name).AWS_ACCESS_KEY_ID);
      expect(new Set(keys).size).toBe(HANDLER_NAMES.length);
      for (const name of HANDLER_NAMES) {
        const caller = stack.callers.callerFor(stack.environmentOf(name).AWS_ACCESS_KEY_ID);
        expect(caller?.handler).toBe(name);
        expect(caller?.arn).toMatch(/^arn:aws:sts::000000000000:assumed-role\//);
      }
    });
  });
});

describe('timeouts', () => {
  const stack = useTestStack({
    // The CDK app's own publish timeout, the shortest it accepts: a batch item's start margin (5 s)
    // and one delivery of one 1 s send. $default's is cut short here so the test is quick.
    cdk: {
      props: { publishTimeout: Duration.seconds(6), sendAttempts: 1, sendTimeout: Duration.seconds(1) },
    },
    timeoutsMs: { default: 300 },
    integrationTimeoutMs: 600,
  });

  it("cuts an Invoke at the template's timeout with Lambda's Sandbox.Timedout error", async () => {
    const held = gate();
    const restore = stack.emulator.setHandler('publish', () => held.opened.then(() => ({})));
    const lambda = new LambdaClient({ endpoint: stack.httpUrl, maxAttempts: 1 });
    try {
      const answer = await lambda.send(new InvokeCommand({ FunctionName: 'publish', Payload: '{}' }));

      expect(answer.StatusCode).toBe(200);
      expect(answer.FunctionError).toBe('Unhandled');
      expect(JSON.parse(Buffer.from(answer.Payload ?? []).toString('utf8'))).toEqual({
        errorType: 'Sandbox.Timedout',
        errorMessage: `RequestId: ${answer.$metadata.requestId} Error: Task timed out after 6.00 seconds`,
      });
      expect(stack.emulator.functionStats('publish').timeouts).toBe(1);
    } finally {
      held.open();
      restore();
      lambda.destroy();
    }
  });

  it('answers POST /publish cut at the timeout with 503 unavailable, as the Lambda publisher reports it', async () => {
    const held = gate();
    const restore = stack.emulator.setHandler('publish', () => held.opened.then(() => ({})));
    try {
      const res = await fetch(`${stack.httpUrl}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to: { uid: 'u1' }, data: 1, id: 'cut-at-timeout' }),
      });

      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        error: {
          code: 'unavailable',
          message: expect.stringMatching(
            /^the publish function failed: Sandbox\.Timedout: RequestId: \S+ Error: Task timed out after 6\.00 seconds; retry with the same id$/,
          ),
        },
      });
    } finally {
      held.open();
      restore();
    }
  });

  it("answers a $default cut by its function timeout with API Gateway's internal server error frame", async () => {
    const socket = await connect(stack, 'slow-default');
    const held = gate();
    const restore = stack.emulator.setHandler('default', () => held.opened.then(() => ({})));
    try {
      const reply = await socket.request({ action: 'ping' });

      expect(reply).toEqual({
        message: 'Internal server error',
        connectionId: socket.connectionId,
        requestId: expect.any(String),
      });
      expect(stack.emulator.functionStats('default').timeouts).toBe(1);
    } finally {
      held.open();
      restore();
    }
  });

  it('answers a handshake whose authorizer outlives the integration timeout with 504', async () => {
    const held = gate();
    const restore = stack.emulator.setHandler('authorizer', () => held.opened.then(() => ({})));
    try {
      const token = await tokenFor(stack, 'slow-authorizer');
      const refusal = await handshakeRefusal(`${stack.wsUrl}?token=${token}`);

      expect(refusal).toEqual({ status: 504, body: '{"message":"Endpoint request timed out"}' });
    } finally {
      held.open();
      restore();
    }
  });
});

describe('a timed-out invocation, cut as Lambda stops its sandbox', () => {
  // $default's reserved concurrency from the CDK app; its timeout cut short so the test is quick.
  const stack = useTestStack({ cdk: { props: { defaultConcurrency: 1 } }, timeoutsMs: { default: 300 } });

  /** A document client signing as `$default`'s role, sent through the stack's IAM gate. */
  const asDefault = () => documentClientAs(stack, 'default');

  it('frees its reserved slot at the timeout, and a DynamoDB write it makes later never lands', async () => {
    expect(stack.deployment.functions.default.reservedConcurrency).toBe(1);
    const socket = await connect(stack, 'cut');
    const client = asDefault();
    const held = gate();
    let lateWrite!: (outcome: unknown) => void;
    const lateOutcome = new Promise<unknown>((resolve) => {
      lateWrite = resolve;
    });
    const item = (key: string) => ({ [ATTR.pk]: key, [ATTR.sk]: key });
    let calls = 0;
    const restore = stack.emulator.setHandler('default', async () => {
      calls++;
      if (calls === 1) {
        // Outlives its timeout, then writes, as a handler stuck on a slow call would.
        await held.opened;
        lateWrite(
          await client.send(new PutCommand({ TableName: stack.tableName, Item: item('cut-late') })).then(
            () => 'written',
            (error: unknown) => error,
          ),
        );
        return {};
      }
      await client.send(new PutCommand({ TableName: stack.tableName, Item: item('cut-in-time') }));
      return { statusCode: 200, body: '{"type":"pong"}' };
    });
    try {
      expect(await socket.request({ action: 'ping' })).toEqual({
        message: 'Internal server error',
        connectionId: socket.connectionId,
        requestId: expect.any(String),
      });
      expect(stack.emulator.functionStats('default')).toMatchObject({ inFlight: 0, timeouts: 1 });

      // The cut handler still runs, but its slot is free: at reserved concurrency 1 the next
      // frame is served, not throttled.
      expect(await socket.request({ action: 'ping' })).toEqual({ type: 'pong' });
      expect(stack.emulator.functionStats('default').throttles).toBe(0);

      held.open();
      expect(await lateOutcome).toMatchObject({ name: 'InvocationCutError', code: 'invocation_cut' });
      const doc = asDefault();
      const read = (key: string) =>
        doc.send(new GetCommand({ TableName: stack.tableName, Key: item(key), ConsistentRead: true }));
      expect((await read('cut-late')).Item).toBeUndefined();
      expect((await read('cut-in-time')).Item).toEqual(item('cut-in-time'));
      doc.destroy();
    } finally {
      held.open();
      restore();
      client.destroy();
    }
  });
});

describe('reserved concurrency, from the CDK app', () => {
  // One $default, one worker, and one unreserved execution for everything else.
  const stack = useTestStack({
    cdk: { props: { defaultConcurrency: 1, workerConcurrency: 1 } },
    concurrency: 3,
  });

  it('throttles a $default past its reserved concurrency, and the client gets an error frame', async () => {
    expect(stack.deployment.functions.default.reservedConcurrency).toBe(1);
    const socket: TestSocket = await connect(stack, 'reserved');
    const held = gate();
    const restore = stack.emulator.setHandler('default', async () => {
      await held.opened;
      return { statusCode: 200, body: '{"type":"pong"}' };
    });
    try {
      socket.ws.send('{"action":"ping"}');
      const throttled = await socket.request({ action: 'ping' });

      expect(throttled).toEqual({
        message: 'Internal server error',
        connectionId: socket.connectionId,
        requestId: expect.any(String),
      });
      expect(stack.emulator.functionStats('default').throttles).toBe(1);
      held.open();
      expect(await socket.nextJson()).toEqual({ type: 'pong' });
    } finally {
      held.open();
      restore();
    }
  });

  it('answers an Invoke past the concurrency left with 429 TooManyRequestsException and its reason', async () => {
    const { refused, release, done } = await holdOnePublishAndInvokeAgain(stack);
    try {
      expect(refused).toMatchObject({
        name: 'TooManyRequestsException',
        Reason: 'ConcurrentInvocationLimitExceeded',
        Type: 'User',
        $metadata: { httpStatusCode: 429 },
      });
      expect(await release()).toBe(200);
    } finally {
      done();
    }
  });
});

describe("the publish function's reserved concurrency, from the CDK app", () => {
  // One execution for each reserved function and one unreserved, for the authorizer and $connect.
  const stack = useTestStack({
    cdk: { props: { defaultConcurrency: 1, workerConcurrency: 1, publishConcurrency: 1 } },
    concurrency: 4,
  });

  it('throttles a publish past it while clients still connect on the unreserved concurrency', async () => {
    expect(stack.deployment.functions.publish.reservedConcurrency).toBe(1);
    const { refused, release, done } = await holdOnePublishAndInvokeAgain(stack);
    try {
      expect(refused).toMatchObject({
        name: 'TooManyRequestsException',
        Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
        $metadata: { httpStatusCode: 429 },
      });
      // Unreserved, the second publish would have taken the one execution $connect needs.
      const socket = await connect(stack, 'still-connects');
      expect(socket.connectionId).toEqual(expect.any(String));
      socket.ws.close();
      expect(await release()).toBe(200);
    } finally {
      done();
    }
  });
});

describe('route and stage throttles, from the CDK app', () => {
  const stack = useTestStack({
    cdk: {
      props: {
        // A burst and almost no refill, so what passes does not depend on how fast the test runs.
        defaultRouteThrottle: { rateLimit: 0.001, burstLimit: 2 },
        throttle: { rateLimit: 0.001, burstLimit: 1 },
      },
    },
  });

  it("answers a frame over the $default route's throttle with a Too Many Requests frame, running nothing", async () => {
    const socket = await connect(stack, 'throttled');
    const before = stack.emulator.stats.invocations;
    for (let i = 0; i < 3; i++) socket.ws.send('{"action":"ping"}');
    const frames = [await socket.nextJson(), await socket.nextJson(), await socket.nextJson()];

    expect(frames.filter((f) => f.type === 'pong')).toHaveLength(2);
    expect(frames.filter((f) => f.type !== 'pong')).toEqual([
      { message: 'Too Many Requests', connectionId: socket.connectionId, requestId: expect.any(String) },
    ]);
    expect(stack.emulator.stats.invocations - before).toBe(2);
    expect(stack.emulator.stats.throttledRequests).toBe(1);
  });

  it("refuses a handshake over the stage's throttle with 429", async () => {
    // The first connection above took the stage's only token for $connect.
    const token = await signToken({ uid: 'late' }, secretKey(stack.tokenSecret));
    const refusal = await handshakeRefusal(`${stack.wsUrl}?token=${token}`);

    expect(refusal).toEqual({ status: 429, body: '{"message":"Too Many Requests"}' });
  });
});

describe('a client that keeps sending over its route throttle', () => {
  const stack = useTestStack({
    cdk: { props: { defaultRouteThrottle: { rateLimit: 0.001, burstLimit: 1 } } },
  });

  it('is read less and less often, up to the longest hold, and every frame read is still answered', async () => {
    const socket = await connect(stack, 'keeps-sending');
    socket.ws.send('{"action":"ping"}');
    expect(await socket.nextJson()).toMatchObject({ type: 'pong' });
    // Each frame is sent as soon as the last was answered, so it waits out the whole hold in the
    // kernel's buffer and is read the moment the hold ends: the client never lets up.
    const answers: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      socket.ws.send('{"action":"ping"}');
      answers.push(await socket.nextJson());
    }

    expect(answers).toEqual(
      Array.from({ length: 6 }, () => ({
        message: 'Too Many Requests',
        connectionId: socket.connectionId,
        requestId: expect.any(String),
      })),
    );
    // 25, 50, 100, 200, 400 and 400 ms: the sixth hold is the longest there is.
    expect(stack.emulator.stats.longestHoldMs).toBe(MAX_HOLD_BACK_MS);
    expect(stack.emulator.stats.throttledRequests).toBe(6);
  });
});
