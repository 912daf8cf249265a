import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build, transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { CLIENT_BUDGET_BYTES } from '../../scripts/client-size';
import { eventOf, nextInvocation, startTestStack } from '../local/helpers';
import { installProject, node, type Packed, pack, ROOT } from './pack';

const FIXTURES = join(ROOT, 'test', 'packages', 'fixtures');
/** What an app needs beside the packages, linked from this repository as its own install would be. */
const PEERS = ['ws', '@aws-sdk/client-lambda', '@aws-sdk/client-sns'];
const TYPES = ['typescript', '@types/node', '@types/ws'];

let dir: string;
let stack: LocalStack;
let client: Packed;
let server: Packed;
let app: string;
let commonjsApp: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'apigw-push-packages-'));
  [stack, client, server] = await Promise.all([startTestStack(), pack('client', dir), pack('server', dir)]);
  app = join(dir, 'app');
  commonjsApp = join(dir, 'commonjs-app');
  const tarballs = [client.tarball, server.tarball];
  await Promise.all([
    installProject(app, tarballs, [...PEERS, ...TYPES]),
    installProject(commonjsApp, tarballs, ['ws', ...TYPES], 'commonjs'),
  ]);
  for (const file of ['node-esm.mjs', 'typescript.ts', 'tsconfig.json', 'browser.js', 'run-bundle.mjs']) {
    copyFileSync(join(FIXTURES, file), join(app, file));
  }
  copyFileSync(join(FIXTURES, 'commonjs.ts'), join(commonjsApp, 'commonjs.ts'));
  copyFileSync(join(FIXTURES, 'tsconfig.commonjs.json'), join(commonjsApp, 'tsconfig.json'));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** The TypeScript examples of a README (the project's by default), each with the line of its opening fence. */
function readmeExamples(readme = 'README.md'): { line: number; code: string }[] {
  const lines = readFileSync(join(ROOT, readme), 'utf8').split('\n');
  const examples: { line: number; code: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    const end = lines.indexOf('```', i + 1);
    examples.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return examples;
}

/** The last line a fixture printed, parsed. */
function result(stdout: string): unknown {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null');
}

/** What the server README's local-stack example prints: token.length, then a publish stored for later. */
const STORED_ONCE = /^\d+ \{\n\s+id: '[\w-]+',\n\s+connections: 0,[\s\S]*stored: 1\n\}\n$/;

/** The server README's local-stack example as JavaScript, pointed at this stack instead of port 3000. */
async function serverLocalExample(): Promise<string> {
  const example = readmeExamples(join('server', 'README.md')).find(({ code }) =>
    code.includes('DEV_TOKEN_SECRET'),
  );
  if (example === undefined) throw new Error('the server README has no local-stack example');
  expect(example.code).toContain("'http://127.0.0.1:3000'");
  const { code } = await transform(example.code.replaceAll('http://127.0.0.1:3000', stack.httpUrl), {
    loader: 'ts',
    format: 'esm',
  });
  return code;
}

describe('the packed packages', () => {
  it.each([
    ['client', () => client],
    ['server', () => server],
  ])('%s ships its build, package.json, README and LICENSE only: no sources, no tests', (_name, packed) => {
    const { files } = packed();
    expect(files).toContain('package/package.json');
    expect(files).toContain('package/README.md');
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.d.ts');
    for (const file of files) {
      expect(file).toMatch(/^package\/(package\.json|README\.md|LICENSE|dist\/.+\.(js|d\.ts))$/);
      expect(file).not.toMatch(/test|testing|fixture|\.ts\.map$/);
    }
  });

  it('server ships the handlers’ wire types as declarations, and none of their code', () => {
    const vendored = server.files.filter((file) => file.startsWith('package/dist/lambdas/'));
    expect(vendored).toContain('package/dist/lambdas/shared/errors.d.ts');
    for (const file of vendored) expect(file).toMatch(/\.d\.ts$/);
  });

  it('work in a plain Node ESM app: a push published through Lambda Invoke arrives', async () => {
    const out = await node(app, ['node-esm.mjs', stack.wsUrl, stack.httpUrl, 'esm-user']);
    expect(result(out)).toEqual({
      message: { id: 'node-esm-1', data: { from: 'node-esm' } },
      refused: { instance: true, name: 'PushApiError', code: 'bad_request' },
    });
  });

  it('typecheck under module NodeNext without skipLibCheck, and run: publish, presence, kick', async () => {
    await node(app, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
    const out = await node(app, ['out/typescript.js', stack.wsUrl, stack.httpUrl, 'ts-user']);
    expect(result(out)).toEqual({ orderId: 42, delivered: 1, online: true, closed: 1, kicked: 'bye' });
  });

  it('server: its types need no DOM or Node typings (lib es2022, no types, skipLibCheck off)', async () => {
    const folder = join(app, 'bare-types');
    mkdirSync(folder, { recursive: true });
    writeFileSync(
      join(folder, 'publish.ts'),
      [
        "import { httpPublisher, type FetchLike, lambdaPublisher } from '@apigw-push/server';",
        "const fetchLike: FetchLike = async () => ({ status: 200, ok: true, text: async () => '{}' });",
        "export const local = httpPublisher({ url: 'http://127.0.0.1:3000', fetch: fetchLike });",
        "export const deployed = lambdaPublisher({ functionName: 'push-publish' });",
        '',
      ].join('\n'),
    );
    const config = {
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['es2022'],
        types: [],
        skipLibCheck: false,
        noEmit: true,
      },
      files: ['bare-types/publish.ts'],
    };
    writeFileSync(join(app, 'tsconfig.bare-types.json'), JSON.stringify(config));
    await node(app, [
      join(app, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.bare-types.json',
    ]);
  });

  it('typecheck and run in a CommonJS app: require() loads both packages, and a push arrives', async () => {
    await node(commonjsApp, [
      join(commonjsApp, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.json',
    ]);
    // tsc compiled the app to CommonJS, so the run below goes through require(), not import.
    const compiled = readFileSync(join(commonjsApp, 'out', 'commonjs.js'), 'utf8');
    expect(compiled).toContain('require("@apigw-push/client")');
    expect(compiled).toContain('require("@apigw-push/server")');
    const out = await node(commonjsApp, ['out/commonjs.js', stack.wsUrl, stack.httpUrl, 'commonjs-user']);
    expect(result(out)).toEqual({
      message: { id: 'cjs-1', data: { from: 'commonjs' } },
      refused: 'bad_request',
    });
  });

  it('take the README’s TypeScript examples as written: they typecheck, strict, against the packed types', async () => {
    const examples = readmeExamples();
    expect(examples.length).toBeGreaterThanOrEqual(5);
    mkdirSync(join(app, 'readme'), { recursive: true });
    // Each as a file of its own, as a reader pastes it: line n of fence-<f>.ts is line f + n of
    // the README in tsc's errors.
    for (const { line, code } of examples)
      writeFileSync(join(app, 'readme', `fence-${line}.ts`), `${code}\n`);
    for (const file of ['readme-globals.d.ts', 'tsconfig.readme.json'])
      copyFileSync(join(FIXTURES, file), join(app, file));
    await node(app, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.readme.json']);
  });

  it.each(['client', 'server'])(
    'take the %s package README’s examples as written: they typecheck, strict, against the packed types',
    async (name) => {
      const examples = readmeExamples(join(name, 'README.md'));
      expect(examples.length).toBeGreaterThanOrEqual(1);
      const folder = join(app, `readme-${name}`);
      mkdirSync(folder, { recursive: true });
      for (const { line, code } of examples) writeFileSync(join(folder, `fence-${line}.ts`), `${code}\n`);
      const config = JSON.parse(readFileSync(join(FIXTURES, 'tsconfig.readme.json'), 'utf8')) as object;
      writeFileSync(
        join(app, `tsconfig.readme-${name}.json`),
        JSON.stringify({ ...config, include: ['readme-globals.d.ts', `readme-${name}/*.ts`] }),
      );
      copyFileSync(join(FIXTURES, 'readme-globals.d.ts'), join(app, 'readme-globals.d.ts'));
      await node(app, [
        join(app, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        `tsconfig.readme-${name}.json`,
      ]);
    },
  );

  it('run the server package README’s local-stack example as written: it signs and publishes with no AWS SDK', async () => {
    writeFileSync(join(app, 'readme-server-local.mjs'), await serverLocalExample());
    const out = await node(app, ['readme-server-local.mjs']);
    expect(out).toMatch(STORED_ONCE);
  });

  it('bundle a backend as the server README says (AWS SDK external), and the bundle runs with nothing installed', async () => {
    writeFileSync(join(app, 'backend.mjs'), await serverLocalExample());
    // Outside the app, with no node_modules on the way up: nothing but the bundle itself.
    const alone = mkdtempSync(join(dir, '..', 'apigw-push-bundled-backend-'));
    try {
      for (let up = alone; up !== dirname(up); up = dirname(up)) {
        expect(existsSync(join(up, 'node_modules')), `${up}/node_modules`).toBe(false);
      }
      const bundled = await build({
        absWorkingDir: app,
        entryPoints: ['backend.mjs'],
        bundle: true,
        format: 'esm',
        platform: 'node',
        external: ['@aws-sdk/*'],
        outfile: join(alone, 'backend.mjs'),
        metafile: true,
        logLevel: 'silent',
      });
      const inputs = Object.keys(bundled.metafile.inputs);
      expect(inputs.some((input) => input.startsWith('node_modules/@apigw-push/server/dist/'))).toBe(true);
      expect(inputs.filter((input) => input.includes('@aws-sdk'))).toEqual([]);
      expect(await node(alone, ['backend.mjs'])).toMatch(STORED_ONCE);
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  });

  it('run the README’s browser example as a page, then as its reload: the order published while it was closed arrives', async () => {
    const example = readmeExamples().find(({ code }) => code.includes("localStorage.getItem('push-seq')"));
    if (example === undefined) throw new Error('the README has no browser example keeping push-seq');
    // It has no type annotations: as written, it is the page's JavaScript.
    writeFileSync(join(app, 'readme-page.mjs'), example.code);
    copyFileSync(join(FIXTURES, 'run-readme-page.mjs'), join(app, 'run-readme-page.mjs'));
    const storage = join(app, 'readme-page-storage.json');
    const page = (...args: string[]) =>
      node(app, ['run-readme-page.mjs', stack.wsUrl, stack.httpUrl, 'readme-page-user', storage, ...args]);

    // The first visit: an order on the topic arrives before any message to the user itself. The
    // page's process ends with it; its connection is gone once the stack has run its $disconnect.
    const closed = nextInvocation(
      stack,
      'disconnect',
      (record) => eventOf(record).requestContext.authorizer?.principalId === 'readme-page-user',
      60_000,
    );
    expect(result(await page('1', '{"orderId":1}'))).toMatchObject({
      shown: [{ orderId: 1 }],
      gaps: 0,
      errors: [],
    });

    // The page is closed; an order to its user waits in the user's log.
    await closed;
    const response = await fetch(`${stack.httpUrl}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: { uid: 'readme-page-user' }, data: { orderId: 2 } }),
    });
    expect(await response.json()).toMatchObject({ stored: 1 });

    // The reload starts from what the page stored, and shows that order.
    expect(result(await page('1'))).toMatchObject({ shown: [{ orderId: 2 }], gaps: 0, errors: [] });
  });

  it('bundle for the browser within the size budget, and the bundle receives a push sent through SNS', async () => {
    const bundled = await build({
      absWorkingDir: app,
      entryPoints: ['browser.js'],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      outfile: join(app, 'out', 'browser.js'),
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(bundled.metafile.inputs);
    expect(inputs.some((input) => input.startsWith('node_modules/@apigw-push/client/dist/'))).toBe(true);
    const bytes = readFileSync(join(app, 'out', 'browser.js'));
    expect(gzipSync(bytes, { level: 9 }).byteLength).toBeLessThanOrEqual(CLIENT_BUDGET_BYTES);

    const out = await node(app, ['run-bundle.mjs', stack.wsUrl, stack.httpUrl, 'bundle-user']);
    const { message, receipt } = result(out) as { message: unknown; receipt: { messageId: string } };
    expect(message).toEqual({ id: 'bundle-1', data: 'from the bundle' });
    expect(receipt.messageId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
