/**
 * `npm start`: runs the local push stack until Ctrl-C.
 *
 *   npm start -- [--port N] [--host H] [--data DIR] [--stage NAME] [--worker-processes N]
 *                [--allow-origin ORIGIN]... [--quiet]
 *
 * What runs is the CDK app's synthesized template (cached; the first start after a change under
 * infra/ synthesizes it). PORT, DYNAMODB_ENDPOINT, PUSH_TOKEN_SECRET and PUSH_<TABLE>_TABLE are
 * read from the environment; PUSH_TOKEN_AUDIENCE, PUSH_TOPIC_HISTORY (default: the demo's topics)
 * and the sharding settings (PUSH_SHARD_THRESHOLD, PUSH_RATE_BUDGET, PUSH_WORKER_CONCURRENCY) are
 * passed to the CDK app as props. Exit codes: 0 after a clean stop, 1 when startup fails, 2 for
 * bad arguments. The functions initialize in the background once the stack is ready, as a fresh
 * deployment's cold starts come with their first invocations: one that fails to import is logged,
 * and its invocations fail with that error.
 */
import { parseArgs } from 'node:util';
import { STAGE_PATTERN, STAGE_RULE } from '../lambdas/shared/deployment';
import { ENV } from '../lambdas/shared/env';
import { TABLES } from '../lambdas/shared/tables';
import { onParentGone, SUPERVISED_ENV } from '../scripts/stack-process.mjs';
import { DEMO_TOPIC_HISTORY } from './demo-topics';
import { startDynaliteProcess } from './dynalite';
import { consoleLogger } from './logger';
import type { LocalStack } from './stack';
import { stackTables, tableInputs, ttlAttributes } from './table-input';

const USAGE = `usage: npm start -- [--port N] [--host HOST] [--data DIR] [--stage NAME]
                    [--worker-processes N] [--allow-origin ORIGIN]... [--quiet]

  --port N      port for every endpoint (default: $PORT, else 3000; 0 picks a free one)
  --host HOST   interface to bind (default 127.0.0.1)
  --data DIR    keep DynamoDB data in DIR (default: in memory)
  --stage NAME  stage in the WebSocket and Management API paths (default local)
  --worker-processes N
                run the shard workers' environments in N child processes instead of
                this one, so big fan-outs use every core (default: in this process);
                one environment each at most, so never more than PUSH_WORKER_CONCURRENCY
  --allow-origin ORIGIN
                let pages on ORIGIN (e.g. http://app.test:8080, or null for file: pages)
                open WebSocket connections; pages on localhost, 127.0.0.1 and [::1]
                always may, others are refused (403); repeat for more
  --quiet       log warnings and errors only

The stack runs the CDK app's template: the first start after a change under infra/ synthesizes it
(a few seconds), later starts read it from node_modules/.cache/apigw-push/.
Set DYNAMODB_ENDPOINT to use another DynamoDB (DynamoDB Local, a real table) instead of dynalite.
PUSH_SHARD_THRESHOLD, PUSH_RATE_BUDGET and PUSH_WORKER_CONCURRENCY set the sharded fan-out (as CDK props).
PUSH_TOPIC_HISTORY lists the topics that keep history (default: ${DEMO_TOPIC_HISTORY.join(',')}, the demo's).
${ENV.tokenAudience} makes every token need that aud (as the tokenAudience prop).
${ENV.tokenSecret} signs and checks tokens instead of the public dev secret, and turns off /dev/token.
${TABLES.map((table) => table.envName).join(', ')} name the tables.`;

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 3000;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    fail(`invalid port ${JSON.stringify(raw)}\n\n${USAGE}`, 2);
  return port;
}

/** A positive integer argument; exits 2 on anything else. */
function positiveArg(flag: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    fail(`${flag} must be a positive integer, got ${JSON.stringify(raw)}\n\n${USAGE}`, 2);
  return value;
}

/** A `--stage` value API Gateway would take; exits 2 on anything else, before anything starts. */
function stageArg(raw: string): string {
  if (!STAGE_PATTERN.test(raw)) fail(`--stage NAME ${STAGE_RULE}, got ${JSON.stringify(raw)}\n\n${USAGE}`, 2);
  return raw;
}

/**
 * An `--allow-origin` value as a browser sends it in `Origin`: `null`, or a URL's scheme, host and
 * port (`http://App.test:80/` is `http://app.test`). Exits 2 on anything else (a path, a query, no
 * scheme), which would never match and leave the page refused unseen.
 */
function originArg(raw: string): string {
  if (raw === 'null') return raw;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {}
  const bare = url !== undefined && url.pathname === '/' && url.search === '' && url.hash === '';
  const origin = url?.origin;
  if (!bare || origin === undefined || origin === 'null' || url?.username !== '' || url?.password !== '')
    fail(
      `--allow-origin takes an origin such as http://app.test:8080 (or null), got ${JSON.stringify(raw)}\n\n${USAGE}`,
      2,
    );
  return origin;
}

/** A positive integer from the environment, as the handlers read it; exits 2 on anything else. */
function envInteger(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    fail(`${name} must be a positive integer, got ${JSON.stringify(raw)}`, 2);
  return value;
}

/** The options that take a value, which npm keeps for itself when they come before `--`. */
const VALUE_OPTIONS = ['port', 'host', 'data', 'stage', 'worker-processes', 'allow-origin'] as const;

/**
 * What to say when `npm start --port 4000` was typed without the `--`: npm reads `--port` as a
 * setting of its own (it sets `npm_config_port` in the script's environment) and passes on only
 * the value, which then looks like a stray argument. Empty when npm kept none of our options.
 */
function npmKeptOptions(positionals: readonly string[]): string {
  const kept = VALUE_OPTIONS.filter((name) => env[`npm_config_${name.replaceAll('-', '_')}`] !== undefined);
  if (kept.length === 0) return '';
  const flags = kept.map((name) => `--${name}`);
  // With one option the value is known; with several, npm's environment does not say their order.
  const example =
    kept.length === 1 && positionals.length === 1
      ? `npm start -- ${flags[0]} ${positionals[0]}`
      : `npm start -- ${flags.map((flag) => `${flag} …`).join(' ')}`;
  return `npm kept ${flags.join(', ')} for itself: npm passes options on to a script only after --, as in\n  ${example}\n\n`;
}

const env = process.env;
let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      data: { type: 'string' },
      stage: { type: 'string' },
      'worker-processes': { type: 'string' },
      'allow-origin': { type: 'string', multiple: true },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
}
try {
  args = parse();
} catch (error) {
  const { positionals } = parseArgs({ strict: false, allowPositionals: true });
  fail(`${(error as Error).message}\n\n${npmKeptOptions(positionals)}${USAGE}`, 2);
}
if (args.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
// Checked before dynalite's process is forked: a bad value ends here with the usage, not a trace.
const stage = args.values.stage === undefined ? undefined : stageArg(args.values.stage);

const logger = consoleLogger(args.values.quiet ? 'warn' : 'info');
// `npm start | head`: once the reader has gone, every write to the pipe fails with EPIPE, which
// Node raises as an 'error' event; unhandled, it ended the stack without its stop. The stack goes
// on serving, and what it would have printed there is lost, as the reader chose.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}
// Node ends a process on a promise rejection nobody handled. Here the functions run in the stack's
// process, so one handler's slip would take every socket and function with it, where on AWS it
// ends only that function's environment: it is logged as the error it is, and the stack goes on.
process.on('unhandledRejection', (reason: unknown) => {
  logger.error('unhandled promise rejection in the stack: on AWS it would end the environment that left it', {
    error: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason),
  });
});
const tableNames = Object.fromEntries(
  TABLES.flatMap((table) => (env[table.envName] ? [[table.id, env[table.envName] as string]] : [])),
);

// DynamoDB in a process of its own, as it is a service of its own: the stack's process keeps the
// connections and none of the records. Forked before the stack's modules load (the static imports
// above are small), so its start and theirs overlap; the stack stops it, also if its start fails.
const tables = stackTables(tableNames);
const dynalite = env[ENV.dynamodbEndpoint]
  ? undefined
  : startDynaliteProcess({
      ...(args.values.data === undefined ? {} : { dataDir: args.values.data }),
      // Made in its process as soon as it listens, not through the SDK once the stack has loaded.
      tables: tableInputs(tables),
      // Their expired items deleted there, as DynamoDB's TTL does (dynalite has none).
      ttlAttributes: ttlAttributes(tables),
      logger,
    });
// Caught here too, so a failed start is not an unhandled rejection before the stack awaits it.
dynalite?.catch(() => {});
const { startLocalStack } = await import('./stack');
const { startupBanner } = await import('./banner');

// Handlers go in before anything is printed: stdout to a pipe is written synchronously, so a
// supervisor that reacts to the banner could otherwise signal us before they exist.
let stack: LocalStack | undefined;
let stopRequested: string | undefined;
function stopAndExit(running: LocalStack, signal: string): void {
  logger.info('stopping', { signal });
  running.stop().then(
    () => process.exit(0),
    (error: unknown) => fail(`stop failed: ${(error as Error).message}`, 1),
  );
}
function onSignal(signal: string): void {
  // A second Ctrl-C means "now".
  if (stopRequested !== undefined) process.exit(130);
  stopRequested = signal;
  if (stack !== undefined) stopAndExit(stack, signal);
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
// A process started with an IPC channel is supervised (npm start's scripts/start.mjs opens one):
// when the channel goes, however the supervisor ended, the stack stops instead of living on unseen.
if (process.send !== undefined) process.on('disconnect', () => onSignal('supervisor gone'));
// Unsupervised (not on Linux), under npm's shell: when the shell ends without passing a signal on.
else onParentGone(() => onSignal('parent gone'));

try {
  stack = await startLocalStack({
    port: parsePort(args.values.port ?? env.PORT),
    logger,
    prettyLogs: process.stdout.isTTY === true,
    tableNames,
    // Ready once it listens; each function initializes in the background, its first invocation
    // waiting for it, as a fresh deployment's first invocations wait for their cold starts.
    deferFunctionInit: true,
    ...(args.values.host === undefined ? {} : { host: args.values.host }),
    ...(args.values['allow-origin'] === undefined
      ? {}
      : { allowedOrigins: args.values['allow-origin'].map(originArg) }),
    ...(dynalite === undefined ? {} : { dynalite }),
    ...(args.values.data === undefined ? {} : { dataDir: args.values.data }),
    ...(stage === undefined ? {} : { stage }),
    ...(args.values['worker-processes'] === undefined
      ? {}
      : { processes: { worker: positiveArg('--worker-processes', args.values['worker-processes']) } }),
    ...(env[ENV.dynamodbEndpoint] ? { dynamodbEndpoint: env[ENV.dynamodbEndpoint] } : {}),
    ...(env[ENV.tokenSecret] ? { tokenSecret: env[ENV.tokenSecret] } : {}),
    ...(env[ENV.tokenAudience] ? { tokenAudience: env[ENV.tokenAudience] } : {}),
    ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
    // The demo page resumes its topic after a reload; PUSH_TOPIC_HISTORY (even empty) overrides.
    ...(env[ENV.topicHistory] === undefined ? { topicHistory: DEMO_TOPIC_HISTORY } : {}),
    ...Object.fromEntries(
      (
        [
          ['shardThreshold', ENV.shardThreshold],
          ['rateBudget', ENV.rateBudget],
          ['workerConcurrency', ENV.workerConcurrency],
        ] as const
      ).flatMap(([option, name]) => {
        const value = envInteger(name);
        return value === undefined ? [] : [[option, value]];
      }),
    ),
  });
} catch (error) {
  const e = error as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE')
    fail(
      `port already in use: ${e.message}. Pass --port N (npm start -- --port N, or PORT=N npm start), or 0 for any free port.`,
      1,
    );
  fail(`the local stack did not start: ${e.stack ?? e.message}`, 1);
}
// A stack whose database is gone cannot go on: its connections' records went with it.
void stack.dynaliteProcess?.lost.then((why) => {
  void stack?.stop().finally(() => fail(`DynamoDB ended: ${why}`, 1));
});
if (stopRequested !== undefined) stopAndExit(stack, stopRequested);
// Measured from process start (npm start's, when it supervises this process), so tsx's compile
// and the SDK imports count too.
else {
  const since = Number(env[SUPERVISED_ENV]);
  const readyMs = Number.isFinite(since) && since > 0 ? Date.now() - since : process.uptime() * 1000;
  process.stdout.write(startupBanner(stack, readyMs));
}
