/**
 * Authorizing a function's call with its role, and answering a refusal the way the service
 * would: the same status, error code and `User: ... is not authorized to perform: ...` message
 * that the SDK turns into the same exception class as on AWS.
 */
import { type AuthorizationRequest, type Evaluation, evaluate } from './evaluate';
import type { PolicyDocument } from './policy';

/** Who is calling: a function's role session, as Lambda names it. */
export interface CallerIdentity {
  /** `arn:aws:sts::{account}:assumed-role/{role}/{session}` */
  readonly arn: string;
  readonly policies: readonly PolicyDocument[];
}

/** The session ARN Lambda's credentials carry: the role name and the function name as session. */
export function assumedRoleArn(
  accountId: string,
  roleName: string,
  session: string,
  partition = 'aws',
): string {
  return `arn:${partition}:sts::${accountId}:assumed-role/${roleName}/${session}`;
}

const CREDENTIAL = /Credential=([^/,\s]+)\//;

/**
 * The access key id of a SigV4-signed request, from its `Authorization` header (or the
 * `X-Amz-Credential` query parameter of a presigned one); undefined when unsigned.
 *
 * @example
 * accessKeyIdOf('AWS4-HMAC-SHA256 Credential=local-publish/20261201/us-east-1/sqs/aws4_request, ...')
 * // 'local-publish'
 */
export function accessKeyIdOf(
  authorization: string | undefined,
  presignedCredential?: string,
): string | undefined {
  if (authorization !== undefined) return CREDENTIAL.exec(authorization)?.[1];
  return presignedCredential?.split('/')[0] || undefined;
}

/** A refused request and why. */
export interface Denial {
  readonly caller: string;
  readonly request: AuthorizationRequest;
  readonly evaluation: Evaluation;
}

/**
 * Evaluations already made, per caller: the gate in front of DynamoDB asks about the same few
 * actions on the same few tables on every call of a push, and a caller's policies never change
 * (a new deployment brings new caller objects). Bounded, since `execute-api` resources name each
 * connection: a full map is dropped and refilled.
 */
const evaluations = new WeakMap<CallerIdentity, Map<string, Evaluation>>();
const EVALUATIONS_KEPT = 4_096;

function evaluationFor(caller: CallerIdentity, request: AuthorizationRequest): Evaluation {
  // With a context, the parts are quoted: a resource can hold any character a call's table name
  // does (a newline, a brace), and must not pass for another resource with another context. An
  // action names its service first, so a key without a context never starts as this one does.
  const key =
    request.context === undefined
      ? `${request.action}\n${request.resource}`
      : JSON.stringify([request.action, request.resource, request.context]);
  let known = evaluations.get(caller);
  if (known === undefined) {
    known = new Map();
    evaluations.set(caller, known);
  }
  let evaluation = known.get(key);
  if (evaluation === undefined) {
    evaluation = evaluate(caller.policies, request);
    if (known.size >= EVALUATIONS_KEPT) known.clear();
    known.set(key, evaluation);
  }
  return evaluation;
}

/**
 * Evaluates every request in order and returns the first one refused, or undefined when all are
 * allowed. An anonymous caller (no function credentials: the developer's own tools) is allowed
 * everything, as with an administrator profile.
 */
export function authorize(
  caller: CallerIdentity | undefined,
  requests: readonly AuthorizationRequest[],
): Denial | undefined {
  if (caller === undefined) return undefined;
  for (const request of requests) {
    const evaluation = evaluationFor(caller, request);
    if (evaluation.decision !== 'allow') return { caller: caller.arn, request, evaluation };
  }
  return undefined;
}

/** AWS's wording of a refusal. `actionAs` lets SNS and SQS spell the action their own way. */
export function accessDeniedMessage(denial: Denial, actionAs: (action: string) => string = (a) => a): string {
  const action = actionAs(denial.request.action);
  const why =
    denial.evaluation.decision === 'explicitDeny'
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${action} action`;
  return `User: ${denial.caller} is not authorized to perform: ${action} on resource: ${denial.request.resource} ${why}`;
}

/** An HTTP answer, ready to write. */
export interface DenialResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The local endpoints that enforce IAM. */
export type DenyingService = 'dynamodb' | 'sqs' | 'sns' | 'secretsmanager' | 'lambda' | 'execute-api';

const JSON_10 = 'application/x-amz-json-1.0';
const JSON_11 = 'application/x-amz-json-1.1';

/** SNS and SQS spell `service:Action` as `SNS:Publish` and `sqs:sendmessage` in their messages. */
function spelling(service: DenyingService): (action: string) => string {
  if (service === 'sns') return (action) => action.replace(/^sns:/i, 'SNS:');
  if (service === 'sqs') return (action) => (action.startsWith('sqs:') ? action.toLowerCase() : action);
  return (action) => action;
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The service's answer to `denial`. A refused KMS action (a key grant missing) answers as the
 * service reports KMS failures: SQS with `KMS.AccessDeniedException`, the others with their own
 * access-denied code and KMS's message.
 *
 * @example
 * const denial = authorize(caller, dynamoDbRequests(scope, 'PutItem', body));
 * if (denial) { const { status, headers, body } = denialResponse('dynamodb', denial, requestId); ... }
 */
export function denialResponse(service: DenyingService, denial: Denial, requestId: string): DenialResponse {
  const viaKms = denial.request.action.toLowerCase().startsWith('kms:');
  const message = accessDeniedMessage(denial, viaKms ? undefined : spelling(service));
  switch (service) {
    case 'dynamodb':
      return {
        status: 400,
        headers: { 'content-type': JSON_10, 'x-amzn-requestid': requestId },
        body: JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#AccessDeniedException',
          Message: message,
        }),
      };
    case 'sqs': {
      const code = viaKms ? 'KMS.AccessDeniedException' : 'AccessDenied';
      return {
        status: viaKms ? 400 : 403,
        headers: {
          'content-type': JSON_10,
          'x-amzn-requestid': requestId,
          'x-amzn-query-error': `${code};Sender`,
        },
        body: JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message }),
      };
    }
    case 'sns': {
      const code = viaKms ? 'KMSAccessDenied' : 'AuthorizationError';
      return {
        status: viaKms ? 400 : 403,
        headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
        body:
          `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>` +
          `<Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>` +
          `<RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
    }
    case 'secretsmanager':
      return {
        status: 400,
        headers: { 'content-type': JSON_11, 'x-amzn-requestid': requestId },
        body: JSON.stringify({ __type: 'AccessDeniedException', Message: message }),
      };
    case 'lambda':
      return restJsonDenial(requestId, { Type: 'User', Message: message });
    case 'execute-api':
      return restJsonDenial(requestId, { Message: message });
  }
}

/** A 403 in the REST-JSON protocol Lambda and the Management API share: the type in a header. */
function restJsonDenial(requestId: string, body: Record<string, string>): DenialResponse {
  return {
    status: 403,
    headers: {
      'content-type': 'application/json',
      'x-amzn-requestid': requestId,
      'x-amzn-errortype': 'AccessDeniedException',
    },
    body: JSON.stringify(body),
  };
}
