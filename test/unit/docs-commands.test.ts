/**
 * The npm commands the READMEs and docs/ tell a reader to type, as a reader pastes them: each
 * names a script package.json has, and passes its options after `--`. npm keeps an option that
 * comes before `--` for itself (`npm start --port 4000` gives the script only `4000`), so a
 * command written without it fails when pasted.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/push-function';

const DOCUMENTS = [
  'README.md',
  'client/README.md',
  'server/README.md',
  ...readdirSync(join(REPO_ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

const SCRIPTS = new Set(
  Object.keys(
    (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: object }).scripts,
  ),
);

interface Command {
  /** Where it is written: `file:line`. */
  readonly at: string;
  /** As written, up to a shell comment, pipe or list operator. */
  readonly text: string;
}

/** The code of a document a reader may paste: the lines of its fences and its inline code spans. */
function codeOf(file: string): { line: number; code: string }[] {
  const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
  const code: { line: number; code: string }[] = [];
  let fenced = false;
  lines.forEach((text, index) => {
    if (text.startsWith('```')) fenced = !fenced;
    else if (fenced) code.push({ line: index + 1, code: text });
    else for (const span of text.matchAll(/`([^`]+)`/g)) code.push({ line: index + 1, code: span[1] ?? '' });
  });
  return code;
}

/** Every `npm start`, `npm test` and `npm run <script>` in the documents. */
function npmCommands(): Command[] {
  const commands: Command[] = [];
  for (const file of DOCUMENTS) {
    for (const { line, code } of codeOf(file)) {
      for (const match of code.matchAll(/\bnpm (?:start|test|run)\b[^#|;&)]*/g)) {
        commands.push({ at: `${file}:${line}`, text: match[0].trim() });
      }
    }
  }
  return commands;
}

/** The script a command runs, and the words after it. */
function parse(text: string): { script: string; args: string[] } {
  const words = text.split(/\s+/).slice(1);
  const verb = words.shift();
  if (verb !== 'run') return { script: verb ?? '', args: words };
  // npm's own options (`-s`) go between `run` and the script.
  while (words[0]?.startsWith('-')) words.shift();
  return { script: words.shift() ?? '', args: words };
}

describe('the npm commands in the READMEs and docs/', () => {
  const commands = npmCommands();

  it('are found: the quick start, the scripts table and the local-stack options are among them', () => {
    const texts = commands.map((command) => command.text);
    expect(texts).toContain('npm start');
    expect(texts).toContain('npm run token -- u1 --topics orders');
    expect(texts).toContain('npm start -- --port 4000');
    expect(commands.length).toBeGreaterThan(20);
  });

  it.each(commands.map((command) => [command.at, command.text]))(
    '%s: `%s` names a script of package.json',
    (_at, text) => {
      const { script } = parse(text);
      if (script !== 'start' && script !== 'test') expect(SCRIPTS).toContain(script);
    },
  );

  it.each(commands.map((command) => [command.at, command.text]))(
    '%s: `%s` passes its options after --, so npm hands them to the script',
    (_at, text) => {
      const { args } = parse(text);
      const end = args.indexOf('--');
      const beforeDashes = end === -1 ? args : args.slice(0, end);
      expect(beforeDashes.filter((word) => word.startsWith('-'))).toEqual([]);
    },
  );
});

/** The `--options` of a script's usage text (its `const USAGE = \`…\`` template), in order. */
function usageOptions(file: string): string[] {
  const source = readFileSync(join(REPO_ROOT, file), 'utf8');
  const usage = source.match(/const USAGE = `([\s\S]*?)`;/)?.[1];
  if (usage === undefined) throw new Error(`${file} has no USAGE`);
  return [...usage.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1] as string);
}

describe("the README's account of the local scripts' options", () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

  it("lists in npm start's options table every option of local/main.ts's usage, and --help", () => {
    const table = readme.slice(readme.indexOf('| option | what it does |'));
    const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2);
    const documented = rows.map((row) => row.match(/^\| `(--[a-z-]+)/)?.[1]);
    expect(documented).toEqual([...usageOptions('local/main.ts'), '--help']);
  });

  it("names every option of scripts/publish.ts's usage in the scripts table's publish row", () => {
    const row = readme.split('\n').find((line) => line.startsWith('| `npm run publish'));
    const named = new Set([...(row ?? '').matchAll(/--[a-z-]+/g)].map((m) => m[0]));
    // The target is one of these; the usage gives them on a line of their own.
    const usage = usageOptions('scripts/publish.ts');
    expect(usage).toEqual(expect.arrayContaining(['--data', '--id', '--url']));
    const options = [...usage, '--uid', '--uids', '--topic', '--all'];
    expect(options.filter((option) => !named.has(option))).toEqual([]);
  });
});
