/** The Lambda Context the local stack builds for every invocation (local/lambda-context.ts). */
import { describe, expect, it } from 'vitest';
import { lambdaContext } from '../../local/lambda-context';

const fields = {
  functionName: 'publish',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:publish',
  memoryLimitInMB: '1024',
  awsRequestId: 'req-1',
  logStreamName: 'local',
};

describe('lambdaContext', () => {
  it('carries the fields, names the log group after the function and counts down to the deadline', () => {
    const context = lambdaContext({ ...fields, deadline: Date.now() + 5_000 });
    expect(context).toMatchObject({
      ...fields,
      functionVersion: '$LATEST',
      logGroupName: '/aws/lambda/publish',
      callbackWaitsForEmptyEventLoop: true,
    });
    const remaining = context.getRemainingTimeInMillis();
    expect(remaining).toBeGreaterThan(4_000);
    expect(remaining).toBeLessThanOrEqual(5_000);
  });

  it('never reports negative time once the deadline has passed', () => {
    expect(lambdaContext({ ...fields, deadline: Date.now() - 1_000 }).getRemainingTimeInMillis()).toBe(0);
  });
});
