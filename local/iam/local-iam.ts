/**
 * IAM for one local stack, in two steps, because the functions' environment needs the DynamoDB
 * endpoint before the deployment that says who they are is read: {@link startLocalIam} binds the
 * DynamoDB gate the functions reach DynamoDB through, then {@link LocalIam.enforce} puts the
 * callers and resources in force, and from then on every endpoint consults the same enforcer (a
 * gate in dynalite's own process, a copy of its policy: gate-policy.ts).
 * Only a DynamoDB on this machine is gated: against a remote DynamoDB the functions sign with the
 * developer's own credentials, which AWS itself checks, and a proxy would break their signatures.
 */
import type { DynaliteProcess } from '../dynalite';
import type { Logger } from '../logger';
import { type DynamoGate, startDynamoGate } from './dynamo-gate';
import { IamEnforcer, type IamEnforcerOptions, type IamStats } from './enforcer';
import { gatePolicyOf } from './gate-policy';

/** What {@link LocalIam.enforce} takes: who the functions are, and what the template names. */
export type LocalIamOptions = Partial<Omit<IamEnforcerOptions, 'logger' | 'onDenied'>>;

/** IAM as the stack runs it. */
export interface LocalIam {
  /** Undefined when enforcement is off, or before {@link LocalIam.enforce}. */
  readonly enforcer: IamEnforcer | undefined;
  /** The DynamoDB endpoint the functions get: the gate's, or DynamoDB's own when not gated. */
  readonly dynamodbEndpoint: string;
  /**
   * Puts enforcement in force (nothing when it is off); later options win over earlier ones.
   * Resolves once every gate enforces it (a gate in dynalite's own process learns it over IPC).
   */
  enforce(...options: (LocalIamOptions | undefined)[]): Promise<void>;
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
 * Starts IAM for a stack: the gate, when `enabled` and DynamoDB is on this machine. With dynalite in
 * a process of its own (`context.dynalite`), the gate runs in that process, beside it, and is given
 * the policy of the one enforcer here (gate-policy.ts); its denials are counted and logged here.
 *
 * @example
 * const iam = await startLocalIam(options.iam !== false, { region, accountId, dynamo: dynamo.endpoint, logger });
 * // functions get DYNAMODB_ENDPOINT=iam.dynamodbEndpoint; once the deployment is read:
 * await iam.enforce({ callerFor: callers.callerFor, ...deploymentIam(model) }, options.iam || undefined);
 * // endpoints get iam.enforcer
 */
export async function startLocalIam(
  enabled: boolean,
  context: {
    region: string;
    accountId: string;
    dynamo: string;
    logger: Logger;
    /** dynalite's own process, when it runs in one: the gate goes there. */
    dynalite?: DynaliteProcess;
    /** The tables' physical names, for the policy a gate in dynalite's process is given. */
    tableNames?: readonly string[];
  },
): Promise<LocalIam> {
  let enforcer: IamEnforcer | undefined;
  let gate: DynamoGate | undefined;
  let remoteGate: string | undefined;
  let remoteDenials = 0;
  if (enabled && context.dynalite !== undefined) {
    remoteGate = await context.dynalite.gate(context.logger, () => {
      remoteDenials++;
    });
  } else if (enabled && isLoopback(context.dynamo)) {
    gate = await startDynamoGate({ upstream: context.dynamo, enforcer: () => enforcer });
  }
  return {
    get enforcer() {
      return enforcer;
    },
    dynamodbEndpoint: remoteGate ?? gate?.endpoint ?? context.dynamo,
    async enforce(...options) {
      if (!enabled) return;
      const merged: Omit<IamEnforcerOptions, 'logger'> = {
        // Without a lookup no credentials are a function's, and every call is the developer's own.
        callerFor: () => undefined,
        scope: { region: context.region, accountId: context.accountId },
        ...Object.assign({}, ...options),
      };
      enforcer = new IamEnforcer({ ...merged, logger: context.logger });
      if (remoteGate !== undefined)
        await context.dynalite?.enforce(gatePolicyOf(merged, context.tableNames ?? []));
    },
    stats: () => {
      const own = enforcer?.stats ?? NO_DENIALS;
      return remoteDenials === 0
        ? own
        : {
            denials: own.denials + remoteDenials,
            byService: { ...own.byService, dynamodb: own.byService.dynamodb + remoteDenials },
          };
    },
    stop: async () => {
      await gate?.stop();
    },
  };
}
