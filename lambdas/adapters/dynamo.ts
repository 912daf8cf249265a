import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { PushError, ThrottledError, UnavailableError } from '../shared/errors';

/*
 * What every DynamoDB adapter shares: SDK errors translated into the project's errors once, here
 * at the boundary, and a paged Query.
 */

const THROTTLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);

/** Translates an SDK error into the project's errors, once, here at the boundary. */
export function translateDynamoError(error: unknown, operation: string): PushError {
  if (error instanceof PushError) return error;
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.name !== undefined && THROTTLE_NAMES.has(e.name)) {
    return new ThrottledError(`DynamoDB throttled ${operation}`, { cause: error });
  }
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined || status >= 500) {
    return new UnavailableError(`DynamoDB unavailable during ${operation}`, { cause: error });
  }
  return new PushError('internal', `DynamoDB rejected ${operation}: ${e?.name ?? 'unknown error'}`, {
    cause: error,
  });
}

/** Runs one DynamoDB call, translating its failure into the project's errors. */
export async function dynamoCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translateDynamoError(error, operation);
  }
}

/**
 * Runs a Query through every page, handing each item to `onItem`; failures are translated. With
 * `limit`, stops once that many items were read and resolves false if the Query had more (a page
 * cut at the limit counts as more: DynamoDB cannot say whether anything follows it).
 */
export async function queryEach(
  doc: DynamoDBDocumentClient,
  input: QueryCommandInput,
  onItem: (item: Record<string, unknown>) => void,
  limit = Number.POSITIVE_INFINITY,
): Promise<boolean> {
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  let read = 0;
  do {
    const remaining = limit - read;
    const query = new QueryCommand({
      ...input,
      ExclusiveStartKey,
      ...(Number.isFinite(remaining) ? { Limit: remaining } : {}),
    });
    const page = await dynamoCall('Query', () => doc.send(query));
    for (const item of page.Items ?? []) onItem(item);
    read += page.Items?.length ?? 0;
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey !== undefined && read < limit);
  return ExclusiveStartKey === undefined;
}
