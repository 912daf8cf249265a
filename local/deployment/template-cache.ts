/**
 * The synthesized stack, cached by the content of everything that shapes it: every source file
 * the CDK app imports (followed from infra/push-stack.ts, so `lambdas/shared/` and
 * `scripts/bundle-options.ts` count), cdk.json, the installed aws-cdk-lib and constructs versions,
 * and the context and props asked for. A warm start reads one JSON file and never loads
 * aws-cdk-lib; any edit under infra/ synthesizes again.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTEXT } from '../../infra/context';
import type { PushStack, PushStackProps } from '../../infra/push-stack';
import { type SynthesizedStack, synthesizeStack } from './synthesize';

/** The repository root. */
export const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Where warm starts find the template: gitignored with node_modules. */
export const DEFAULT_CACHE_DIR = join(REPOSITORY_ROOT, 'node_modules', '.cache', 'apigw-push');

/** Bump when the cached shape changes, so an old cache is never read as a new one. */
const CACHE_FORMAT = 1;

/** Options for {@link loadStack}. */
export interface LoadStackOptions {
  /** Context on top of cdk.json's, as `-c key=value` would give. @default {} */
  readonly context?: Readonly<Record<string, unknown>>;
  /**
   * PushStack props, for tests that build the stack as another CDK app would. Plain values and
   * `Duration`s are part of the cache key; props holding constructs (topics, principals) bypass
   * the cache.
   * @default {}
   */
  readonly props?: PushStackProps;
  /**
   * Changes the built stack before synthesis, as a CDK app's escape hatches do (tests change the
   * template this way where PushStack has no prop). Code cannot be keyed: such a load bypasses
   * the cache and synthesizes every time.
   * @default none
   */
  readonly customize?: (stack: PushStack) => void;
  /** @default DEFAULT_CACHE_DIR */
  readonly cacheDir?: string;
  /** Read and write the cache. @default true */
  readonly cache?: boolean;
  /** @default REPOSITORY_ROOT */
  readonly root?: string;
}

/** A loaded stack and how it was obtained. */
export interface LoadedStack extends SynthesizedStack {
  /** Whether the template came from the cache (warm) or was synthesized (cold). */
  readonly source: 'cache' | 'synth';
  /** The cache key: a SHA-256 over every input. */
  readonly key: string;
  /** The context the stack was synthesized with: cdk.json's, then the caller's. */
  readonly context: Readonly<Record<string, unknown>>;
}

const IMPORT_SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

function resolveSource(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Every TypeScript file reachable by relative imports from `entry`, `entry` included, sorted:
 * exactly the sources that can change what the stack synthesizes.
 */
export function sourcesOf(entry: string): string[] {
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const match of readFileSync(file, 'utf8').matchAll(IMPORT_SPECIFIER)) {
      const next = resolveSource(file, match[1] as string);
      if (next !== undefined && !seen.has(next)) pending.push(next);
    }
  }
  return [...seen].sort();
}

/** JSON for the cache key, or undefined when a prop cannot be keyed (a construct). */
function stableJson(value: unknown): string | undefined {
  let keyable = true;
  const json = JSON.stringify(value, (_key, item: unknown) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
    const candidate = item as { toMilliseconds?: unknown };
    if (typeof candidate.toMilliseconds === 'function') {
      return {
        duration: (candidate.toMilliseconds as (o: object) => number).call(item, { integral: false }),
      };
    }
    const prototype = Object.getPrototypeOf(item);
    if (prototype !== Object.prototype && prototype !== null) {
      keyable = false;
      return null;
    }
    return Object.fromEntries(Object.entries(item as object).sort(([a], [b]) => a.localeCompare(b)));
  });
  return keyable ? json : undefined;
}

function packageVersion(root: string, name: string): string {
  const file = join(root, 'node_modules', name, 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * cdk.json's context as the local stack takes it: without `push:stages`. The local stack is no
 * deployed stage, and the settings cdk.json keeps per stage (an alarm email, a token audience that
 * `/dev/token`'s tokens do not carry) are not its own.
 */
export function localContext(fileContext: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { [CONTEXT.stages]: _stages, ...rest } = fileContext;
  return rest;
}

function cdkJsonContext(root: string): Record<string, unknown> {
  const file = join(root, 'cdk.json');
  if (!existsSync(file)) return {};
  return (JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
}

/**
 * The cache key of a load, or undefined when the props cannot be keyed.
 *
 * @example
 * cacheKey(REPOSITORY_ROOT, { 'push:stage': 'prod' }, {}) // 'sha256 hex'
 */
export function cacheKey(
  root: string,
  context: Readonly<Record<string, unknown>>,
  props: PushStackProps,
): string | undefined {
  const propsJson = stableJson(props);
  if (propsJson === undefined) return undefined;
  const hash = createHash('sha256');
  hash.update(`format ${CACHE_FORMAT}\n`);
  for (const name of ['aws-cdk-lib', 'constructs']) hash.update(`${name}@${packageVersion(root, name)}\n`);
  hash.update(`context ${stableJson(context)}\nprops ${propsJson}\n`);
  for (const file of sourcesOf(join(root, 'infra', 'push-stack.ts'))) {
    hash.update(`file ${relative(root, file)}\n`);
    hash.update(readFileSync(file));
  }
  return hash.digest('hex');
}

/** Templates kept: every edit under infra/ writes a new one, so the oldest are removed. */
const KEPT_TEMPLATES = 16;

function pruneCache(dir: string): void {
  const entries = readdirSync(dir)
    .filter((name) => /^stack-[0-9a-f]{64}\.json$/.test(name))
    .map((name) => ({
      path: join(dir, name),
      modified: statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs,
    }))
    .filter((entry): entry is { path: string; modified: number } => entry.modified !== undefined)
    .sort((a, b) => b.modified - a.modified);
  for (const { path } of entries.slice(KEPT_TEMPLATES)) rmSync(path, { force: true });
}

interface CacheEntry extends SynthesizedStack {
  readonly key: string;
}

/**
 * The PushStack's template and resource index: from the cache when nothing it depends on
 * changed, synthesized (and cached) otherwise.
 *
 * @example
 * const loaded = await loadStack();
 * loaded.source // 'cache' on a warm start
 */
export async function loadStack(options: LoadStackOptions = {}): Promise<LoadedStack> {
  const root = options.root ?? REPOSITORY_ROOT;
  const context = { ...localContext(cdkJsonContext(root)), ...options.context };
  const props = options.props ?? {};
  const key = options.customize === undefined ? cacheKey(root, context, props) : undefined;
  const useCache = (options.cache ?? true) && key !== undefined;
  const file = join(options.cacheDir ?? DEFAULT_CACHE_DIR, `stack-${key ?? 'unkeyed'}.json`);
  if (useCache && existsSync(file)) {
    try {
      const entry = JSON.parse(readFileSync(file, 'utf8')) as CacheEntry;
      if (entry.key === key)
        return { template: entry.template, index: entry.index, source: 'cache', key, context };
    } catch {
      // A torn or foreign file is as good as none: synthesize and overwrite it.
    }
  }
  const synthesized = await synthesizeStack({
    context,
    props,
    ...(options.customize === undefined ? {} : { customize: options.customize }),
  });
  if (useCache) {
    mkdirSync(dirname(file), { recursive: true });
    // Written beside and renamed, so a parallel start never reads half a file.
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify({ key, ...synthesized } satisfies CacheEntry));
    renameSync(temporary, file);
    pruneCache(dirname(file));
  }
  return { ...synthesized, source: 'synth', key: key ?? 'unkeyed', context };
}
