/**
 * `npm run smoke -- --stack PushStack-prod [--region R] [--audience A]`, after a deploy, or
 * `npm run smoke -- --local http://127.0.0.1:3000` against `npm start`: checks the whole path a
 * user's traffic takes. It reads where everything is (the stack's outputs, or the local stack's
 * `/dev/config`), signs a short-lived token with the server SDK (from the stack's token secret, or
 * the local secret), connects, subscribes, publishes through Lambda Invoke and through SNS and
 * waits for both pushes, asks for presence, and kicks the connection. Each step prints PASS or
 * FAIL with what to look at; the first failure skips the steps that need it. Exit codes: 0 all
 * passed, 1 a step failed, 2 bad arguments.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { DEV_TOKEN_SECRET } from '../server/src/dev-secret';
import {
  createTokenSigner,
  lambdaPublisher,
  type Publisher,
  type SnsPublisher,
  secretsManagerSecret,
  snsPublisher,
  type TokenSigner,
} from '../server/src/index';

/** Where the smoke check goes, and what to tell the user to look at when a step fails. */
export interface SmokeTargets {
  /** What is checked, for the first line of the report. */
  readonly description: string;
  readonly wsUrl: string;
  readonly signer: TokenSigner;
  /** Over Lambda Invoke. */
  readonly publisher: Publisher;
  readonly topic: SnsPublisher;
  /** Where the logs of a function are, by its handler (`authorizer`, `publish`, …). */
  readonly logsOf: (handler: string) => string;
}

/** Outputs the smoke check reads from a deployed stack. */
export const REQUIRED_OUTPUTS = [
  'WebSocketUrl',
  'PublishFunctionArn',
  'PublishTopicArn',
  'TokenSecretArn',
] as const;

/** Options for {@link stackTargets}. */
export interface StackTargetOptions {
  readonly region?: string;
  readonly audience?: string;
  /** A CloudFormation client; tests pass a mocked one. @default new CloudFormationClient({ region }) */
  readonly cloudFormation?: { send(command: never): Promise<unknown> };
}

/** The targets of a deployed stack, from its CloudFormation outputs. */
export async function stackTargets(
  stackName: string,
  options: StackTargetOptions = {},
): Promise<SmokeTargets> {
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const config = options.region === undefined ? {} : { region: options.region };
  const cloudFormation = options.cloudFormation ?? new CloudFormationClient(config);
  const out = (await (cloudFormation.send as (c: unknown) => Promise<unknown>).call(
    cloudFormation,
    new DescribeStacksCommand({ StackName: stackName }),
  )) as { Stacks?: { Outputs?: { OutputKey?: string; OutputValue?: string }[] }[] };
  const outputs = new Map((out.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const missing = REQUIRED_OUTPUTS.filter((key) => !outputs.get(key));
  if (missing.length > 0) throw new Error(`stack ${stackName} has no output ${missing.join(', ')}`);
  const value = (key: (typeof REQUIRED_OUTPUTS)[number]) => outputs.get(key) as string;
  const region = value('PublishFunctionArn').split(':')[3] ?? options.region;
  const clientConfig = region === undefined ? {} : { region };
  return {
    description: `stack ${stackName}${region === undefined ? '' : ` (${region})`}`,
    wsUrl: value('WebSocketUrl'),
    signer: createTokenSigner({
      secret: secretsManagerSecret({ secretId: value('TokenSecretArn'), clientConfig }),
      ttlSeconds: 300,
      ...(options.audience === undefined ? {} : { audience: options.audience }),
    }),
    publisher: lambdaPublisher({ functionName: value('PublishFunctionArn'), clientConfig }),
    topic: snsPublisher({ topicArn: value('PublishTopicArn'), clientConfig }),
    logsOf: (handler) =>
      `the CloudWatch logs of ${stackName}'s ${handler[0]?.toUpperCase()}${handler.slice(1)}Handler function`,
  };
}

/** The local stack's answer to `GET /dev/config`. */
interface DevConfig {
  readonly wsUrl: string;
  readonly httpUrl: string;
}

/**
 * The targets of a local stack (`npm start`), from its `/dev/config`: Invoke and SNS on its own
 * port with throwaway credentials, and tokens signed with `secret` (the dev secret by default).
 */
export async function localTargets(
  url: string,
  secret = DEV_TOKEN_SECRET,
  audience?: string,
): Promise<SmokeTargets> {
  const base = url.replace(/\/+$/, '');
  const res = await fetch(`${base}/dev/config`);
  if (!res.ok) throw new Error(`GET ${base}/dev/config answered ${res.status}: is this a local stack?`);
  const config = (await res.json()) as DevConfig;
  // Signatures are not checked locally, but the SDK signs, so it needs some credentials.
  const clientConfig = {
    endpoint: config.httpUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  return {
    description: `local stack at ${config.httpUrl}`,
    wsUrl: config.wsUrl,
    signer: createTokenSigner({ secret, ttlSeconds: 300, ...(audience === undefined ? {} : { audience }) }),
    publisher: lambdaPublisher({ functionName: 'publish', clientConfig }),
    topic: snsPublisher({ topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish', clientConfig }),
    logsOf: (handler) => `the ${handler} handler's log lines in the npm start terminal`,
  };
}

/** A raw socket that queues frames, so none is missed between two steps. */
class Socket {
  readonly #frames: Record<string, unknown>[] = [];
  readonly #waiters: (() => void)[] = [];
  closed = false;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      try {
        this.#frames.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
      } catch {
        this.#frames.push({ type: 'unparsable', text: data.toString('utf8') });
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    ws.on('close', () => {
      this.closed = true;
      for (const wake of this.#waiters.splice(0)) wake();
    });
    ws.on('error', () => {});
  }

  /** The first queued frame `match` accepts (taken off the queue), waiting up to `ms` for it. */
  async frame(
    match: (frame: Record<string, unknown>) => boolean,
    what: string,
    ms: number,
  ): Promise<unknown> {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.#frames.findIndex(match);
      if (index >= 0) return this.#frames.splice(index, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) {
        const seen = this.#frames.map((f) => JSON.stringify(f)).join(', ') || 'none';
        throw new Error(
          `${this.closed ? 'socket closed' : `no ${what} within ${ms} ms`}; frames seen: ${seen}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

function open(url: string, ms: number): Promise<Socket> {
  const ws = new WebSocket(url);
  const socket = new Socket(ws);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`the socket did not open within ${ms} ms`));
    }, ms);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`the handshake was answered ${res.statusCode} ${res.statusMessage ?? ''}`.trim()));
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** One step of the check: what it does, and what to look at when it fails. */
interface Step {
  readonly name: string;
  readonly hint: string;
  readonly run: () => Promise<string>;
}

/** Options for {@link runSmoke}. */
export interface SmokeOptions {
  /** The uid the check connects as. @default `smoke-<random>` */
  readonly uid?: string;
  /** How long each wait may take. @default 10_000 */
  readonly timeoutMs?: number;
  /** Where the report goes, line by line. @default stdout */
  readonly print?: (line: string) => void;
}

/** Runs every step against `targets`, printing a line per step; resolves to true when all passed. */
export async function runSmoke(targets: SmokeTargets, options: SmokeOptions = {}): Promise<boolean> {
  const uid = options.uid ?? `smoke-${randomUUID().slice(0, 8)}`;
  const topic = `smoke.${randomUUID().slice(0, 8)}`;
  const ms = options.timeoutMs ?? 10_000;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const run = randomUUID().slice(0, 8);
  let token = '';
  let socket: Socket | undefined;
  const live = () => socket as Socket;

  const steps: Step[] = [
    {
      name: 'mint a token',
      hint: 'the signer reads the TokenSecretArn secret: the caller needs secretsmanager:GetSecretValue on it (push.grantTokenSigning)',
      run: async () => {
        token = await targets.signer.sign({ uid, topics: [topic], ttlSeconds: 300 });
        return `for ${uid}, 300 s, topic ${topic}`;
      },
    },
    {
      name: 'connect',
      hint: `a 401 means the authorizer refused the token (wrong secret or --audience): ${targets.logsOf('authorizer')}; a 500, ${targets.logsOf('connect')}`,
      run: async () => {
        socket = await open(`${targets.wsUrl}?token=${encodeURIComponent(token)}`, ms);
        live().ws.send(JSON.stringify({ action: 'subscribe', topic }));
        await live().frame((f) => f.type === 'subscribed' && f.topic === topic, `"subscribed" frame`, ms);
        return `${targets.wsUrl}, subscribed to ${topic}`;
      },
    },
    {
      name: 'publish through Lambda Invoke',
      hint: `${targets.logsOf('publish')}; the caller needs lambda:InvokeFunction (push.grantPublish)`,
      run: async () => {
        const id = `smoke-invoke-${run}`;
        const result = await targets.publisher.publish({ to: { uid }, data: { smoke: 'invoke' }, id });
        await live().frame((f) => f.type === 'message' && f.id === id, `push ${id}`, ms);
        return `answered ${JSON.stringify(result)}; the push arrived`;
      },
    },
    {
      name: 'publish through SNS',
      hint: `the topic's subscription (SubscriptionDeadLetterQueueUrl output), the InvokeFailureQueueUrl queue, and ${targets.logsOf('publish')}; the caller needs sns:Publish (push.grantPublish)`,
      run: async () => {
        const id = `smoke-sns-${run}`;
        const receipt = await targets.topic.publish({ to: { topic }, data: { smoke: 'sns' }, id });
        await live().frame((f) => f.type === 'message' && f.id === id, `push ${id}`, ms);
        return `SNS message ${receipt.messageId}; the push arrived on ${topic}`;
      },
    },
    {
      name: 'presence',
      hint: `the connections table, and ${targets.logsOf('publish')}`,
      run: async () => {
        const one = await targets.publisher.presence({ uid });
        if (!one.online || one.connections.length !== 1) {
          throw new Error(`expected ${uid} online with 1 connection, got ${JSON.stringify(one)}`);
        }
        const news = await targets.publisher.presence({ topic });
        if (news.connections !== 1)
          throw new Error(`expected 1 connection on ${topic}, got ${JSON.stringify(news)}`);
        return `${uid} online (1 connection), ${topic} has 1 subscriber`;
      },
    },
    {
      name: 'kick',
      hint: `${targets.logsOf('publish')}: the publish function needs execute-api:ManageConnections`,
      run: async () => {
        const result = await targets.publisher.kick(uid, 'smoke check done');
        if (result.closed !== 1)
          throw new Error(`expected 1 connection closed, got ${JSON.stringify(result)}`);
        await live().frame((f) => f.type === 'kicked', `"kicked" frame`, ms);
        return 'told "kicked" and closed';
      },
    },
  ];

  print(`smoke check of ${targets.description}`);
  let failed = false;
  const width = Math.max(...steps.map((s) => s.name.length)) + 2;
  try {
    for (const step of steps) {
      if (failed) {
        print(`  SKIP  ${step.name}`);
        continue;
      }
      const started = performance.now();
      try {
        const detail = await step.run();
        print(`  PASS  ${step.name.padEnd(width)}${detail} (${Math.round(performance.now() - started)} ms)`);
      } catch (error) {
        failed = true;
        const message =
          error instanceof Error
            ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`
            : String(error);
        print(`  FAIL  ${step.name.padEnd(width)}${message}`);
        print(`        look at: ${step.hint}`);
      }
    }
  } finally {
    socket?.ws.terminate();
  }
  print(failed ? 'smoke check FAILED' : 'smoke check passed');
  return !failed;
}

const USAGE = `usage: npm run smoke -- (--stack NAME [--region R] | --local URL [--secret S]) [--audience A] [--timeout MS]

  --stack NAME    a deployed stack (e.g. PushStack-prod): reads its outputs with your AWS credentials
  --region R      the stack's region (default: the AWS SDK's, from AWS_REGION or your profile)
  --local URL     a local stack (npm start), e.g. http://127.0.0.1:3000
  --secret S      the local stack's token secret (default: PUSH_TOKEN_SECRET, else the dev secret)
  --audience A    the aud tokens must carry, if the stack has a tokenAudience
  --timeout MS    how long each wait may take (default 10000)`;

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  function parse() {
    return parseArgs({
      options: {
        stack: { type: 'string' },
        region: { type: 'string' },
        local: { type: 'string' },
        secret: { type: 'string' },
        audience: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  }
  const usage = (message: string) => {
    process.stderr.write(`${message}\n\n${USAGE}\n`);
    return 2;
  };
  try {
    values = parse().values;
  } catch (error) {
    return usage((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if ((values.stack === undefined) === (values.local === undefined))
    return usage('name one of --stack or --local');
  const timeoutMs = values.timeout === undefined ? 10_000 : Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    return usage('--timeout must be a positive number of ms');

  let targets: SmokeTargets;
  try {
    targets =
      values.local !== undefined
        ? await localTargets(
            values.local,
            values.secret || process.env.PUSH_TOKEN_SECRET || undefined,
            values.audience,
          )
        : await stackTargets(values.stack as string, {
            ...(values.region === undefined ? {} : { region: values.region }),
            ...(values.audience === undefined ? {} : { audience: values.audience }),
          });
  } catch (error) {
    const where = values.local ?? values.stack;
    process.stdout.write(`smoke check of ${where}\n  FAIL  read the outputs: ${(error as Error).message}\n`);
    process.stdout.write(
      values.local !== undefined
        ? '        look at: is npm start running there?\n'
        : '        look at: the stack name and region (aws cloudformation describe-stacks), and your AWS credentials\n',
    );
    return 1;
  }
  return (await runSmoke(targets, { timeoutMs })) ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
