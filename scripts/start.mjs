/**
 * `npm start`: runs local/main.ts from a compiled build, so a start pays neither tsx's loader
 * (every module, the AWS SDK's included, passed through its hooks thread) nor a TypeScript
 * transform, nor Node's per-file cost of loading our 130 modules one by one.
 *
 * The build is what Lambda's own packaging does, with the packages left in node_modules: an
 * esbuild bundle per handler entry (lambdas/*.ts), one for the stack (local/main.ts) and one for
 * a process environment (local/environment-child.ts), one for dynalite's process
 * (local/dynalite-child.ts), with the modules they share split into
 * chunks. A handler imported again for a new execution environment is a new instance of its entry
 * file, its chunks shared, as under tsx. The CDK app (infra/) is a chunk of its own that only a
 * template cache miss imports, so a warm start never loads aws-cdk-lib.
 *
 * The build is kept in node_modules/.cache/apigw-push/start/ and made again when any file it was
 * built from changes (its key hashes every input esbuild read). In it, `import.meta.url` is the
 * source file's URL, so every path the stack derives from it (the repository root, local/public,
 * cdk.json) is what it is under tsx; `import.meta.pushBuild` names the build (local/runnable.ts).
 * Source maps are written beside the build but not loaded (reading them costs a start a fifth of
 * a second): `NODE_OPTIONS=--enable-source-maps npm start` names the TypeScript sources in stack
 * traces, as the same option does on Lambda. Plain JavaScript on purpose: this file runs before
 * anything is compiled.
 *
 * On Linux the stack runs in a child of this process, started with glibc's malloc settings from
 * scripts/stack-process.mjs (they are read only when a process starts; the reasons are there).
 * This process only supervises it: it passes each signal it gets on, once, and exits with the
 * stack's exit code; the stack stops by itself if this process goes away.
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
import module from 'node:module';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SUPERVISED_ENV, superviseAsStackProcess } from './stack-process.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache', 'apigw-push', 'start');
const MANIFEST = join(CACHE, 'manifest.json');
/** Bump when the build's shape changes, so an old build is never run as a new one. */
const FORMAT = 1;
/** What each compiled module calls its source's URL. */
const SOURCE_URL = '__pushSourceUrl';
/** Builds kept: a stack still running from an older one may yet import its lazy chunks. */
const KEPT_BUILDS = 4;
/** Node's compile cache for npm start's processes (see below), unless one is set already. */
const COMPILE_CACHE = join(ROOT, 'node_modules', '.cache', 'apigw-push', 'compile');

/**
 * The key of a build: its format, where the repository is (source URLs are built in), Node's
 * version, this script, the installed packages (npm's record of node_modules, rewritten by every
 * install) and every source file the build read. Undefined when one is gone.
 * @param {readonly string[]} files repository-relative paths of the sources
 */
function keyOf(files) {
  const hash = createHash('sha256');
  // The build targets the Node that made it.
  hash.update(`format ${FORMAT}\nroot ${ROOT}\nnode ${process.version}\n`);
  hash.update(readFileSync(fileURLToPath(import.meta.url)));
  const installed = join(ROOT, 'node_modules', '.package-lock.json');
  hash.update(readFileSync(existsSync(installed) ? installed : join(ROOT, 'package-lock.json')));
  for (const file of files) {
    const path = join(ROOT, file);
    if (!existsSync(path)) return undefined;
    hash.update(`file ${file}\n`);
    hash.update(readFileSync(path));
  }
  return hash.digest('hex');
}

/** @returns {string | undefined} the directory of the last build, if it is still current */
function currentBuild() {
  try {
    const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
    const dir = join(CACHE, manifest.dir);
    return manifest.key === keyOf(manifest.files) && existsSync(dir) ? dir : undefined;
  } catch {
    // No manifest yet, or a torn one: build.
    return undefined;
  }
}

/** The handler entries: every file at the top of lambdas/ is one, as infra/ deploys them. */
function handlerEntries() {
  return readdirSync(join(ROOT, 'lambdas'))
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => join(ROOT, 'lambdas', name));
}

/** Removes all but the newest builds. */
function prune() {
  const builds = readdirSync(CACHE, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => ({ path: join(CACHE, entry.name), modified: statSync(join(CACHE, entry.name)).mtimeMs }))
    .sort((a, b) => b.modified - a.modified);
  for (const { path } of builds.slice(KEPT_BUILDS)) rmSync(path, { recursive: true, force: true });
}

/** Builds into a new directory of the cache, records it in the manifest, and returns it. */
async function build() {
  const { build: esbuild } = await import('esbuild');
  mkdirSync(CACHE, { recursive: true });
  const name = `build-${Date.now()}-${process.pid}`;
  const dir = join(CACHE, name);
  const result = await esbuild({
    entryPoints: [
      join(ROOT, 'local', 'main.ts'),
      join(ROOT, 'local', 'environment-child.ts'),
      join(ROOT, 'local', 'dynalite-child.ts'),
      ...handlerEntries(),
    ],
    outdir: dir,
    outbase: ROOT,
    absWorkingDir: ROOT,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    // Packages are bundled too: Node then loads a few files, not the thousand-odd modules of the
    // AWS SDK, jose and Powertools one by one. Left out: what a warm start never loads (the CDK),
    // what loads itself (esbuild), and dynalite (its actions are required by computed names).
    external: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs', 'cdk-nag', 'esbuild', 'dynalite'],
    // Bundled CommonJS still calls `require` for Node's own modules.
    banner: {
      js: "import { createRequire as __pushRequire } from 'node:module'; const require = __pushRequire(import.meta.url);",
    },
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node}`,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'error',
    define: { 'import.meta.url': SOURCE_URL, 'import.meta.pushBuild': JSON.stringify(dir) },
    plugins: [
      {
        name: 'source-urls',
        setup(on) {
          // Each module declares its source's URL on its own first line, so the source map's
          // lines still match; `define` points every `import.meta.url` in code (not in strings)
          // at it.
          on.onLoad({ filter: /\.ts$/ }, (args) => ({
            contents: `const ${SOURCE_URL} = ${JSON.stringify(pathToFileURL(args.path).href)}; ${readFileSync(args.path, 'utf8')}`,
            loader: 'ts',
          }));
        },
      },
    ],
  });
  const files = Object.keys(result.metafile.inputs)
    .map((input) => relative(ROOT, join(ROOT, input)))
    .filter((file) => !file.split(sep).includes('node_modules'))
    .sort();
  const temporary = `${MANIFEST}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify({ key: keyOf(files), dir: name, files }));
  renameSync(temporary, MANIFEST);
  prune();
  // Node keys its cache by file path, and every build has a new directory: without this, each
  // rebuild would leave a build's worth of entries (about 0.7 MB) behind for good.
  if (process.env.NODE_COMPILE_CACHE === COMPILE_CACHE)
    rmSync(COMPILE_CACHE, { recursive: true, force: true });
  return dir;
}

/**
 * Node's compile cache (Node 22.1 and later; older versions ignore the variable): V8's compiled
 * code of every module a start loads, the build's and node_modules', kept on disk and checked
 * against each file's contents, so a warm start does not compile them again. Set in the
 * environment, it reaches the stack's process and the processes it starts (dynalite's); a
 * `NODE_COMPILE_CACHE` of your own is kept, and `NODE_DISABLE_COMPILE_CACHE=1` turns it off.
 */
if (process.env.NODE_COMPILE_CACHE === undefined) {
  process.env.NODE_COMPILE_CACHE = COMPILE_CACHE;
}

if (process.platform === 'linux' && process.env[SUPERVISED_ENV] === undefined) {
  // Runs this script again as the stack's process, with the malloc settings and V8 flags.
  superviseAsStackProcess(
    fileURLToPath(import.meta.url),
    process.argv.slice(2),
    { [SUPERVISED_ENV]: String(Math.round(performance.timeOrigin)) },
    'npm start: the stack',
  );
} else {
  // Off Linux this process was started without the variable, so it turns the cache on itself (on
  // Linux, where this is the stack's process, the variable already did).
  if (process.env.NODE_DISABLE_COMPILE_CACHE === undefined)
    module.enableCompileCache?.(process.env.NODE_COMPILE_CACHE);
  const dir = currentBuild() ?? (await build());
  await import(pathToFileURL(join(dir, 'local', 'main.mjs')).href);
}
