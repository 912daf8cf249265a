/**
 * Who signs each local AWS call. Lambda hands every function credentials for a session of its
 * execution role; locally each function gets a fixed access key id of its own (`LOCAL<HANDLER>`,
 * padded to the 20 characters of an AWS key id) in its environment, so an endpoint can tell from
 * a request's SigV4 `Credential=` which function sent it and evaluate that function's role.
 * A request signed with any other key (the developer's own tools) names no function.
 */
import type { HandlerId } from '../../lambdas/shared/deployment';
import { assumedRoleArn, type CallerIdentity } from '../iam/denials';
import type { DeploymentModel } from './model';

/** Credentials a function signs with, as Lambda puts them in its environment. */
export interface FunctionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** AWS access key ids are 20 characters of A-Z and 0-9. */
const KEY_ID_LENGTH = 20;

/**
 * The credentials of `handler`'s function: the same on every start, so a log line or a signed
 * request can be traced to its function by eye.
 *
 * @example
 * functionCredentials('publish') // { accessKeyId: 'LOCALPUBLISH00000000', secretAccessKey: 'local-publish' }
 */
export function functionCredentials(handler: HandlerId): FunctionCredentials {
  const accessKeyId = `LOCAL${handler.toUpperCase()}`.padEnd(KEY_ID_LENGTH, '0').slice(0, KEY_ID_LENGTH);
  return { accessKeyId, secretAccessKey: `local-${handler}` };
}

/** A signing function: its handler, session ARN and role policies. */
export interface FunctionCaller extends CallerIdentity {
  readonly handler: HandlerId;
  readonly roleArn: string;
  readonly credentials: FunctionCredentials;
}

/** Every function's credentials, and the reverse lookup the endpoints authorize with. */
export interface Callers {
  /** The credentials `handler`'s function signs with. */
  credentials(handler: HandlerId): FunctionCredentials;
  /** The function whose credentials carry `accessKeyId`; undefined for anyone else's key. */
  callerFor(accessKeyId: string | undefined): FunctionCaller | undefined;
}

/**
 * The callers of a deployment: one per function in the model, with its role's policies from the
 * template.
 *
 * @example
 * const callers = callersOf(model, '000000000000');
 * callers.callerFor(accessKeyIdOf(req.headers.authorization))?.policies
 */
export function callersOf(model: DeploymentModel, accountId: string): Callers {
  const byKey = new Map<string, FunctionCaller>();
  for (const fn of Object.values(model.functions)) {
    const credentials = functionCredentials(fn.handler);
    byKey.set(credentials.accessKeyId, {
      handler: fn.handler,
      // Lambda names the role session after the function.
      arn: assumedRoleArn(accountId, fn.role.name, fn.functionName, fn.role.arn.split(':')[1]),
      roleArn: fn.role.arn,
      policies: fn.role.policies,
      credentials,
    });
  }
  return {
    credentials: functionCredentials,
    callerFor: (accessKeyId) => (accessKeyId === undefined ? undefined : byKey.get(accessKeyId)),
  };
}
