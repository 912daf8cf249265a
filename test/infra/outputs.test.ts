import { describe, expect, it } from 'vitest';
import { TABLES } from '../../lambdas/shared/tables';
import { getAtt, ref, synth } from './helpers';

const { stack, template } = synth();
const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
const url = (scheme: string) => ({
  'Fn::Join': [
    '',
    [
      `${scheme}://`,
      ref(stack.api),
      '.execute-api.',
      { Ref: 'AWS::Region' },
      '.',
      { Ref: 'AWS::URLSuffix' },
      '/prod',
    ],
  ],
});

describe('outputs', () => {
  it.each([
    ['WebSocketUrl', () => url('wss')],
    ['ManagementCallbackUrl', () => url('https')],
    ['PublishFunctionName', () => ref(stack.publishFunction)],
    ['PublishFunctionArn', () => getAtt(stack.publishFunction, 'Arn')],
    ['PublishTopicArn', () => ref(stack.publishTopic)],
    ['TokenSecretArn', () => ref(stack.tokenSecret)],
    ['MessageKeyArn', () => getAtt(stack.messageKey, 'Arn')],
    ['SubscriptionDeadLetterQueueUrl', () => ref(stack.publishIngress.subscriptionDeadLetterQueue)],
    ['InvokeFailureQueueUrl', () => ref(stack.publishIngress.invokeFailureQueue)],
    ['ShardQueueUrl', () => ref(stack.shardFanOut.queue)],
    ['ShardDeadLetterQueueUrl', () => ref(stack.shardFanOut.deadLetterQueue)],
    ['DashboardName', () => ref(stack.dashboard.dashboard)],
  ])('outputs %s', (name, value) => {
    expect(outputs[name]?.Value).toEqual(value());
  });

  it.each(TABLES.map((def) => [def.id, def] as const))('outputs the %s table name', (id, def) => {
    expect(outputs[`${id}TableName`]?.Value).toEqual(ref(stack.tables.table(def)));
  });
});
