/**
 * The message log and the connection store's index reads send low-level DynamoDB commands (items
 * as attribute values, `{ S: 'u1' }`) through a client of their own, for speed; the handler tests
 * set up and read DynamoDB with the document client's commands (`'u1'`). This hands each
 * low-level command to the document client's mock as the document command it marshals from, and
 * marshals the mock's answer back, so those tests keep one vocabulary and see every call, in
 * order, on the document mock.
 */
import {
  type AttributeValue,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand as ItemQueryCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AwsClientStub } from 'aws-sdk-client-mock';

type AttributeMap = Record<string, AttributeValue>;

/** An attribute value as the document client gives it. */
export function fromAttribute(value: AttributeValue): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  if (value.SS !== undefined) return new Set(value.SS);
  if (value.NS !== undefined) return new Set(value.NS.map(Number));
  if (value.L !== undefined) return value.L.map(fromAttribute);
  if (value.M !== undefined) return fromAttributes(value.M);
  throw new TypeError(`no document form for ${JSON.stringify(value)}`);
}

function fromAttributes(map: AttributeMap): Record<string, unknown> {
  return Object.fromEntries(Object.entries(map).map(([name, value]) => [name, fromAttribute(value)]));
}

/** A document value as DynamoDB's attribute value. */
export function toAttribute(value: unknown): AttributeValue {
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') return { N: String(value) };
  if (typeof value === 'boolean') return { BOOL: value };
  if (value === null) return { NULL: true };
  if (value instanceof Set) {
    const members = [...value];
    return typeof members[0] === 'number' ? { NS: members.map(String) } : { SS: members.map(String) };
  }
  if (Array.isArray(value)) return { L: value.map(toAttribute) };
  if (typeof value === 'object') return { M: toAttributes(value as Record<string, unknown>) };
  throw new TypeError(`no attribute value for ${String(value)}`);
}

function toAttributes(map: Record<string, unknown>): AttributeMap {
  return Object.fromEntries(
    Object.entries(map)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => [name, toAttribute(value)]),
  );
}

const INPUT_MAPS = ['Key', 'Item', 'ExpressionAttributeValues', 'ExclusiveStartKey'] as const;
const OUTPUT_MAPS = ['Item', 'Attributes', 'LastEvaluatedKey'] as const;

function documentInput(input: Record<string, unknown>): Record<string, unknown> {
  const out = { ...input };
  for (const field of INPUT_MAPS) {
    if (out[field] !== undefined) out[field] = fromAttributes(out[field] as AttributeMap);
  }
  return out;
}

function itemOutput(output: Record<string, unknown> | undefined): Record<string, unknown> {
  const out = { ...output };
  for (const field of OUTPUT_MAPS) {
    if (out[field] !== undefined) out[field] = toAttributes(out[field] as Record<string, unknown>);
  }
  if (Array.isArray(out.Items)) out.Items = out.Items.map((item) => toAttributes(item));
  return out;
}

/**
 * Has the low-level client's mock forward its commands to the document client's mock. Call it
 * again after each reset of the low-level mock.
 *
 * @example
 * const ddb = mockClient(DynamoDBDocumentClient);
 * const raw = mockClient(DynamoDBClient);
 * beforeEach(() => { ddb.reset(); raw.reset(); bridgeToDocumentMock(raw); });
 */
export function bridgeToDocumentMock(raw: AwsClientStub<DynamoDBClient>): void {
  // Any document client reaches the document mock: the mock replaces `send` on its prototype.
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const pairs = [
    [GetItemCommand, GetCommand],
    [PutItemCommand, PutCommand],
    [UpdateItemCommand, UpdateCommand],
    [DeleteItemCommand, DeleteCommand],
    [ItemQueryCommand, QueryCommand],
  ] as const;
  for (const [Low, Doc] of pairs) {
    raw.on(Low as typeof GetItemCommand).callsFake(async (input: Record<string, unknown>) => {
      const command = new (Doc as unknown as new (input: Record<string, unknown>) => GetCommand)(
        documentInput(input),
      );
      return itemOutput((await doc.send(command)) as Record<string, unknown>);
    });
  }
}
