/**
 * What API Gateway makes of a Lambda REQUEST authorizer's answer: allow, deny (403), or a
 * malformed answer (500, `AuthorizerConfigurationException`). Pure, so every rule is unit-testable.
 */
import type { AuthorizerContext } from '../../lambdas/shared/events';
import { QUOTAS } from '../../lambdas/shared/quotas';

/** The decision, and for an allow, `requestContext.authorizer` as every later route receives it. */
export type AuthorizerOutcome =
  | { readonly kind: 'allow'; readonly context: AuthorizerContext }
  | { readonly kind: 'deny'; readonly reason: string }
  | { readonly kind: 'invalid'; readonly reason: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** IAM-style wildcard match: `*` is any run of characters, `?` any one character. */
export function iamMatch(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(value);
}

function statementMatches(statement: Record<string, unknown>, methodArn: string): boolean {
  const actions = asList(statement.Action).filter((a): a is string => typeof a === 'string');
  const resources = asList(statement.Resource).filter((r): r is string => typeof r === 'string');
  return (
    actions.some((action) => iamMatch(action.toLowerCase(), 'execute-api:invoke')) &&
    resources.some((resource) => iamMatch(resource, methodArn))
  );
}

/**
 * Context values as API Gateway passes them on: strings stay, numbers and booleans become strings
 * (`1` → `"1"`, `true` → `"true"`), `null` stays `null`, `undefined` vanishes. An object or array
 * value makes the whole answer invalid. `principalId` and `integrationLatency` are added.
 */
export function deliveredContext(
  context: unknown,
  principalId: string,
  integrationLatency: number,
): AuthorizerContext | string {
  const delivered: AuthorizerContext = {};
  if (context !== undefined && context !== null) {
    if (!isObject(context)) return 'context must be an object';
    for (const [key, value] of Object.entries(context)) {
      if (value === undefined) continue;
      if (value === null || typeof value === 'string') delivered[key] = value;
      else if (typeof value === 'number' || typeof value === 'boolean') delivered[key] = String(value);
      else
        return `context.${key} is ${Array.isArray(value) ? 'an array' : typeof value}; only strings, numbers and booleans are allowed`;
    }
  }
  delivered.principalId = principalId;
  delivered.integrationLatency = integrationLatency;
  return delivered;
}

/**
 * Evaluates an authorizer's return value against the `$connect` method ARN. An explicit Deny wins;
 * otherwise an Allow must match the ARN, as in IAM. `integrationLatency` is how long the
 * authorizer took, in ms.
 *
 * @example
 * evaluateAuthorizerResult(result, 'arn:aws:execute-api:us-east-1:000000000000:localpush0/local/$connect', 3)
 */
export function evaluateAuthorizerResult(
  result: unknown,
  methodArn: string,
  integrationLatency: number,
): AuthorizerOutcome {
  if (!isObject(result)) return { kind: 'invalid', reason: 'authorizer returned no object' };
  const size = Buffer.byteLength(JSON.stringify(result), 'utf8');
  if (size > QUOTAS.maxTokenBytes) {
    return {
      kind: 'invalid',
      reason: `authorizer result is ${size} bytes; the limit is ${QUOTAS.maxTokenBytes}`,
    };
  }
  const { principalId, policyDocument } = result;
  if (typeof principalId !== 'string' || principalId === '') {
    return { kind: 'invalid', reason: 'principalId must be a non-empty string' };
  }
  if (!isObject(policyDocument) || policyDocument.Statement === undefined) {
    return { kind: 'invalid', reason: 'policyDocument.Statement is missing' };
  }
  const statements = asList(policyDocument.Statement);
  if (!statements.every(isObject)) return { kind: 'invalid', reason: 'every Statement must be an object' };
  const context = deliveredContext(result.context, principalId, integrationLatency);
  if (typeof context === 'string') return { kind: 'invalid', reason: context };
  const matching = statements.filter((s) => statementMatches(s, methodArn));
  if (matching.some((s) => s.Effect === 'Deny')) return { kind: 'deny', reason: 'an explicit Deny matches' };
  if (!matching.some((s) => s.Effect === 'Allow')) return { kind: 'deny', reason: 'no Allow matches' };
  return { kind: 'allow', context };
}
