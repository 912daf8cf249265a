/**
 * The types every part of the local Lambda service shares: what a handler is, what it is called,
 * and the environment it loads under. They live below handlers.ts, environments.ts and
 * process-environment.ts so that those import them and not each other.
 */
import type { Context } from 'aws-lambda';
import type { HostedHandlerId } from '../lambdas/shared/deployment';

/** What a Lambda handler module exports as `handler`. */
// biome-ignore lint/suspicious/noExplicitAny: events differ per handler; each caller builds the right shape.
export type LambdaHandler = (event: any, context: Context) => Promise<unknown>;

/** One loaded instance of every handler. */
export type HandlerSet = Readonly<Record<HostedHandlerId, LambdaHandler>>;

/** Environment changes: a string sets the variable, `undefined` deletes it. */
export type EnvChanges = Readonly<Record<string, string | undefined>>;
