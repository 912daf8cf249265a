/**
 * The hot-path SDK clients carry no logger middleware: they have no logger, and the middleware
 * would copy and mask every call's input and output for the SDK's no-op one.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { createManagementClient } from '../../lambdas/adapters/management-gateway';
import { SDK_LOGGER_MIDDLEWARE } from '../../lambdas/adapters/sdk-client';
import { ENV } from '../../lambdas/shared/env';
import { dynamoClientFromEnv } from '../../lambdas/wiring';

const named = (client: { middlewareStack: { identify(): string[] } }) =>
  client.middlewareStack.identify().map((entry) => entry.split(' ')[0]);

describe('withoutSdkLogging', () => {
  it('names the middleware a stock client carries', () => {
    // Fails if the SDK renames it, which would leave the removal below silently doing nothing.
    expect(named(new DynamoDBClient({}))).toContain(SDK_LOGGER_MIDDLEWARE);
    expect(named(new ApiGatewayManagementApiClient({ endpoint: 'http://127.0.0.1:9/dev' }))).toContain(
      SDK_LOGGER_MIDDLEWARE,
    );
  });

  it('leaves it out of the hot-path DynamoDB client and keeps the rest of the chain', () => {
    const stock = named(new DynamoDBClient({}));
    const ours = named(dynamoClientFromEnv({ [ENV.dynamodbEndpoint]: 'http://127.0.0.1:9' }));
    expect(ours).toEqual(stock.filter((name) => name !== SDK_LOGGER_MIDDLEWARE));
  });

  it('leaves it out of the Management API client and keeps the rest of the chain', () => {
    const endpoint = 'http://127.0.0.1:9/dev';
    const stock = named(new ApiGatewayManagementApiClient({ endpoint }));
    const ours = named(createManagementClient({ endpoint }));
    expect(ours).toEqual(stock.filter((name) => name !== SDK_LOGGER_MIDDLEWARE));
  });
});
