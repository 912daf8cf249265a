import type { Node } from 'constructs';
import { DEFAULT_STAGE } from '../lambdas/shared/deployment';

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
  /**
   * Settings per stage, kept in cdk.json so that every command for a stage carries them: an object
   * of stage names, each an object of these keys (not `push:stage`, `push:stackName` or this one).
   * A `-c` value (or one at the top of cdk.json's context) wins over its stage's.
   */
  stages: 'push:stages',
} as const;

const KNOWN: ReadonlySet<string> = new Set(Object.values(CONTEXT));

/** Keys a stage's block may not set: they pick the block, or name the stack every command aims at. */
const NOT_PER_STAGE: ReadonlySet<string> = new Set([CONTEXT.stage, CONTEXT.stackName, CONTEXT.stages]);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A context value: the command line's (`-c`) or the top of cdk.json's context, else the value in
 * the current stage's block of `push:stages`. Without it, a setting passed only with `-c` went
 * back to its default on the next deploy that forgot it: the token audience check turned off, the
 * alarm topic and its subscription deleted, the publishers' grant removed.
 */
export function contextValue(node: Node, key: string, stage?: string): unknown {
  const value: unknown = node.tryGetContext(key);
  if ((value !== undefined && value !== null && value !== '') || NOT_PER_STAGE.has(key)) return value;
  const stages: unknown = node.tryGetContext(CONTEXT.stages);
  if (stages === undefined || stages === null) return value;
  if (!isObject(stages)) {
    throw new Error(
      `context ${CONTEXT.stages} must be an object of stage names, got ${JSON.stringify(stages)}`,
    );
  }
  // The stack's own stage (a `stageName` prop may differ from the context's); an own key only, so
  // a stage named `constructor` finds no block rather than Object's.
  const named = stage ?? node.tryGetContext(CONTEXT.stage);
  const name = typeof named === 'string' && named !== '' ? named : DEFAULT_STAGE;
  const block: unknown = Object.hasOwn(stages, name) ? stages[name] : undefined;
  if (block === undefined) return value;
  if (!isObject(block)) {
    throw new Error(`context ${CONTEXT.stages}.${name} must be an object, got ${JSON.stringify(block)}`);
  }
  for (const name of Object.keys(block)) {
    if (NOT_PER_STAGE.has(name)) {
      throw new Error(`context ${CONTEXT.stages} may not set ${name} for a stage: pass it with -c`);
    }
    // A misspelt key would be a setting silently not applied: alarms that mail no one, say.
    if (!KNOWN.has(name)) {
      throw new Error(
        `context ${CONTEXT.stages}.${name} sets ${name}, which is no setting: one of ${[...KNOWN].filter((k) => !NOT_PER_STAGE.has(k)).join(', ')}`,
      );
    }
  }
  return block[key] ?? value;
}

/** A string context value; empty counts as unset. */
export function contextString(node: Node, key: string, stage?: string): string | undefined {
  const value = contextValue(node, key, stage);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string')
    throw new Error(`context ${key} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * A boolean context value. `-c key=true` arrives as the string "true", cdk.json gives a real
 * boolean; both are accepted, anything else fails rather than silently meaning `false`.
 */
export function contextBoolean(node: Node, key: string, stage?: string): boolean | undefined {
  const value = contextValue(node, key, stage);
  if (value === undefined || value === null || value === '') return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`context ${key} must be true or false, got ${JSON.stringify(value)}`);
}

/** A list context value: a JSON array in cdk.json, or a comma-separated string on the command line. */
export function contextList(node: Node, key: string, stage?: string): string[] | undefined {
  const value = contextValue(node, key, stage);
  if (value === undefined || value === null || value === '') return undefined;
  const items = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(items) || !items.every((item) => typeof item === 'string')) {
    throw new Error(`context ${key} must be a list of strings, got ${JSON.stringify(value)}`);
  }
  return items.map((item) => item.trim()).filter((item) => item !== '');
}
