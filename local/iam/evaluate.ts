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

/** A `*` and `?` glob as an anchored RegExp, everything else literal. */
function globRegExp(pattern: string, flags: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, flags);
}

/**
 * Compiled patterns, one map per kind, keyed by the pattern itself: a policy has a handful of
 * patterns and the gate asks about them on every call, so each is compiled once. Bounded all the
 * same, since condition values may come from anywhere.
 */
class Compiled<T> {
  readonly #map = new Map<string, T>();
  constructor(readonly compile: (pattern: string) => T) {}
  get(pattern: string): T {
    let compiled = this.#map.get(pattern);
    if (compiled === undefined) {
      compiled = this.compile(pattern);
      if (this.#map.size > 10_000) this.#map.clear();
      this.#map.set(pattern, compiled);
    }
    return compiled;
  }
}

const ACTIONS = new Compiled((pattern) => globRegExp(pattern, 'is'));
const LIKE = new Compiled((pattern) => globRegExp(pattern, 's'));

/**
 * A Resource pattern, compiled: one RegExp for each of the partition, service, region and account
 * segments (`undefined` for a bare `*`), each matched by itself so a `*` there never spans a colon,
 * and one for the rest of the pattern, matched against the rest of the ARN, slashes and colons
 * included. A pattern of fewer segments ends with its last one matched against the rest of the ARN.
 * The segments are matched one by one, not joined into one RegExp: joined, a failing match retried
 * every way of splitting the earlier segments, which a pattern with a few `*` per segment made
 * exponential.
 */
interface ResourcePattern {
  readonly segments: readonly (RegExp | undefined)[];
  readonly rest: RegExp | undefined;
}

const RESOURCES = new Compiled<ResourcePattern>((pattern) => {
  const glob = (part: string) => (part === '*' ? undefined : globRegExp(part, 's'));
  const parts = pattern.split(':');
  const last = Math.min(parts.length, 6) - 1;
  return { segments: parts.slice(0, last).map(glob), rest: glob(parts.slice(last).join(':')) };
});

/** Whether an Action pattern covers `action`: service and name both case-insensitive. */
export function actionMatches(pattern: string, action: string): boolean {
  return pattern === '*' || ACTIONS.get(pattern).test(action);
}

/**
 * Whether a Resource pattern covers `arn`. The partition, service, region and account segments
 * are matched one by one (a `*` there never spans a colon); the resource segment is matched
 * whole, slashes and colons included. Matching is case-sensitive.
 */
export function resourceMatches(pattern: string, arn: string): boolean {
  if (pattern === '*') return true;
  const { segments, rest } = RESOURCES.get(pattern);
  let start = 0;
  for (const segment of segments) {
    const colon = arn.indexOf(':', start);
    if (colon < 0) return false;
    if (segment !== undefined && !segment.test(arn.slice(start, colon))) return false;
    start = colon + 1;
  }
  return rest === undefined || rest.test(arn.slice(start));
}

type Compare = (want: string, have: string) => boolean;

const STRING: Record<string, { compare: Compare; negated: boolean }> = {
  StringEquals: { compare: (w, h) => w === h, negated: false },
  StringNotEquals: { compare: (w, h) => w === h, negated: true },
  StringEqualsIgnoreCase: { compare: (w, h) => w.toLowerCase() === h.toLowerCase(), negated: false },
  StringNotEqualsIgnoreCase: { compare: (w, h) => w.toLowerCase() === h.toLowerCase(), negated: true },
  StringLike: { compare: (w, h) => LIKE.get(w).test(h), negated: false },
  StringNotLike: { compare: (w, h) => LIKE.get(w).test(h), negated: true },
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
  return statementNames(statement, request) && conditionsHold(statement, request);
}

/** Whether every condition of `statement` holds in `request`'s context. */
function conditionsHold(statement: PolicyStatement, request: AuthorizationRequest): boolean {
  return Object.entries(statement.Condition ?? {}).every(([operator, block]) =>
    conditionHolds(operator, block, request.context),
  );
}

/** How an evaluation names a statement: its policy, its index there and its Sid, if it has one. */
function statementRef(policy: PolicyDocument, index: number, statement: PolicyStatement) {
  return { policy: policy.name, index, ...(statement.Sid === undefined ? {} : { sid: statement.Sid }) };
}

/** Whether `statement` names `request`'s action and resource, its conditions and Effect aside. */
function statementNames(statement: PolicyStatement, request: AuthorizationRequest): boolean {
  const action =
    statement.Action !== undefined
      ? statement.Action.some((p) => actionMatches(p, request.action))
      : !(statement.NotAction ?? []).some((p) => actionMatches(p, request.action));
  if (!action) return false;
  const resource =
    statement.Resource !== undefined
      ? statement.Resource.some((p) => resourceMatches(p, request.resource))
      : !(statement.NotResource ?? []).some((p) => resourceMatches(p, request.resource));
  return resource;
}

/**
 * For a request no statement allows, the first Allow statement that names its action and resource
 * but whose condition does not hold: what a denial's log line points to, since IAM's own message
 * says only that no policy allows the action.
 */
export function allowHeldByCondition(
  policies: readonly PolicyDocument[],
  request: AuthorizationRequest,
): Evaluation['statement'] {
  for (const policy of policies) {
    for (const [index, statement] of policy.statements.entries()) {
      if (statement.Effect !== 'Allow' || statement.Condition === undefined) continue;
      if (statementNames(statement, request) && !conditionsHold(statement, request)) {
        return statementRef(policy, index, statement);
      }
    }
  }
  return undefined;
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
      const found = statementRef(policy, index, statement);
      if (statement.Effect === 'Deny') return { decision: 'explicitDeny', statement: found };
      allow ??= found;
    }
  }
  return allow === undefined ? { decision: 'implicitDeny' } : { decision: 'allow', statement: allow };
}
