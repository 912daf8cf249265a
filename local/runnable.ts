/**
 * Where a module of this repository runs from. Under tsx and vitest that is its TypeScript source;
 * `npm start` runs a compiled build (scripts/start.mjs), and whatever the stack imports or forks
 * by path (the handlers, the environment child) is taken from that build, run by plain Node.
 */
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

declare global {
  interface ImportMeta {
    /** The build's directory, which scripts/start.mjs writes into the code it compiles. */
    readonly pushBuild?: string;
  }
}

/** The repository root: in the build, `import.meta.url` is still the source's URL. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD = import.meta.pushBuild;

/** Whether modules are TypeScript sources that need tsx: false in `npm start`'s build. */
export const NEEDS_TSX = BUILD === undefined;

/**
 * The file to import (or fork) for a TypeScript source of this repository: the source itself,
 * or its entry in the build. Only entries are in the build (local/main.ts,
 * local/environment-child.ts, local/dynalite-child.ts, the handlers at the top of lambdas/).
 *
 * @example
 * await import(pathToFileURL(runnableModule('/repo/lambdas/connect.ts')).href);
 */
export function runnableModule(source: string): string {
  if (BUILD === undefined) return source;
  return join(BUILD, relative(ROOT, source)).replace(/\.ts$/, '.mjs');
}
