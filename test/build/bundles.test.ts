import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HANDLERS } from '../../lambdas/shared/deployment';
import { bundleHandler } from '../../scripts/build-lambdas';

// The bundles read their configuration at load time, as in Lambda.
process.env.PUSH_CONNECTIONS_TABLE ??= 'bundle-test';
process.env.PUSH_MANAGEMENT_ENDPOINT ??= 'http://127.0.0.1:9/test';
process.env.PUSH_TOKEN_SECRET ??= 'bundle-test-secret';
process.env.PUSH_MESSAGES_TABLE ??= 'bundle-test-messages';
process.env.PUSH_PUBLISHES_TABLE ??= 'bundle-test-publishes';
process.env.PUSH_SHARD_DLQ_URL ??= 'http://127.0.0.1:9/000000000000/bundle-test-dlq';

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
