import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/push-function';
import { DEPLOYED_HANDLERS } from '../../infra/push-stack';
import { getAtt, logicalId, ref, synth } from './helpers';

const { stack, template } = synth();

function alarmsOnIn(of: Template, metricName: string) {
  return Object.values(
    of.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: metricName } }),
  );
}

const alarmsOn = (metricName: string) => alarmsOnIn(template, metricName);

describe('alarms', () => {
  it('alarms on any publish function error', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: ref(stack.publishFunction) }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it("alarms on the authorizer's failures, not on its denials (which Lambda counts as errors too)", () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Push',
      MetricName: 'AuthorizerFailures',
      Dimensions: [{ Name: 'service', Value: 'push' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    const dev = synth({}, { 'push:stage': 'dev' });
    expect(alarmsOnIn(dev.template, 'AuthorizerFailures').map((a) => a.Properties.Dimensions)).toEqual([
      [{ Name: 'service', Value: 'push-dev' }],
    ]);
  });

  it('alarms on any SNS message the publish function refused: no failure queue holds it', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Push',
      MetricName: 'RejectedSnsMessages',
      Dimensions: [{ Name: 'service', Value: 'push' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmDescription: Match.stringLikeRegexp('in no failure queue'),
    });
  });

  it('alarms on any error of a whole shard worker run (timeout, crash, bad configuration)', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: ref(stack.workerFunction) }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmDescription: Match.stringLikeRegexp('returns to the shard queue'),
    });
  });

  it('alarms on any failed step of the token secret rotation', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: ref(stack.functions.rotateSecret) }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmDescription: Match.stringLikeRegexp('AWSPENDING blocks the next rotation'),
    });
  });

  it.each([
    ['SNS subscription dead-letter queue', () => stack.publishIngress.subscriptionDeadLetterQueue],
    ['invoke failure queue', () => stack.publishIngress.invokeFailureQueue],
    ['shard dead-letter queue', () => stack.shardFanOut.deadLetterQueue],
  ])('alarms as soon as the %s holds a message', (_name, queue) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: getAtt(queue(), 'QueueName') }],
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it.each([
    [
      'the publish function reaches four fifths of its timeout',
      () => stack.publishFunction,
      48_000,
      'raise publishTimeout',
    ],
    // 300 s less half the worker's 22.17 s stop margin: a run of a shard too big for one run lasts
    // until its stop, 22.17 s before the timeout, and that alone must not alarm.
    [
      'the shard worker goes on past its stop by half its stop margin',
      () => stack.workerFunction,
      288_915,
      'went on past its stop',
    ],
  ])('alarms when a run of %s', (_name, fn, threshold, advice) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Duration',
      Dimensions: [{ Name: 'FunctionName', Value: ref(fn()) }],
      Statistic: 'Maximum',
      Threshold: threshold,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmDescription: Match.stringLikeRegexp(advice),
    });
  });

  it('follows the configured publish and worker timeouts in the duration alarms', () => {
    const { stack: tuned, template: withTimeouts } = synth({
      publishTimeout: Duration.seconds(30),
      workerTimeout: Duration.minutes(10),
    });
    const thresholds = Object.fromEntries(
      alarmsOnIn(withTimeouts, 'Duration').map((alarm) => [
        alarm.Properties.Dimensions[0].Value.Ref,
        alarm.Properties.Threshold,
      ]),
    );
    expect(thresholds).toEqual({
      [logicalId(tuned.publishFunction)]: 24_000,
      [logicalId(tuned.workerFunction)]: 600_000 - 22_170 / 2,
    });
  });

  it('alarms when Lambda could not write a failed asynchronous publish to the invoke failure queue', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'DestinationDeliveryFailures',
      Dimensions: [{ Name: 'FunctionName', Value: ref(stack.publishFunction) }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it("alarms when SNS could not move an undeliverable message to the subscription's dead-letter queue", () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SNS',
      MetricName: 'NumberOfNotificationsFailedToRedriveToDlq',
      Dimensions: [{ Name: 'TopicName', Value: getAtt(stack.publishTopic, 'TopicName') }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('alarms on throttles of every function', () => {
    const watched = alarmsOn('Throttles').map((alarm) => alarm.Properties.Dimensions[0].Value);
    expect(watched).toEqual(DEPLOYED_HANDLERS.map((handler) => ref(stack.functions[handler])));
  });

  it("names the prop behind a throttled function's reserved concurrency, the limit it met", () => {
    const advice = (of: Template, built: typeof stack, handler: 'default' | 'publish' | 'connect') =>
      alarmsOnIn(of, 'Throttles').find(
        (alarm) =>
          JSON.stringify(alarm.Properties.Dimensions[0].Value) ===
          JSON.stringify(ref(built.functions[handler])),
      )?.Properties.AlarmDescription as string;
    expect(advice(template, stack, 'default')).toContain(
      'at its reserved concurrency: raise defaultConcurrency',
    );
    expect(advice(template, stack, 'connect')).toContain("raise the account's Lambda concurrency");
    expect(advice(template, stack, 'publish')).toContain("raise the account's Lambda concurrency");
    const capped = synth({ publishConcurrency: 10 });
    expect(advice(capped.template, capped.stack, 'publish')).toContain('raise publishConcurrency');
  });

  it('alarms when the oldest shard job has waited twice the worker timeout', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: getAtt(stack.shardFanOut.queue, 'QueueName') }],
      Statistic: 'Maximum',
      Threshold: 600,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('takes the shard queue age threshold from props, or from the worker timeout', () => {
    const ages = (props: Parameters<typeof synth>[0]) =>
      Object.values(
        synth(props).template.findResources('AWS::CloudWatch::Alarm', {
          Properties: { MetricName: 'ApproximateAgeOfOldestMessage' },
        }),
      ).map((alarm) => alarm.Properties.Threshold);
    expect(ages({ shardQueueMaxAge: Duration.minutes(3) })).toEqual([180]);
    expect(ages({ workerTimeout: Duration.minutes(2) })).toEqual([240]);
  });

  it('alarms on a spike of 4xx answered by the stage', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: 'ClientError',
      Dimensions: [
        { Name: 'ApiId', Value: ref(stack.api) },
        { Name: 'Stage', Value: 'prod' },
      ],
      Statistic: 'Sum',
      Threshold: 100,
    });
  });

  it('alarms on integration and execution errors of the stage together', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 5,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'FILL(integration, 0) + FILL(execution, 0)', ReturnData: true }),
        Match.objectLike({
          Id: 'integration',
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'IntegrationError' }) }),
        }),
        Match.objectLike({
          Id: 'execution',
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ExecutionError' }) }),
        }),
      ]),
    });
  });

  it('takes the API thresholds from props', () => {
    const { template: tuned } = synth({ apiClientErrorThreshold: 7, apiServerErrorThreshold: 3 });
    tuned.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ClientError', Threshold: 7 });
    tuned.hasResourceProperties('AWS::CloudWatch::Alarm', { Metrics: Match.anyValue(), Threshold: 3 });
  });

  it('has no actions when no target is given', () => {
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: Match.absent() });
    // Errors of publish, worker and the token rotation, the authorizer's failures, refused SNS
    // messages, the duration of publish and worker, three failure queues and the two ways into
    // them failing, one throttle alarm per function, the shard queue's age, and the two API alarms.
    expect(stack.alarms.alarms).toHaveLength(3 + 1 + 1 + 2 + 3 + 2 + DEPLOYED_HANDLERS.length + 1 + 2);
    // The synth says so, since the documented deploy lines alone give no target.
    Annotations.fromStack(stack).hasWarning(
      '*',
      Match.stringLikeRegexp('no alarm notifies anyone: pass -c push:alarmEmail'),
    );
  });

  it('notifies an email address through an encrypted topic of its own', () => {
    const { stack: mailed, template: withEmail } = synth({}, { 'push:alarmEmail': 'oncall@example.com' });
    withEmail.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
    const topicId = Object.keys(
      withEmail.findResources('AWS::SNS::Topic', { Properties: { DisplayName: 'Push service alarms' } }),
    )[0];
    withEmail.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: topicId }],
      OKActions: [{ Ref: topicId }],
    });
    expect(
      Annotations.fromStack(mailed).findWarning('*', Match.stringLikeRegexp('no alarm notifies anyone')),
    ).toEqual([]);
    const key = withEmail.findResources('AWS::KMS::Key')[logicalId(mailed.messageKey)];
    expect(key?.Properties.KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({ Principal: { Service: 'cloudwatch.amazonaws.com' } }),
    );
  });

  it('notifies an existing topic', () => {
    const ops = Topic.fromTopicArn(new Stack(), 'Ops', 'arn:aws:sns:us-east-1:111122223333:ops');
    const { template: withTopic } = synth({ alarmTopic: ops });
    withTopic.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: ['arn:aws:sns:us-east-1:111122223333:ops'],
    });
  });
});

describe('the alarms as documented', () => {
  const docs = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');

  it("has a row in docs/deploy.md's Alarms table for every alarm the stack creates", () => {
    const doc = docs('docs/deploy.md');
    const table = doc.slice(doc.indexOf('## Alarms\n'), doc.indexOf('## Dashboard\n'));
    const rows = [...table.matchAll(/^\| (.+?) \| /gm)].flatMap((m) =>
      [...(m[1] as string).matchAll(/`([^`]+)`/g)].map((n) => n[1] as string),
    );
    const documented = (id: string) =>
      rows.includes(id) || (id.endsWith('HandlerThrottles') && rows.includes('<Handler>HandlerThrottles'));
    expect(stack.alarms.alarms.map((a) => a.node.id).filter((id) => !documented(id))).toEqual([]);
  });

  it("names in the README's alarms every alarm on a handler metric, which a reader cannot tell from the metric list", () => {
    const readme = docs('README.md');
    const start = readme.indexOf('- **Dashboard and alarms:**');
    const bullet = readme.slice(start, readme.indexOf('\n- **', start + 1));
    const onHandlerMetrics = Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .filter((alarm) => alarm.Properties.Namespace === 'Push')
      .map((alarm) => alarm.Properties.MetricName as string);
    expect(onHandlerMetrics).toContain('AuthorizerFailures');
    for (const metric of onHandlerMetrics) expect(bullet).toContain(`\`${metric}\``);
  });
});
