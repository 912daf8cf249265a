/**
 * docs/deploy.md's settings table against the stack: every prop of `PushStack` (beyond CDK's own
 * `StackProps`) and every context key has a row. The list below is held to `PushStackProps` by
 * tsc (npm run typecheck), so a new prop fails to compile here until it is listed, and then this
 * test until the table documents it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackProps } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { CONTEXT } from '../../infra/context';
import { REPO_ROOT } from '../../infra/push-function';
import type { PushStackProps } from '../../infra/push-stack';
import { LIMITS, workerStopMarginMs } from '../../lambdas/shared/limits';
import { synth } from './helpers';

const PROPS = {
  stageName: true,
  removeOnDelete: true,
  allowProdRemoval: true,
  throttle: true,
  defaultRouteThrottle: true,
  defaultConcurrency: true,
  logRetention: true,
  publishers: true,
  tokenAudience: true,
  tokenRotationInterval: true,
  serviceName: true,
  tracing: true,
  fanoutConcurrency: true,
  sendTimeout: true,
  sendAttempts: true,
  connectGrace: true,
  maxSubscriptions: true,
  maxConnectionsPerUid: true,
  resumesPerWindow: true,
  resumesPerUidPerWindow: true,
  resumeWindow: true,
  frameBurst: true,
  framesPerSecond: true,
  frameRefusalsToClose: true,
  floodCoolOff: true,
  publishIdRetention: true,
  messageLogRetention: true,
  messageLogMaxMessages: true,
  topicHistory: true,
  metricsNamespace: true,
  publishTimeout: true,
  publishMemorySize: true,
  publishConcurrency: true,
  publishMaxEventAge: true,
  publishRetryAttempts: true,
  shardThreshold: true,
  rateBudget: true,
  workerConcurrency: true,
  workerTimeout: true,
  workerMemorySize: true,
  shardMaxReceiveCount: true,
  shardQueueMaxAge: true,
  alarmTopic: true,
  alarmEmail: true,
  apiClientErrorThreshold: true,
  apiServerErrorThreshold: true,
  configureAccountLogging: true,
  logLevel: true,
  uidFrameBurst: true,
  uidFramesPerSecond: true,
} satisfies Record<Exclude<keyof PushStackProps, keyof StackProps>, true>;

/** The settings table's rows: the names in each row's context and prop cells. */
function settingsTable(): { contexts: Set<string>; props: Set<string> } {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
  const start = doc.indexOf('| context | prop | default | what |');
  if (start === -1) throw new Error('docs/deploy.md has no settings table');
  const rows = doc.slice(start).split('\n\n')[0]?.split('\n').slice(2) ?? [];
  const names = (cell: string | undefined) =>
    [...(cell ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
  const contexts = new Set<string>();
  const props = new Set<string>();
  for (const row of rows) {
    const [, context, prop] = row.split('|');
    for (const name of names(context)) contexts.add(name);
    for (const name of names(prop)) props.add(name);
  }
  return { contexts, props };
}

describe("docs/deploy.md's settings table", () => {
  const { contexts, props } = settingsTable();

  it.each(Object.keys(PROPS))('has a row for the prop %s', (prop) => {
    expect(props).toContain(prop);
  });

  it.each(Object.values(CONTEXT))('has a row for the context key %s', (key) => {
    expect(contexts).toContain(key);
  });

  it('names no prop the stack does not have', () => {
    expect([...props].filter((prop) => !(prop in PROPS))).toEqual([]);
  });
});

describe("docs/deploy.md's reserved concurrency", () => {
  /** Lambda keeps this many of the account's executions unreserved. */
  const UNRESERVED_MINIMUM = 100;
  const reserved = Object.values(synth().template.findResources('AWS::Lambda::Function'))
    .map((fn) => (fn.Properties.ReservedConcurrentExecutions as number | undefined) ?? 0)
    .reduce((sum, n) => sum + n, 0);
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
  const bullet = doc.slice(doc.indexOf('- **Reserved concurrency**'), doc.indexOf('- **Failures.**'));

  it('states what one stage reserves at the defaults, and the quota one and two stages need', () => {
    expect(bullet).toContain(`executions, ${reserved} at the defaults`);
    expect(bullet).toContain(`at least ${reserved + UNRESERVED_MINIMUM} in its`);
    expect(bullet).toContain(`at least ${2 * reserved + UNRESERVED_MINIMUM}, plus`);
  });
});

describe("docs/deploy.md's shard run size", () => {
  it('states what one worker run delivers at the default rate budget, concurrency and timeout', () => {
    const { template } = synth();
    const worker = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (fn) => fn.Properties.Description === 'push: worker handler',
    );
    const rate = LIMITS.rateBudget / LIMITS.workerConcurrency;
    // A run delivers until its stop margin, not its timeout.
    const marginMs = workerStopMarginMs({
      sendAttempts: LIMITS.sendAttempts,
      sendTimeoutMs: LIMITS.sendTimeoutMs,
      concurrency: LIMITS.fanoutConcurrency,
      ratePerSecond: rate,
    });
    const perRun = rate * ((worker?.Properties.Timeout as number) - marginMs / 1000);
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8').replace(/\s+/g, ' ');
    const bullet = doc.slice(doc.indexOf('**A shard too big for one run**'));
    const n = (value: number) => value.toLocaleString('en-US');
    const about = (value: number, unit: number) => n(Math.round(value / unit) * unit);
    expect(bullet).toContain(`at ${n(rate)} deliveries/s`);
    expect(bullet).toContain(`delivers about ${about(perRun, 1_000)} connections before its stop margin`);
    expect(bullet).toContain(`about ${about(perRun * LIMITS.shards, 100_000)} fills`);
    expect(bullet).toContain(`${(marginMs / 1000).toFixed(1)} s before its timeout (the stop margin)`);
  });
});

describe("docs/deploy.md's worker sizing example", () => {
  it("quotes cost.md's sizing from the measured CPU, which follows from its own per-delivery figure", () => {
    const read = (file: string) => readFileSync(join(REPO_ROOT, 'docs', file), 'utf8').replace(/\s+/g, ' ');
    const cost = read('cost.md');
    const perDeliveryMs = Number(/At (\d+\.\d+) ms per delivery/.exec(cost)?.[1]);
    const costMb = Number(/a 10,000\/s budget .{0,60}? needs about (\d+) MB per worker/.exec(cost)?.[1]);
    const deployMb = Number(
      /a 10,000\/s budget over 16 workers needs about (\d+) MB/.exec(read('deploy.md'))?.[1],
    );
    // Lambda gives one vCPU at 1,769 MB; each worker holds the budget's share of deliveries/s.
    const share = 10_000 / LIMITS.workerConcurrency;
    expect(costMb).toBe(Math.round(share * (perDeliveryMs / 1000) * 1769));
    expect(deployMb).toBe(costMb);
  });
});
