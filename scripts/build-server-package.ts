/**
 * Builds `server/` (`@apigw-push/server`) into `server/dist`: the JavaScript tsc emits for
 * `server/src`, and declarations that stand alone. The SDK's wire types come from the handlers
 * (`server/src/wire.ts` imports them from `lambdas/`), so the declarations tsc emits point outside
 * the package; this copies the ones they reach into `dist/lambdas/`, rewrites every relative
 * import to the NodeNext form (`./x.js`), and fails when a declaration would need a package the
 * SDK does not ship. Run by `npm run build` (and `npm pack`) in `server/`.
 *
 *   npx tsx scripts/build-server-package.ts
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGE = join(ROOT, 'server');
/** tsc's output, mirroring the repository from its root (`server/src/…`, `lambdas/…`). */
const STAGING = join(PACKAGE, '.build');
const DIST = join(PACKAGE, 'dist');
const SOURCE = join(STAGING, 'server', 'src');

const SPECIFIER = /(\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\2/gm;

/** Where a staged file lands in `dist`: the SDK's own at the top, the handlers' under `lambdas/`. */
function distPath(staged: string): string {
  const fromSource = relative(SOURCE, staged);
  if (!fromSource.startsWith('..')) return join(DIST, fromSource);
  return join(DIST, relative(STAGING, staged));
}

/** The staged declaration a relative specifier in `from` names. */
function resolveDeclaration(from: string, specifier: string): string {
  const base = join(dirname(from), specifier);
  const candidates = specifier.endsWith('.js')
    ? [`${base.slice(0, -3)}.d.ts`]
    : [`${base}.d.ts`, join(base, 'index.d.ts')];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) throw new Error(`${relative(STAGING, from)}: cannot resolve ${specifier}`);
  return found;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** Builds the package; returns the files written to `dist`, relative to it. */
export function buildServerPackage(): string[] {
  rmSync(STAGING, { recursive: true, force: true });
  rmSync(DIST, { recursive: true, force: true });
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
  execFileSync(tsc, ['-p', join(PACKAGE, 'tsconfig.build.json')], { stdio: 'inherit' });
  try {
    const written: string[] = [];
    const write = (target: string, text: string) => {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, text);
      written.push(relative(DIST, target).split(sep).join('/'));
    };

    for (const file of walk(SOURCE).filter((f) => f.endsWith('.js'))) {
      const text = readFileSync(file, 'utf8');
      // Types only may come from the handlers: no handler code ships in the SDK.
      if (/\bfrom\s+['"]\.\.\/\.\.\//.test(text))
        throw new Error(`${file} imports code from outside server/`);
      write(distPath(file), text);
    }

    const queue = [join(SOURCE, 'index.d.ts')];
    const seen = new Set(queue);
    while (queue.length > 0) {
      const file = queue.shift() as string;
      const target = distPath(file);
      const source = readFileSync(file, 'utf8');
      if (/^\/\/\/\s*<reference\b/m.test(source)) {
        throw new Error(
          `${relative(STAGING, file)}: a /// <reference> would need types the package does not ship`,
        );
      }
      const text = source.replace(SPECIFIER, (_whole, lead, quote, specifier: string) => {
        if (!specifier.startsWith('.')) {
          throw new Error(
            `${relative(STAGING, file)}: the types would need "${specifier}", which the package does not ship`,
          );
        }
        const declaration = resolveDeclaration(file, specifier);
        if (!seen.has(declaration)) {
          seen.add(declaration);
          queue.push(declaration);
        }
        let path = relative(dirname(target), distPath(declaration)).split(sep).join('/');
        if (!path.startsWith('.')) path = `./${path}`;
        return `${lead}${quote}${path.replace(/\.d\.ts$/, '.js')}${quote}`;
      });
      write(target, text);
    }
    return written.sort();
  } finally {
    rmSync(STAGING, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = buildServerPackage();
  process.stderr.write(`server/dist: ${files.length} files\n`);
}
