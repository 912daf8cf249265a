/**
 * IAM for one local stack: the enforcer every endpoint consults, and the DynamoDB gate the
 * functions reach DynamoDB through. Only a DynamoDB on this machine is gated: against a remote
 * DynamoDB the functions sign with the developer's own credentials, which AWS itself checks, and
 * a proxy would break their signatures.
 */
import type { Logger } from '../logger';
import { type DynamoGate, startDynamoGate } from './dynamo-gate';
import { IamEnforcer, type IamEnforcerOptions, type IamStats } from './enforcer';

/** IAM as the stack runs it. */
export interface LocalIam {
  /** Undefined when enforcement is off. */
  readonly enforcer: IamEnforcer | undefined;
  /** The DynamoDB endpoint the functions get: the gate's, or DynamoDB's own when not gated. */
  readonly dynamodbEndpoint: string;
  stats(): IamStats;
  stop(): Promise<void>;
}

const NO_DENIALS: IamStats = {
  denials: 0,
  byService: { dynamodb: 0, sqs: 0, sns: 0, secretsmanager: 0, lambda: 0, 'execute-api': 0 },
};

function isLoopback(endpoint: string): boolean {
  const host = new URL(endpoint).hostname;
  return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}

/**
 * Starts enforcement for a stack, or nothing when `options` is `false`.
 *
 * @example
 * const iam = await startLocalIam({ callerFor }, { region, accountId, dynamo: dynamo.endpoint, logger });
 * // functions get DYNAMODB_ENDPOINT=iam.dynamodbEndpoint; endpoints get iam.enforcer
 */
export async function startLocalIam(
  options: false | Partial<Omit<IamEnforcerOptions, 'logger'>> | undefined,
  context: { region: string; accountId: string; dynamo: string; logger: Logger },
): Promise<LocalIam> {
  if (options === false) {
    return {
      enforcer: undefined,
      dynamodbEndpoint: context.dynamo,
      stats: () => NO_DENIALS,
      stop: async () => {},
    };
  }
  const enforcer = new IamEnforcer({
    // Without a lookup no credentials are a function's, and every call is the developer's own.
    callerFor: () => undefined,
    scope: { region: context.region, accountId: context.accountId },
    ...options,
    logger: context.logger,
  });
  let gate: DynamoGate | undefined;
  if (isLoopback(context.dynamo)) gate = await startDynamoGate({ upstream: context.dynamo, enforcer });
  return {
    enforcer,
    dynamodbEndpoint: gate?.endpoint ?? context.dynamo,
    stats: () => enforcer.stats,
    stop: async () => {
      await gate?.stop();
    },
  };
}
