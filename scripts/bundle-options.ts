/**
 * esbuild settings shared by `npm run build` (scripts/build-lambdas.ts), the CDK stack's
 * `NodejsFunction`s and the cold-start bench, so every bundle of a handler is built the same way.
 */

/** Node version the Lambda runtime provides (`nodejs24.x`, infra/push-function.ts `LAMBDA_RUNTIME`). */
export const LAMBDA_NODE_TARGET = 'node24';

/**
 * ESM output cannot `require`, but some dependencies still do; this banner gives them one.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * The AWS SDK is bundled, not marked external: the bundle pins the SDK version we test against
 * (the runtime's copy changes under us) and a minified, tree-shaken bundle initialises faster than
 * resolving the runtime's SDK from node_modules. `npm run bench` measures both.
 */
export const EXTERNAL_MODULES: string[] = [];

/**
 * Source maps ship beside each bundle (the functions run with `--enable-source-maps`, so stack
 * traces name the source file and line), without the sources themselves: embedding them would
 * more than quadruple the map (2.8 MB against 670 KB of code for publish), and Node parses the
 * whole map when it loads the bundle, on every cold start.
 */
export const SOURCE_MAP = { sourcemap: true, sourcesContent: false } as const;

/**
 * Packages are read from their ES module build where they ship one (`module`), else from `main`.
 * esbuild's default for Node takes `main` first, which for the AWS SDK is its CommonJS build:
 * esbuild cannot drop what a CommonJS module does not use, so every handler carried every SDK
 * client that `lambdas/wiring.ts` imports (SQS and the Management API in the authorizer, say).
 * From the ES builds, which declare themselves free of side effects, each bundle keeps only the
 * clients its handler calls: publish went from 658 to 450 KiB, the authorizer from 620 to 407.
 */
export const MAIN_FIELDS = ['module', 'main'];
