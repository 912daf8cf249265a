import {
  type AttributeValue,
  QueryCommand as ItemQueryCommand,
  type QueryCommandInput as ItemQueryInput,
  type QueryCommandOutput as ItemQueryOutput,
} from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { PushError, TableMissingError, ThrottledError, UnavailableError } from '../shared/errors';

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

/**
 * Translates an SDK error into the project's errors, once, here at the boundary. A table that is
 * not there (`ResourceNotFoundException`: deleted and not yet created again, or a name that points
 * nowhere) is `unavailable`, as a failing DynamoDB is: nothing the caller sent caused it,
 * and the same call succeeds once the table is back. What DynamoDB said stays in the cause.
 */
export function translateDynamoError(error: unknown, operation: string): PushError {
  if (error instanceof PushError) return error;
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.name !== undefined && THROTTLE_NAMES.has(e.name)) {
    return new ThrottledError(`DynamoDB throttled ${operation}`, { cause: error });
  }
  if (e?.name === 'ResourceNotFoundException') {
    return new TableMissingError(`DynamoDB unavailable during ${operation}`, { cause: error });
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

/** Whether a write was refused by its condition (`ConditionalCheckFailedException`). */
export function isConditionFailure(error: unknown): boolean {
  return (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/**
 * Runs one conditional write: true when it was made, false when its condition refused it
 * (`ConditionalCheckFailedException`); any other failure is translated, as {@link dynamoCall} does.
 */
export async function conditionalWrite(operation: string, call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw translateDynamoError(error, operation);
  }
}

/** One page of a Query, asked for from `start` with at most `limit` items (none when undefined). */
type PageFetch<I, K> = (
  start: K | undefined,
  limit: number | undefined,
) => Promise<{ Items?: I[]; LastEvaluatedKey?: K }>;

/** Pages through a Query; see {@link queryEach} and {@link queryEachItem}. */
async function eachPage<I, K>(
  fetch: PageFetch<I, K>,
  onItem: (item: I) => void,
  limit: number,
  enough?: () => boolean,
): Promise<boolean> {
  let start: K | undefined;
  let read = 0;
  do {
    const remaining = limit - read;
    const page = await fetch(start, Number.isFinite(remaining) ? remaining : undefined);
    for (const item of page.Items ?? []) onItem(item);
    read += page.Items?.length ?? 0;
    start = page.LastEvaluatedKey;
  } while (start !== undefined && read < limit && enough?.() !== true);
  return start === undefined;
}

/**
 * Runs a Query through every page, handing each item to `onItem`; failures are translated. With
 * `limit`, stops once that many items were read and resolves false if the Query had more (a page
 * cut at the limit counts as more: DynamoDB cannot say whether anything follows it).
 */
export function queryEach(
  doc: DynamoDBDocumentClient,
  input: QueryCommandInput,
  onItem: (item: Record<string, unknown>) => void,
  limit = Number.POSITIVE_INFINITY,
): Promise<boolean> {
  return eachPage<Record<string, unknown>, Record<string, unknown>>(
    (ExclusiveStartKey, Limit) => {
      const query = new QueryCommand({
        ...input,
        ExclusiveStartKey,
        ...(Limit === undefined ? {} : { Limit }),
      });
      return dynamoCall('Query', () => doc.send(query));
    },
    onItem,
    limit,
  );
}

/**
 * What sends a low-level Query: the low-level client, or a document client (which sends
 * low-level commands as they are, through the client it wraps).
 */
export interface ItemQuerySender {
  send(command: ItemQueryCommand): Promise<ItemQueryOutput>;
}

/**
 * {@link queryEach} with the low-level Query: items as DynamoDB's attribute values, unmarshalled by
 * the caller. `enough`, asked after each page, stops the Query early when it answers true (the
 * result is then false, as for a limit reached, unless that page was the last).
 */
export function queryEachItem(
  client: ItemQuerySender,
  input: ItemQueryInput,
  onItem: (item: Record<string, AttributeValue>) => void,
  limit = Number.POSITIVE_INFINITY,
  enough?: () => boolean,
): Promise<boolean> {
  return eachPage<Record<string, AttributeValue>, Record<string, AttributeValue>>(
    (ExclusiveStartKey, Limit) => {
      const query = new ItemQueryCommand({
        ...input,
        ExclusiveStartKey,
        ...(Limit === undefined ? {} : { Limit }),
      });
      return dynamoCall('Query', () => client.send(query));
    },
    onItem,
    limit,
    enough,
  );
}
