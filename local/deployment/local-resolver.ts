/**
 * What the template's references mean on this machine: every resource gets a local physical name
 * and the ARN AWS would give it under that name, in the local account and Region, so the ARNs in
 * the roles' policies are the ARNs the local endpoints put on each request.
 */
import type { ReferenceResolver } from './intrinsics';
import { UnresolvableError } from './intrinsics';
import type { CfnTemplate } from './synthesize';

/** Options for {@link localResolver}. */
export interface LocalResolverOptions {
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** @default 'aws' */
  readonly partition?: string;
  /** @default 'amazonaws.com' */
  readonly urlSuffix?: string;
  /** @default 'Push' */
  readonly stackName?: string;
  /**
   * Physical names by logical id (tables, queues, the API id, ...).
   * @default each logical id with CDK's 8-character hash suffix removed
   */
  readonly names?: Readonly<Record<string, string>>;
  /** Base URL of the local SQS endpoint: a queue's `Ref` (its URL) is `<sqsOrigin>/<account>/<name>`. */
  readonly sqsOrigin: string;
}

/** A logical id without CDK's 8 hex digit suffix: `TablesConnectionsF6D675B1` → `TablesConnections`. */
export function baseName(logicalId: string): string {
  return logicalId.replace(/[0-9A-F]{8}$/, '');
}

/**
 * A {@link ReferenceResolver} for the local stack.
 *
 * @example
 * const resolver = localResolver(template, { sqsOrigin: 'http://127.0.0.1:3000', names: { [index.tables.Connections]: 'Connections' } });
 */
export function localResolver(template: CfnTemplate, options: LocalResolverOptions): ReferenceResolver {
  const region = options.region ?? 'us-east-1';
  const account = options.accountId ?? '000000000000';
  const partition = options.partition ?? 'aws';
  const pseudo: Record<string, string> = {
    'AWS::Region': region,
    'AWS::AccountId': account,
    'AWS::Partition': partition,
    'AWS::URLSuffix': options.urlSuffix ?? 'amazonaws.com',
    'AWS::StackName': options.stackName ?? 'Push',
    'AWS::StackId': `arn:${partition}:cloudformation:${region}:${account}:stack/${options.stackName ?? 'Push'}/local`,
    'AWS::NoValue': '',
  };
  const nameOf = (logicalId: string) => options.names?.[logicalId] ?? baseName(logicalId);
  const arn = (service: string, resource: string, withRegion = true) =>
    `arn:${partition}:${service}:${withRegion ? region : ''}:${account}:${resource}`;
  const typeOf = (logicalId: string): string => {
    const resource = template.Resources[logicalId];
    if (resource === undefined) throw new UnresolvableError(`no resource ${logicalId} in the template`);
    return resource.Type;
  };

  /** `[Ref, { attribute: value }]` of a resource, by type. */
  const describe = (logicalId: string): [string, Record<string, string>] => {
    const name = nameOf(logicalId);
    switch (typeOf(logicalId)) {
      case 'AWS::DynamoDB::GlobalTable':
      case 'AWS::DynamoDB::Table':
        return [name, { Arn: arn('dynamodb', `table/${name}`) }];
      case 'AWS::SQS::Queue': {
        const url = `${options.sqsOrigin}/${account}/${name}`;
        return [url, { Arn: arn('sqs', name), QueueName: name, QueueUrl: url }];
      }
      case 'AWS::SNS::Topic':
        return [arn('sns', name), { TopicArn: arn('sns', name), TopicName: name }];
      case 'AWS::SecretsManager::Secret':
        return [arn('secretsmanager', `secret:${name}`), { Id: arn('secretsmanager', `secret:${name}`) }];
      case 'AWS::Lambda::Function':
        return [name, { Arn: arn('lambda', `function:${name}`) }];
      case 'AWS::IAM::Role':
        return [name, { Arn: arn('iam', `role/${name}`, false), RoleId: name }];
      case 'AWS::KMS::Key':
        return [name, { Arn: arn('kms', `key/${name}`), KeyId: name }];
      case 'AWS::Logs::LogGroup':
        return [name, { Arn: arn('logs', `log-group:${name}:*`) }];
      case 'AWS::ApiGatewayV2::Api':
        return [name, { ApiId: name, ApiEndpoint: `wss://${name}.execute-api.${region}.amazonaws.com` }];
      default:
        return [name, {}];
    }
  };

  return {
    ref(logicalId) {
      return pseudo[logicalId] ?? describe(logicalId)[0];
    },
    getAtt(logicalId, attribute) {
      const value = describe(logicalId)[1][attribute];
      if (value === undefined) {
        throw new UnresolvableError(
          `Fn::GetAtt ${logicalId}.${attribute} (${typeOf(logicalId)}) has no local value`,
        );
      }
      return value;
    },
  };
}

/**
 * Rewrites a deployed Management API URL (`https://{api}.execute-api.{region}.{suffix}/{stage}`)
 * to the local stack's, `<origin>/{stage}`; any other value is returned as it is.
 *
 * @example
 * localEndpoints('http://127.0.0.1:3000')('https://Api.execute-api.us-east-1.amazonaws.com/prod')
 * // 'http://127.0.0.1:3000/prod'
 */
export function localEndpoints(origin: string): (value: string) => string {
  return (value) => value.replace(/^https:\/\/[^./]+\.execute-api\.[^/]+(\/[^/]*)$/, `${origin}$1`);
}
