import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerRotationEvent } from 'aws-lambda';
import { SecretRotation } from './adapters/secret-rotation';
import { parseRotationEvent } from './core/rotation';
import { createLogger } from './wiring';

const logger = createLogger();
const rotation = new SecretRotation(new SecretsManagerClient({}));

/**
 * Secrets Manager's rotation function for the token signing secret, invoked once per step of a
 * rotation. Throwing fails the step: Secrets Manager records the failure and retries the rotation,
 * and the current key stays in use meanwhile. Key values are never logged.
 */
export const handler = async (event: SecretsManagerRotationEvent): Promise<void> => {
  let fields: Record<string, string> = {};
  try {
    const request = parseRotationEvent(event);
    fields = { step: request.step, secretId: request.secretId, versionId: request.versionId };
    const outcome = await rotation.run(request);
    logger.info('rotation step done', { ...fields, outcome });
  } catch (error) {
    logger.error('rotation step failed', { ...fields, code: (error as { code?: unknown }).code, error });
    throw error;
  }
};
