import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import type { CfnEventSourceMapping } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { CONNECTIONS_TABLE, MESSAGES_TABLE, PUBLISHES_TABLE } from '../../lambdas/shared/tables';
import { callersOf, functionCredentials } from '../../local/deployment/callers';
import { type ReferenceResolver, resolveValue, UnresolvableError } from '../../local/deployment/intrinsics';
import { localFunctions } from '../../local/deployment/local-functions';
import { baseName, localEndpoints, localResolver } from '../../local/deployment/local-resolver';
import { type DeploymentModel, deploymentModel } from '../../local/deployment/model';
import {
  cacheKey,
  type LoadedStack,
  type LoadStackOptions,
  loadStack,
  localContext,
  REPOSITORY_ROOT,
  sourcesOf,
} from '../../local/deployment/template-cache';

const ORIGIN = 'http://127.0.0.1:4566';
const cacheDir = mkdtempSync(join(tmpdir(), 'push-deployment-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

/** Loads and models the stack with local names: tables by their ids, the shard queue by name. */
async function model(
  options: LoadStackOptions = {},
): Promise<{ loaded: LoadedStack; model: DeploymentModel }> {
  const loaded = await loadStack({ cacheDir, ...options });
  const names = {
    ...Object.fromEntries(Object.entries(loaded.index.tables).map(([id, logicalId]) => [logicalId, id])),
    [loaded.index.shardQueue]: 'push-shard-jobs',
    [loaded.index.api]: 'local',
  };
  return {
    loaded,
    model: deploymentModel(loaded, {
      resolver: localResolver(loaded.template, { sqsOrigin: ORIGIN, names }),
      rewrite: localEndpoints(ORIGIN),
    }),
  };
}

describe('intrinsics', () => {
  const resolver: ReferenceResolver = {
    ref: (id) => ({ 'AWS::Region': 'eu-west-1', Table: 'Connections' })[id] ?? `ref-${id}`,
    getAtt: (id, attribute) => `${id}.${attribute}`,
  };

  it.each([
    ['a plain string', 'text', 'text'],
    ['Ref of a pseudo parameter', { Ref: 'AWS::Region' }, 'eu-west-1'],
    ['Ref of a resource', { Ref: 'Table' }, 'Connections'],
    ['Fn::GetAtt as a list', { 'Fn::GetAtt': ['Queue', 'Arn'] }, 'Queue.Arn'],
    ['Fn::GetAtt as a dotted string', { 'Fn::GetAtt': 'Queue.QueueName' }, 'Queue.QueueName'],
    ['Fn::Join', { 'Fn::Join': ['/', ['a', { Ref: 'Table' }, 'index/*']] }, 'a/Connections/index/*'],
    [
      'Fn::Sub with names, attributes, variables and a literal',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub's own syntax, not a template literal
      { 'Fn::Sub': ['${AWS::Region}:${Queue.Arn}:${x}:${!Literal}', { x: { Ref: 'Table' } }] },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub's own syntax, not a template literal
      'eu-west-1:Queue.Arn:Connections:${Literal}',
    ],
    ['Fn::Select of Fn::Split', { 'Fn::Select': [1, { 'Fn::Split': [':', 'a:b:c'] }] }, 'b'],
    ['a nested object', { Variables: { T: { Ref: 'Table' } } }, { Variables: { T: 'Connections' } }],
  ])('resolves %s', (_, value, expected) => {
    expect(resolveValue(value, resolver)).toEqual(expected);
  });

  it.each([
    ['Fn::If', { 'Fn::If': ['IsProd', 'a', 'b'] }, /Fn::If is not supported/],
    ['Fn::ImportValue without exports', { 'Fn::ImportValue': 'Shared-Key' }, /Fn::ImportValue Shared-Key/],
    ['Fn::Select out of range', { 'Fn::Select': [3, ['a']] }, /outside its list/],
  ])('refuses %s with a stable code', (_, value, message) => {
    expect(() => resolveValue(value, resolver)).toThrow(message);
    expect(() => resolveValue(value, resolver)).toThrow(UnresolvableError);
  });

  it('resolves Fn::ImportValue through the resolver when it knows exports', () => {
    const withExports = { ...resolver, importValue: (name: string) => `export-${name}` };
    expect(resolveValue({ 'Fn::ImportValue': 'Shared-Key' }, withExports)).toBe('export-Shared-Key');
  });
});

describe('template cache', () => {
  it("leaves cdk.json's per-stage settings out: the local stack is no deployed stage", () => {
    // A prod block's token audience would have /dev/token's tokens, which carry none, refused.
    const file = { 'push:stage': 'prod', 'push:stages': { prod: { 'push:tokenAudience': 'orders' } } };
    expect(localContext(file)).toEqual({ 'push:stage': 'prod' });
  });

  it('keys on every source the CDK app imports, shared names and bundle options included', () => {
    const sources = sourcesOf(join(REPOSITORY_ROOT, 'infra', 'push-stack.ts')).map((file) =>
      file.slice(REPOSITORY_ROOT.length),
    );
    expect(sources).toEqual(
      expect.arrayContaining([
        'infra/push-stack.ts',
        'infra/tables.ts',
        'infra/push-function.ts',
        'lambdas/shared/tables.ts',
        'scripts/bundle-options.ts',
      ]),
    );
    expect(sources.filter((file) => file.startsWith('local/'))).toEqual([]);
  });

  it('synthesizes once, then reads the same template from the cache', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'push-deployment-cold-'));
    try {
      const cold = await loadStack({ cacheDir: dir });
      const warm = await loadStack({ cacheDir: dir });
      expect([cold.source, warm.source]).toEqual(['synth', 'cache']);
      expect(warm.key).toBe(cold.key);
      expect(warm.template).toEqual(cold.template);
      expect(warm.index).toEqual(cold.index);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the 16 newest templates, so edits under infra/ do not fill the disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'push-deployment-prune-'));
    try {
      const old = new Date(Date.now() - 86_400_000);
      for (let i = 0; i < 20; i++) {
        const file = join(dir, `stack-${String(i).padStart(64, '0')}.json`);
        writeFileSync(file, '{}');
        utimesSync(file, old, new Date(old.getTime() + i));
      }
      const loaded = await loadStack({ cacheDir: dir });
      const left = readdirSync(dir).sort();
      expect(left).toHaveLength(16);
      expect(left).toContain(`stack-${loaded.key}.json`);
      expect(left).not.toContain(`stack-${'0'.repeat(64)}.json`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives a different key for different context or props, and the same for equal ones', () => {
    const base = cacheKey(REPOSITORY_ROOT, {}, {});
    expect(cacheKey(REPOSITORY_ROOT, {}, {})).toBe(base);
    expect(cacheKey(REPOSITORY_ROOT, { 'push:stage': 'beta' }, {})).not.toBe(base);
    const sevenSeconds = cacheKey(REPOSITORY_ROOT, {}, { publishTimeout: Duration.seconds(7) });
    expect(sevenSeconds).not.toBe(base);
    expect(cacheKey(REPOSITORY_ROOT, {}, { publishTimeout: Duration.millis(7000) })).toBe(sevenSeconds);
  });

  it('bypasses the cache for props that hold constructs', async () => {
    const { Stack } = await import('aws-cdk-lib');
    const topic = new Topic(new Stack(), 'Alarms');
    expect(cacheKey(REPOSITORY_ROOT, {}, { alarmTopic: topic })).toBeUndefined();
  });
});

describe('deployment model', () => {
  let deployed: DeploymentModel;
  beforeAll(async () => {
    deployed = (await model()).model;
  });

  it.each([
    ['authorizer', 10, 256, undefined],
    ['connect', 10, 256, undefined],
    ['disconnect', 10, 256, undefined],
    ['default', 10, 256, 50],
    ['publish', 60, 512, undefined],
    ['worker', 300, 512, 16],
    ['rotateSecret', 30, 256, undefined],
  ] as const)('reads the %s function: %i s, %i MB, reserved %s', (handler, timeout, memory, reserved) => {
    const fn = deployed.functions[handler];
    expect([fn.timeoutSeconds, fn.memorySizeMb, fn.reservedConcurrency]).toEqual([timeout, memory, reserved]);
  });

  it("gives each function only its own variables, references resolved to the local stack's", () => {
    expect(deployed.functions.connect.environment).toEqual({
      POWERTOOLS_SERVICE_NAME: 'push',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_NAMESPACE: 'Push',
      NODE_OPTIONS: '--enable-source-maps',
      [ENV.connectionsTable]: CONNECTIONS_TABLE.id,
      // $connect evicts connections past the per-uid cap, so it carries the send settings.
      [ENV.fanoutConcurrency]: '64',
      [ENV.managementEndpoint]: `${ORIGIN}/prod`,
      [ENV.sendAttempts]: '4',
      [ENV.sendTimeoutMs]: '3000',
      [ENV.connectGraceMs]: '10000',
      [ENV.maxConnectionsPerUid]: '20',
    });
    const publish = deployed.functions.publish.environment;
    expect(publish[ENV.messagesTable]).toBe(MESSAGES_TABLE.id);
    expect(publish[ENV.publishesTable]).toBe(PUBLISHES_TABLE.id);
    expect(publish[ENV.shardQueueUrl]).toBe(`${ORIGIN}/000000000000/push-shard-jobs`);
    expect(publish[ENV.managementEndpoint]).toBe(`${ORIGIN}/prod`);
    // The worker sends a malformed shard job to the shard dead-letter queue, found through its Ref.
    const deadLetterUrl = deployed.queues[deployed.index.shardDeadLetterQueue]?.url;
    expect(deadLetterUrl).toMatch(`${ORIGIN}/000000000000/`);
    expect(deployed.functions.worker.environment[ENV.shardDeadLetterQueueUrl]).toBe(deadLetterUrl);
    // A run that stops before its timeout sends the rest of its shard back to its own queue.
    expect(deployed.functions.worker.environment[ENV.shardQueueUrl]).toBe(publish[ENV.shardQueueUrl]);
    expect(deployed.functions.authorizer.environment[ENV.tokenSecretArn]).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:TokenSecret$/,
    );
    // The authorizer reads revocations from the connections table, and nothing else of it.
    expect(deployed.functions.authorizer.environment[ENV.connectionsTable]).toBe(CONNECTIONS_TABLE.id);
    expect(deployed.functions.authorizer.environment[ENV.messagesTable]).toBeUndefined();
  });

  it('reads the routes, their handlers, the authorizer, the stage throttle and the $default throttle', () => {
    expect(deployed.api).toMatchObject({
      apiId: 'local',
      routeSelectionExpression: '$request.body.action',
      stageName: 'prod',
      stageThrottle: { rateLimit: 1000, burstLimit: 500 },
    });
    expect(deployed.api.routes).toEqual([
      {
        routeKey: '$connect',
        handler: 'connect',
        integrationType: 'AWS_PROXY',
        authorizationType: 'CUSTOM',
        authorizer: {
          logicalId: expect.any(String),
          name: 'TokenAuthorizer',
          type: 'REQUEST',
          handler: 'authorizer',
          identitySource: ['route.request.querystring.token'],
        },
        returnResponse: false,
      },
      {
        routeKey: '$disconnect',
        handler: 'disconnect',
        integrationType: 'AWS_PROXY',
        authorizationType: 'NONE',
        returnResponse: false,
      },
      {
        routeKey: '$default',
        handler: 'default',
        integrationType: 'AWS_PROXY',
        authorizationType: 'NONE',
        returnResponse: true,
        throttle: { rateLimit: 500, burstLimit: 250 },
      },
    ]);
  });

  it('reads the shard queue, its dead-letter queue and the event source that drains it', () => {
    const shardQueue = deployed.queues[deployed.index.shardQueue];
    const deadLetters = deployed.queues[deployed.index.shardDeadLetterQueue];
    expect(shardQueue).toMatchObject({
      name: 'push-shard-jobs',
      url: `${ORIGIN}/000000000000/push-shard-jobs`,
      arn: 'arn:aws:sqs:us-east-1:000000000000:push-shard-jobs',
      visibilityTimeoutSeconds: 6 * 300,
      retentionSeconds: 4 * 24 * 3600,
      redrive: { deadLetterTargetArn: deadLetters?.arn, maxReceiveCount: 5 },
    });
    expect(deployed.eventSources).toEqual([
      {
        handler: 'worker',
        queue: deployed.index.shardQueue,
        eventSourceArn: shardQueue?.arn,
        batchSize: 1,
        maximumBatchingWindowSeconds: 0,
        reportBatchItemFailures: true,
        maximumConcurrency: 16,
        enabled: true,
      },
    ]);
  });

  it("reads the publish function's asynchronous invoke settings", () => {
    expect(deployed.functions.publish.asyncInvoke).toEqual({
      maximumRetryAttempts: 2,
      maximumEventAgeSeconds: 3600,
      onFailure: deployed.queues[deployed.index.invokeFailureQueue]?.arn,
    });
  });

  it("resolves each role's policies to the local ARNs the endpoints authorize against", () => {
    const role = deployed.functions.connect.role;
    expect(role.arn).toBe(`arn:aws:iam::000000000000:role/${baseName(role.logicalId)}`);
    expect(role.managedPolicyArns).toEqual([]);
    const resources = role.policies.flatMap((p) => p.statements.flatMap((s) => s.Resource ?? []));
    expect(resources).toContain('arn:aws:dynamodb:us-east-1:000000000000:table/Connections');
  });
});

describe("the developer's shell", () => {
  /** Every hosted function, built with `processEnv` as the shell `npm start` was started from. */
  async function functionsFrom(processEnv: NodeJS.ProcessEnv) {
    const loaded = await loadStack({ cacheDir });
    return localFunctions({
      stack: loaded,
      origin: ORIGIN,
      managementEndpoint: `${ORIGIN}/local`,
      region: 'us-east-1',
      accountId: '000000000000',
      names: {},
      dynamodbEndpoint: 'http://127.0.0.1:8000',
      dynamodbIsLocal: true,
      tokenSecret: 'unit-secret',
      processEnv,
    }).functions;
  }

  /** The variables the README says reach every function from the shell, in the order it names them. */
  function documentedSwitches(): string[] {
    const readme = readFileSync(join(REPOSITORY_ROOT, 'README.md'), 'utf8');
    const names =
      /((?:`[A-Z_]+`(?:,? and |, )?)+) from your shell reach every function; nothing else of it does/.exec(
        readme,
      )?.[1];
    if (names === undefined)
      throw new Error('the README no longer says which shell variables reach the functions');
    return [...names.matchAll(/`([A-Z_]+)`/g)].map((match) => match[1] as string);
  }

  it('reaches each function through the switches the README names, and nothing else of it does', async () => {
    const switches = documentedSwitches();
    expect(switches.length).toBeGreaterThanOrEqual(3);
    // What a developer's shell may hold: the documented switches, every setting the functions
    // read, the rest of Powertools' switches, AWS credentials and anything else.
    const names = [
      ...switches,
      ...Object.values(ENV),
      'POWERTOOLS_METRICS_DISABLED',
      'POWERTOOLS_LOGGER_LOG_EVENT',
      'POWERTOOLS_SERVICE_NAME',
      'NODE_OPTIONS',
      'AWS_REGION',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_PROFILE',
      'HOME',
      'UNRELATED_SHELL_VARIABLE',
    ];
    const shell: Record<string, string> = Object.fromEntries(
      names.map((name) => [name, `from-shell-${name}`]),
    );
    const functions = await functionsFrom(shell);
    for (const [handler, fn] of Object.entries(functions)) {
      const fromShell = Object.entries(fn.environment)
        .filter(([name, value]) => shell[name] === value)
        .map(([name]) => name);
      expect(fromShell.sort(), handler).toEqual([...switches].sort());
    }
    expect(functions.publish.environment[ENV.sendTimeoutMs]).toBe('3000');
    expect(functions.publish.environment[ENV.fanoutConcurrency]).toBe('64');
  });
});

describe('callers', () => {
  it.each([
    ['authorizer', 'LOCALAUTHORIZER00000'],
    ['default', 'LOCALDEFAULT00000000'],
    ['rotateSecret', 'LOCALROTATESECRET000'],
  ] as const)('gives %s the access key id %s, 20 characters as on AWS', (handler, keyId) => {
    expect(functionCredentials(handler)).toEqual({ accessKeyId: keyId, secretAccessKey: `local-${handler}` });
  });

  it("finds a function by its access key id, with its role session and the role's policies", async () => {
    const { model: deployed } = await model();
    const callers = callersOf(deployed, '000000000000');
    const publish = deployed.functions.publish;
    expect(callers.callerFor(callers.credentials('publish').accessKeyId)).toEqual({
      handler: 'publish',
      arn: `arn:aws:sts::000000000000:assumed-role/${publish.role.name}/${publish.functionName}`,
      roleArn: publish.role.arn,
      policies: publish.role.policies,
      credentials: functionCredentials('publish'),
    });
    expect(callers.callerFor('AKIAIOSFODNN7EXAMPLE')).toBeUndefined();
    expect(callers.callerFor(undefined)).toBeUndefined();
  });
});

describe('a changed CDK app changes the model, with no edit under local/', () => {
  it.each([
    [
      'a function timeout',
      { props: { publishTimeout: Duration.seconds(70) } },
      (m: DeploymentModel) => m.functions.publish.timeoutSeconds,
      70,
    ],
    [
      'the worker concurrency, reserved and in its environment',
      { props: { workerConcurrency: 3 } },
      (m: DeploymentModel) => [
        m.functions.worker.reservedConcurrency,
        m.functions.worker.environment[ENV.workerConcurrency],
      ],
      [3, '3'],
    ],
    [
      'the stage throttle',
      { props: { throttle: { rateLimit: 7, burstLimit: 3 } } },
      (m: DeploymentModel) => m.api.stageThrottle,
      { rateLimit: 7, burstLimit: 3 },
    ],
    [
      "the $default route's throttle and reserved concurrency",
      { props: { defaultRouteThrottle: { rateLimit: 9, burstLimit: 4 }, defaultConcurrency: 5 } },
      (m: DeploymentModel) => [
        m.api.routes.find((r) => r.routeKey === '$default')?.throttle,
        m.functions.default.reservedConcurrency,
      ],
      [{ rateLimit: 9, burstLimit: 4 }, 5],
    ],
    [
      "the publish function's reserved concurrency",
      { props: { publishConcurrency: 3 } },
      (m: DeploymentModel) => m.functions.publish.reservedConcurrency,
      3,
    ],
    [
      'the stage name, from context',
      { context: { 'push:stage': 'beta' } },
      (m: DeploymentModel) => [m.api.stageName, m.functions.worker.environment[ENV.managementEndpoint]],
      ['beta', `${ORIGIN}/beta`],
    ],
    [
      'an environment variable, from context',
      { context: { 'push:tokenAudience': 'orders' } },
      (m: DeploymentModel) => m.functions.authorizer.environment[ENV.tokenAudience],
      'orders',
    ],
    [
      "the shard queue's event source mapping, through an escape hatch",
      {
        customize: (stack) => {
          const mapping = stack.functions.worker.node.findChild('ShardQueueSource').node
            .defaultChild as CfnEventSourceMapping;
          mapping.batchSize = 4;
          mapping.maximumBatchingWindowInSeconds = 2;
          mapping.functionResponseTypes = undefined;
        },
      } satisfies LoadStackOptions,
      (m: DeploymentModel) =>
        m.eventSources.map(({ batchSize, maximumBatchingWindowSeconds, reportBatchItemFailures }) => ({
          batchSize,
          maximumBatchingWindowSeconds,
          reportBatchItemFailures,
        })),
      [{ batchSize: 4, maximumBatchingWindowSeconds: 2, reportBatchItemFailures: false }],
    ],
  ])('follows %s', async (_, options, read, expected) => {
    const { model: changed } = await model(options as LoadStackOptions);
    expect(read(changed)).toEqual(expected);
  });

  it('synthesizes a customized stack every time, since code cannot key the cache', async () => {
    const customize = () => {};
    const first = await loadStack({ cacheDir, customize });
    const second = await loadStack({ cacheDir, customize });
    expect([first.source, second.source]).toEqual(['synth', 'synth']);
  });
});
