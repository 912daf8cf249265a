/**
 * The deployment as the local stack needs it, read from the synthesized template: each function's
 * environment (references resolved to local names and endpoints), timeout, memory, reserved
 * concurrency and role policies; the WebSocket routes, their integrations and authorizer; stage
 * and route throttles; queues and the event source mappings that drain them. Nothing here repeats
 * a value `infra/` sets: change the CDK app and the model follows.
 */
import type { HandlerId } from '../../lambdas/shared/deployment';
import { normalizeStatement, type PolicyDocument } from '../iam/policy';
import { type ReferenceResolver, resolveString, resolveValue } from './intrinsics';
import type { CfnResource, CfnTemplate, SynthesizedStack } from './synthesize';

/** CloudFormation's defaults for properties the template may leave out. */
const LAMBDA_DEFAULTS = { timeoutSeconds: 3, memorySizeMb: 128 } as const;
const SQS_DEFAULTS = { visibilityTimeoutSeconds: 30, retentionSeconds: 345_600, batchSize: 10 } as const;

/** An execution role and every identity policy it holds. */
export interface RoleModel {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** Inline policies of the role and the AWS::IAM::Policy resources attached to it. */
  readonly policies: readonly PolicyDocument[];
  /** Managed policies, by ARN; their documents are not in the template. */
  readonly managedPolicyArns: readonly string[];
}

/** Lambda's asynchronous invocation settings of a function. */
export interface AsyncInvokeModel {
  readonly maximumRetryAttempts?: number;
  readonly maximumEventAgeSeconds?: number;
  /** ARN of the on-failure destination. */
  readonly onFailure?: string;
}

/** One Lambda function. */
export interface FunctionModel {
  readonly handler: HandlerId;
  readonly logicalId: string;
  readonly functionName: string;
  readonly arn: string;
  /** Its own environment variables, resolved; nothing from anyone else's. */
  readonly environment: Readonly<Record<string, string>>;
  readonly timeoutSeconds: number;
  readonly memorySizeMb: number;
  /** @default undefined: the function shares the account's unreserved concurrency */
  readonly reservedConcurrency?: number;
  readonly runtime: string;
  readonly role: RoleModel;
  readonly asyncInvoke?: AsyncInvokeModel;
}

/** Requests per second and burst of a stage or route; unset means API Gateway's account limits. */
export interface ThrottleModel {
  readonly rateLimit?: number;
  readonly burstLimit?: number;
}

/** The `$connect` authorizer. */
export interface AuthorizerModel {
  readonly logicalId: string;
  readonly name: string;
  readonly type: string;
  readonly handler: HandlerId;
  /** e.g. `route.request.querystring.token` */
  readonly identitySource: readonly string[];
}

/** One WebSocket route. */
export interface RouteModel {
  readonly routeKey: string;
  /** The function behind the route's Lambda proxy integration. */
  readonly handler: HandlerId;
  readonly integrationType: string;
  readonly authorizationType: string;
  readonly authorizer?: AuthorizerModel;
  /** Whether the integration's response is sent back to the client (a route response exists). */
  readonly returnResponse: boolean;
  /** Route-level throttle, over the stage's. */
  readonly throttle?: ThrottleModel;
}

/** The WebSocket API and its stage. */
export interface ApiModel {
  readonly logicalId: string;
  readonly apiId: string;
  readonly routeSelectionExpression: string;
  readonly stageName: string;
  readonly stageThrottle: ThrottleModel;
  readonly routes: readonly RouteModel[];
}

/** One SQS queue. */
export interface QueueModel {
  readonly logicalId: string;
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly visibilityTimeoutSeconds: number;
  readonly retentionSeconds: number;
  readonly redrive?: { readonly deadLetterTargetArn: string; readonly maxReceiveCount: number };
  /** ARN or id of the KMS key, or `sqs-managed`. */
  readonly encryption?: string;
}

/** A Lambda event source mapping from a queue. */
export interface EventSourceModel {
  readonly handler: HandlerId;
  /** The queue's logical id. */
  readonly queue: string;
  readonly eventSourceArn: string;
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  readonly reportBatchItemFailures: boolean;
  /** @default undefined: no cap besides the function's own */
  readonly maximumConcurrency?: number;
  readonly enabled: boolean;
}

/** One DynamoDB table. */
export interface TableModel {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** The partition key attribute (`KeyType: HASH`): what `dynamodb:LeadingKeys` names the values of. */
  readonly partitionKey: string;
  /** KMS key ARN when the table uses a customer-managed key. */
  readonly encryptionKey?: string;
}

/** The whole deployment, resolved for the local stack. */
export interface DeploymentModel {
  readonly functions: Readonly<Record<HandlerId, FunctionModel>>;
  readonly api: ApiModel;
  readonly queues: Readonly<Record<string, QueueModel>>;
  readonly eventSources: readonly EventSourceModel[];
  /** By `TableDefinition.id`. */
  readonly tables: Readonly<Record<string, TableModel>>;
  /** Logical ids of the resources the local stack stands in for. */
  readonly index: SynthesizedStack['index'];
}

/** A template the model cannot be read from; `code` is stable. */
export class DeploymentModelError extends Error {
  override readonly name = 'DeploymentModelError';
  readonly code = 'bad_deployment_template';
}

/** Options for {@link deploymentModel}. */
export interface DeploymentModelOptions {
  /** What references mean locally (`localResolver`). */
  readonly resolver: ReferenceResolver;
  /**
   * Applied to every resolved environment value: the local stack maps deployed endpoints to its
   * own (`localEndpoints`). @default identity
   */
  readonly rewrite?: (value: string) => string;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

function props(resource: CfnResource | undefined): Record<string, unknown> {
  return (resource?.Properties ?? {}) as Record<string, unknown>;
}

/** Every logical id that `value` names through `Ref` or `Fn::GetAtt`. */
function referencedIds(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) referencedIds(item, found);
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key === 'Ref' && typeof item === 'string') found.add(item);
      else if (key === 'Fn::GetAtt' && Array.isArray(item) && typeof item[0] === 'string') found.add(item[0]);
      else referencedIds(item, found);
    }
  }
  return found;
}

function optionalNumber(value: unknown): number | undefined {
  return value === undefined ? undefined : Number(value);
}

function throttleOf(settings: unknown): ThrottleModel | undefined {
  const s = (settings ?? {}) as Record<string, unknown>;
  const rateLimit = optionalNumber(s.ThrottlingRateLimit);
  const burstLimit = optionalNumber(s.ThrottlingBurstLimit);
  if (rateLimit === undefined && burstLimit === undefined) return undefined;
  return {
    ...(rateLimit === undefined ? {} : { rateLimit }),
    ...(burstLimit === undefined ? {} : { burstLimit }),
  };
}

/**
 * Reads the {@link DeploymentModel} out of a synthesized stack.
 *
 * @example
 * const loaded = await loadStack();
 * const model = deploymentModel(loaded, {
 *   resolver: localResolver(loaded.template, { sqsOrigin: origin }),
 *   rewrite: localEndpoints(origin),
 * });
 * model.functions.publish.timeoutSeconds // 60
 */
export function deploymentModel(stack: SynthesizedStack, options: DeploymentModelOptions): DeploymentModel {
  const { template, index } = stack;
  const { resolver } = options;
  const rewrite = options.rewrite ?? ((value: string) => value);
  const resource = (logicalId: string): CfnResource => {
    const found = template.Resources[logicalId];
    if (found === undefined) throw new DeploymentModelError(`the template has no resource ${logicalId}`);
    return found;
  };
  const handlerByFunction = new Map(
    Object.entries(index.functions).map(([handler, ids]) => [ids.function, handler as HandlerId]),
  );
  /** The one handler whose function `value` references (an integration or authorizer URI). */
  const handlerIn = (value: unknown, where: string): HandlerId => {
    const handlers = [...referencedIds(value)].flatMap((id) => handlerByFunction.get(id) ?? []);
    if (handlers.length !== 1)
      throw new DeploymentModelError(`${where} does not name exactly one handler's function`);
    return handlers[0] as HandlerId;
  };

  const roleModel = (logicalId: string): RoleModel => {
    const role = props(resource(logicalId));
    const policies: PolicyDocument[] = [];
    for (const inline of (role.Policies ?? []) as {
      PolicyName: string;
      PolicyDocument: { Statement: unknown[] };
    }[]) {
      policies.push({
        name: `${logicalId}/${inline.PolicyName}`,
        statements: (
          resolveValue(inline.PolicyDocument.Statement, resolver) as Record<string, unknown>[]
        ).map(normalizeStatement),
      });
    }
    for (const [policyId, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
      const roles = (props(policy).Roles ?? []) as unknown[];
      if (!roles.some((ref) => sameJson(ref, { Ref: logicalId }))) continue;
      const document = props(policy).PolicyDocument as { Statement: unknown[] };
      policies.push({
        name: policyId,
        statements: (resolveValue(document.Statement, resolver) as Record<string, unknown>[]).map(
          normalizeStatement,
        ),
      });
    }
    return {
      logicalId,
      name: resolver.ref(logicalId),
      arn: resolver.getAtt(logicalId, 'Arn'),
      policies,
      managedPolicyArns: ((resolveValue(role.ManagedPolicyArns ?? [], resolver) as string[]) ?? []).map(
        String,
      ),
    };
  };

  const asyncInvoke = new Map<string, AsyncInvokeModel>();
  for (const [, config] of resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig')) {
    const p = props(config);
    const [fnId] = [...referencedIds(p.FunctionName)];
    if (fnId === undefined) continue;
    const onFailure = (p.DestinationConfig as { OnFailure?: { Destination: unknown } } | undefined)
      ?.OnFailure;
    asyncInvoke.set(fnId, {
      ...(p.MaximumRetryAttempts === undefined
        ? {}
        : { maximumRetryAttempts: Number(p.MaximumRetryAttempts) }),
      ...(p.MaximumEventAgeInSeconds === undefined
        ? {}
        : { maximumEventAgeSeconds: Number(p.MaximumEventAgeInSeconds) }),
      ...(onFailure === undefined
        ? {}
        : { onFailure: resolveString(onFailure.Destination, resolver, 'OnFailure destination') }),
    });
  }

  const functions = Object.fromEntries(
    Object.entries(index.functions).map(([handler, ids]) => {
      const fn = props(resource(ids.function));
      const variables = ((fn.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
        {}) as Record<string, unknown>;
      const environment = Object.fromEntries(
        Object.entries(variables).map(([name, value]) => [
          name,
          rewrite(resolveString(value, resolver, `${handler} environment ${name}`)),
        ]),
      );
      const reserved = optionalNumber(fn.ReservedConcurrentExecutions);
      const model: FunctionModel = {
        handler: handler as HandlerId,
        logicalId: ids.function,
        functionName: resolver.ref(ids.function),
        arn: resolver.getAtt(ids.function, 'Arn'),
        environment,
        timeoutSeconds: optionalNumber(fn.Timeout) ?? LAMBDA_DEFAULTS.timeoutSeconds,
        memorySizeMb: optionalNumber(fn.MemorySize) ?? LAMBDA_DEFAULTS.memorySizeMb,
        ...(reserved === undefined ? {} : { reservedConcurrency: reserved }),
        runtime: String(fn.Runtime),
        role: roleModel(ids.role),
        ...(asyncInvoke.has(ids.function) ? { asyncInvoke: asyncInvoke.get(ids.function) } : {}),
      };
      return [handler, model];
    }),
  ) as Record<HandlerId, FunctionModel>;

  return {
    functions,
    api: apiModel(stack, resolver, handlerIn),
    queues: Object.fromEntries(
      resourcesOfType(template, 'AWS::SQS::Queue').map(([logicalId, queue]) => [
        logicalId,
        queueModel(logicalId, props(queue), resolver),
      ]),
    ),
    eventSources: resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').map(([logicalId, mapping]) => {
      const p = props(mapping);
      const handler = handlerIn(p.FunctionName, `event source mapping ${logicalId}`);
      const [queue] = [...referencedIds(p.EventSourceArn)];
      const concurrency = optionalNumber(
        (p.ScalingConfig as { MaximumConcurrency?: unknown } | undefined)?.MaximumConcurrency,
      );
      return {
        handler,
        queue: queue ?? '',
        eventSourceArn: resolveString(p.EventSourceArn, resolver, `${logicalId} EventSourceArn`),
        batchSize: optionalNumber(p.BatchSize) ?? SQS_DEFAULTS.batchSize,
        maximumBatchingWindowSeconds: optionalNumber(p.MaximumBatchingWindowInSeconds) ?? 0,
        reportBatchItemFailures: ((p.FunctionResponseTypes ?? []) as string[]).includes(
          'ReportBatchItemFailures',
        ),
        ...(concurrency === undefined ? {} : { maximumConcurrency: concurrency }),
        enabled: p.Enabled !== false,
      };
    }),
    tables: Object.fromEntries(
      Object.entries(index.tables).map(([id, logicalId]) => {
        const sse = props(resource(logicalId)).SSESpecification as { KMSMasterKeyId?: unknown } | undefined;
        const replicas = (props(resource(logicalId)).Replicas ?? []) as {
          SSESpecification?: { KMSMasterKeyId?: unknown };
        }[];
        const keyRef = sse?.KMSMasterKeyId ?? replicas[0]?.SSESpecification?.KMSMasterKeyId;
        const keySchema = (props(resource(logicalId)).KeySchema ?? []) as {
          AttributeName?: unknown;
          KeyType?: unknown;
        }[];
        const partitionKey = keySchema.find((key) => key.KeyType === 'HASH')?.AttributeName;
        if (typeof partitionKey !== 'string')
          throw new DeploymentModelError(`table ${logicalId} has no partition (HASH) key in its KeySchema`);
        return [
          id,
          {
            logicalId,
            name: resolver.ref(logicalId),
            arn: resolver.getAtt(logicalId, 'Arn'),
            partitionKey,
            ...(keyRef === undefined ? {} : { encryptionKey: resolveString(keyRef, resolver, `${id} key`) }),
          },
        ];
      }),
    ),
    index,
  };
}

function queueModel(logicalId: string, p: Record<string, unknown>, resolver: ReferenceResolver): QueueModel {
  const redrive = p.RedrivePolicy as { deadLetterTargetArn: unknown; maxReceiveCount: unknown } | undefined;
  const encryption =
    p.KmsMasterKeyId !== undefined
      ? resolveString(p.KmsMasterKeyId, resolver, `${logicalId} KmsMasterKeyId`)
      : p.SqsManagedSseEnabled === true
        ? 'sqs-managed'
        : undefined;
  return {
    logicalId,
    name: resolver.getAtt(logicalId, 'QueueName'),
    url: resolver.ref(logicalId),
    arn: resolver.getAtt(logicalId, 'Arn'),
    visibilityTimeoutSeconds: optionalNumber(p.VisibilityTimeout) ?? SQS_DEFAULTS.visibilityTimeoutSeconds,
    retentionSeconds: optionalNumber(p.MessageRetentionPeriod) ?? SQS_DEFAULTS.retentionSeconds,
    ...(redrive === undefined
      ? {}
      : {
          redrive: {
            deadLetterTargetArn: resolveString(redrive.deadLetterTargetArn, resolver, `${logicalId} redrive`),
            maxReceiveCount: Number(redrive.maxReceiveCount),
          },
        }),
    ...(encryption === undefined ? {} : { encryption }),
  };
}

function apiModel(
  stack: SynthesizedStack,
  resolver: ReferenceResolver,
  handlerIn: (value: unknown, where: string) => HandlerId,
): ApiModel {
  const { template, index } = stack;
  const ofApi = (type: string) =>
    resourcesOfType(template, type).filter(([, r]) => sameJson(props(r).ApiId, { Ref: index.api }));
  const stage = props(template.Resources[index.stage]);
  const routeSettings = (stage.RouteSettings ?? {}) as Record<string, unknown>;
  const authorizers = new Map(ofApi('AWS::ApiGatewayV2::Authorizer'));
  const integrations = new Map(ofApi('AWS::ApiGatewayV2::Integration'));
  const routeResponses = ofApi('AWS::ApiGatewayV2::RouteResponse').map(([, r]) => props(r).RouteId);
  const routes = ofApi('AWS::ApiGatewayV2::Route').map(([logicalId, route]): RouteModel => {
    const p = props(route);
    const routeKey = String(p.RouteKey);
    const [integrationId] = [...referencedIds(p.Target)].filter((id) => integrations.has(id));
    if (integrationId === undefined) throw new DeploymentModelError(`route ${routeKey} has no integration`);
    const integration = props(integrations.get(integrationId));
    let authorizer: AuthorizerModel | undefined;
    if (p.AuthorizerId !== undefined) {
      const [authorizerId] = [...referencedIds(p.AuthorizerId)];
      const a = props(authorizers.get(authorizerId ?? ''));
      authorizer = {
        logicalId: authorizerId ?? '',
        name: String(a.Name),
        type: String(a.AuthorizerType),
        handler: handlerIn(a.AuthorizerUri, `authorizer of ${routeKey}`),
        identitySource: (a.IdentitySource ?? []) as string[],
      };
    }
    const throttle = throttleOf(routeSettings[routeKey]);
    return {
      routeKey,
      handler: handlerIn(integration.IntegrationUri, `integration of ${routeKey}`),
      integrationType: String(integration.IntegrationType),
      authorizationType: String(p.AuthorizationType ?? 'NONE'),
      ...(authorizer === undefined ? {} : { authorizer }),
      returnResponse: routeResponses.some((ref) => sameJson(ref, { Ref: logicalId })),
      ...(throttle === undefined ? {} : { throttle }),
    };
  });
  const api = props(template.Resources[index.api]);
  return {
    logicalId: index.api,
    apiId: resolver.ref(index.api),
    routeSelectionExpression: String(api.RouteSelectionExpression),
    stageName: String(stage.StageName),
    stageThrottle: throttleOf(stage.DefaultRouteSettings) ?? {},
    routes,
  };
}
