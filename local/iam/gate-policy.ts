/**
 * What the DynamoDB gate needs of an enforcer, as plain data that crosses to another process:
 * `npm start` runs dynalite in a process of its own (local/dynalite.ts), and the gate runs there
 * beside it, so that a function's call crosses one process boundary, as it did when both ran in
 * the stack's process, and not two. The enforcer the stack's other endpoints use stays the one
 * source: this is read from it (every function's caller by its access key id, every table's KMS
 * key and partition key attribute), and an enforcer is rebuilt from it in dynalite's process.
 */
import { HANDLER_ENTRIES, type HandlerId } from '../../lambdas/shared/deployment';
import { functionCredentials } from '../deployment/callers';
import type { Logger } from '../logger';
import type { CallerIdentity } from './denials';
import { IamEnforcer, type IamEnforcerOptions } from './enforcer';
import type { AccountScope } from './requests';

/** The gate's share of an enforcer: who each function is, and which tables are encrypted with what. */
export interface GatePolicy {
  readonly scope: AccountScope;
  /** Each function's caller, by the access key id it signs with. */
  readonly callers: readonly (readonly [string, CallerIdentity])[];
  /** Each encrypted table's KMS key ARN, by table name. */
  readonly tableKeys: readonly (readonly [string, string])[];
  /** Each table's partition key attribute, by table name (for `dynamodb:LeadingKeys`). */
  readonly partitionKeys: readonly (readonly [string, string])[];
}

/**
 * Reads the gate's share of `options` for the functions' keys and `tableNames`, once. A lookup
 * that knows other keys, or answers differently later, would not be followed: so the stack puts
 * the gate in dynalite's process only for the deployment's own callers, and keeps it in its own
 * process, asking the enforcer on every call, when `startLocalStack` is given IAM options.
 */
export function gatePolicyOf(
  options: Pick<IamEnforcerOptions, 'callerFor' | 'scope' | 'keys' | 'partitionKeys'>,
  tableNames: readonly string[],
): GatePolicy {
  const callers = (Object.keys(HANDLER_ENTRIES) as HandlerId[]).flatMap((handler) => {
    const { accessKeyId } = functionCredentials(handler);
    const caller = options.callerFor(accessKeyId);
    // Only what the evaluation reads: the session ARN and the role's policies.
    return caller === undefined
      ? []
      : [[accessKeyId, { arn: caller.arn, policies: caller.policies }] as const];
  });
  /** What `lookup` knows of the tables, as entries. */
  const byTable = (lookup: ((name: string) => string | undefined) | undefined) =>
    tableNames.flatMap((name) => {
      const value = lookup?.(name);
      return value === undefined ? [] : [[name, value] as const];
    });
  return {
    scope: options.scope,
    callers,
    tableKeys: byTable(options.keys?.table),
    partitionKeys: byTable(options.partitionKeys),
  };
}

/**
 * An enforcer that decides as the one `policy` was read from, for DynamoDB calls; `onDenied` hears
 * of each denial before its answer is written.
 */
export function enforcerFromPolicy(policy: GatePolicy, logger: Logger, onDenied: () => void): IamEnforcer {
  const callers = new Map(policy.callers);
  const tableKeys = new Map(policy.tableKeys);
  const partitionKeys = new Map(policy.partitionKeys);
  return new IamEnforcer({
    callerFor: (accessKeyId) => callers.get(accessKeyId),
    scope: policy.scope,
    keys: { table: (name) => tableKeys.get(name) },
    partitionKeys: (name) => partitionKeys.get(name),
    logger,
    onDenied,
  });
}
