/**
 * docs/deploy.md's TypeScript examples (minting tokens, invoking and publishing with the raw SDK,
 * the custom domain, a backend in another CDK stack) typecheck, strict, against this repository's
 * own packages and `infra/`: they need AWS to run, so the compiler is what keeps them true. What
 * each example leaves to the reader's app (the stack object, a certificate ARN, the page's
 * functions) is declared beside them, as the README's examples get in test/packages. The browser
 * example, which needs no AWS, also runs against a local stack.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { transform } from 'esbuild';
import { afterAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { REPO_ROOT } from '../../infra/push-function';
import { publishOk, startTestStack, tokenFor, WAIT_MS } from '../local/helpers';
import { within } from '../support/within';

const run = promisify(execFile);

/** The `ts` fences of a document, each with the line of its opening fence. */
function examples(file: string, under?: string): { line: number; code: string }[] {
  const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
  const found: { line: number; code: string }[] = [];
  let i = 0;
  if (under !== undefined) {
    i = lines.indexOf(under);
    if (i === -1) throw new Error(`${file} has no line ${under}`);
  }
  for (; i < lines.length; i++) {
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

it("docs/deploy.md's browser example shows each message of a packed replay and a live push", async () => {
  const [example] = examples('docs/deploy.md', '## Connecting from a browser');
  if (example === undefined) throw new Error('docs/deploy.md has no browser example');
  const { code } = await transform(example.code, { loader: 'ts' });
  const stack = await startTestStack();
  const sockets: WebSocket[] = [];
  try {
    // Two messages logged before the page connects: its resume replays them in one frame.
    await publishOk(stack, { to: { uid: 'u1' }, data: { orderId: 1 }, id: 'order-1' });
    await publishOk(stack, { to: { uid: 'u1' }, data: { orderId: 2 }, id: 'order-2' });
    const token = await tokenFor(stack, 'u1');
    const frames: unknown[] = [];
    const shown: unknown[] = [];
    let changed = () => {};
    const until = (done: () => boolean, what: string) =>
      within(
        new Promise<void>((resolve) => {
          changed = () => done() && resolve();
          changed();
        }),
        WAIT_MS,
        what,
      );
    // What the example leaves to the page: the app's token route, the API's URL, the notification.
    class PageWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
        this.on('message', (data: Buffer) => {
          frames.push(JSON.parse(data.toString('utf8')));
          changed();
        });
      }
    }
    const page = {
      fetch: async (path: string) => {
        expect(path).toBe('/push-token');
        return { json: async () => ({ token }) };
      },
      WebSocket: PageWebSocket,
      WEBSOCKET_URL: stack.wsUrl,
      showNotification: (data: unknown) => {
        shown.push(data);
        changed();
      },
    };
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
      ...args: string[]
    ) => (...values: unknown[]) => Promise<void>;
    await new AsyncFunction(...Object.keys(page), code)(...Object.values(page));

    await until(() => shown.length === 2 && frames.length === 2, 'the replay and its resumed');
    expect(shown).toEqual([{ orderId: 1 }, { orderId: 2 }]);
    expect(frames).toEqual([
      {
        type: 'messages',
        messages: [
          expect.objectContaining({ type: 'message', id: 'order-1', seq: 1, data: { orderId: 1 } }),
          expect.objectContaining({ type: 'message', id: 'order-2', seq: 2, data: { orderId: 2 } }),
        ],
      },
      expect.objectContaining({ type: 'resumed', seq: 2 }),
    ]);

    await publishOk(stack, { to: { uid: 'u1' }, data: { orderId: 3 }, id: 'order-3' });
    await until(() => shown.length === 3, 'the live message to be shown');
    expect(shown).toEqual([{ orderId: 1 }, { orderId: 2 }, { orderId: 3 }]);
    expect(frames.at(-1)).toEqual(expect.objectContaining({ type: 'message', id: 'order-3', seq: 3 }));
  } finally {
    for (const socket of sockets) socket.close();
    await stack.stop();
  }
});
