/**
 * The message log and the connection store's index reads send low-level DynamoDB commands (items
 * as attribute values, `{ S: 'u1' }`) through a client of their own, for speed; the handler tests
 * set up and read DynamoDB with the document client's commands (`'u1'`). This hands each
 * low-level command to the document client's mock as the document command it marshals from, and
 * marshals the mock's answer back, so those tests keep one vocabulary and see every call, in
 * order, on the document mock.
 */

import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
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
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { DynamoHttpClient } from '../../lambdas/adapters/dynamo-http';
import { ManagementHttpClient } from '../../lambdas/adapters/management-http';

type AttributeMap = Record<string, AttributeValue>;

const fromAttributes = (map: AttributeMap) => unmarshall(map);
const toAttributes = (map: Record<string, unknown>) => marshall(map, { removeUndefinedValues: true });

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

/**
 * The handlers' hot-path clients (dynamo-http.ts, management-http.ts) send the SDK's commands
 * without the SDK client's `send`, so a mock of `DynamoDBClient` or `ApiGatewayManagementApiClient`
 * would not see them. These mock the hot-path clients' own `send` with the same fluent API, typed
 * as the SDK client each stands in for (commands are matched by their class, as for any client).
 *
 * @example
 * const raw = mockHotDynamo();
 * raw.on(QueryCommand).resolves({ Items: [] });
 */
export function mockHotDynamo(): AwsClientStub<DynamoDBClient> {
  return mockClient(DynamoHttpClient as unknown as typeof DynamoDBClient);
}

/** The hot-path Management API client's mock; see {@link mockHotDynamo}. */
export function mockHotManagement(): AwsClientStub<ApiGatewayManagementApiClient> {
  return mockClient(ManagementHttpClient as unknown as typeof ApiGatewayManagementApiClient);
}
