/**
 * Scenario e: cold start. Each Lambda is bundled as it ships (`bundleHandler`) and imported in a
 * fresh `node` process; the baseline imports the same packages unbundled from node_modules (named
 * by esbuild's metafile of the handler built with its packages external). The two run interleaved,
 * 10 times each; the figure is the median `import()` time inside the process (what Lambda bills as
 * init, less the runtime's own boot, the same for both).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { HANDLERS, type HostedHandlerId } from '../../../lambdas/shared/deployment';
import { startLocalStack } from '../../../local/stack';
import { bundleHandler } from '../../build-lambdas';
import { ESM_REQUIRE_BANNER, LAMBDA_NODE_TARGET } from '../../bundle-options';
import { bytes, median, ms, QUIET_ENV, round, type Scenario, times } from '../kit';

const VARIANTS = ['bundled', 'imports'] as const;
type Variant = (typeof VARIANTS)[number];
type Sample = Awaited<ReturnType<typeof probe>>;

/** Measures one `import()` in the child; `performance.now()` there counts from process start. */
const PROBE = `const t0 = performance.now(); await import(process.argv[1]); const t1 = performance.now();
process.stdout.write(JSON.stringify({ importMs: t1 - t0, sinceStartMs: t1 }));`;

/**
 * The environment each handler reads at module scope, as the synthesized template sets it: read
 * from a local stack's deployment model (its endpoints are the local stack's, which nothing
 * reaches during init), so a variable the CDK app adds is never missing here.
 */
async function handlerEnvs(
  names: readonly HostedHandlerId[],
): Promise<Map<HostedHandlerId, NodeJS.ProcessEnv>> {
  const stack = await startLocalStack({ port: 0 });
  try {
    return new Map(
      names.map((name) => [
        name,
        {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          ...QUIET_ENV,
          ...stack.deployment.functions[name].environment,
          // Metrics stay on, as in Lambda; nothing is flushed during init anyway.
          POWERTOOLS_METRICS_DISABLED: 'false',
          NODE_ENV: 'production',
        },
      ]),
    );
  } finally {
    await stack.stop();
  }
}

/** One fresh process importing `file`: the import's time, and the time since the process started. */
async function probe(file: string, env: NodeJS.ProcessEnv) {
  const args = ['--input-type=module', '-e', PROBE, pathToFileURL(file).href];
  const { stdout } = await promisify(execFile)(process.execPath, args, { env, timeout: 30_000 });
  return JSON.parse(stdout) as { importMs: number; sinceStartMs: number };
}

/** The package specifiers a handler imports (built with every package external): the baseline's list. */
async function packagesOf(root: string, name: HostedHandlerId, outFile: string): Promise<string[]> {
  mkdirSync(dirname(outFile), { recursive: true });
  const result = await build({
    entryPoints: [join(root, HANDLERS[name])],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: LAMBDA_NODE_TARGET,
    minify: true,
    packages: 'external',
    banner: { js: ESM_REQUIRE_BANNER },
    metafile: true,
    logLevel: 'warning',
  });
  const output = Object.values(result.metafile.outputs)[0];
  const specifiers = (output?.imports ?? [])
    .filter((i) => i.external && !i.path.startsWith('node:') && i.path !== 'module')
    .map((i) => i.path);
  return [...new Set(specifiers)].sort();
}

export const coldStartScenario: Scenario = async ({ quick, progress, root, outDir }) => {
  const runs = quick ? 3 : 10;
  const names = (quick ? ['publish', 'connect'] : Object.keys(HANDLERS)) as HostedHandlerId[];
  // Inside the repository even when --out is not, so the baseline's bare specifiers resolve.
  const base = join(outDir.startsWith(`${root}/`) ? outDir : join(root, 'bench-results'), 'cold-start');
  const envs = await handlerEnvs(names);
  progress.note(`bundling ${names.join(', ')} (bundleHandler)`);
  const handlers = [];
  for (const name of names) {
    const bundled = await bundleHandler(name, join(base, 'bundled'));
    const packages = await packagesOf(root, name, join(base, 'external', name, 'index.mjs'));
    const imports = join(base, 'imports', name, 'index.mjs');
    mkdirSync(dirname(imports), { recursive: true });
    writeFileSync(imports, `${packages.map((s) => `import ${JSON.stringify(s)};`).join('\n')}\n`);
    const samples = { bundled: [] as Sample[], imports: [] as Sample[] };
    const env = envs.get(name);
    if (env === undefined) throw new Error(`the template gives ${name} no environment`);
    handlers.push({
      name,
      env,
      files: { bundled, imports },
      size: statSync(bundled).size,
      packages,
      samples,
    });
  }

  const total = runs * names.length * 2;
  let done = 0;
  progress.note(`${runs} fresh node processes per variant and handler, interleaved (${total} in all)`);
  for (let run = 0; run < runs; run++) {
    for (const handler of handlers) {
      // Alternate the order each run, so no variant always goes first after a pause.
      for (const variant of run % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        handler.samples[variant].push(await probe(handler.files[variant], handler.env));
        progress.tick('processes', ++done, total);
      }
    }
  }

  const rows = handlers.map(({ name, size, packages, samples: s }) => {
    const m = (v: Variant, key: keyof Sample = 'importMs') => median(s[v].map((r) => r[key]));
    return {
      handler: name,
      bundleBytes: size,
      bundledMs: round(m('bundled'), 1),
      importsMs: round(m('imports'), 1),
      ratio: round(m('bundled') / m('imports')),
      processBundledMs: round(m('bundled', 'sinceStartMs'), 1),
      processImportsMs: round(m('imports', 'sinceStartMs'), 1),
      packages,
    };
  });
  const worst = rows.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  const publish = rows.find((r) => r.handler === 'publish') ?? worst;
  const pass = rows.every((r) => r.ratio <= 0.6);
  return {
    title: 'cold start (init in a fresh node process)',
    target: 'bundled ≤ 0.6× unbundled',
    ours: `publish: ${bytes(publish.bundleBytes)}, ${ms(publish.bundledMs)}; all ${rows.length}: ${rows.map((r) => `${r.handler} ${ms(r.bundledMs)}`).join(', ')}`,
    baseline: `same packages from node_modules: publish ${ms(publish.importsMs)}; ${rows.map((r) => `${r.handler} ${ms(r.importsMs)}`).join(', ')}`,
    ratio: `publish ${times(publish.ratio)}; worst ${worst.handler} ${times(worst.ratio)}`,
    verdict: pass ? 'pass' : 'fail',
    path: `bundleHandler (esbuild, minified, ${LAMBDA_NODE_TARGET}, SDK bundled) imported by a fresh node ${process.version} process; median of ${runs} runs each`,
    notes: [
      ...rows.map(
        (r) =>
          `${r.handler}: ${bytes(r.bundleBytes)}, init ${ms(r.bundledMs)} against ${ms(r.importsMs)} (${times(r.ratio)}); whole process to ready ${ms(r.processBundledMs)} against ${ms(r.processImportsMs)}`,
      ),
      `the baseline imports what each bundle contains, unbundled: ${publish.packages.join(', ')} for publish`,
      'init is the import() time inside the process; node boot, the same for every variant, is left out of it and shown as "whole process" for reference',
    ],
    data: { runs, rows, samples: Object.fromEntries(handlers.map((h) => [h.name, h.samples])) },
  };
};
