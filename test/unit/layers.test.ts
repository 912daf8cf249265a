/**
 * The floors of `lambdas/`: `shared/` imports nothing of ours outside itself, `core/` only itself
 * and `shared/`, adapters never the handlers or their wiring, and no module needs itself back
 * through its imports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../lambdas');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** Every module under lambdas/ with the modules of ours it imports (types included), as paths from lambdas/. */
const graph = new Map<string, string[]>(
  sources(ROOT).map((file) => {
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'(\.[^']+)'/g)].map(
      (m) => m[1] as string,
    );
    return [
      relative(ROOT, file),
      specifiers.map((specifier) => `${relative(ROOT, resolve(dirname(file), specifier))}.ts`),
    ];
  }),
);

function cycles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next]);
      else if (state.get(next) === undefined) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

function importsOutside(folder: string, allowed: readonly string[]): string[] {
  return [...graph]
    .filter(([from]) => from.startsWith(`${folder}/`))
    .flatMap(([from, to]) =>
      to
        .filter((target) => !allowed.some((floor) => target.startsWith(`${floor}/`)))
        .map((target) => `${from} → ${target}`),
    );
}

describe('the floors of lambdas/', () => {
  it('reads every module it checks', () => {
    expect(graph.get('core/publish.ts')).toContain('core/delivery.ts');
    expect(graph.size).toBeGreaterThan(30);
  });

  it('has no import circles', () => {
    expect(cycles()).toEqual([]);
  });

  it('keeps shared/ the ground floor: it imports nothing of ours outside shared/', () => {
    expect(importsOutside('shared', ['shared'])).toEqual([]);
  });

  it('keeps core/ pure: it imports only core/ and shared/', () => {
    expect(importsOutside('core', ['core', 'shared'])).toEqual([]);
  });

  it('keeps the adapters below the handlers: they import only adapters/, core/ and shared/', () => {
    expect(importsOutside('adapters', ['adapters', 'core', 'shared'])).toEqual([]);
  });
});
