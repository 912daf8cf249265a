/**
 * Identity-policy evaluation as IAM does it for one principal in its own account: an explicit
 * Deny wins, then any Allow, else the request is implicitly denied. It covers the policy
 * features the stack's templates use and the ones a narrowed role is likely to grow:
 * Action/NotAction with `*` and `?` (case-insensitive, as IAM matches actions),
 * Resource/NotResource ARNs with wildcards (case-sensitive, per ARN segment), and the string,
 * ARN, numeric, boolean and Null condition operators with `IfExists` and the
 * `ForAnyValue:`/`ForAllValues:` set qualifiers. Resource policies, permission boundaries, SCPs
 * and session policies do not exist locally and are not evaluated.
 */
import { type PolicyDocument, PolicyError, type PolicyStatement } from './policy';

/** One action on one resource, with the request's condition context. */
export interface AuthorizationRequest {
  /** `service:Operation`, e.g. `dynamodb:PutItem`. */
  readonly action: string;
  /** The resource ARN, or `*` for actions that name none. */
  readonly resource: string;
  /** Condition keys (any case) → value(s), e.g. `{ 'kms:ViaService': 'sqs.us-east-1.amazonaws.com' }`. */
  readonly context?: Readonly<Record<string, string | readonly string[]>>;
}

/** The outcome, with the statement that decided it. */
export interface Evaluation {
  readonly decision: 'allow' | 'explicitDeny' | 'implicitDeny';
  /** The deciding statement: the Deny that matched, or the first Allow. */
  readonly statement?: { readonly policy: string; readonly index: number; readonly sid?: string };
}

/** `*` and `?` glob → anchored RegExp. */
function globRegExp(pattern: string, flags: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, flags);
}

const cache = new Map<string, RegExp>();
function glob(pattern: string, value: string, caseInsensitive: boolean): boolean {
  const key = `${caseInsensitive ? 'i' : 's'}${pattern}`;
  let regexp = cache.get(key);
  if (regexp === undefined) {
    regexp = globRegExp(pattern, caseInsensitive ? 'is' : 's');
    if (cache.size > 10_000) cache.clear();
    cache.set(key, regexp);
  }
  return regexp.test(value);
}

/** Whether an Action pattern covers `action`: service and name both case-insensitive. */
export function actionMatches(pattern: string, action: string): boolean {
  return pattern === '*' || glob(pattern, action, true);
}

/**
 * Whether a Resource pattern covers `arn`. The partition, service, region and account segments
 * are matched one by one (a `*` there never spans a colon); the resource segment is matched
 * whole, slashes and colons included. Matching is case-sensitive.
 */
export function resourceMatches(pattern: string, arn: string): boolean {
  if (pattern === '*') return true;
  const want = pattern.split(':');
  const have = arn.split(':');
  // The last segment of the pattern (the resource, or a shorter pattern's final `*`) covers the rest.
  const last = Math.min(want.length, 6) - 1;
  if (have.length <= last) return false;
  for (let i = 0; i < last; i++) {
    if (!glob(want[i] as string, have[i] as string, false)) return false;
  }
  return glob(want.slice(last).join(':'), have.slice(last).join(':'), false);
}

type Compare = (want: string, have: string) => boolean;

const STRING: Record<string, { compare: Compare; negated: boolean }> = {
  StringEquals: { compare: (w, h) => w === h, negated: false },
  StringNotEquals: { compare: (w, h) => w === h, negated: true },
  StringEqualsIgnoreCase: { compare: (w, h) => w.toLowerCase() === h.toLowerCase(), negated: false },
  StringNotEqualsIgnoreCase: { compare: (w, h) => w.toLowerCase() === h.toLowerCase(), negated: true },
  StringLike: { compare: (w, h) => glob(w, h, false), negated: false },
  StringNotLike: { compare: (w, h) => glob(w, h, false), negated: true },
  ArnEquals: { compare: (w, h) => resourceMatches(w, h), negated: false },
  ArnLike: { compare: (w, h) => resourceMatches(w, h), negated: false },
  ArnNotEquals: { compare: (w, h) => resourceMatches(w, h), negated: true },
  ArnNotLike: { compare: (w, h) => resourceMatches(w, h), negated: true },
  NumericEquals: { compare: (w, h) => Number(h) === Number(w), negated: false },
  NumericNotEquals: { compare: (w, h) => Number(h) === Number(w), negated: true },
  NumericLessThan: { compare: (w, h) => Number(h) < Number(w), negated: false },
  NumericLessThanEquals: { compare: (w, h) => Number(h) <= Number(w), negated: false },
  NumericGreaterThan: { compare: (w, h) => Number(h) > Number(w), negated: false },
  NumericGreaterThanEquals: { compare: (w, h) => Number(h) >= Number(w), negated: false },
  Bool: { compare: (w, h) => w.toLowerCase() === h.toLowerCase(), negated: false },
};

function contextValues(context: AuthorizationRequest['context'], key: string): readonly string[] | undefined {
  if (context === undefined) return undefined;
  const wanted = key.toLowerCase();
  for (const [name, value] of Object.entries(context)) {
    if (name.toLowerCase() === wanted) return typeof value === 'string' ? [value] : value;
  }
  return undefined;
}

/** One `operator: { key: values }` entry; every key in it must hold. */
function conditionHolds(
  operator: string,
  block: Readonly<Record<string, readonly string[]>>,
  context: AuthorizationRequest['context'],
): boolean {
  let qualifier: 'ForAnyValue' | 'ForAllValues' | undefined;
  let name = operator;
  const colon = name.indexOf(':');
  if (colon > 0) {
    const prefix = name.slice(0, colon);
    if (prefix !== 'ForAnyValue' && prefix !== 'ForAllValues')
      throw new PolicyError(`unknown qualifier ${prefix}`);
    qualifier = prefix;
    name = name.slice(colon + 1);
  }
  const ifExists = name.endsWith('IfExists');
  if (ifExists) name = name.slice(0, -'IfExists'.length);
  for (const [key, wanted] of Object.entries(block)) {
    const have = contextValues(context, key);
    if (name === 'Null') {
      const expectMissing = (wanted[0] ?? '').toLowerCase() === 'true';
      if ((have === undefined) !== expectMissing) return false;
      continue;
    }
    const rule = STRING[name];
    if (rule === undefined) throw new PolicyError(`condition operator ${operator} is not supported locally`);
    if (have === undefined || have.length === 0) {
      // A missing key fails every positive operator; IfExists, negated operators and
      // ForAllValues (nothing to disagree) hold, as IAM evaluates them.
      if (ifExists || rule.negated || qualifier === 'ForAllValues') continue;
      return false;
    }
    const matchesAny = (value: string) => wanted.some((w) => rule.compare(w, value));
    const positive =
      qualifier === 'ForAllValues'
        ? have.every(matchesAny)
        : qualifier === 'ForAnyValue'
          ? have.some(matchesAny)
          : have.length === 1
            ? matchesAny(have[0] as string)
            : have.some(matchesAny);
    if (rule.negated ? positive : !positive) return false;
  }
  return true;
}

/** Whether `statement` applies to `request` (its Effect aside). */
export function statementMatches(statement: PolicyStatement, request: AuthorizationRequest): boolean {
  const action =
    statement.Action !== undefined
      ? statement.Action.some((p) => actionMatches(p, request.action))
      : !(statement.NotAction ?? []).some((p) => actionMatches(p, request.action));
  if (!action) return false;
  const resource =
    statement.Resource !== undefined
      ? statement.Resource.some((p) => resourceMatches(p, request.resource))
      : !(statement.NotResource ?? []).some((p) => resourceMatches(p, request.resource));
  if (!resource) return false;
  return Object.entries(statement.Condition ?? {}).every(([operator, block]) =>
    conditionHolds(operator, block, request.context),
  );
}

/**
 * Evaluates `request` against every policy of one principal.
 *
 * @example
 * evaluate(role.policies, { action: 'dynamodb:PutItem', resource: tableArn }).decision // 'allow'
 */
export function evaluate(policies: readonly PolicyDocument[], request: AuthorizationRequest): Evaluation {
  let allow: Evaluation['statement'];
  for (const policy of policies) {
    for (const [index, statement] of policy.statements.entries()) {
      if (!statementMatches(statement, request)) continue;
      const found = {
        policy: policy.name,
        index,
        ...(statement.Sid === undefined ? {} : { sid: statement.Sid }),
      };
      if (statement.Effect === 'Deny') return { decision: 'explicitDeny', statement: found };
      allow ??= found;
    }
  }
  return allow === undefined ? { decision: 'implicitDeny' } : { decision: 'allow', statement: allow };
}
