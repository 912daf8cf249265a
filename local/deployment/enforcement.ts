/**
 * What IAM enforcement needs from the deployment besides the callers: which keys encrypt which
 * resources, each table's partition key attribute (what `dynamodb:LeadingKeys` is read from), the
 * API id and stage the `@connections` grants name, and the functions' ARNs, all as the template
 * resolves them, so a local ARN is the one the roles' policies were written for.
 */
import type { IamEnforcerOptions } from '../iam/enforcer';
import type { DeploymentModel } from './model';

/** The parts of {@link IamEnforcerOptions} the deployment decides. */
export type DeploymentIam = Pick<
  IamEnforcerOptions,
  'keys' | 'partitionKeys' | 'managementApi' | 'functionArn'
>;

/**
 * Reads them from a model.
 *
 * @example
 * startLocalStack({ iam: { callerFor, ...deploymentIam(model) } });
 */
export function deploymentIam(model: DeploymentModel): DeploymentIam {
  const tableKeys = new Map(
    Object.values(model.tables).flatMap((t) =>
      t.encryptionKey === undefined ? [] : [[t.name, t.encryptionKey]],
    ),
  );
  const partitionKeys = new Map(Object.values(model.tables).map((t) => [t.name, t.partitionKey]));
  // `sqs-managed` encryption needs no KMS grant; only a customer-managed key does.
  const queueKeys = new Map(
    Object.values(model.queues).flatMap((q) =>
      q.encryption?.startsWith('arn:') === true ? [[q.name, q.encryption]] : [],
    ),
  );
  const functionArns = new Map(
    Object.values(model.functions).flatMap((f) => [
      [f.functionName, f.arn],
      [f.handler as string, f.arn],
    ]),
  );
  return {
    keys: { table: (name) => tableKeys.get(name), queue: (name) => queueKeys.get(name) },
    partitionKeys: (name) => partitionKeys.get(name),
    managementApi: { apiId: model.api.apiId, stage: model.api.stageName },
    functionArn: (name) => functionArns.get(name),
  };
}
