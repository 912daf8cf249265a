import { Duration } from 'aws-cdk-lib';
import type { WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  type IAlarmAction,
  type IMetric,
  MathExpression,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Properties of {@link PushAlarms}. */
export interface PushAlarmsProps {
  /** Where every alarm (and its recovery) is sent. @default - alarms only change state */
  readonly actions?: readonly IAlarmAction[];
}

/** Thresholds of the API error alarms, per 5 minutes. */
export interface ApiErrorThresholds {
  /**
   * 4xx answered by API Gateway before any integration ran: refused tokens and throttling.
   * Some are normal (expired tokens), so only a spike alarms.
   */
  readonly clientErrors: number;
  /** Integration and execution errors: our handlers failing. */
  readonly serverErrors: number;
}

const PERIOD = Duration.minutes(5);

/**
 * Share of a function's timeout at which its longest run in 5 minutes alarms. A run that long is
 * one slow delivery away from timing out, and a timeout shows in `Errors` only once work is lost
 * or late; this says so while there is still room to raise the timeout or shrink the work.
 */
export const DURATION_ALARM_FRACTION = 0.8;

/**
 * The service's CloudWatch alarms. Each `add*` call watches one more resource, so later parts
 * (a shard queue, a worker function) join the same alarms and actions, and a dashboard can read
 * `alarms`.
 */
export class PushAlarms extends Construct {
  readonly #actions: readonly IAlarmAction[];
  readonly #alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: PushAlarmsProps = {}) {
    super(scope, id);
    this.#actions = props.actions ?? [];
  }

  /** Every alarm created so far. */
  get alarms(): readonly Alarm[] {
    return this.#alarms;
  }

  /**
   * Alarms on any error of `fn` in 5 minutes: for functions whose errors lose or delay a delivery.
   * `consequence` tells the reader what happened to the work that failed.
   */
  watchErrors(
    id: string,
    fn: IFunction,
    what: string,
    consequence = 'an asynchronous failure lands in the invoke failure queue',
  ): Alarm {
    return this.#add(`${id}Errors`, fn.metricErrors({ period: PERIOD, statistic: Stats.SUM }), {
      threshold: 1,
      description: `${what} failed: check its logs; ${consequence}.`,
    });
  }

  /**
   * Alarms on any count of a handler metric in 5 minutes (`metric`, summed per period): for the
   * failures a function's own `Errors` cannot tell apart from normal answers.
   */
  watchCount(id: string, metric: IMetric, description: string): Alarm {
    return this.#add(id, metric, { threshold: 1, description });
  }

  /**
   * Alarms on any throttled invocation of `fn`: a throttled route handler drops a client frame.
   * `reservedBy` names the prop that set its reserved concurrency, when one did: the limit it met.
   */
  watchThrottles(id: string, fn: IFunction, what: string, reservedBy?: string): Alarm {
    return this.#add(`${id}Throttles`, fn.metricThrottles({ period: PERIOD, statistic: Stats.SUM }), {
      threshold: 1,
      description:
        reservedBy === undefined
          ? `${what} was throttled: raise the account's Lambda concurrency or reserve some for it.`
          : `${what} was throttled at its reserved concurrency: raise ${reservedBy} if the load is expected, else find what floods it.`,
    });
  }

  /**
   * Alarms when a run of `fn` took `thresholdMs` or longer (the longest run in 5 minutes): by
   * default {@link DURATION_ALARM_FRACTION} of `timeout`; a function that runs up to a stop of its
   * own before the timeout gives a threshold past that stop. `advice` tells the reader what to change.
   */
  watchDuration(
    id: string,
    fn: IFunction,
    timeout: Duration,
    what: string,
    advice: string,
    thresholdMs = Math.floor(timeout.toMilliseconds() * DURATION_ALARM_FRACTION),
  ): Alarm {
    const share = Math.round((thresholdMs / timeout.toMilliseconds()) * 100);
    return this.#add(`${id}Duration`, fn.metricDuration({ period: PERIOD, statistic: Stats.MAXIMUM }), {
      threshold: thresholdMs,
      description:
        `${what} ran for ${thresholdMs} ms or more, ${share}% of its ` +
        `${timeout.toHumanString()} timeout: ${advice}.`,
    });
  }

  /**
   * Alarms on any asynchronous invocation record of `fn` that Lambda failed to send to its
   * destination (a record too big for the queue, a permission or key refused): the failure queue
   * never receives it, so its own alarm stays silent and the publish is lost.
   */
  watchDestinationDelivery(id: string, fn: IFunction, what: string): Alarm {
    const failures = fn.metric('DestinationDeliveryFailures', { period: PERIOD, statistic: Stats.SUM });
    return this.#add(`${id}DestinationDeliveryFailures`, failures, {
      threshold: 1,
      description:
        `${what} failed and Lambda could not write its record to the invoke failure queue: the ` +
        'publish is lost and no queue holds it; look for it in the function logs by request id.',
    });
  }

  /**
   * Alarms on any message SNS failed to move to the dead-letter queue of a subscription of
   * `topic`: such a message is lost, and the dead-letter queue's own alarm never sees it.
   */
  watchTopicRedrive(id: string, topic: ITopic, what: string): Alarm {
    const failures = topic.metric('NumberOfNotificationsFailedToRedriveToDlq', {
      period: PERIOD,
      statistic: Stats.SUM,
    });
    return this.#add(`${id}RedriveFailures`, failures, {
      threshold: 1,
      description:
        `${what} could not deliver a message and could not move it to the subscription's dead-letter ` +
        "queue either: the message is lost; check the queue's policy and its key policy.",
    });
  }

  /** Alarms as soon as a dead-letter queue holds a message: each one is a lost push. */
  watchDeadLetterQueue(id: string, queue: IQueue, what: string): Alarm {
    const visible = queue.metricApproximateNumberOfMessagesVisible({
      period: PERIOD,
      statistic: Stats.MAXIMUM,
    });
    return this.#add(`${id}Messages`, visible, {
      threshold: 1,
      description: `${what} holds undelivered messages: inspect them, fix the cause, then redrive.`,
    });
  }

  /**
   * Alarms when the oldest message of `queue` has waited `threshold` or longer: its consumers are
   * saturated or failing, and every push in the queue is late.
   */
  watchQueueAge(id: string, queue: IQueue, threshold: Duration, what: string): Alarm {
    const age = queue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: Stats.MAXIMUM });
    return this.#add(`${id}Age`, age, {
      threshold: threshold.toSeconds(),
      description:
        `${what} has held a message for ${threshold.toHumanString()} or more: the workers are ` +
        'saturated (raise the worker concurrency or the rate budget) or a job keeps failing (see the worker logs).',
    });
  }

  /** Alarms on spikes of client (4xx) and server errors of the WebSocket stage. */
  watchApi(stage: WebSocketStage, thresholds: ApiErrorThresholds): Alarm[] {
    const sum = { period: PERIOD, statistic: Stats.SUM };
    const serverErrors = new MathExpression({
      // FILL: either metric is missing in a period without errors, and a sum with a missing
      // term is missing, not the other term.
      expression: 'FILL(integration, 0) + FILL(execution, 0)',
      usingMetrics: {
        integration: stage.metric('IntegrationError', sum),
        execution: stage.metric('ExecutionError', sum),
      },
      period: PERIOD,
      label: 'Integration and execution errors',
    });
    return [
      this.#add('ApiClientErrors', stage.metric('ClientError', sum), {
        threshold: thresholds.clientErrors,
        description:
          'WebSocket 4xx spike (refused tokens, throttling): look for a token-minting bug or a client flood.',
      }),
      this.#add('ApiServerErrors', serverErrors, {
        threshold: thresholds.serverErrors,
        description: 'WebSocket integration errors: the route handlers are failing; check their logs.',
      }),
    ];
  }

  #add(id: string, metric: IMetric, options: { threshold: number; description: string }): Alarm {
    const alarm = new Alarm(this, id, {
      metric,
      threshold: options.threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // Every metric here is only emitted when something happens: no data means nothing failed.
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    for (const action of this.#actions) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
    this.#alarms.push(alarm);
    return alarm;
  }
}
