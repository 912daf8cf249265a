/**
 * IAM on the local endpoints: a request signed with a function's credentials is evaluated against
 * that function's role, as the template grants it, and refused with the service's own denial;
 * any other credentials (the developer's CLI, SDK scripts, tests) are allowed, as with an
 * administrator profile. Every endpoint shares one enforcer (the DynamoDB gate in dynalite's own
 * process, a copy of its policy that reports back), so denials are counted in one place and each
 * is logged as one line that names the role, the action and the resource, which is exactly the
 * grant that is missing in `infra/`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestUrl } from '../http-util';
import type { Logger } from '../logger';
import {
  accessKeyIdOf,
  authorize,
  type CallerIdentity,
  type DenialResponse,
  type DenyingService,
  denialResponse,
} from './denials';
import { type AuthorizationRequest, allowHeldByCondition } from './evaluate';
import type { AccountScope, PartitionKeyLookup } from './requests';

/** Why nothing allowed `request`, naming the Allow statement a condition held back, if one did. */
function notAllowed(policies: CallerIdentity['policies'], request: AuthorizationRequest): string {
  const held = allowHeldByCondition(policies, request);
  return held === undefined
    ? 'no statement of its role allows it'
    : `no statement of its role allows it (${held.policy} statement ${held.sid ?? held.index} names it, but its condition does not hold)`;
}

/** The role session behind an access key id, or undefined for credentials that are not a function's. */
export type CallerLookup = (accessKeyId: string) => CallerIdentity | undefined;

/** KMS key ARNs of the encrypted resources, by the name the endpoint sees; undefined when unencrypted. */
export interface ResourceKeys {
  /** By table name. */
  readonly table?: (tableName: string) => string | undefined;
  /** By queue name. */
  readonly queue?: (queueName: string) => string | undefined;
  /** By topic ARN. */
  readonly topic?: (topicArn: string) => string | undefined;
}

/** Options for {@link IamEnforcer}. */
export interface IamEnforcerOptions {
  /** Who signs with which access key id. */
  readonly callerFor: CallerLookup;
  /** The account and Region the template's ARNs are resolved in. */
  readonly scope: AccountScope;
  /** @default no resource is encrypted with a customer-managed key */
  readonly keys?: ResourceKeys;
  /**
   * Each table's partition key attribute, as the template declares it: the DynamoDB gate reads
   * `dynamodb:LeadingKeys` from the call's keys with it, for the callers whose policies name that
   * condition key. @default none: no call carries `dynamodb:LeadingKeys`
   */
  readonly partitionKeys?: PartitionKeyLookup;
  /**
   * The API id and stage that `execute-api` ARNs name, as the template resolves them.
   * @default the emulator's own (the endpoint passes them)
   */
  readonly managementApi?: { readonly apiId: string; readonly stage: string };
  /** A Lambda function's ARN by the name Invoke was called with. @default the scope's ARN of that name */
  readonly functionArn?: (functionName: string) => string | undefined;
  /** Receives one warning per denial. */
  readonly logger: Logger;
  /** Told of each denial before it is logged and answered (a gate in another process reports so). */
  readonly onDenied?: (service: DenyingService) => void;
}

/** Rewrites a service's denial for another protocol of the same service (SQS's query protocol). */
export type DenialFormat = (answer: DenialResponse) => DenialResponse;

/** Denials since the stack started, in all and per service. */
export interface IamStats {
  readonly denials: number;
  readonly byService: Readonly<Record<DenyingService, number>>;
}

function roleOf(sessionArn: string): string {
  // arn:aws:sts::{account}:assumed-role/{role}/{session}
  const [, role, session] = sessionArn.split(':').slice(5).join(':').split('/');
  return session === undefined ? sessionArn : `${role} (${session})`;
}

/**
 * Checks requests on behalf of the local endpoints.
 *
 * @example
 * const caller = enforcer.callerOf(req);
 * if (caller && enforcer.refuse(res, 'sqs', caller, sqsRequests(scope, 'SendMessage', queueName))) return;
 */
export class IamEnforcer {
  readonly scope: AccountScope;
  readonly keys: ResourceKeys;
  readonly partitionKeys: PartitionKeyLookup | undefined;
  readonly managementApi: IamEnforcerOptions['managementApi'];
  readonly functionArn: IamEnforcerOptions['functionArn'];
  readonly #callerFor: CallerLookup;
  readonly #logger: Logger;
  readonly #onDenied: ((service: DenyingService) => void) | undefined;
  #denials = 0;
  readonly #byService: Record<DenyingService, number> = {
    dynamodb: 0,
    sqs: 0,
    sns: 0,
    secretsmanager: 0,
    lambda: 0,
    'execute-api': 0,
  };

  constructor(options: IamEnforcerOptions) {
    this.scope = options.scope;
    this.keys = options.keys ?? {};
    this.partitionKeys = options.partitionKeys;
    this.managementApi = options.managementApi;
    this.functionArn = options.functionArn;
    this.#callerFor = options.callerFor;
    this.#logger = options.logger;
    this.#onDenied = options.onDenied;
  }

  /** Counters, a snapshot. */
  get stats(): IamStats {
    return { denials: this.#denials, byService: { ...this.#byService } };
  }

  /** The function a request is signed as, or undefined when it is not a function's. */
  callerOf(req: IncomingMessage): CallerIdentity | undefined {
    const presigned = req.url?.includes('X-Amz-Credential=')
      ? (requestUrl(req.url)?.searchParams.get('X-Amz-Credential') ?? undefined)
      : undefined;
    const key = accessKeyIdOf(req.headers.authorization, presigned);
    return key === undefined ? undefined : this.#callerFor(key);
  }

  /**
   * Evaluates `requests` for `caller`; when one is refused, answers `res` with the service's
   * denial, counts and logs it, and returns true.
   */
  refuse(
    res: ServerResponse,
    service: DenyingService,
    caller: CallerIdentity,
    requests: readonly AuthorizationRequest[],
    format: DenialFormat = (answer) => answer,
  ): boolean {
    const denial = authorize(caller, requests);
    if (denial === undefined) return false;
    this.#denials++;
    this.#byService[service]++;
    this.#onDenied?.(service);
    const requestId = randomUUID();
    const why =
      denial.evaluation.decision === 'explicitDeny'
        ? `explicitly denied by ${denial.evaluation.statement?.policy} statement ${denial.evaluation.statement?.sid ?? denial.evaluation.statement?.index}`
        : notAllowed(caller.policies, denial.request);
    this.#logger.warn(
      `IAM denied ${roleOf(denial.caller)} ${denial.request.action} on ${denial.request.resource}: ${why}`,
      {
        ...(denial.request.context === undefined ? {} : { context: denial.request.context }),
        requestId,
      },
    );
    const answer = format(denialResponse(service, denial, requestId));
    res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
    res.end(answer.body);
    return true;
  }
}
