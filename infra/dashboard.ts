import { Duration } from 'aws-cdk-lib';
import type { WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type GraphWidgetProps,
  type IAlarm,
  Metric,
  Stats,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS } from '../lambdas/shared/deployment';

/** A metric the handlers emit, by its key in `METRICS`. */
export type ServiceMetric = Exclude<keyof typeof METRICS, 'defaultNamespace'>;

/** The dimension Powertools Metrics puts on every metric: `Dimensions: [["service"]]`. */
export const SERVICE_DIMENSION = 'service';

/** Where a stage's handler metrics are: their namespace, and the service name they carry. */
export interface ServiceMetricSource {
  readonly namespace: string;
  readonly serviceName: string;
}

/**
 * One handler metric of a stage, summed per `period` unless `statistic` says otherwise: what the
 * dashboard graphs and the stack's alarms on handler metrics watch.
 */
export function serviceMetric(
  source: ServiceMetricSource,
  name: ServiceMetric,
  period: Duration,
  statistic: string = Stats.SUM,
): Metric {
  return new Metric({
    namespace: source.namespace,
    metricName: METRICS[name],
    dimensionsMap: { [SERVICE_DIMENSION]: source.serviceName },
    statistic,
    period,
  });
}

/** A graph of handler metrics, summed per period. */
interface ServiceGraph {
  readonly title: string;
  readonly metrics: readonly ServiceMetric[];
}

/** The handler metrics about clients, shown next to the API's own connection metrics. */
const CLIENT_GRAPH: ServiceGraph = {
  title: 'Connections (handlers)',
  metrics: ['connects', 'disconnects', 'authorizerDenials', 'authorizerFailures', 'floodedConnections'],
};

/** The handler metrics about publishing; a metric in no graph here gets a graph of its own. */
const PUBLISH_GRAPHS: readonly ServiceGraph[] = [
  { title: 'Publishes', metrics: ['publishes', 'stored', 'repeatedPublishes'] },
  { title: 'Deliveries', metrics: ['delivered', 'gone', 'failed', 'throttledRetries'] },
  { title: 'Refused input', metrics: ['rejectedRequests', 'rejectedSnsMessages', 'malformedShardJobs'] },
];

/** Durations are read as percentiles, not sums. */
const DURATION_METRICS: readonly ServiceMetric[] = ['fanOutDuration'];

/**
 * Handler metrics about the shard worker's runs, drawn with its own: a run that stopped in time and
 * handed its job on, and a job answered as failed for a retry, next to a run that failed (a
 * timeout among them).
 */
const WORKER_METRICS: readonly ServiceMetric[] = ['shardJobsContinued', 'shardJobRetries'];

/** The dashboard is a 24-column grid. */
const GRID_WIDTH = 24;

/** Properties of {@link PushDashboard}. */
export interface PushDashboardProps {
  /** CloudWatch namespace the handlers emit their EMF metrics to (`POWERTOOLS_METRICS_NAMESPACE`). */
  readonly namespace: string;
  /** Powertools service name, the value of the `service` dimension (`POWERTOOLS_SERVICE_NAME`). */
  readonly serviceName: string;
  /** The WebSocket stage whose own API Gateway metrics are shown. */
  readonly stage: WebSocketStage;
  /** Shard jobs waiting for a worker. */
  readonly shardQueue: IQueue;
  /** Shard jobs that failed every receive. */
  readonly shardDeadLetterQueue: IQueue;
  /** The shard worker, whose concurrency is drawn against its reserved limit. */
  readonly worker: IFunction;
  /** The worker's reserved concurrency, drawn as a line on its concurrency graph. */
  readonly workerConcurrency: number;
  /** Alarms shown as one status row at the top. @default none */
  readonly alarms?: readonly IAlarm[];
  /** Period of every graph. @default Duration.minutes(1) */
  readonly period?: Duration;
}

/**
 * The service's CloudWatch dashboard: every handler metric in `METRICS` (connects, disconnects,
 * authorizer denials, publishes, deliveries, gone, failed, throttled retries, fan-out duration),
 * the stage's own API Gateway metrics, the shard queue with its DLQ and the worker, under a row of
 * alarm states. Built from `METRICS`, so a metric added there shows up here without an edit.
 *
 * @example
 * new PushDashboard(this, 'Dashboard', { namespace: 'Push', serviceName: 'push', stage, … });
 */
export class PushDashboard extends Construct {
  /** The dashboard; CloudFormation names it, so two stages can share an account. */
  readonly dashboard: Dashboard;
  readonly #props: PushDashboardProps;
  readonly #period: Duration;

  constructor(scope: Construct, id: string, props: PushDashboardProps) {
    super(scope, id);
    this.#props = props;
    this.#period = props.period ?? Duration.minutes(1);
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    const alarms = props.alarms ?? [];
    if (alarms.length > 0) {
      this.dashboard.addWidgets(
        new AlarmStatusWidget({ title: 'Alarms', alarms: [...alarms], width: GRID_WIDTH }),
      );
    }
    for (const row of [this.#clientRow(), this.#publishRow(), this.#shardRow()]) {
      const width = Math.max(6, Math.floor(GRID_WIDTH / row.length));
      this.dashboard.addWidgets(...row.map((widget) => new GraphWidget({ ...widget, width })));
    }
  }

  /** One handler metric, summed per period unless `statistic` says otherwise. */
  serviceMetric(name: ServiceMetric, statistic: string = Stats.SUM): Metric {
    return serviceMetric(this.#props, name, this.#period, statistic);
  }

  /** Connections and client frames: the handlers' view next to API Gateway's. */
  #clientRow(): GraphWidgetProps[] {
    const { stage } = this.#props;
    const sum = (name: string) => stage.metric(name, { statistic: Stats.SUM, period: this.#period });
    return [
      this.#serviceGraph(CLIENT_GRAPH),
      { title: 'API: connections and messages', left: [sum('ConnectCount'), sum('MessageCount')] },
      { title: 'API: errors', left: [sum('ClientError'), sum('IntegrationError'), sum('ExecutionError')] },
      {
        title: 'API: integration latency (ms)',
        left: [Stats.p(50), Stats.p(99)].map((stat) =>
          stage.metric('IntegrationLatency', {
            statistic: stat,
            period: this.#period,
            label: `IntegrationLatency ${stat}`,
          }),
        ),
      },
    ];
  }

  /** Publishes and their deliveries, inline and sharded alike. */
  #publishRow(): GraphWidgetProps[] {
    const placed = new Set<ServiceMetric>([
      ...CLIENT_GRAPH.metrics,
      ...PUBLISH_GRAPHS.flatMap((graph) => graph.metrics),
      ...DURATION_METRICS,
      ...WORKER_METRICS,
    ]);
    const unplaced = (Object.keys(METRICS) as (keyof typeof METRICS)[]).filter(
      (key): key is ServiceMetric => key !== 'defaultNamespace' && !placed.has(key),
    );
    return [
      ...[...PUBLISH_GRAPHS, ...unplaced.map((key) => ({ title: METRICS[key], metrics: [key] }))].map(
        (graph) => this.#serviceGraph(graph),
      ),
      ...DURATION_METRICS.map((key) => ({
        title: `${METRICS[key]} (ms)`,
        left: [Stats.p(50), Stats.p(99), Stats.MAXIMUM].map((stat) =>
          this.serviceMetric(key, stat).with({ label: `${METRICS[key]} ${stat}` }),
        ),
      })),
    ];
  }

  /** The shard queue, its dead letters, and how many workers run against their reserved limit. */
  #shardRow(): GraphWidgetProps[] {
    const { shardQueue, shardDeadLetterQueue, worker, workerConcurrency } = this.#props;
    const max = { statistic: Stats.MAXIMUM, period: this.#period };
    const sum = { statistic: Stats.SUM, period: this.#period };
    return [
      {
        title: 'Shard queue',
        left: [
          shardQueue.metricApproximateNumberOfMessagesVisible({ ...max, label: 'Jobs waiting' }),
          shardQueue.metricApproximateNumberOfMessagesNotVisible({ ...max, label: 'Jobs running' }),
        ],
        right: [shardQueue.metricApproximateAgeOfOldestMessage({ ...max, label: 'Oldest job (s)' })],
      },
      {
        title: 'Shard dead-letter queue',
        left: [
          shardDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ ...max, label: 'Failed jobs' }),
        ],
      },
      {
        title: 'Shard worker',
        left: [
          worker.metric('ConcurrentExecutions', { ...max, label: 'Concurrent workers' }),
          worker.metricThrottles(sum),
          worker.metricErrors(sum),
          ...WORKER_METRICS.map((key) => this.serviceMetric(key)),
        ],
        leftAnnotations: [{ value: workerConcurrency, label: 'Reserved concurrency' }],
      },
    ];
  }

  #serviceGraph(graph: ServiceGraph): GraphWidgetProps {
    return { title: graph.title, left: graph.metrics.map((key) => this.serviceMetric(key)) };
  }
}
