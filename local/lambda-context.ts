/** The Lambda `Context` the local stack hands every invocation, in process or in a child process. */
import type { Context } from 'aws-lambda';

/** What varies between invocations; the rest is fixed. */
export interface ContextFields {
  readonly functionName: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  /** Epoch ms at which the invocation times out. */
  readonly deadline: number;
  readonly logStreamName: string;
}

/**
 * A Lambda `Context` whose `getRemainingTimeInMillis` counts down to `deadline`.
 *
 * @example
 * lambdaContext({ functionName: 'publish', invokedFunctionArn: arn, memoryLimitInMB: '1024',
 *   awsRequestId: randomUUID(), deadline: Date.now() + 29_000, logStreamName: 'local' });
 */
export function lambdaContext(fields: ContextFields): Context {
  const noop = () => {};
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fields.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: fields.invokedFunctionArn,
    memoryLimitInMB: fields.memoryLimitInMB,
    awsRequestId: fields.awsRequestId,
    logGroupName: `/aws/lambda/${fields.functionName}`,
    logStreamName: fields.logStreamName,
    getRemainingTimeInMillis: () => Math.max(0, fields.deadline - Date.now()),
    done: noop,
    fail: noop,
    succeed: noop,
  };
}
