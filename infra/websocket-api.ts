import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  LogGroupLogDestination,
  type ThrottleSettings,
  WebSocketApi,
  type WebSocketRoute,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ROUTE_SELECTION_EXPRESSION, ROUTES, TOKEN_QUERY_PARAM } from '../lambdas/shared/protocol';
import { nagPseudo } from './nag';

/** The identity source of the `$connect` authorizer: the token query parameter. */
export const TOKEN_IDENTITY_SOURCE = `route.request.querystring.${TOKEN_QUERY_PARAM}`;

/** Stage throttling used when none is given. */
export const DEFAULT_THROTTLE: Required<ThrottleSettings> = {
  // Well under the account's 10,000 req/s, which the @connections posts of every publish share
  // with client traffic: a client flood must not starve delivery.
  rateLimit: 1_000,
  burstLimit: 500,
};

/**
 * Throttle of the `$default` route, over the stage's. Every client frame lands on `$default`, so
 * one client sending as fast as it can would otherwise take the whole stage budget per route and
 * keep `$default` busy; past this, API Gateway answers the frame itself with 429 and no function
 * runs. A client's own traffic is a few frames a minute (subscribe, ping every 9 minutes, a
 * resume after a reconnect), so this serves thousands of clients at once.
 */
export const DEFAULT_ROUTE_THROTTLE: Required<ThrottleSettings> = {
  rateLimit: 500,
  burstLimit: 250,
};

/**
 * One access-log line per request, as JSON for Logs Insights. The token rides in the query
 * string, so nothing here may ever log the request URL or the query string.
 */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTimeEpoch: '$context.requestTimeEpoch',
  eventType: '$context.eventType',
  routeKey: '$context.routeKey',
  connectionId: '$context.connectionId',
  status: '$context.status',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  principalId: '$context.authorizer.principalId',
  authorizerError: '$context.authorizer.error',
  integrationStatus: '$context.integration.status',
  integrationLatency: '$context.integration.latency',
  error: '$context.error.message',
} as const;

/** The handlers behind the API's routes. */
export interface PushRouteHandlers {
  readonly authorizer: IFunction;
  readonly connect: IFunction;
  readonly disconnect: IFunction;
  readonly default: IFunction;
}

/** Properties of {@link PushWebSocketApi}. */
export interface PushWebSocketApiProps {
  /** The functions behind the authorizer and the three routes. */
  readonly handlers: PushRouteHandlers;
  /** Stage name, the last path segment of the wss:// and callback URLs. */
  readonly stageName: string;
  /** @default DEFAULT_THROTTLE */
  readonly throttle?: ThrottleSettings;
  /** Throttle of the `$default` route. @default DEFAULT_ROUTE_THROTTLE */
  readonly defaultRouteThrottle?: ThrottleSettings;
  /** @default RetentionDays.ONE_MONTH */
  readonly accessLogRetention?: RetentionDays;
  /** Of the access log group. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Set the Region's API Gateway account setting to a CloudWatch Logs role made here. API
   * Gateway refuses to create a WebSocket stage with logging ("CloudWatch Logs role ARN must be
   * set in account settings") until that setting exists; turn this off where the account
   * already has it and someone else owns it.
   * @default true
   */
  readonly configureAccountLogging?: boolean;
}

/**
 * The WebSocket API: `$connect` behind the REQUEST authorizer, `$disconnect`, and `$default`
 * with a route response, on one stage with throttling, JSON access logs and detailed metrics.
 */
export class PushWebSocketApi extends Construct {
  /** The API. */
  readonly api: WebSocketApi;
  /** Its only stage; `stage.url` is the wss:// URL, `stage.callbackUrl` the Management API. */
  readonly stage: WebSocketStage;
  /** Access logs of the stage. */
  readonly accessLogs: LogGroup;
  /** The routes, by route key. */
  readonly routes: Readonly<Record<keyof typeof ROUTES, WebSocketRoute>>;

  constructor(scope: Construct, id: string, props: PushWebSocketApiProps) {
    super(scope, id);
    const { handlers } = props;
    this.api = new WebSocketApi(this, 'Api', {
      // Named after its stack (PushStack-prod, PushStack-dev), not CDK's default of the construct
      // id, so two stages in one account and Region are told apart in the console and the CLI.
      apiName: Stack.of(this).stackName,
      description: 'Real-time push: clients connect with a signed token and receive pushes',
      routeSelectionExpression: ROUTE_SELECTION_EXPRESSION,
    });
    const authorizer = new WebSocketLambdaAuthorizer('TokenAuthorizer', handlers.authorizer, {
      identitySource: [TOKEN_IDENTITY_SOURCE],
    });
    this.routes = {
      connect: this.api.addRoute(ROUTES.connect, {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', handlers.connect),
        authorizer,
      }),
      disconnect: this.api.addRoute(ROUTES.disconnect, {
        integration: new WebSocketLambdaIntegration('DisconnectIntegration', handlers.disconnect),
      }),
      // The handler's returned body is the reply frame (pong, subscribed, error), so the route
      // needs a route response or API Gateway drops it.
      default: this.api.addRoute(ROUTES.default, {
        integration: new WebSocketLambdaIntegration('DefaultIntegration', handlers.default),
        returnResponse: true,
      }),
    };
    for (const route of [this.routes.disconnect, this.routes.default]) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'WebSocket APIs authorize only the $connect route; every later frame and the disconnect ' +
          'arrive on a connection the token authorizer already admitted, and the handlers read ' +
          "the principal from that authorizer's context.",
      });
    }

    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    const throttle = props.throttle ?? DEFAULT_THROTTLE;
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: props.stageName,
      autoDeploy: true,
      throttle: {
        rateLimit: throttle.rateLimit ?? DEFAULT_THROTTLE.rateLimit,
        burstLimit: throttle.burstLimit ?? DEFAULT_THROTTLE.burstLimit,
      },
      detailedMetricsEnabled: true,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    // WebSocketStage has no per-route settings, so they go on its CloudFormation resource; the
    // stage must come after the route its settings name, or the deployment is refused.
    const defaultThrottle = props.defaultRouteThrottle ?? DEFAULT_ROUTE_THROTTLE;
    (this.stage.node.defaultChild as CfnStage).routeSettings = {
      [ROUTES.default]: {
        ThrottlingRateLimit: defaultThrottle.rateLimit ?? DEFAULT_ROUTE_THROTTLE.rateLimit,
        ThrottlingBurstLimit: defaultThrottle.burstLimit ?? DEFAULT_ROUTE_THROTTLE.burstLimit,
      },
    };
    this.stage.node.addDependency(this.routes.default);

    if (props.configureAccountLogging ?? true) {
      const role = new Role(this, 'AccountLoggingRole', {
        assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
        description: 'Lets API Gateway write access and execution logs in this account and Region',
        managedPolicies: [
          ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
        ],
      });
      // The account setting outlives this stack and may serve other APIs: deleting the stack
      // must not pull the role out from under them.
      role.applyRemovalPolicy(RemovalPolicy.RETAIN);
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM4[Policy::arn:${nagPseudo(this, 'Partition')}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]`,
        reason:
          "This is the Region-wide API Gateway logging role, shared by every API in the account; AWS's " +
          'own service-role policy is what the API Gateway documentation prescribes for it and it is ' +
          'kept current by AWS.',
      });
      const account = new CfnAccount(this, 'AccountLogging', { cloudWatchRoleArn: role.roleArn });
      this.stage.node.addDependency(account);
    }
  }
}
