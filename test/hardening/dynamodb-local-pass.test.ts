/**
 * Guards the DynamoDB Local pass itself: when `DYNAMODB_ENDPOINT` is set, the integration tests'
 * stacks really run on it (through a private database), not silently on dynalite.
 */
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { TABLES } from '../../lambdas/shared/tables';
import { connect, documentClient, recordsOf, startTestStack } from '../local/helpers';

describe('the DynamoDB the integration stacks use', () => {
  it('is DynamoDB Local in the DynamoDB Local pass and in-process dynalite otherwise, with private tables per stack', async () => {
    const first = await startTestStack();
    const second = await startTestStack();
    try {
      // Set by dynamodb-local.setup.ts, which only the DynamoDB Local pass loads.
      const pass = (globalThis as { dynamodbLocalPass?: boolean }).dynamodbLocalPass === true;
      const expected = pass ? 'external, from DYNAMODB_ENDPOINT' : 'dynalite, in memory';
      expect(first.dynamodbDescription).toBe(expected);
      expect(second.dynamodbDescription).toBe(expected);
      expect(first.dynamodbEndpoint).not.toBe(second.dynamodbEndpoint);

      const socket = await connect(first, 'pass-check');
      expect(await recordsOf(first, socket.connectionId)).toHaveLength(1);
      expect(await recordsOf(second, socket.connectionId)).toEqual([]);
      await socket.close();

      const doc = documentClient(second);
      const { TableNames } = await doc.send(new ListTablesCommand({}));
      doc.destroy();
      expect([...(TableNames ?? [])].sort()).toEqual(TABLES.map((t) => t.id).sort());
    } finally {
      await first.stop();
      await second.stop();
    }
  });
});
