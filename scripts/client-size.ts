/**
 * Measures the browser client as an app would ship it: `client/index.ts` bundled and minified by
 * esbuild, then gzipped. Prints the sizes and exits non-zero over the budget.
 *
 *   npx tsx scripts/client-size.ts
 */
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The client's size budget, min+gzip, in bytes. */
export const CLIENT_BUDGET_BYTES = 5 * 1024;

/** The client entry point, relative to the repository root. */
export const CLIENT_ENTRY = 'client/index.ts';

/** Sizes of the client bundle, in bytes. */
export interface ClientSize {
  readonly minified: number;
  readonly gzipped: number;
}

/** Bundles, minifies and gzips the client entry in memory, and returns the sizes. */
export async function measureClientSize(): Promise<ClientSize> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const result = await build({
    absWorkingDir: root,
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.contents;
  if (!code) throw new Error(`esbuild produced no output for ${CLIENT_ENTRY}`);
  return { minified: code.byteLength, gzipped: gzipSync(code, { level: 9 }).byteLength };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { minified, gzipped } = await measureClientSize();
  const verdict = gzipped <= CLIENT_BUDGET_BYTES ? 'within' : 'OVER';
  console.log(
    `${CLIENT_ENTRY}: ${minified} B minified, ${gzipped} B min+gzip (${verdict} budget ${CLIENT_BUDGET_BYTES} B)`,
  );
  if (gzipped > CLIENT_BUDGET_BYTES) process.exitCode = 1;
}
