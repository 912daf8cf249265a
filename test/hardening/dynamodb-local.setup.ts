/**
 * Setup for the DynamoDB Local pass (`vitest.dynamodb-local.config.ts`): every local stack a test
 * starts without a DynamoDB of its own (no `dynamodbEndpoint`, no `dataDir`, no `dynaliteProcess`) runs on a private
 * database of the DynamoDB Local at `DYNAMODB_ENDPOINT` instead of in-process dynalite. The test
 * files themselves are unchanged; `startLocalStack` is wrapped here.
 */
import { vi } from 'vitest';
// Imported first, so it reads DYNAMODB_ENDPOINT before any stack changes it.
import '../local/backing-dynamo';

/** Lets a test know the integration stacks are being redirected (dynamodb-local-pass.test.ts). */
(globalThis as { dynamodbLocalPass?: boolean }).dynamodbLocalPass = true;

vi.mock('../../local/stack', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../local/stack')>();
  const { startBackingDynamo, sharedDynamoEndpoint } = await import('../local/backing-dynamo');
  if (sharedDynamoEndpoint() === undefined) {
    throw new Error('the DynamoDB Local pass needs DYNAMODB_ENDPOINT (scripts/dynamodb-local.ts sets it)');
  }
  const startLocalStack: typeof original.startLocalStack = async (options = {}) => {
    // A stack that asks for dynalite in a process of its own is testing that process.
    if (options.dynamodbEndpoint !== undefined || options.dataDir !== undefined || options.dynaliteProcess) {
      return original.startLocalStack(options);
    }
    const backing = await startBackingDynamo();
    try {
      const stack = await original.startLocalStack({ ...options, dynamodbEndpoint: backing.endpoint });
      return {
        ...stack,
        stop: async () => {
          await stack.stop();
          await backing.stop();
        },
      };
    } catch (error) {
      await backing.stop();
      throw error;
    }
  };
  return { ...original, startLocalStack };
});
