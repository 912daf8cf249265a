import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { getAtt, logicalId, ref, synth } from './helpers';

const { stack, template } = synth();

function schedules(t: typeof template) {
  return Object.values(t.findResources('AWS::SecretsManager::RotationSchedule'));
}

describe('token secret rotation', () => {
  it('rotates the token secret with the rotation function every 30 days by default', () => {
    expect(schedules(template).map((schedule) => schedule.Properties)).toEqual([
      {
        SecretId: ref(stack.tokenSecret),
        RotationLambdaARN: getAtt(stack.functions.rotateSecret, 'Arn'),
        RotationRules: { ScheduleExpression: 'rate(30 days)' },
        RotateImmediatelyOnUpdate: false,
      },
    ]);
  });

  it('does not rotate when a deploy creates or changes the schedule', () => {
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      RotateImmediatelyOnUpdate: false,
    });
    const { template: tuned } = synth({ tokenRotationInterval: Duration.days(7) });
    tuned.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      RotateImmediatelyOnUpdate: false,
    });
  });

  it.each([
    [Duration.days(7), 'rate(7 days)'],
    [Duration.hours(12), 'rate(12 hours)'],
  ])('takes the interval from tokenRotationInterval (%s)', (interval, expression) => {
    const { template: tuned } = synth({ tokenRotationInterval: interval });
    expect(schedules(tuned).map((schedule) => schedule.Properties.RotationRules)).toEqual([
      { ScheduleExpression: expression },
    ]);
  });

  it('refuses an interval shorter than the 4 hours Secrets Manager allows, at synth', () => {
    expect(() => synth({ tokenRotationInterval: Duration.hours(1) })).toThrow(
      'tokenRotationInterval must be from 4 hours to 1000 days, got 1 hour',
    );
  });

  it('gives the rotation function a timeout that covers a step and its SDK retries', () => {
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack.functions.rotateSecret)];
    expect(fn?.Properties).toMatchObject({ Timeout: 30, Description: 'push: rotateSecret handler' });
  });
});
