/**
 * The commands a developer types: `npm start` (local/main.ts), `npm run token` and
 * `npm run publish`, run as child processes the way a shell runs them, with every AWS variable
 * removed from their environment and an empty HOME (so no ~/.aws either).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { STACK_MALLOC_ENV, STACK_V8_FLAGS, stackV8Flags } from '../../scripts/stack-process.mjs';
import { type ChildOutput, outputOf } from '../support/output';
import { within } from '../support/within';
import { alive, TestSocket } from './helpers';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Debian's AWS CLI v2 (`apt-get install -y awscli`); .ci/run installs it. */
const AWS_CLI = process.env.PUSH_AWS_CLI_PATH || '/usr/bin/aws';
/** In CI the banner's AWS CLI commands must be run, not skipped. */
const AWS_CLI_REQUIRED = process.env.CI === 'true';
const home = mkdtempSync(join(tmpdir(), 'push-home-'));
const children = new Set<ChildProcess>();

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

/** The parent's environment without a single AWS_* variable, and a HOME with no ~/.aws. */
function envWithoutAws(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('AWS_') && key !== 'DYNAMODB_ENDPOINT' && !key.startsWith('PUSH_')) env[key] = value;
  }
  return { ...env, HOME: home, USERPROFILE: home, ...extra };
}

function node(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function tsx(script: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return node(['--import', 'tsx', script, ...args], env);
}

/** Runs a script to completion. */
function run(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<ChildOutput> {
  return outputOf(tsx(script, args, env));
}

/** A running `npm start`, with everything it printed so far. */
interface Started {
  readonly child: ChildProcess;
  readonly port: number;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/**
 * Starts the stack as `npm start` does (scripts/start.mjs: local/main.ts from its compiled build,
 * built first when a source changed) and resolves once its banner is printed.
 */
function start(
  args: string[],
  env: NodeJS.ProcessEnv,
  launch: () => ChildProcess = () => node(['scripts/start.mjs', ...args], env),
): Promise<Started> {
  const child = launch();
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    // A first start builds and synthesizes before its banner.
    const timer = setTimeout(() => reject(new Error(`no banner within 60 s; stderr: ${stderr}`)), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk;
      const port = /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout)?.[1];
      if (port !== undefined && stdout.includes('Ctrl-C stops everything')) {
        clearTimeout(timer);
        resolve({ child, port: Number(port), stdout: () => stdout, stderr: () => stderr, exited });
      }
    });
    void exited.then((code) => reject(new Error(`exited with ${code} before ready; stderr: ${stderr}`)));
  });
}

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function openSocket(url: string): Promise<TestSocket> {
  const socket = new TestSocket(new WebSocket(url));
  await new Promise<void>((resolve, reject) => {
    socket.ws.once('open', () => resolve());
    socket.ws.once('error', reject);
  });
  return socket;
}

describe("the stack process's V8 flags", () => {
  it.each([
    ['', [...STACK_V8_FLAGS]],
    ['--max-old-space-size=4096 --enable-source-maps', [...STACK_V8_FLAGS]],
    ['--max-semi-space-size=32', []],
    ['--max_semi_space_size=32', []],
  ])('given %j, adds %j: a flag the user set is theirs', (given, expected) => {
    expect(stackV8Flags(given)).toEqual(expected);
  });
});

describe('npm start, npm run token and npm run publish', () => {
  it('work end to end with no AWS credentials anywhere, on the port PORT names, and stop cleanly on SIGTERM', async () => {
    const port = await freePort();
    const env = envWithoutAws({ PORT: String(port) });

    const stack = await start([], env);

    expect(stack.port).toBe(port);
    const banner = stack.stdout();
    expect(banner).toMatch(/push local stack ready in \d+ ms/);
    for (const endpoint of [
      `ws://127.0.0.1:${port}/local?token=<JWT>`,
      `POST http://127.0.0.1:${port}/publish`,
      `http://127.0.0.1:${port}/local/@connections/{connectionId}`,
      `GET http://127.0.0.1:${port}/dev/token?uid=u1&topics=orders`,
      'npx -y wscat -c',
      'new LambdaClient',
      'new SNSClient',
    ]) {
      expect(banner).toContain(endpoint);
    }

    const token = await run('scripts/token.ts', ['cli-u1', '--topics', 'orders'], env);
    expect(token).toMatchObject({ code: 0, stderr: '' });
    const socket = await openSocket(`ws://127.0.0.1:${port}/local?token=${token.stdout.trim()}`);
    expect(await socket.request({ action: 'subscribe', topic: 'orders' })).toEqual({
      type: 'subscribed',
      topic: 'orders',
    });

    const published = await run(
      'scripts/publish.ts',
      ['--uid', 'cli-u1', '--data', '{"orderId":42}', '--id', 'cli-1'],
      env,
    );

    expect(published.code).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ id: 'cli-1', connections: 1, delivered: 1 });
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'cli-1', data: { orderId: 42 } });

    stack.child.kill('SIGTERM');
    expect((await socket.waitForClose()).code).toBe(1001);
    expect(await stack.exited).toBe(0);
    expect(stack.stderr()).toContain('stopping signal=SIGTERM');
    expect(stack.stdout() + stack.stderr()).not.toMatch(/CredentialsProviderError|NodeVersionSupportWarning/);
    // The first start of a run may build and synthesize before its banner.
  }, 120_000);

  it.skipIf(!existsSync(AWS_CLI) && !AWS_CLI_REQUIRED)(
    'prints AWS CLI commands that work as pasted into a shell with no AWS setup, region included',
    async () => {
      expect(existsSync(AWS_CLI), `the AWS CLI at ${AWS_CLI}: apt-get install -y awscli`).toBe(true);
      const env = envWithoutAws();
      const stack = await start(['--port', '0', '--quiet'], env);
      // Each command is a line of fake credentials and both region variables, continued with `\`.
      const commands = [
        ...stack.stdout().matchAll(/^ {2}(AWS_ACCESS_KEY_ID=local [^\n]*\\\n(?:[^\n]*\\\n)*[^\n]*)$/gm),
      ].map((match) => match[1] as string);
      expect(commands.map((command) => /aws (\w+ [\w-]+)/.exec(command)?.[1])).toEqual([
        'lambda invoke',
        'sns publish',
        'dynamodb scan',
      ]);
      for (const command of commands) expect(command).toContain(' AWS_DEFAULT_REGION=us-east-1 ');
      const bin = join(home, 'aws-bin');
      mkdirSync(bin, { recursive: true });
      if (!existsSync(join(bin, 'aws'))) symlinkSync(AWS_CLI, join(bin, 'aws'));

      const results = [];
      for (const command of commands) {
        // The invoke's answer comes through a `>(…)` that may outlive bash: outputOf waits for it.
        results.push(
          await outputOf(spawn('bash', ['-c', command], { env: { ...env, PATH: `${bin}:${env.PATH}` } })),
        );
      }

      expect(results.map(({ code, stderr }) => ({ code, stderr }))).toEqual(
        commands.map(() => ({ code: 0, stderr: '' })),
      );
      const [invoke, publish, scan] = results.map(({ stdout }) => stdout);
      // The function's answer alone, on a line of its own: the CLI's own output went to /dev/null.
      expect(invoke).toMatch(
        /^\{"id":"[^"]+","connections":0,"delivered":0,"gone":0,"failed":0,"stored":1\}\n$/,
      );
      expect(JSON.parse(publish ?? '')).toEqual({ MessageId: expect.any(String) });
      expect(JSON.parse(scan ?? '')).toMatchObject({ Items: [], Count: 0 });
      stack.child.kill('SIGTERM');
      expect(await stack.exited).toBe(0);
    },
  );

  it("prints the handlers' WARN lines (which Powertools writes to stderr) on stdout with their other lines", async () => {
    const stack = await start(['--port', '0'], envWithoutAws({ POWERTOOLS_LOG_LEVEL: 'WARN' }));
    try {
      const warned = within(
        new Promise<void>((resolve) => {
          const seen = () => stack.stdout().includes('"message":"SNS message rejected"') && resolve();
          stack.child.stdout?.on('data', seen);
          seen();
        }),
        10_000,
        "the handler's WARN line on stdout",
      );
      // An SNS Publish whose message is no publish body: the publish function logs it as rejected.
      const form = new URLSearchParams({
        Action: 'Publish',
        TopicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
        Message: 'not a publish',
      });
      const answer = await fetch(`http://127.0.0.1:${stack.port}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      expect(answer.status).toBe(200);
      await warned;
      expect(stack.stdout()).toMatch(/^\{"level":"WARN","message":"SNS message rejected"/m);
      expect(stack.stderr()).not.toContain('SNS message rejected');
    } finally {
      stack.child.kill('SIGTERM');
      await stack.exited;
    }
  });

  it('goes on serving when the reader of its stdout goes away, as `npm start | head` does', async () => {
    const stack = await start(['--port', '0'], envWithoutAws({ POWERTOOLS_LOG_LEVEL: 'INFO' }));
    try {
      stack.child.stdout?.destroy();
      // Each publish logs a line to stdout: the pipe's writes now fail with EPIPE.
      for (let k = 0; k < 3; k++) {
        const answer = await fetch(`http://127.0.0.1:${stack.port}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ to: { uid: 'nobody' }, data: k }),
        });
        expect(answer.status).toBe(200);
      }
      const metrics = await fetch(`http://127.0.0.1:${stack.port}/metrics`);
      expect(metrics.status).toBe(200);
      expect(stack.child.exitCode).toBeNull();
    } finally {
      stack.child.kill('SIGTERM');
    }
    expect(await stack.exited).toBe(0);
    expect(stack.stderr()).not.toMatch(/EPIPE|Unhandled 'error' event/);
  });

  it('keeps DynamoDB on disk with --data, takes --port and --allow-origin, and stops on SIGINT', async () => {
    const dataDir = join(home, 'data');
    const env = envWithoutAws();

    const stack = await start(
      ['--port', '0', '--data', dataDir, '--allow-origin', 'HTTP://App.test:8080/', '--quiet'],
      env,
    );

    expect(stack.stdout()).toContain(`dynalite, on disk in ${dataDir}`);
    expect(existsSync(dataDir) && readdirSync(dataDir).length).toBeGreaterThan(0);
    const answer = await fetch(`http://127.0.0.1:${stack.port}/dev/token?uid=cli-origin`);
    const { token } = (await answer.json()) as { token: string };
    const handshake = (origin: string) =>
      within(
        new Promise<number>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${stack.port}/local?token=${token}`, { origin });
          ws.once('open', () => {
            ws.close();
            resolve(101);
          });
          ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
          ws.once('error', reject);
        }),
        5_000,
        `a handshake from ${origin}`,
      );
    expect(await handshake('http://app.test:8080')).toBe(101);
    expect(await handshake('http://evil.example')).toBe(403);
    stack.child.kill('SIGINT');
    expect(await stack.exited).toBe(0);
  });

  it('logs a promise rejection nobody handled as an error and goes on serving, where Node would end the process', async () => {
    const planted = join(ROOT, 'test', 'local', 'fixtures', 'reject-after-banner.mjs');
    const env = envWithoutAws({ NODE_OPTIONS: `--import ${pathToFileURL(planted).href}` });
    const stack = await start(['--port', '0', '--quiet'], env);
    await within(
      Promise.race([
        new Promise<void>((resolve) => {
          const seen = () => stack.stderr().includes('Error: planted rejection') && resolve();
          seen();
          stack.child.stderr?.on('data', seen);
        }),
        stack.exited.then((code) => {
          throw new Error(`the stack exited with ${code}: ${stack.stderr()}`);
        }),
      ]),
      30_000,
      'the rejection to be logged',
    );
    expect(stack.stderr()).toMatch(
      /error +unhandled promise rejection in the stack: on AWS it would end the environment that left it error="?Error: planted rejection/,
    );
    const metrics = await fetch(`http://127.0.0.1:${stack.port}/metrics`);
    expect(metrics.status).toBe(200);
    expect(stack.child.exitCode).toBe(null);
    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
  });

  it('runs DynamoDB in a process of its own, which ends with the stack, and stops the stack with exit 1 if it dies', async () => {
    const env = envWithoutAws();
    const dynalitePid = (started: Started) => {
      const pid = Number(/\(dynalite, in memory, process (\d+);/.exec(started.stdout())?.[1]);
      if (!Number.isInteger(pid)) throw new Error(`no dynalite process in the banner: ${started.stdout()}`);
      return pid;
    };

    const stopped = await start(['--port', '0'], env);
    const first = dynalitePid(stopped);
    expect(alive(first)).toBe(true);
    stopped.child.kill('SIGTERM');
    expect(await stopped.exited).toBe(0);
    expect(alive(first)).toBe(false);

    const stack = await start(['--port', '0'], env);
    const token = (await (await fetch(`http://127.0.0.1:${stack.port}/dev/token?uid=u1`)).json()) as {
      token: string;
    };
    const socket = await openSocket(`ws://127.0.0.1:${stack.port}/local?token=${token.token}`);
    process.kill(dynalitePid(stack), 'SIGKILL');
    // The stack stops as on Ctrl-C (every socket closed with 1001), then exits 1 saying why.
    expect((await socket.closed).code).toBe(1001);
    expect(await stack.exited).toBe(1);
    expect(stack.stderr()).toMatch(/DynamoDB ended: dynalite's process \(pid \d+\) ended: signal SIGKILL/);
  });

  it.runIf(process.platform === 'linux')(
    'runs the stack in a child process with the malloc settings, V8 flags and compile cache, which stops when npm start is killed outright',
    async () => {
      const env = envWithoutAws();
      delete env.NODE_COMPILE_CACHE;
      const stack = await start(['--port', '0', '--quiet'], env);
      const [stackPid] = readFileSync(`/proc/${stack.child.pid}/task/${stack.child.pid}/children`, 'utf8')
        .trim()
        .split(' ')
        .map(Number);
      const environment = readFileSync(`/proc/${stackPid}/environ`, 'utf8').split('\0');
      expect(environment).toEqual(
        expect.arrayContaining(Object.entries(STACK_MALLOC_ENV).map(([name, value]) => `${name}=${value}`)),
      );
      // Node's compile cache (22.1 and later) for the stack's process and the processes it starts.
      expect(environment).toContain(
        `NODE_COMPILE_CACHE=${join(ROOT, 'node_modules', '.cache', 'apigw-push', 'compile')}`,
      );
      const flags = readFileSync(`/proc/${stackPid}/cmdline`, 'utf8').split('\0');
      expect(flags).toEqual(expect.arrayContaining([...STACK_V8_FLAGS]));
      const token = (await (await fetch(`http://127.0.0.1:${stack.port}/dev/token?uid=u1`)).json()) as {
        token: string;
      };
      const socket = await openSocket(`ws://127.0.0.1:${stack.port}/local?token=${token.token}`);
      stack.child.kill('SIGKILL');
      // The stack saw its supervisor go and stopped as on Ctrl-C: every socket closed with 1001.
      expect((await socket.closed).code).toBe(1001);
      expect(await stack.exited).toBeNull();
    },
  );

  it.runIf(process.platform === 'linux')(
    'stops the stack when npm alone is sent SIGTERM, though the shell it runs the script in does not pass it on',
    async () => {
      const env = envWithoutAws();
      const stack = await start([], env, () => {
        const npm = spawn('npm', ['start', '--silent', '--', '--port', '0', '--quiet'], { cwd: ROOT, env });
        children.add(npm);
        npm.on('exit', () => children.delete(npm));
        return npm;
      });
      const token = (await (await fetch(`http://127.0.0.1:${stack.port}/dev/token?uid=u1`)).json()) as {
        token: string;
      };
      const socket = await openSocket(`ws://127.0.0.1:${stack.port}/local?token=${token.token}`);
      // Every process under npm writes to the stdout pipe it was given: its end means all are gone.
      const output = stack.child.stdout;
      if (output === null) throw new Error('npm start was spawned without a stdout pipe');
      const allGone = once(output, 'end');
      stack.child.kill('SIGTERM');
      // The stack stopped as on Ctrl-C: every socket closed with 1001, then every process exited.
      expect((await within(socket.closed, 20_000, 'the stack to close its sockets')).code).toBe(1001);
      await within(allGone, 20_000, 'every process of npm start to exit');
      await expect(fetch(`http://127.0.0.1:${stack.port}/dev/token?uid=u1`)).rejects.toThrow();
    },
  );

  it('points the banner to npm run token, not /dev/token, when started with its own PUSH_TOKEN_SECRET', async () => {
    const env = envWithoutAws({ PUSH_TOKEN_SECRET: 'cli-own-secret-0123456789abcdef0123456789' });
    const stack = await start(['--port', '0', '--quiet'], env);

    const banner = stack.stdout();
    expect(banner).not.toContain('/dev/token');
    expect(banner).toContain(
      'signed with your PUSH_TOKEN_SECRET: export it, then npm run -s token -- u1 --topics orders',
    );
    // What the banner says works: npm run token with the same secret in its environment.
    const token = await run('scripts/token.ts', ['cli-own', '--topics', 'orders'], env);
    const socket = await openSocket(`ws://127.0.0.1:${stack.port}/local?token=${token.stdout.trim()}`);
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });

    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
  });

  it("npm run token's usage names the variables it signs with, which a stack started with them needs", async () => {
    const result = await run('scripts/token.ts', ['--help'], envWithoutAws());

    expect(result.code).toBe(0);
    for (const name of ['PUSH_TOKEN_SECRET', 'PUSH_TOKEN_AUDIENCE']) expect(result.stdout).toContain(name);
  });

  it("prints a token command that carries the stack's PUSH_TOKEN_AUDIENCE, so it works pasted into another shell", async () => {
    // As `PUSH_TOKEN_AUDIENCE=cli-audience npm start`: the shell the commands are pasted into has none.
    const stack = await start(
      ['--port', '0', '--quiet'],
      envWithoutAws({ PUSH_TOKEN_AUDIENCE: 'cli-audience' }),
    );
    try {
      const command = /wscat -c "[^"]*\?token=\$\(([^)]*)\)"/.exec(stack.stdout())?.[1];
      expect(command).toBe('PUSH_TOKEN_AUDIENCE=cli-audience npm run -s token -- u1 --topics orders');
      const token = await outputOf(
        spawn('bash', ['-c', command as string], { cwd: ROOT, env: envWithoutAws() }),
      );
      expect(token.code).toBe(0);
      const socket = await openSocket(`ws://127.0.0.1:${stack.port}/local?token=${token.stdout.trim()}`);
      expect(await socket.request({ action: 'subscribe', topic: 'orders' })).toEqual({
        type: 'subscribed',
        topic: 'orders',
      });
      socket.ws.close();
    } finally {
      stack.child.kill('SIGTERM');
      await stack.exited;
    }
  });

  it('runs the shard worker in child processes from the compiled build with --worker-processes', async () => {
    const env = envWithoutAws();
    const stack = await start(['--port', '0', '--quiet', '--worker-processes', '2'], env);
    // The banner says where the workers run, and that the rest did not move.
    expect(stack.stdout()).toMatch(
      /\n {2}Functions +worker in 2 child processes \(pids \d+, \d+\); the other functions in this process\n/,
    );
    const token = await run('scripts/token.ts', ['cli-w1', '--topics', 'orders'], env);
    const socket = await openSocket(`ws://127.0.0.1:${stack.port}/local?token=${token.stdout.trim()}`);
    expect(await socket.request({ action: 'subscribe', topic: 'orders' })).toEqual({
      type: 'subscribed',
      topic: 'orders',
    });

    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
    expect(stack.stderr()).not.toMatch(/tsx|ERR_UNKNOWN_FILE_EXTENSION/);
  });

  it("takes exactly the options the README's table documents, as --help lists them", async () => {
    const help = await run('local/main.ts', ['--help'], envWithoutAws());
    expect(help.code).toBe(0);
    const flags = (text: string) => [...new Set(text.match(/--[a-z][a-z-]+/g))].sort();
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const table = readme.slice(
      readme.indexOf('| option | what it does |'),
      readme.indexOf('\n\n', readme.indexOf('| option | what it does |')),
    );
    const documented = flags(
      table
        .split('\n')
        .map((row) => row.split(' | ')[0] ?? '')
        .join(' '),
    );
    const usage = help.stdout.slice(0, help.stdout.indexOf('\n\n', help.stdout.indexOf('--port N ')));
    // --help prints the usage, which need not name itself.
    expect(documented).toEqual([...flags(usage), '--help'].sort());
    expect(documented).toContain('--allow-origin');
  });

  it('refuses unknown arguments with exit code 2 and the usage', async () => {
    const result = await run('local/main.ts', ['--bogus'], envWithoutAws());

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage: npm start');
    // Every variable it reads is named, not only the flags.
    for (const name of [
      'PUSH_TOKEN_AUDIENCE',
      'PUSH_TOKEN_SECRET',
      'PUSH_CONNECTIONS_TABLE',
      'DYNAMODB_ENDPOINT',
    ])
      expect(result.stderr).toContain(name);
  });

  it('says to put the options after -- when npm start kept them for npm, as `npm start --port N` does', async () => {
    // npm reads an option before `--` as its own setting and passes the script only its value.
    const child = spawn('npm', ['start', '--port', '4123'], { cwd: ROOT, env: envWithoutAws() });
    children.add(child);
    const result = await outputOf(child);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Unexpected argument '4123'");
    expect(result.stderr).toContain('npm kept --port for itself');
    expect(result.stderr).toContain('npm start -- --port 4123');
    expect(result.stderr).toContain('usage: npm start --');
  });

  it('names every option npm kept, when it kept several', async () => {
    const result = await run(
      'local/main.ts',
      ['4123', '.data'],
      envWithoutAws({ npm_config_port: 'true', npm_config_data: 'true' }),
    );

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('npm kept --port, --data for itself');
    expect(result.stderr).toContain('npm start -- --port … --data …');
  });

  it('refuses a --worker-processes that is not a positive integer with exit code 2', async () => {
    const result = await run('local/main.ts', ['--worker-processes', '0'], envWithoutAws());

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--worker-processes must be a positive integer, got "0"');
    expect(result.stderr).toContain('usage: npm start');
  });

  it.each(['bad/stage', 'a b', 'x'.repeat(129)])(
    'refuses --stage %s, which API Gateway would not take, with exit code 2 and the usage, not a stack trace',
    async (stage) => {
      const result = await run('local/main.ts', ['--stage', stage], envWithoutAws());

      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `--stage NAME must be 1-128 of [A-Za-z0-9_-], got ${JSON.stringify(stage)}`,
      );
      expect(result.stderr).toContain('usage: npm start');
      expect(result.stderr).not.toMatch(/^\s+at /m);
    },
  );

  it.each(['app.test:8080', 'http://app.test/page', 'http://app.test:8080?x=1', 'http://user@app.test'])(
    'refuses --allow-origin %s, which no browser sends as an Origin, with exit code 2',
    async (origin) => {
      const result = await run('local/main.ts', ['--allow-origin', origin], envWithoutAws());

      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `--allow-origin takes an origin such as http://app.test:8080 (or null), got "${origin}"`,
      );
    },
  );

  it('makes npm run publish exit 1 with the error body when the publish is refused', async () => {
    const stack = await start(['--port', '0', '--quiet'], envWithoutAws());

    const result = await run(
      'scripts/publish.ts',
      ['--url', `http://127.0.0.1:${stack.port}`, '--topic', 'no spaces allowed', '--data', '1'],
      envWithoutAws(),
    );

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('"code":"bad_request"');
    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
  });
});
