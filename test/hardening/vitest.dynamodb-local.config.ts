/**
 * The second integration pass: test/local and test/hardening against AWS's own DynamoDB Local
 * (`DYNAMODB_ENDPOINT`, started by scripts/dynamodb-local.ts). `.ci/run` runs it after `npm test`:
 *
 *   npx tsx scripts/dynamodb-local.ts -- npx vitest run --config test/hardening/vitest.dynamodb-local.config.ts
 */
import { defineConfig } from 'vitest/config';
import base from '../../vitest.config';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/local/**/*.test.ts', 'test/hardening/**/*.test.ts'],
    setupFiles: ['test/hardening/dynamodb-local.setup.ts'],
  },
});
