/**
 * Bundles every handler with esbuild into dist/lambdas/<name>/index.mjs, as the CDK stack does,
 * and prints each bundle's size. `npm run build`.
 */

import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { HANDLER_ENTRIES } from '../lambdas/shared/deployment';
import {
  ESM_REQUIRE_BANNER,
  EXTERNAL_MODULES,
  LAMBDA_NODE_TARGET,
  MAIN_FIELDS,
  SOURCE_MAP,
} from './bundle-options';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundles one handler; resolves to the output file's path. */
export async function bundleHandler(
  name: keyof typeof HANDLER_ENTRIES,
  outRoot = join(root, 'dist', 'lambdas'),
): Promise<string> {
  const outfile = join(outRoot, name, 'index.mjs');
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [join(root, HANDLER_ENTRIES[name])],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: LAMBDA_NODE_TARGET,
    minify: true,
    mainFields: MAIN_FIELDS,
    ...SOURCE_MAP,
    external: EXTERNAL_MODULES,
    banner: { js: ESM_REQUIRE_BANNER },
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // The local stack's handlers and the AWS-only ones (the secret rotation), as the stack deploys.
  for (const name of Object.keys(HANDLER_ENTRIES) as (keyof typeof HANDLER_ENTRIES)[]) {
    const file = await bundleHandler(name);
    console.log(`${name.padEnd(12)} ${(statSync(file).size / 1024).toFixed(1).padStart(8)} KiB  ${file}`);
  }
}
