import { Stack } from 'aws-cdk-lib';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';

/** AWS services that use a customer-managed key for the caller while serving its request. */
export type KeyUsingService = 'dynamodb' | 'sqs' | 'sns' | 'secretsmanager';

/**
 * Lets `grantee` use `key` for `actions` only through `service` in this stack's Region (the
 * `kms:ViaService` condition): the role can read what the service decrypts for it, but cannot
 * call KMS directly to decrypt anything else under the key. Not `key.grant*`, which leaves the
 * key usable from anywhere.
 *
 * @example
 * grantKeyThrough(messageKey, publishFunction, 'sqs', ['kms:GenerateDataKey', 'kms:Decrypt']);
 */
export function grantKeyThrough(
  key: IKey,
  grantee: IGrantable,
  service: KeyUsingService,
  actions: readonly string[],
): Grant {
  const stack = Stack.of(key);
  return Grant.addToPrincipal({
    grantee,
    actions: [...actions],
    resourceArns: [key.keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `${service}.${stack.region}.${stack.urlSuffix}` } },
  });
}
