import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import type { PushStackProps } from '../../infra/push-stack';
import { VISIBILITY_TIMEOUT_FACTOR } from '../../infra/shard-fanout';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import { getAtt, logicalId, ref, type Synthesized, synth } from './helpers';

const defaults = synth();
const { stack, template } = defaults;
const { queue, deadLetterQueue } = stack.shardFanOut;
// One stack with every sharding prop changed, shared by the tests that each check one passes through.
const tuned = synth({ workerTimeout: Duration.minutes(2), shardMaxReceiveCount: 10, workerConcurrency: 4 });

type ShardQueue = 'queue' | 'deadLetterQueue';

function queueResource(s: Synthesized, which: ShardQueue) {
  return s.template.findResources('AWS::SQS::Queue')[logicalId(s.stack.shardFanOut[which])];
}

function queueProps(s: Synthesized, which: ShardQueue) {
  return queueResource(s, which)?.Properties;
}

function worker(s: Synthesized) {
  return s.template.findResources('AWS::Lambda::Function')[logicalId(s.stack.workerFunction)]?.Properties;
}

function eventSource(s: Synthesized) {
  const mappings = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping'));
  expect(mappings).toHaveLength(1);
  return mappings[0]?.Properties;
}

describe('shard queue', () => {
  it("is encrypted with the stack's message key, as is its dead-letter queue: jobs carry message bodies", () => {
    const key = getAtt(stack.messageKey, 'Arn');
    expect(queueProps(defaults, 'queue')).toMatchObject({ KmsMasterKeyId: key });
    expect(queueProps(defaults, 'deadLetterQueue')).toMatchObject({ KmsMasterKeyId: key });
    expect(queueProps(defaults, 'queue')?.SqsManagedSseEnabled).toBeUndefined();
  });

  it.each([
    ['shard queue', () => queue],
    ['shard dead-letter queue', () => deadLetterQueue],
  ])('refuses requests to the %s without TLS', (_name, which) => {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [ref(which())],
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Deny',
            Action: 'sqs:*',
            Principal: { AWS: '*' },
            Resource: getAtt(which(), 'Arn'),
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      },
    });
  });

  it('hides a received job for at least six worker timeouts, as AWS recommends for Lambda', () => {
    expect(VISIBILITY_TIMEOUT_FACTOR).toBeGreaterThanOrEqual(6);
    expect(queueProps(defaults, 'queue')?.VisibilityTimeout).toBe(
      VISIBILITY_TIMEOUT_FACTOR * worker(defaults)?.Timeout,
    );
  });

  it('follows the workerTimeout prop with both the function and the visibility timeout', () => {
    expect(worker(tuned)?.Timeout).toBe(120);
    expect(queueProps(tuned, 'queue')?.VisibilityTimeout).toBe(VISIBILITY_TIMEOUT_FACTOR * 120);
  });

  it('moves a job to the dead-letter queue after 5 receives', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: getAtt(deadLetterQueue, 'Arn'), maxReceiveCount: 5 },
    });
  });

  it('takes the receives before the dead-letter queue from props', () => {
    expect(queueProps(tuned, 'queue')?.RedrivePolicy.maxReceiveCount).toBe(10);
  });

  it("tells the worker the redrive policy's maxReceiveCount, which its retry backoffs are spread over", () => {
    expect(worker(defaults)?.Environment.Variables[ENV.shardMaxReceiveCount]).toBe(
      String(queueProps(defaults, 'queue')?.RedrivePolicy.maxReceiveCount),
    );
    expect(worker(tuned)?.Environment.Variables[ENV.shardMaxReceiveCount]).toBe('10');
  });

  it.each([0, 1001, 2.5])('refuses a maxReceiveCount of %s, outside SQS range', (count) => {
    expect(() => synth({ shardMaxReceiveCount: count })).toThrow(
      `maxReceiveCount must be an integer from 1 to 1000, got ${count}`,
    );
  });

  it("keeps dead-lettered jobs for 14 days, longer than the shard queue's 4", () => {
    expect(queueProps(defaults, 'queue')?.MessageRetentionPeriod).toBe(4 * 86_400);
    expect(queueProps(defaults, 'deadLetterQueue')?.MessageRetentionPeriod).toBe(14 * 86_400);
  });

  it('retains both queues by default and deletes them with push:removeOnDelete', () => {
    const policies = (s: Synthesized) =>
      (['queue', 'deadLetterQueue'] as const).map((which) => queueResource(s, which)?.DeletionPolicy);
    expect(policies(defaults)).toEqual(['Retain', 'Retain']);
    expect(policies(synth({}, { 'push:stage': 'dev', 'push:removeOnDelete': true }))).toEqual([
      'Delete',
      'Delete',
    ]);
  });
});

describe('shard worker event source', () => {
  it('feeds the worker from the shard queue, one job per invocation', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: getAtt(queue, 'Arn'),
      FunctionName: ref(stack.workerFunction),
      BatchSize: 1,
    });
  });

  it('reports failed jobs as batch item failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('starts no more workers than the reserved concurrency, so the poller is never throttled', () => {
    expect(eventSource(defaults)?.ScalingConfig).toEqual({ MaximumConcurrency: LIMITS.workerConcurrency });
  });

  it("leaves the event source uncapped for a single worker, below Lambda's minimum of 2", () => {
    expect(eventSource(synth({ workerConcurrency: 1 }))?.ScalingConfig).toBeUndefined();
  });
});

describe('rate budget', () => {
  it('reserves the worker concurrency that the worker splits the rate budget by', () => {
    const props = worker(defaults);
    expect(props?.ReservedConcurrentExecutions).toBe(LIMITS.workerConcurrency);
    expect(props?.Environment.Variables[ENV.workerConcurrency]).toBe(
      String(props?.ReservedConcurrentExecutions),
    );
  });

  it('sets reserved concurrency, the env value and the event source cap from the one workerConcurrency prop', () => {
    expect(worker(tuned)?.ReservedConcurrentExecutions).toBe(4);
    expect(worker(tuned)?.Environment.Variables[ENV.workerConcurrency]).toBe('4');
    expect(eventSource(tuned)?.ScalingConfig).toEqual({ MaximumConcurrency: 4 });
  });

  it('gives the worker the whole-system budget to split', () => {
    const props = worker(defaults);
    expect(props?.Environment.Variables[ENV.rateBudget]).toBe(String(LIMITS.rateBudget));
  });

  it.each([
    ['rateBudget', { rateBudget: 0 }, 0],
    ['workerConcurrency', { workerConcurrency: -1 }, -1],
    ['workerConcurrency', { workerConcurrency: 1.5 }, 1.5],
    ['shardThreshold', { shardThreshold: 0 }, 0],
  ] as [string, PushStackProps, number][])(
    'refuses a %s the handlers would refuse at cold start',
    (name, props, value) => {
      expect(() => synth(props)).toThrow(`${name} must be a positive integer, got ${value}`);
    },
  );
});
