import type { Node } from 'constructs';

/** Context keys the stack reads (cdk.json, or `-c key=value` on the command line). */
export const CONTEXT = {
  /** Stage name, the last path segment of both URLs; also names the stack (`PushStack-<stage>`). */
  stage: 'push:stage',
  /** CloudFormation stack name, when it must not follow the stage (a stack deployed as `PushStack`). */
  stackName: 'push:stackName',
  /** `true` for dev stacks: tables, secret, key, queues and logs go with the stack. */
  removeOnDelete: 'push:removeOnDelete',
  /** `true` lets `removeOnDelete` apply to the prod stage, which is refused otherwise. */
  allowProdRemoval: 'push:allowProdRemoval',
  /** Email address the alarms notify. */
  alarmEmail: 'push:alarmEmail',
  /** Comma-separated ARNs of principals the topic policy lets publish. */
  publisherArns: 'push:publisherArns',
  /** `aud` every client token must carry. */
  tokenAudience: 'push:tokenAudience',
  /** `false` where the API Gateway account logging role is already set and owned elsewhere. */
  configureAccountLogging: 'push:configureAccountLogging',
  /** The lowest level the functions log (`DEBUG`, `INFO`, `WARN` or `ERROR`). */
  logLevel: 'push:logLevel',
  /** Powertools service name, the `service` dimension of the handlers' metrics and the dashboard's. */
  serviceName: 'push:serviceName',
} as const;

/** A string context value; empty counts as unset. */
export function contextString(node: Node, key: string): string | undefined {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string')
    throw new Error(`context ${key} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * A boolean context value. `-c key=true` arrives as the string "true", cdk.json gives a real
 * boolean; both are accepted, anything else fails rather than silently meaning `false`.
 */
export function contextBoolean(node: Node, key: string): boolean | undefined {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`context ${key} must be true or false, got ${JSON.stringify(value)}`);
}

/** A list context value: a JSON array in cdk.json, or a comma-separated string on the command line. */
export function contextList(node: Node, key: string): string[] | undefined {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  const items = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(items) || !items.every((item) => typeof item === 'string')) {
    throw new Error(`context ${key} must be a list of strings, got ${JSON.stringify(value)}`);
  }
  return items.map((item) => item.trim()).filter((item) => item !== '');
}
