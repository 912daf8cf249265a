import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/push-function';
import { DEPLOYED_HANDLERS, PushStack } from '../../infra/push-stack';
import { HANDLER_ENTRIES, type HandlerId } from '../../lambdas/shared/deployment';
import { ESM_REQUIRE_BANNER } from '../../scripts/bundle-options';
import { logicalId } from './helpers';

type Handler = HandlerId;
const handlers = [...DEPLOYED_HANDLERS];
const outdir = mkdtempSync(join(tmpdir(), 'push-bundle-'));
const assetDirs = new Map<Handler, string>();

// The one test that bundles for real, with the local esbuild, as `cdk synth` does.
beforeAll(() => {
  const app = new App({ outdir, builtinCloudFormationValidation: false });
  const stack = new PushStack(app, 'Push');
  const template = app.synth().getStackByName(stack.stackName).template as {
    Resources: Record<string, { Properties: { Code: { S3Key: string } } }>;
  };
  for (const handler of handlers) {
    const key = template.Resources[logicalId(stack.functions[handler])]?.Properties.Code.S3Key as string;
    assetDirs.set(handler, join(outdir, `asset.${key.replace(/\.zip$/, '')}`));
  }
}, 60_000);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('bundled handlers', () => {
  it.each(handlers)('bundles %s from an entry file that exists', (handler) => {
    expect(existsSync(join(REPO_ROOT, HANDLER_ENTRIES[handler]))).toBe(true);
    expect(existsSync(join(assetDirs.get(handler) as string, 'index.mjs'))).toBe(true);
  });

  it.each(handlers)('emits %s as ESM with the require banner, exporting handler', (handler) => {
    const code = readFileSync(join(assetDirs.get(handler) as string, 'index.mjs'), 'utf8');
    expect(code.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
    expect(code).toMatch(/export\s*\{[^}]*\bas handler\b[^}]*\}/);
  });

  it.each(handlers)('ships a source map with %s', (handler) => {
    const dir = assetDirs.get(handler) as string;
    expect(readFileSync(join(dir, 'index.mjs'), 'utf8')).toContain('//# sourceMappingURL=index.mjs.map');
    const map = JSON.parse(readFileSync(join(dir, 'index.mjs.map'), 'utf8')) as { sourcesContent?: unknown };
    expect(map.sourcesContent).toBeUndefined();
  });

  it.each(handlers)('bundles the AWS SDK into %s instead of importing the runtime copy', (handler) => {
    const file = join(assetDirs.get(handler) as string, 'index.mjs');
    const code = readFileSync(file, 'utf8');
    const external = new Set(
      [...code.matchAll(/(?:require\(|import\(|from)\s*"(@(?:aws-sdk|smithy)\/[^"]+)"/g)].map((m) => m[1]),
    );
    // The one left is the SDK's optional CRT signer for SigV4a, required inside a try/catch.
    expect([...external]).toEqual(['@aws-sdk/signature-v4-crt']);
    // Measured 380–450 KiB with the SDK (each keeping only the clients its handler calls), 30–45
    // KiB without it.
    expect(statSync(file).size).toBeGreaterThan(300 * 1024);
    expect(statSync(file).size).toBeLessThan(1024 * 1024);
  });
});
