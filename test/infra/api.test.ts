import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DEFAULT_THROTTLE, TOKEN_IDENTITY_SOURCE } from '../../infra/websocket-api';
import { DEFAULT_STAGE } from '../../lambdas/shared/deployment';
import { ROUTE_SELECTION_EXPRESSION, ROUTES, TOKEN_QUERY_PARAM } from '../../lambdas/shared/protocol';
import { getAtt, ref, synth } from './helpers';

const { stack, template } = synth();
const apiRef = ref(stack.api);

/** The logical id of the integration a route targets. */
function integrationOf(routeKey: string): string {
  const routes = template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: routeKey } });
  const [route] = Object.values(routes);
  const target = route?.Properties.Target['Fn::Join'][1][1].Ref as string;
  return target;
}

describe('WebSocket API', () => {
  it('selects routes by the action field of the frame', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: ROUTE_SELECTION_EXPRESSION,
    });
  });

  it('has exactly the $connect, $disconnect and $default routes', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route'));
    expect(routes.map((route) => route.Properties.RouteKey).sort()).toEqual(Object.values(ROUTES).sort());
  });

  it('puts the token authorizer on $connect', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: ROUTES.connect,
      AuthorizationType: 'CUSTOM',
      AuthorizerId: Match.objectLike({ Ref: Match.anyValue() }),
    });
  });

  it('leaves $disconnect and $default unauthorized, as WebSocket APIs authorize only $connect', () => {
    for (const routeKey of [ROUTES.disconnect, ROUTES.default]) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: routeKey,
        AuthorizationType: 'NONE',
      });
    }
  });

  it('reads the token from the query string with a REQUEST authorizer backed by the authorizer function', () => {
    expect(TOKEN_IDENTITY_SOURCE).toBe(`route.request.querystring.${TOKEN_QUERY_PARAM}`);
    template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      ApiId: apiRef,
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
      AuthorizerUri: Match.objectLike({
        'Fn::Join': ['', Match.arrayWith([getAtt(stack.functions.authorizer, 'Arn')])],
      }),
    });
  });

  it.each([
    [ROUTES.connect, 'connect'],
    [ROUTES.disconnect, 'disconnect'],
    [ROUTES.default, 'default'],
  ] as const)('sends %s to the %s function', (routeKey, handler) => {
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
    const integration = integrations[integrationOf(routeKey)];
    expect(integration?.Properties.IntegrationType).toBe('AWS_PROXY');
    expect(JSON.stringify(integration?.Properties.IntegrationUri)).toContain(
      JSON.stringify(getAtt(stack.functions[handler], 'Arn')),
    );
  });

  it('returns the $default handler body to the client through a route response', () => {
    const routes = template.findResources('AWS::ApiGatewayV2::Route', {
      Properties: { RouteKey: ROUTES.default },
    });
    const [routeId] = Object.keys(routes);
    template.resourceCountIs('AWS::ApiGatewayV2::RouteResponse', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::RouteResponse', {
      RouteId: { Ref: routeId },
      RouteResponseKey: '$default',
    });
  });
});

describe('stage', () => {
  it(`is named ${DEFAULT_STAGE} by default and deploys every change`, () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: 'prod', AutoDeploy: true });
  });

  it('takes its name from the push:stage context', () => {
    synth({}, { 'push:stage': 'dev' }).template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'dev',
    });
  });

  it('prefers the stageName prop over the context', () => {
    synth({ stageName: 'beta' }, { 'push:stage': 'dev' }).template.hasResourceProperties(
      'AWS::ApiGatewayV2::Stage',
      { StageName: 'beta' },
    );
  });

  it('refuses a stage name API Gateway would refuse', () => {
    expect(() => synth({}, { 'push:stage': 'my stage' })).toThrow(
      'stage name "my stage" must be 1-128 of [A-Za-z0-9_-]',
    );
  });

  it('throttles with the default limits and detailed metrics on', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: {
        ThrottlingRateLimit: DEFAULT_THROTTLE.rateLimit,
        ThrottlingBurstLimit: DEFAULT_THROTTLE.burstLimit,
        DetailedMetricsEnabled: true,
      },
    });
  });

  it('throttles with the limits given as props', () => {
    synth({ throttle: { rateLimit: 50, burstLimit: 20 } }).template.hasResourceProperties(
      'AWS::ApiGatewayV2::Stage',
      { DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 20 }) },
    );
  });

  it('writes JSON access logs to a log group kept for a month', () => {
    const stageProps = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]?.Properties;
    const logGroupId = stageProps.AccessLogSettings.DestinationArn['Fn::GetAtt'][0] as string;
    expect(template.findResources('AWS::Logs::LogGroup')[logGroupId]?.Properties.RetentionInDays).toBe(30);
    const format = JSON.parse(stageProps.AccessLogSettings.Format) as Record<string, string>;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      connectionId: '$context.connectionId',
      status: '$context.status',
    });
  });

  it('never logs the query string, which carries the token', () => {
    const stageProps = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]?.Properties;
    expect(stageProps.AccessLogSettings.Format).not.toMatch(/querystring|token/i);
  });

  it('sets the account logging role before creating the stage', () => {
    const accounts = template.findResources('AWS::ApiGateway::Account');
    const [accountId] = Object.keys(accounts);
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0];
    expect(stage?.DependsOn).toContain(accountId);
  });

  it("gives the account logging role AWS's API Gateway logging policy and keeps it after the stack", () => {
    const account = Object.values(template.findResources('AWS::ApiGateway::Account'))[0];
    const roleId = account?.Properties.CloudWatchRoleArn['Fn::GetAtt'][0] as string;
    const role = template.findResources('AWS::IAM::Role')[roleId];
    expect(role?.DeletionPolicy).toBe('Retain');
    expect(role?.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({
      Service: 'apigateway.amazonaws.com',
    });
    expect(JSON.stringify(role?.Properties.ManagedPolicyArns)).toContain(
      ':iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs',
    );
  });

  it('leaves the account logging setting alone when told to', () => {
    const { template: without } = synth({}, { 'push:configureAccountLogging': 'false' });
    without.resourceCountIs('AWS::ApiGateway::Account', 0);
  });
});
