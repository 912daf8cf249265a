/**
 * docs/local-fidelity.md backs each claim with the tests that check it, cited as
 * `[file.test.ts](../test/…): _describe › test title_; _› another title_`. A cited title must be a
 * test of the file the citation links to, or a reader looking for the evidence finds nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/push-function';

const DOCUMENT = 'docs/local-fidelity.md';

/** Every cited title (the part after the last `›`) with the file its citation links to. */
function citations(): { file: string; title: string }[] {
  const doc = readFileSync(join(REPO_ROOT, DOCUMENT), 'utf8');
  const found: { file: string; title: string }[] = [];
  for (const m of doc.matchAll(/\[[^\]]+\]\((\.\.\/test\/[^)]+)\):((?:\s*_[^_]+_[;,]?)+)/g)) {
    const file = join(dirname(DOCUMENT), m[1] as string);
    for (const cited of (m[2] as string).matchAll(/_([^_]+)_/g)) {
      const title = (cited[1] as string).split('›').at(-1)?.trim() ?? '';
      // `_POST /publish › …_ (9 tests)` cites a whole group, not a title.
      if (title !== '' && !title.endsWith('…')) found.push({ file, title });
    }
  }
  return found;
}

/**
 * The test titles of a file (`it(…)`, `it.each(…)(…)`, `it.skipIf(…)(…)`), each as a pattern: a
 * template literal's `${…}` and a `%s`-style placeholder stand for any text.
 */
function titlesIn(file: string): RegExp[] {
  const source = readFileSync(join(REPO_ROOT, file), 'utf8');
  // A title opens the call that follows `it` or `it.each(…)`, `it.skipIf(…)`, and a callback follows it.
  return [...source.matchAll(/(?:\bit|\))\(\s*(['"`])((?:\\.|(?!\1)[^\\])*?)\1\s*,/g)].map((m) => {
    const text = (m[2] as string).replace(/\\(['"`])/g, '$1');
    const parts = text
      .split(/\$\{[^}]*\}|%[sdijfo#]/)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return new RegExp(`^${parts.join('.+')}$`);
  });
}

describe(`${DOCUMENT}'s test citations`, () => {
  const cited = citations();

  it('are found', () => {
    expect(cited.length).toBeGreaterThan(50);
  });

  it.each(cited.map(({ file, title }) => [file, title]))('%s has a test titled “%s”', (file, title) => {
    expect(titlesIn(file).some((pattern) => pattern.test(title))).toBe(true);
  });
});

describe('test citations in the README and docs/', () => {
  const documents = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).map((name) => `docs/${name}`)];

  it.each(documents)('%s names tests by title, not by a line number that moves with every edit', (file) => {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    expect(text.match(/\.test\.ts:\d+/g) ?? []).toEqual([]);
  });
});
