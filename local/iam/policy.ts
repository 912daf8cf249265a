/**
 * IAM policy documents in one normalized shape: every Action, Resource and condition value a
 * list, so the evaluator never has to ask whether a field was a string or an array.
 */

/** Condition block: operator → condition key → values. */
export type PolicyConditions = Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;

/** One statement, normalized. Exactly one of Action/NotAction and of Resource/NotResource is set. */
export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: readonly string[];
  readonly NotAction?: readonly string[];
  readonly Resource?: readonly string[];
  readonly NotResource?: readonly string[];
  readonly Condition?: PolicyConditions;
}

/** An identity policy: inline, attached, or managed. */
export interface PolicyDocument {
  /** Where the policy came from (the template's logical id, or the managed policy ARN). */
  readonly name: string;
  readonly statements: readonly PolicyStatement[];
}

/** A malformed policy; `code` is stable. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly code = 'malformed_policy';
}

function list(value: unknown, where: string): string[] | undefined {
  if (value === undefined) return undefined;
  const items = Array.isArray(value) ? value : [value];
  for (const item of items) {
    if (typeof item !== 'string')
      throw new PolicyError(`${where} holds ${JSON.stringify(item)}, not a string`);
  }
  return items as string[];
}

/**
 * A resolved template statement (no intrinsics left) in normalized form.
 *
 * @example
 * normalizeStatement({ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: 'arn:aws:sqs:us-east-1:0:q' })
 * // { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: ['arn:aws:sqs:us-east-1:0:q'] }
 */
export function normalizeStatement(raw: Record<string, unknown>): PolicyStatement {
  const effect = raw.Effect;
  if (effect !== 'Allow' && effect !== 'Deny')
    throw new PolicyError(`Effect must be Allow or Deny, got ${effect}`);
  if ('Principal' in raw || 'NotPrincipal' in raw) {
    throw new PolicyError('an identity policy statement names no Principal');
  }
  const statement: {
    -readonly [K in keyof PolicyStatement]: PolicyStatement[K];
  } = { Effect: effect };
  if (typeof raw.Sid === 'string') statement.Sid = raw.Sid;
  const action = list(raw.Action, 'Action');
  const notAction = list(raw.NotAction, 'NotAction');
  if ((action === undefined) === (notAction === undefined)) {
    throw new PolicyError('a statement needs exactly one of Action and NotAction');
  }
  if (action !== undefined) statement.Action = action;
  if (notAction !== undefined) statement.NotAction = notAction;
  const resource = list(raw.Resource, 'Resource');
  const notResource = list(raw.NotResource, 'NotResource');
  if ((resource === undefined) === (notResource === undefined)) {
    throw new PolicyError('a statement needs exactly one of Resource and NotResource');
  }
  if (resource !== undefined) statement.Resource = resource;
  if (notResource !== undefined) statement.NotResource = notResource;
  if (raw.Condition !== undefined) {
    const conditions: Record<string, Record<string, string[]>> = {};
    for (const [operator, block] of Object.entries(raw.Condition as Record<string, unknown>)) {
      conditions[operator] = {};
      for (const [key, values] of Object.entries(block as Record<string, unknown>)) {
        const items = (Array.isArray(values) ? values : [values]).map((v) =>
          typeof v === 'boolean' || typeof v === 'number' ? String(v) : v,
        );
        conditions[operator][key] = list(items, `Condition ${operator} ${key}`) ?? [];
      }
    }
    statement.Condition = conditions;
  }
  return statement;
}

/**
 * Whether any statement of `policies` conditions on `conditionKey` (condition key names are
 * case-insensitive): what tells the DynamoDB gate that a caller's calls must be read for their
 * keys, once per caller, not once per call.
 *
 * @example
 * conditionsOn(caller.policies, 'dynamodb:LeadingKeys') // true for the authorizer's role
 */
export function conditionsOn(policies: readonly PolicyDocument[], conditionKey: string): boolean {
  const wanted = conditionKey.toLowerCase();
  return policies.some((policy) =>
    policy.statements.some((statement) =>
      Object.values(statement.Condition ?? {}).some((block) =>
        Object.keys(block).some((key) => key.toLowerCase() === wanted),
      ),
    ),
  );
}
