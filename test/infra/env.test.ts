import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { DEPLOYED_HANDLERS } from '../../infra/push-stack';
import { type HandlerId, METRICS } from '../../lambdas/shared/deployment';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import { CONNECTIONS_TABLE, MESSAGES_TABLE, PUBLISHES_TABLE } from '../../lambdas/shared/tables';
import { logicalId, ref, synth } from './helpers';

type Handler = HandlerId;
const { stack, template } = synth();

function environmentOf(t: typeof template, s: typeof stack, handler: Handler): Record<string, unknown> {
  const fn = t.findResources('AWS::Lambda::Function')[logicalId(s.functions[handler])];
  return fn?.Properties.Environment.Variables;
}

const callbackUrl = {
  'Fn::Join': [
    '',
    [
      'https://',
      ref(stack.api),
      '.execute-api.',
      { Ref: 'AWS::Region' },
      '.',
      { Ref: 'AWS::URLSuffix' },
      '/prod',
    ],
  ],
};
const common = {
  [ENV.serviceName]: 'push',
  [ENV.logLevel]: 'INFO',
  [ENV.metricsNamespace]: METRICS.defaultNamespace,
  NODE_OPTIONS: '--enable-source-maps',
};
const connections = ref(stack.tables.table(CONNECTIONS_TABLE));
const messages = ref(stack.tables.table(MESSAGES_TABLE));
const publishes = ref(stack.tables.table(PUBLISHES_TABLE));
const send = {
  [ENV.managementEndpoint]: callbackUrl,
  [ENV.fanoutConcurrency]: String(LIMITS.fanoutConcurrency),
  [ENV.sendTimeoutMs]: String(LIMITS.sendTimeoutMs),
  [ENV.sendAttempts]: String(LIMITS.sendAttempts),
  [ENV.connectGraceMs]: String(LIMITS.connectGraceMs),
};
const idRetention = { [ENV.idRetentionSeconds]: String(LIMITS.publishRecordSeconds) };
const delivery = {
  ...send,
  [ENV.logRetentionSeconds]: String(LIMITS.logRetentionSeconds),
  [ENV.logMaxMessages]: String(LIMITS.logMaxMessages),
};

describe('handler environment', () => {
  it('gives the authorizer the secret ARN and the connections table (revocations)', () => {
    expect(environmentOf(template, stack, 'authorizer')).toEqual({
      ...common,
      [ENV.tokenSecretArn]: ref(stack.tokenSecret),
      [ENV.connectionsTable]: connections,
    });
  });

  it("gives the connect handler the connections table and the stage's callback URL (evictions)", () => {
    expect(environmentOf(template, stack, 'connect')).toEqual({
      ...common,
      ...send,
      [ENV.connectionsTable]: connections,
      [ENV.maxConnectionsPerUid]: String(LIMITS.maxConnectionsPerUid),
    });
  });

  it('gives the disconnect handler the connections table only', () => {
    expect(environmentOf(template, stack, 'disconnect')).toEqual({
      ...common,
      [ENV.connectionsTable]: connections,
    });
  });

  it("gives the $default handler both tables, the stage's callback URL and the delivery and log defaults", () => {
    expect(environmentOf(template, stack, 'default')).toEqual({
      ...common,
      ...delivery,
      [ENV.connectionsTable]: connections,
      [ENV.messagesTable]: messages,
      [ENV.maxSubscriptions]: String(LIMITS.maxSubscriptions),
      [ENV.resumesPerWindow]: String(LIMITS.resumesPerWindow),
      [ENV.resumesPerUidPerWindow]: String(LIMITS.resumesPerUidPerWindow),
      [ENV.resumeWindowSeconds]: String(LIMITS.resumeWindowSeconds),
      [ENV.frameBurst]: String(LIMITS.frameBurst),
      [ENV.framesPerSecond]: String(LIMITS.framesPerSecond),
      [ENV.frameRefusalsToClose]: String(LIMITS.frameRefusalsToClose),
      [ENV.uidFrameBurst]: String(LIMITS.maxConnectionsPerUid * (2 * LIMITS.maxSubscriptions + 2)),
      [ENV.uidFramesPerSecond]: String(LIMITS.uidFramesPerSecond),
      [ENV.floodCoolOffSeconds]: String(LIMITS.floodCoolOffSeconds),
      [ENV.publishTimeoutMs]: String(LIMITS.publishTimeoutMs),
    });
  });

  it("gives $default the publish function's own timeout, which bounds a resume's wait for a seq still being written", () => {
    const custom = synth({ publishTimeout: Duration.seconds(90) });
    const env = environmentOf(custom.template, custom.stack, 'default');
    expect(env[ENV.publishTimeoutMs]).toBe('90000');
  });

  it('gives the publish handler what $default has, plus the publishes table, shard queue and threshold', () => {
    expect(environmentOf(template, stack, 'publish')).toEqual({
      ...common,
      ...delivery,
      ...idRetention,
      [ENV.connectionsTable]: connections,
      [ENV.messagesTable]: messages,
      [ENV.publishesTable]: publishes,
      [ENV.shardQueueUrl]: ref(stack.shardFanOut.queue),
      [ENV.shardThreshold]: String(LIMITS.shardThreshold),
    });
  });

  it('gives the worker the connections and publishes tables, delivery settings, the rate budget split, its own queue and the shard DLQ', () => {
    expect(environmentOf(template, stack, 'worker')).toEqual({
      ...common,
      ...send,
      ...idRetention,
      [ENV.connectionsTable]: connections,
      [ENV.publishesTable]: publishes,
      // Where a run that stops before its timeout sends the rest of its shard.
      [ENV.shardQueueUrl]: ref(stack.shardFanOut.queue),
      [ENV.shardDeadLetterQueueUrl]: ref(stack.shardFanOut.deadLetterQueue),
      [ENV.rateBudget]: String(LIMITS.rateBudget),
      [ENV.workerConcurrency]: String(LIMITS.workerConcurrency),
      [ENV.shardJobLateMs]: String(LIMITS.shardJobLateMs),
      // What a failed job's backoffs are spread over: the redrive policy's own count.
      [ENV.shardMaxReceiveCount]: String(LIMITS.shardMaxReceiveCount),
    });
  });

  it('makes a shard job late at the age the shard queue alarms: shardQueueMaxAge, else twice the worker timeout', () => {
    const byAge = synth({ shardQueueMaxAge: Duration.minutes(30) });
    expect(environmentOf(byAge.template, byAge.stack, 'worker')).toMatchObject({
      [ENV.shardJobLateMs]: String(30 * 60_000),
    });
    const byTimeout = synth({ workerTimeout: Duration.minutes(2) });
    expect(environmentOf(byTimeout.template, byTimeout.stack, 'worker')).toMatchObject({
      [ENV.shardJobLateMs]: String(4 * 60_000),
    });
  });

  it('gives the rotation function no setting of its own: each event names the secret', () => {
    expect(environmentOf(template, stack, 'rotateSecret')).toEqual(common);
  });

  it('passes the sharding props through', () => {
    const tuned = synth({ shardThreshold: 500, rateBudget: 2_000, workerConcurrency: 4 });
    expect(environmentOf(tuned.template, tuned.stack, 'publish')).toMatchObject({
      [ENV.shardThreshold]: '500',
    });
    expect(environmentOf(tuned.template, tuned.stack, 'worker')).toMatchObject({
      [ENV.rateBudget]: '2000',
      [ENV.workerConcurrency]: '4',
    });
  });

  it('passes the fan-out props through', () => {
    const tuned = synth({ fanoutConcurrency: 8, sendTimeout: Duration.seconds(2), sendAttempts: 2 });
    for (const handler of ['default', 'publish', 'worker'] as const) {
      expect(environmentOf(tuned.template, tuned.stack, handler)).toMatchObject({
        [ENV.fanoutConcurrency]: '8',
        [ENV.sendTimeoutMs]: '2000',
        [ENV.sendAttempts]: '2',
      });
    }
  });

  it('gives $default and publish the same message log settings', () => {
    const tuned = synth({
      messageLogRetention: Duration.hours(2),
      messageLogMaxMessages: 50,
      topicHistory: ['orders', 'news.*'],
    });
    for (const handler of ['default', 'publish'] as const) {
      expect(environmentOf(tuned.template, tuned.stack, handler)).toMatchObject({
        [ENV.logRetentionSeconds]: '7200',
        [ENV.logMaxMessages]: '50',
        [ENV.topicHistory]: 'orders,news.*',
      });
    }
  });

  it('passes the caps, the connect grace and the publish id retention through', () => {
    const tuned = synth({
      maxSubscriptions: 5,
      maxConnectionsPerUid: 3,
      connectGrace: Duration.seconds(0),
      publishIdRetention: Duration.days(1),
    });
    const env = (handler: Handler) => environmentOf(tuned.template, tuned.stack, handler);
    expect(env('default')).toMatchObject({ [ENV.maxSubscriptions]: '5', [ENV.connectGraceMs]: '0' });
    expect(env('connect')).toMatchObject({ [ENV.maxConnectionsPerUid]: '3', [ENV.connectGraceMs]: '0' });
    for (const handler of ['publish', 'worker'] as const) {
      expect(env(handler)).toMatchObject({ [ENV.idRetentionSeconds]: '86400', [ENV.connectGraceMs]: '0' });
    }
  });

  it('passes the resume budget through to $default', () => {
    const tuned = synth({
      resumesPerWindow: 3,
      resumesPerUidPerWindow: 9,
      resumeWindow: Duration.minutes(5),
    });
    expect(environmentOf(tuned.template, tuned.stack, 'default')).toMatchObject({
      [ENV.resumesPerWindow]: '3',
      [ENV.resumesPerUidPerWindow]: '9',
      [ENV.resumeWindowSeconds]: '300',
    });
  });

  it.each([
    ['1 s', Duration.seconds(1), '1'],
    ['a connection lifetime', Duration.seconds(LIMITS.maxResumeWindowSeconds), '7200'],
    ['whole seconds given in milliseconds', Duration.millis(90_000), '90'],
  ])('takes a resume window of %s', (_, resumeWindow, seconds) => {
    const tuned = synth({ resumeWindow });
    expect(environmentOf(tuned.template, tuned.stack, 'default')).toMatchObject({
      [ENV.resumeWindowSeconds]: seconds,
    });
  });

  it.each([
    [
      'the props given',
      { frameBurst: 400, framesPerSecond: 3, frameRefusalsToClose: 50 },
      ['400', '3', '50'],
    ],
    // A burst that follows the caps in force, so a reconnect with every topic is never refused.
    [
      'defaults that follow maxSubscriptions and resumesPerWindow',
      { maxSubscriptions: 500, resumesPerWindow: 60 },
      ['1080', '10', '2160'],
    ],
    ['refusals to close that follow the burst given', { frameBurst: 200 }, ['200', '10', '400']],
    [
      'the smallest burst a reconnect needs',
      { frameBurst: LIMITS.maxSubscriptions + 2 },
      ['102', '10', '204'],
    ],
  ])("sets $default's frame allowance from %s", (_, props, [burst, perSecond, toClose]) => {
    const tuned = synth(props);
    expect(environmentOf(tuned.template, tuned.stack, 'default')).toMatchObject({
      [ENV.frameBurst]: burst,
      [ENV.framesPerSecond]: perSecond,
      [ENV.frameRefusalsToClose]: toClose,
    });
  });

  it.each([
    ['the props given', { uidFrameBurst: 5000, uidFramesPerSecond: 40 }, ['5000', '40']],
    // Every connection the uid may hold reconnecting at once, subscribing to and resuming every topic.
    ['defaults that follow the connection cap', { maxConnectionsPerUid: 5 }, ['1010', '20']],
    ['defaults that follow maxSubscriptions', { maxSubscriptions: 10, frameBurst: 12 }, ['440', '20']],
    // Never below one connection's own allowance.
    [
      "defaults raised to the connection's own",
      { maxConnectionsPerUid: 1, framesPerSecond: 30 },
      ['250', '30'],
    ],
  ])("sets the allowance a uid's connections share from %s", (_, props, [burst, perSecond]) => {
    const tuned = synth(props);
    expect(environmentOf(tuned.template, tuned.stack, 'default')).toMatchObject({
      [ENV.uidFrameBurst]: burst,
      [ENV.uidFramesPerSecond]: perSecond,
    });
  });

  it('gives each cap and setting only to the handlers that read it', () => {
    const holders = (name: string) =>
      DEPLOYED_HANDLERS.filter((handler) => name in environmentOf(template, stack, handler));
    expect(holders(ENV.maxSubscriptions)).toEqual(['default']);
    expect(holders(ENV.resumesPerWindow)).toEqual(['default']);
    expect(holders(ENV.resumesPerUidPerWindow)).toEqual(['default']);
    expect(holders(ENV.resumeWindowSeconds)).toEqual(['default']);
    expect(holders(ENV.frameBurst)).toEqual(['default']);
    expect(holders(ENV.framesPerSecond)).toEqual(['default']);
    expect(holders(ENV.frameRefusalsToClose)).toEqual(['default']);
    expect(holders(ENV.uidFrameBurst)).toEqual(['default']);
    expect(holders(ENV.uidFramesPerSecond)).toEqual(['default']);
    expect(holders(ENV.floodCoolOffSeconds)).toEqual(['default']);
    expect(holders(ENV.maxConnectionsPerUid)).toEqual(['connect']);
    expect(holders(ENV.connectGraceMs)).toEqual(['connect', 'default', 'publish', 'worker']);
    expect(holders(ENV.idRetentionSeconds)).toEqual(['publish', 'worker']);
  });

  it.each([
    ['maxSubscriptions', { maxSubscriptions: 0 }, 'maxSubscriptions must be a positive integer, got 0'],
    [
      'maxSubscriptions',
      { maxSubscriptions: LIMITS.maxSubscriptionsCeiling + 1 },
      "maxSubscriptions must be at most 1000 (the connection record lists every subscribed topic, and DynamoDB's items hold 400 KB), got 1001",
    ],
    [
      'maxConnectionsPerUid',
      { maxConnectionsPerUid: 1.5 },
      'maxConnectionsPerUid must be a positive integer, got 1.5',
    ],
    [
      'publishIdRetention',
      { publishIdRetention: Duration.seconds(0) },
      'publishIdRetention must be a positive integer, got 0',
    ],
    ['resumesPerWindow', { resumesPerWindow: 0 }, 'resumesPerWindow must be a positive integer, got 0'],
    ['resumesPerWindow', { resumesPerWindow: 2.5 }, 'resumesPerWindow must be a positive integer, got 2.5'],
    [
      'resumesPerUidPerWindow',
      { resumesPerUidPerWindow: 0 },
      'resumesPerUidPerWindow must be a positive integer, got 0',
    ],
    [
      'resumeWindow',
      { resumeWindow: Duration.seconds(0) },
      'resumeWindow must be a whole number of seconds from 1 to 7200, got 0 seconds',
    ],
    [
      'resumeWindow',
      { resumeWindow: Duration.millis(1500) },
      'resumeWindow must be a whole number of seconds from 1 to 7200, got 1 second 500 millis',
    ],
    [
      'resumeWindow',
      { resumeWindow: Duration.millis(500) },
      'resumeWindow must be a whole number of seconds from 1 to 7200, got 500 millis',
    ],
    ['frameBurst', { frameBurst: 0 }, 'frameBurst must be a positive integer, got 0'],
    ['fanoutConcurrency', { fanoutConcurrency: 0 }, 'fanoutConcurrency must be a positive integer, got 0'],
    [
      'tokenRotationInterval',
      { tokenRotationInterval: Duration.days(0) },
      'tokenRotationInterval must be from 4 hours to 1000 days, got 0 days',
    ],
    [
      'tokenRotationInterval',
      { tokenRotationInterval: Duration.days(1001) },
      'tokenRotationInterval must be from 4 hours to 1000 days, got 1001 days',
    ],
    [
      'sendTimeout',
      { sendTimeout: Duration.millis(0) },
      'sendTimeout (in milliseconds) must be a positive integer, got 0',
    ],
    [
      'messageLogMaxMessages',
      { messageLogMaxMessages: 2.5 },
      'messageLogMaxMessages must be a positive integer, got 2.5',
    ],
    [
      'messageLogRetention',
      { messageLogRetention: Duration.seconds(0) },
      'messageLogRetention (in seconds) must be a positive integer, got 0',
    ],
    [
      'frameBurst',
      { frameBurst: LIMITS.maxSubscriptions + 1 },
      "frameBurst must be at least 102 (a reconnect's subscribe for each of maxSubscriptions 100 topics, its resume and a ping), got 101",
    ],
    [
      'frameBurst',
      { maxSubscriptions: 300, frameBurst: LIMITS.frameBurst },
      "frameBurst must be at least 302 (a reconnect's subscribe for each of maxSubscriptions 300 topics, its resume and a ping), got 250",
    ],
    ['framesPerSecond', { framesPerSecond: 0.5 }, 'framesPerSecond must be a positive integer, got 0.5'],
    ['uidFrameBurst', { uidFrameBurst: 0 }, 'uidFrameBurst must be a positive integer, got 0'],
    [
      'uidFrameBurst',
      { uidFrameBurst: LIMITS.frameBurst - 1 },
      "uidFrameBurst must be at least frameBurst (250): one connection's own allowance, got 249",
    ],
    [
      'uidFramesPerSecond',
      { framesPerSecond: 30, uidFramesPerSecond: 29 },
      "uidFramesPerSecond must be at least framesPerSecond (30): one connection's own allowance, got 29",
    ],
    [
      'frameRefusalsToClose',
      { frameRefusalsToClose: 0 },
      'frameRefusalsToClose must be a positive integer, got 0',
    ],
    [
      'floodCoolOff',
      { floodCoolOff: Duration.millis(1500) },
      "floodCoolOff must be a whole number of seconds from 0 to 240 (it shares the uid's revocation record, which a kick may set to expire 5 minutes on), got 1 second 500 millis",
    ],
    [
      'floodCoolOff',
      { floodCoolOff: Duration.minutes(5) },
      "floodCoolOff must be a whole number of seconds from 0 to 240 (it shares the uid's revocation record, which a kick may set to expire 5 minutes on), got 5 minutes",
    ],
    [
      'resumeWindow',
      { resumeWindow: Duration.hours(3) },
      'resumeWindow must be a whole number of seconds from 1 to 7200, got 3 hours',
    ],
  ])('refuses a %s the handlers would refuse at cold start', (_, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });

  it('requires the token audience only when one is given', () => {
    const withAudience = synth({}, { 'push:tokenAudience': 'push.example.com' });
    expect(environmentOf(withAudience.template, withAudience.stack, 'authorizer')).toMatchObject({
      [ENV.tokenAudience]: 'push.example.com',
    });
    expect(environmentOf(template, stack, 'authorizer')).not.toHaveProperty(ENV.tokenAudience);
  });

  describe('settings kept per stage in push:stages (cdk.json), so no deploy of the stage forgets them', () => {
    const stages = {
      'push:stages': {
        prod: { 'push:tokenAudience': 'orders', 'push:logLevel': 'WARN' },
        dev: { 'push:tokenAudience': 'orders-dev' },
      },
    };
    it.each([
      ['the default stage, prod', {}, 'orders', 'WARN'],
      ['another stage', { 'push:stage': 'dev' }, 'orders-dev', 'INFO'],
      ['a stage with no block', { 'push:stage': 'qa' }, undefined, 'INFO'],
      ['a -c value, which wins over its stage', { 'push:tokenAudience': 'cli' }, 'cli', 'WARN'],
    ])('applies them to %s', (_, commandLine, audience, level) => {
      const staged = synth({}, { ...stages, ...commandLine });
      const env = environmentOf(staged.template, staged.stack, 'authorizer');
      expect(env[ENV.tokenAudience]).toBe(audience);
      expect(env[ENV.logLevel]).toBe(level);
    });

    it("picks the block of the stack's own stage: a stageName prop, not the context's", () => {
      // cdk.json says prod: a stack embedded as dev took prod's audience, alarm mail and grants.
      const embedded = synth({ stageName: 'dev' }, stages);
      expect(environmentOf(embedded.template, embedded.stack, 'authorizer')[ENV.tokenAudience]).toBe(
        'orders-dev',
      );
    });

    it('finds no block for a stage named after a member of every object', () => {
      const odd = synth({}, { ...stages, 'push:stage': 'constructor' });
      expect(environmentOf(odd.template, odd.stack, 'authorizer')).not.toHaveProperty(ENV.tokenAudience);
    });

    it.each([
      [
        'a block that is no object',
        { prod: 'orders' },
        'context push:stages.prod must be an object, got "orders"',
      ],
      [
        'stages that are no object',
        ['prod'],
        'context push:stages must be an object of stage names, got ["prod"]',
      ],
      [
        'a block naming the stack',
        { prod: { 'push:stackName': 'PushStack' } },
        'context push:stages may not set push:stackName for a stage: pass it with -c',
      ],
      [
        'a misspelt key',
        { prod: { 'push:alarmEmial': 'a@b.c' } },
        /sets push:alarmEmial, which is no setting: one of /,
      ],
    ])('refuses %s', (_, value, message) => {
      expect(() => synth({}, { 'push:stages': value })).toThrow(message);
    });
  });

  it.each([
    ['by default', {}, {}, 'INFO'],
    ['from the logLevel prop', { logLevel: 'WARN' as const }, {}, 'WARN'],
    ['from the push:logLevel context', {}, { 'push:logLevel': 'ERROR' }, 'ERROR'],
    ['from the prop over the context', { logLevel: 'DEBUG' as const }, { 'push:logLevel': 'ERROR' }, 'DEBUG'],
  ])("sets every function's log level %s", (_, props, context, level) => {
    const leveled = synth(props, context);
    for (const handler of DEPLOYED_HANDLERS) {
      expect(environmentOf(leveled.template, leveled.stack, handler)).toMatchObject({
        [ENV.logLevel]: level,
      });
    }
  });

  it('refuses a log level Powertools would not take from a deployment', () => {
    expect(() => synth({}, { 'push:logLevel': 'VERBOSE' })).toThrow(
      'logLevel must be one of DEBUG, INFO, WARN, ERROR, got "VERBOSE"',
    );
  });

  it('names the service after any stage but prod, so two stages in one account keep their metrics apart', () => {
    const dev = synth({}, { 'push:stage': 'dev' });
    for (const handler of DEPLOYED_HANDLERS) {
      expect(environmentOf(template, stack, handler)).toMatchObject({ [ENV.serviceName]: 'push' });
      expect(environmentOf(dev.template, dev.stack, handler)).toMatchObject({
        [ENV.serviceName]: 'push-dev',
      });
    }
    const body = JSON.stringify(Object.values(dev.template.findResources('AWS::CloudWatch::Dashboard'))[0]);
    expect(body).toContain('\\"service\\",\\"push-dev\\"');
    expect(body).not.toContain('\\"service\\",\\"push\\"');
  });

  it('names the service after push:serviceName, so two stacks of one stage keep their metrics and alarms apart', () => {
    const legacy = synth({}, { 'push:serviceName': 'push-legacy' });
    for (const handler of DEPLOYED_HANDLERS) {
      expect(environmentOf(legacy.template, legacy.stack, handler)).toMatchObject({
        [ENV.serviceName]: 'push-legacy',
      });
    }
    const dashboard = JSON.stringify(
      Object.values(legacy.template.findResources('AWS::CloudWatch::Dashboard'))[0],
    );
    expect(dashboard).toContain('\\"service\\",\\"push-legacy\\"');
    const alarms = Object.values(legacy.template.findResources('AWS::CloudWatch::Alarm'));
    const onMetrics = alarms.filter((alarm) => JSON.stringify(alarm).includes('"Name":"service"'));
    expect(onMetrics.length).toBeGreaterThan(0);
    for (const alarm of onMetrics) expect(JSON.stringify(alarm)).toContain('"Value":"push-legacy"');
    // The prop wins over the context, as every other setting's does.
    const both = synth({ serviceName: 'orders-push' }, { 'push:serviceName': 'push-legacy' });
    expect(environmentOf(both.template, both.stack, 'publish')).toMatchObject({
      [ENV.serviceName]: 'orders-push',
    });
  });

  it.each([
    ['a space', 'push legacy'],
    ['a slash', 'push/legacy'],
    ['129 characters', 'p'.repeat(129)],
  ])('refuses a service name with %s before anything is deployed', (_case, name) => {
    expect(() => synth({}, { 'push:serviceName': name })).toThrow(
      `serviceName ${JSON.stringify(name)} must be 1 to 128 characters of [A-Za-z0-9._-]`,
    );
    expect(() => synth({ serviceName: name })).toThrow('must be 1 to 128 characters');
  });

  it('names the service and the metrics namespace as given', () => {
    const named = synth({ serviceName: 'orders-push', metricsNamespace: 'Orders' });
    for (const handler of DEPLOYED_HANDLERS) {
      expect(environmentOf(named.template, named.stack, handler)).toMatchObject({
        [ENV.serviceName]: 'orders-push',
        [ENV.metricsNamespace]: 'Orders',
      });
    }
  });
});

describe('functions', () => {
  it.each(DEPLOYED_HANDLERS)('runs the %s handler on Node 24, arm64, traced', (handler) => {
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack.functions[handler])];
    expect(fn?.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: ref(stack.functions[handler].logGroup) },
    });
  });

  it('keeps function logs for a month and retains them by default', () => {
    const groups = template.findResources('AWS::Logs::LogGroup');
    for (const handler of DEPLOYED_HANDLERS) {
      const group = groups[logicalId(stack.functions[handler].logGroup)];
      expect(group).toMatchObject({ Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Retain' });
    }
  });

  it('gives the publish function a minute and 512 MB for a large fan-out', () => {
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack.publishFunction)];
    expect(fn?.Properties).toMatchObject({ Timeout: 60, MemorySize: 512 });
  });

  it('gives the shard worker five minutes and 512 MB per shard job', () => {
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack.workerFunction)];
    expect(fn?.Properties).toMatchObject({ Timeout: 300, MemorySize: 512 });
  });

  it.each([
    [
      'a publish timeout inside the batch start margin',
      { publishTimeout: Duration.seconds(5) },
      'publishTimeout must be at least 17 seconds (the 5000 ms a batch item needs left to start, plus 4 sends of up to 3000 ms each: sendAttempts × sendTimeout), got 5 seconds',
    ],
    [
      'a publish timeout shorter than the margin and one delivery of the tuned sends',
      { publishTimeout: Duration.seconds(30), sendTimeout: Duration.seconds(10) },
      'publishTimeout must be at least 45 seconds (the 5000 ms a batch item needs left to start, plus 4 sends of up to 10000 ms each: sendAttempts × sendTimeout), got 30 seconds',
    ],
    [
      'a worker timeout shorter than its stop margin and one delivery',
      { workerTimeout: Duration.seconds(34) },
      "workerTimeout must be at least 35 seconds (the worker's 22170 ms stop margin, plus 4 sends of up to 3000 ms each: sendAttempts × sendTimeout), got 34 seconds",
    ],
    [
      'a worker timeout shorter than its stop margin and one delivery of the tuned attempts',
      { workerTimeout: Duration.minutes(4), sendAttempts: 30 },
      "workerTimeout must be at least 4 minutes 18 seconds (the worker's 167294 ms stop margin, plus 30 sends of up to 3000 ms each: sendAttempts × sendTimeout), got 4 minutes",
    ],
    [
      'a worker timeout within the stop margin of a slow rate share',
      { workerTimeout: Duration.seconds(50), rateBudget: 160 },
      "workerTimeout must be at least 59 seconds (the worker's 46950 ms stop margin, plus 4 sends of up to 3000 ms each: sendAttempts × sendTimeout), got 50 seconds",
    ],
    ['no send attempt at all', { sendAttempts: 0 }, 'sendAttempts must be a positive integer, got 0'],
    [
      "a send timeout that leaves $default's resumes less time to post than it keeps in reserve",
      { sendTimeout: Duration.millis(4_501) },
      "sendTimeout (in milliseconds) must be at most 4500 (half the route functions' 10 s timeout, less the send's 500 ms grace: a resume or an eviction keeps one send's time in reserve), got 4501",
    ],
  ])('refuses %s', (_, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });

  it("takes a send timeout of half the route functions' timeout less its grace", () => {
    const longest = synth({ sendTimeout: Duration.millis(4_500) });
    const fn =
      longest.template.findResources('AWS::Lambda::Function')[logicalId(longest.stack.functions.default)];
    expect(fn?.Properties).toMatchObject({
      Timeout: 10,
      Environment: { Variables: { [ENV.sendTimeoutMs]: '4500' } },
    });
  });

  it('takes the shortest timeouts that still cover the margin and one delivery', () => {
    const tight = synth({ publishTimeout: Duration.seconds(17), workerTimeout: Duration.seconds(35) });
    const fns = tight.template.findResources('AWS::Lambda::Function');
    expect(fns[logicalId(tight.stack.publishFunction)]?.Properties).toMatchObject({ Timeout: 17 });
    expect(fns[logicalId(tight.stack.workerFunction)]?.Properties).toMatchObject({ Timeout: 35 });
  });

  it('reserves concurrency for $default (a bound on client frames) and the shard worker alone', () => {
    const reserved = Object.fromEntries(
      DEPLOYED_HANDLERS.flatMap((handler) => {
        const value =
          template.findResources('AWS::Lambda::Function')[logicalId(stack.functions[handler])]?.Properties
            .ReservedConcurrentExecutions;
        return value === undefined ? [] : [[handler, value]];
      }),
    );
    expect(reserved).toEqual({ default: 50, worker: 16 });
  });

  it('reserves concurrency for publish only when publishConcurrency is set, and refuses one that is not a positive integer', () => {
    const capped = synth({ publishConcurrency: 40 });
    const fns = capped.template.findResources('AWS::Lambda::Function');
    expect(fns[logicalId(capped.stack.publishFunction)]?.Properties.ReservedConcurrentExecutions).toBe(40);
    expect(() => synth({ publishConcurrency: 0 })).toThrow(/publishConcurrency/);
    expect(() => synth({ publishConcurrency: 2.5 })).toThrow(/publishConcurrency/);
  });

  it('throttles the $default route below the stage, and deploys the stage after the route its settings name', () => {
    const stages = template.findResources('AWS::ApiGatewayV2::Stage');
    const [stage] = Object.values(stages);
    expect(stage?.Properties.RouteSettings).toEqual({
      $default: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 250 },
    });
    expect(stage?.Properties.DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: 1000,
      ThrottlingBurstLimit: 500,
    });
    const routes = template.findResources('AWS::ApiGatewayV2::Route', {
      Properties: { RouteKey: '$default' },
    });
    expect(stage?.DependsOn).toEqual(expect.arrayContaining(Object.keys(routes)));
  });
});
