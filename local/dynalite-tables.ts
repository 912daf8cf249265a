/**
 * The stack's tables, created by dynalite's own process (dynalite-child.ts) right after it starts,
 * over loopback HTTP to its own endpoint. The stack's process would otherwise make the same calls
 * through the SDK once dynalite is up, which put the SDK client's first call and five calls per
 * table on the path of every `npm start` (bench row s); here they are a few plain requests.
 *
 * No SDK: this runs in a process that loads only dynalite, the IAM gate and the TTL sweeper.
 * dynalite reads the form of the `Authorization` header and never its signature (as DynamoDB
 * Local), so the header names the stack's own key and carries no real signature. TTL is not turned on here: dynalite has no
 * `UpdateTimeToLive`. Expired items are deleted by the TTL sweeper of the same process instead
 * (dynalite-ttl.ts, which makes its calls through {@link call}), and every read still filters
 * expired records itself (the adapters under lambdas/), as it must on AWS, whose TTL takes days.
 */
import { type Agent, request } from 'node:http';
import type { CreateTableCommandInput, TableDescription } from '@aws-sdk/client-dynamodb';
import type { TablesMade } from './dynalite';
import { readBody } from './http-util';
import { LOCAL_DYNAMO_ACCESS_KEY_ID } from './iam/dynamo-gate';
import { settleAll } from './settle';
import { schemaDifferences, schemaError } from './table-input';

/** Polls of `DescribeTable` for ACTIVE; dynalite started with `createTableMs: 0` needs one or two. */
const ACTIVE_POLLS = 200;
const ACTIVE_POLL_MS = 5;
/** Bound on one call: dynalite answers these in milliseconds, so this only ends a hung start. */
const CALL_TIMEOUT_MS = 30_000;

/**
 * One call of DynamoDB's JSON protocol to `endpoint`, bounded by {@link CALL_TIMEOUT_MS}: its status
 * and its parsed answer. Also the TTL sweeper's (dynalite-ttl.ts), in the same process.
 */
export async function call(
  endpoint: URL,
  operation: string,
  input: object,
  /** A keep-alive agent for a run of calls (the sweeper's); by default each call has its own connection. */
  agent?: Agent,
): Promise<{ status: number; answer: Record<string, unknown> }> {
  const body = JSON.stringify(input);
  // SigV4's basic ISO form (20261204T000000Z) and its credential scope.
  const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const headers = {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
    'x-amz-target': `DynamoDB_20120810.${operation}`,
    'x-amz-date': date,
    authorization: `AWS4-HMAC-SHA256 Credential=${LOCAL_DYNAMO_ACCESS_KEY_ID}/${date.slice(0, 8)}/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
  };
  return new Promise((resolve, reject) => {
    const req = request(endpoint, { method: 'POST', headers, agent: agent ?? false }, (res) => {
      readBody(res, Number.POSITIVE_INFINITY)
        .then(({ bytes }) => {
          const text = bytes.toString('utf8');
          resolve({ status: res.statusCode ?? 0, answer: text === '' ? {} : JSON.parse(text) });
        })
        .catch(reject);
    });
    req.on('error', reject);
    req.setTimeout(CALL_TIMEOUT_MS, () =>
      req.destroy(new Error(`${operation} got no answer within ${CALL_TIMEOUT_MS} ms`)),
    );
    req.end(body);
  });
}

/** DynamoDB's error name (`com.amazonaws.dynamodb.v20120810#ResourceInUseException` → the last part). */
export function errorName(answer: Record<string, unknown>): string {
  const type = typeof answer.__type === 'string' ? answer.__type : '';
  return type.slice(type.lastIndexOf('#') + 1);
}

/** An error naming the call, its table and DynamoDB's answer. */
export function failure(
  operation: string,
  table: string,
  status: number,
  answer: Record<string, unknown>,
): Error {
  const message = answer.message ?? answer.Message;
  return new Error(
    `${operation} ${table} answered ${status} ${errorName(answer) || 'error'}${typeof message === 'string' ? `: ${message}` : ''}`,
  );
}

/**
 * Creates one table unless it exists, then waits until it is ACTIVE; true when it created it. A
 * table that exists must have the key and indexes the stack would give it.
 */
async function createTable(endpoint: URL, input: CreateTableCommandInput): Promise<boolean> {
  const table = input.TableName ?? '';
  const created = await call(endpoint, 'CreateTable', input);
  if (created.status !== 200 && errorName(created.answer) !== 'ResourceInUseException')
    throw failure('CreateTable', table, created.status, created.answer);
  for (let poll = 0; poll < ACTIVE_POLLS; poll++) {
    const described = await call(endpoint, 'DescribeTable', { TableName: table });
    if (described.status !== 200) throw failure('DescribeTable', table, described.status, described.answer);
    const description = described.answer.Table as TableDescription | undefined;
    if (description?.TableStatus === 'ACTIVE') {
      if (created.status === 200) return true;
      const differences = schemaDifferences(input, description);
      if (differences.length > 0) throw schemaError(table, differences);
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, ACTIVE_POLL_MS));
  }
  throw new Error(`table ${table} did not become ACTIVE in ${ACTIVE_POLLS} polls`);
}

/**
 * Creates each table of `inputs` that dynalite at `endpoint` lacks, all at once, and resolves
 * once every one is ACTIVE; rejects with DynamoDB's answer when one cannot be created, once the
 * others' calls have ended. Each call is bounded by {@link CALL_TIMEOUT_MS}.
 *
 * @example
 * const made = await createTables(dynamo.endpoint, stackTables().map((t) => createTableInput(t.definition, t.tableName)));
 * made.created // ['Connections', ...] on a fresh store
 */
export async function createTables(
  endpoint: string,
  inputs: readonly CreateTableCommandInput[],
): Promise<TablesMade> {
  const url = new URL(endpoint);
  // Every call ends before the answer, so a failure never leaves one half made behind it.
  const outcomes = await settleAll(inputs.map((input) => createTable(url, input)));
  const name = (k: number) => inputs[k]?.TableName ?? '';
  return {
    created: outcomes.flatMap((made, k) => (made ? [name(k)] : [])),
    found: outcomes.flatMap((made, k) => (made ? [] : [name(k)])),
  };
}
