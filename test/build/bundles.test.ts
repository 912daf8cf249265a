import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HANDLERS } from '../../lambdas/shared/deployment';
import { lambdaContext } from '../../local/lambda-context';
import { bundleHandler } from '../../scripts/build-lambdas';
import { connect, useTestStack } from '../local/helpers';

// The bundles read their configuration at load time, as in Lambda.
process.env.PUSH_CONNECTIONS_TABLE ??= 'bundle-test';
process.env.PUSH_MANAGEMENT_ENDPOINT ??= 'http://127.0.0.1:9/test';
process.env.PUSH_TOKEN_SECRET ??= 'bundle-test-secret';
process.env.PUSH_MESSAGES_TABLE ??= 'bundle-test-messages';
process.env.PUSH_PUBLISHES_TABLE ??= 'bundle-test-publishes';
process.env.PUSH_SHARD_DLQ_URL ??= 'http://127.0.0.1:9/000000000000/bundle-test-dlq';
process.env.PUSH_SHARD_QUEUE_URL ??= 'http://127.0.0.1:9/000000000000/bundle-test-shards';

const out = mkdtempSync(join(tmpdir(), 'push-bundles-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('esbuild bundles', () => {
  it.each(Object.keys(HANDLERS) as (keyof typeof HANDLERS)[])(
    'bundles the %s handler into one ESM file that loads and exports handler',
    async (name) => {
      const file = await bundleHandler(name, out);
      expect(statSync(file).size).toBeGreaterThan(1000);
      const mod = await import(/* @vite-ignore */ pathToFileURL(file).href);
      expect(typeof mod.handler).toBe('function');
    },
  );
});

describe('the publish bundle as it ships', () => {
  const stack = useTestStack();

  it('delivers a uid push through the local stack with the environment the template gives it', async () => {
    const socket = await connect(stack, 'bundle-reader');
    const file = await bundleHandler('publish', join(out, 'shipped'));
    const saved = { ...process.env };
    // Read at module scope, as in Lambda: the template's variables for this function, as the local
    // stack resolves them (its DynamoDB, its Management API).
    Object.assign(process.env, stack.environmentOf('publish'));
    try {
      const { handler } = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as {
        handler: (event: unknown, context: unknown) => Promise<Record<string, unknown>>;
      };
      const context = lambdaContext({
        functionName: 'publish',
        invokedFunctionArn: stack.deployment.functions.publish.arn,
        memoryLimitInMB: '512',
        awsRequestId: randomUUID(),
        deadline: Date.now() + 29_000,
        logStreamName: 'bundle-test',
      });
      const result = await handler(
        { to: { uid: 'bundle-reader' }, data: { n: 1 }, id: 'shipped-1' },
        context,
      );

      expect(result).toMatchObject({ id: 'shipped-1', delivered: 1, gone: 0, failed: 0 });
      expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'shipped-1', data: { n: 1 } });
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });
});
