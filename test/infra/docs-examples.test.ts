/**
 * docs/deploy.md's TypeScript examples (minting tokens, invoking and publishing with the raw SDK,
 * the custom domain, a backend in another CDK stack) typecheck, strict, against this repository's
 * own packages and `infra/`: they need AWS to run, so the compiler is what keeps them true. What
 * each example leaves to the reader's app (the stack object, a certificate ARN, the page's
 * functions) is declared beside them, as the README's examples get in test/packages.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/push-function';

const run = promisify(execFile);

/** The `ts` fences of a document, each with the line of its opening fence. */
function examples(file: string): { line: number; code: string }[] {
  const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
  const found: { line: number; code: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    const end = lines.indexOf('```', i + 1);
    found.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return found;
}

// Under the repository, so the examples resolve its node_modules as an app beside it would.
const CACHE = join(REPO_ROOT, 'node_modules', '.cache', 'apigw-push');
mkdirSync(CACHE, { recursive: true });
const dir = mkdtempSync(join(CACHE, 'docs-examples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('docs/deploy.md’s TypeScript examples typecheck, strict, against the repository', async () => {
  const found = examples('docs/deploy.md');
  expect(found.length).toBeGreaterThanOrEqual(5);
  const infra = relative(dir, join(REPO_ROOT, 'infra')).replaceAll('\\', '/');
  for (const { line, code } of found) {
    // The CDK example is written from the repository's root; each example is a module of its own.
    const source = code.replaceAll("from './infra/", `from '${infra}/`);
    writeFileSync(join(dir, `deploy-${line}.ts`), `${source}\nexport {};\n`);
  }
  writeFileSync(
    join(dir, 'globals.d.ts'),
    [
      `declare const push: import('${infra}/push-stack').PushStack;`,
      'declare const certificateArnInTheApisRegion: string;',
      'declare const WEBSOCKET_URL: string;',
      'declare function showNotification(data: unknown): void;',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    // The repository's exclusions would drop this folder, being under node_modules.
    JSON.stringify({
      extends: relative(dir, join(REPO_ROOT, 'tsconfig.json')),
      include: ['*.ts'],
      exclude: [],
    }),
  );
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir }).then(
    () => '',
    (error: { stdout?: string }) => error.stdout ?? String(error),
  );
  expect(result).toBe('');
}, 120_000);

it("docs/deploy.md's raw SDK publishes carry an id, so the SDK's retry of a lost answer is one publish", () => {
  const bodies = examples('docs/deploy.md')
    .map(({ code }) => code)
    .filter((code) => /new (InvokeCommand|PublishCommand)\(/.test(code))
    .flatMap((code) =>
      [...code.matchAll(/(?:Payload|Message): JSON\.stringify\((\{.*\})\)/g)].map((m) => m[1]),
    );
  expect(bodies.length).toBeGreaterThanOrEqual(2);
  for (const body of bodies) expect(body).toMatch(/\bid: '[^']+'/);
});
