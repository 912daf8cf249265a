import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SERVICE_DIMENSION } from '../../infra/dashboard';
import { METRICS } from '../../lambdas/shared/deployment';
import { LIMITS } from '../../lambdas/shared/limits';
import { getAtt, ref, synth } from './helpers';

/** One line of a graph: `[namespace, name, dimension, value, …, { stat, … }]`. */
type MetricLine = unknown[];

interface Widget {
  readonly type: string;
  readonly width: number;
  readonly properties: {
    readonly title: string;
    readonly metrics?: MetricLine[];
    readonly alarms?: string[];
    readonly annotations?: { horizontal: { value: number; label: string }[] };
  };
}

/**
 * The dashboard body as JSON. It is synthesized as an Fn::Join of JSON text and tokens (API id,
 * queue names, alarm ARNs, Region); each token becomes the string `JSON.stringify(token)`, so
 * tests compare against `token(ref(…))`.
 */
function dashboardBody(t: Template): { widgets: Widget[] } {
  const dashboards = Object.values(t.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const parts = dashboards[0]?.Properties.DashboardBody['Fn::Join'][1] as unknown[];
  const text = parts
    .map((part) => (typeof part === 'string' ? part : JSON.stringify(token(part)).slice(1, -1)))
    .join('');
  return JSON.parse(text);
}

const token = (value: unknown) => JSON.stringify(value);

const { stack, template } = synth();
const widgets = dashboardBody(template).widgets;
const lines = widgets.flatMap((w) => (w.properties.metrics ?? []).map((line) => ({ widget: w, line })));
const serviceMetrics = Object.entries(METRICS).filter(([key]) => key !== 'defaultNamespace');

/** The lines graphing `metricName` in `namespace`. */
function linesOf(namespace: string, metricName: string, from = lines) {
  return from.filter(({ line }) => line[0] === namespace && line[1] === metricName);
}

describe('dashboard', () => {
  it('lets CloudFormation name it, so two stages can share an account', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    expect(
      Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties.DashboardName,
    ).toBeUndefined();
  });

  it.each(serviceMetrics)(
    "graphs the handlers' %s metric (%s) with the Powertools service dimension",
    (_key, name) => {
      const found = linesOf(METRICS.defaultNamespace, name);
      expect(found.length).toBeGreaterThan(0);
      for (const { line } of found) expect(line.slice(2, 4)).toEqual([SERVICE_DIMENSION, 'push']);
    },
  );

  it('sums every count and reads the fan-out duration as percentiles', () => {
    const stats = (name: string) =>
      linesOf(METRICS.defaultNamespace, name).map(({ line }) => (line.at(-1) as { stat: string }).stat);
    for (const [key, name] of serviceMetrics) {
      if (key === 'fanOutDuration') expect(stats(name)).toEqual(['p50', 'p99', 'Maximum']);
      else expect(stats(name)).toEqual(['Sum']);
    }
  });

  it('reads the namespace and service name the handlers are given', () => {
    const named = synth({ metricsNamespace: 'Orders', serviceName: 'orders-push' });
    const namedLines = dashboardBody(named.template).widgets.flatMap((w) =>
      (w.properties.metrics ?? []).map((line) => ({ widget: w, line })),
    );
    for (const [, name] of serviceMetrics) {
      const found = linesOf('Orders', name, namedLines);
      expect(found.length).toBeGreaterThan(0);
      for (const { line } of found) expect(line.slice(2, 4)).toEqual([SERVICE_DIMENSION, 'orders-push']);
    }
    expect(linesOf(METRICS.defaultNamespace, METRICS.publishes, namedLines)).toEqual([]);
  });

  it.each([
    'ConnectCount',
    'MessageCount',
    'IntegrationError',
    'ClientError',
    'ExecutionError',
    'IntegrationLatency',
  ])("graphs the stage's own %s", (name) => {
    const found = linesOf('AWS/ApiGateway', name);
    expect(found.length).toBeGreaterThan(0);
    for (const { line } of found)
      expect(line.slice(2, 6)).toEqual(['ApiId', token(ref(stack.api)), 'Stage', 'prod']);
  });

  it.each([
    ['ApproximateNumberOfMessagesVisible', 'jobs waiting'],
    ['ApproximateNumberOfMessagesNotVisible', 'jobs running'],
    ['ApproximateAgeOfOldestMessage', 'age of the oldest job'],
  ])('graphs the shard queue %s (%s)', (name) => {
    const queueName = token(getAtt(stack.shardFanOut.queue, 'QueueName'));
    expect(linesOf('AWS/SQS', name).filter(({ line }) => line[3] === queueName)).toHaveLength(1);
  });

  it('graphs the jobs in the shard dead-letter queue', () => {
    const queueName = token(getAtt(stack.shardFanOut.deadLetterQueue, 'QueueName'));
    const found = linesOf('AWS/SQS', 'ApproximateNumberOfMessagesVisible').filter(
      ({ line }) => line[3] === queueName,
    );
    expect(found.map(({ widget }) => widget.properties.title)).toEqual(['Shard dead-letter queue']);
  });

  it('draws the concurrent workers against their reserved concurrency', () => {
    const [found] = linesOf('AWS/Lambda', 'ConcurrentExecutions');
    expect(found?.line.slice(2, 4)).toEqual(['FunctionName', token(ref(stack.workerFunction))]);
    expect(found?.widget.properties.annotations?.horizontal).toEqual([
      { value: LIMITS.workerConcurrency, label: 'Reserved concurrency', yAxis: 'left' },
    ]);
  });

  it.each([
    ['continued shard jobs', METRICS.shardJobsContinued],
    ['shard jobs sent back for a retry', METRICS.shardJobRetries],
  ])("graphs %s on the worker's graph, beside its errors", (_what, name) => {
    const found = linesOf(METRICS.defaultNamespace, name);
    expect(found.map(({ widget }) => widget.properties.title)).toEqual(['Shard worker']);
    expect(
      linesOf(
        'AWS/Lambda',
        'Errors',
        [...found.map(({ widget }) => widget)].flatMap((w) =>
          (w.properties.metrics ?? []).map((line) => ({ widget: w, line })),
        ),
      ),
    ).toHaveLength(1);
  });

  it('shows the state of every alarm first', () => {
    const [first] = widgets;
    expect(first?.type).toBe('alarm');
    expect(first?.properties.alarms).toEqual(stack.alarms.alarms.map((alarm) => token(getAtt(alarm, 'Arn'))));
  });

  it('fills each row of the 24-column grid', () => {
    const graphs = widgets.filter((w) => w.type === 'metric');
    expect(graphs.reduce((sum, w) => sum + w.width, 0) % 24).toBe(0);
  });
});
