/**
 * Each hosted function as the local stack runs it, from the deployment model: its settings
 * (timeout, memory, reserved concurrency, asynchronous invocation retries and on-failure
 * destination) and its whole environment. The environment is what
 * Lambda would give it: Lambda's own runtime variables, then the template's variables with every
 * reference resolved to the local stack, then what only a local run needs (the DynamoDB endpoint,
 * the function's own credentials, the token key in place of its Secrets Manager ARN).
 */
import { HANDLER_NAMES, type HostedHandlerId } from '../../lambdas/shared/deployment';
import { ENV } from '../../lambdas/shared/env';
import { ASYNC_INVOKE_DEFAULTS } from '../async-invoke';
import type { FunctionVariables } from '../function-environment';
import type { FunctionSettings } from '../functions';
import { type Callers, callersOf } from './callers';
import { localResolver } from './local-resolver';
import { type DeploymentModel, deploymentModel, type FunctionModel } from './model';
import type { SynthesizedStack } from './synthesize';

/** Where the local stack runs, and what only a local run decides. */
export interface LocalFunctionsInput {
  readonly stack: SynthesizedStack;
  /** `http://127.0.0.1:PORT`: SQS queue URLs and the SQS endpoint. */
  readonly origin: string;
  /** The Management API every deployed callback URL is rewritten to (`<origin>/<stage>`). */
  readonly managementEndpoint: string;
  readonly region: string;
  readonly accountId: string;
  /** Physical names by logical id (tables, queues, the API). */
  readonly names: Readonly<Record<string, string>>;
  readonly dynamodbEndpoint: string;
  /**
   * The DynamoDB endpoint is on this machine: functions sign with their own local credentials.
   * Against a remote DynamoDB they keep the developer's, which AWS accepts.
   */
  readonly dynamodbIsLocal: boolean;
  /** The token signing key the authorizer reads in place of its Secrets Manager secret. */
  readonly tokenSecret: string;
  /** Variables laid over every function's environment, last (tests). @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /** Timeouts that replace the template's, in ms (tests). @default the template's */
  readonly timeoutsMs?: Partial<Record<HostedHandlerId, number>>;
  /** The process environment the developer's own settings are read from. @default process.env */
  readonly processEnv?: NodeJS.ProcessEnv;
}

/** One function, ready to load and invoke. */
export interface LocalFunction {
  readonly model: FunctionModel;
  readonly settings: FunctionSettings;
  readonly environment: FunctionVariables;
}

/** The model and every hosted function. */
export interface LocalFunctionSet {
  readonly model: DeploymentModel;
  readonly functions: Readonly<Record<HostedHandlerId, LocalFunction>>;
  readonly callers: Callers;
}

/**
 * The functions' per-attempt DynamoDB request timeout on the local stack (`PUSH_DYNAMO_REQUEST_TIMEOUT_MS`):
 * 60 s, where AWS gets `LIMITS.dynamoRequestTimeoutMs` (5 s).
 */
export const LOCAL_DYNAMO_REQUEST_TIMEOUT_MS = 60_000;

/** Credential variables kept from the developer's shell when DynamoDB is remote. */
const DEVELOPER_CREDENTIALS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'HOME',
] as const;

/**
 * Switches from the developer's shell that reach every function, after the template's variables:
 * how much the handlers log and whether metrics print, and the CPU profile of child-process
 * environments. Nothing else of the shell does.
 */
const DEVELOPER_SWITCHES = [
  'POWERTOOLS_LOG_LEVEL',
  'POWERTOOLS_DEV',
  'POWERTOOLS_METRICS_DISABLED',
  'PUSH_LOCAL_CPU_PROFILE',
] as const;

/**
 * Builds every hosted function from the synthesized stack.
 *
 * @example
 * const { functions } = localFunctions({ stack: loaded, origin, managementEndpoint, region, accountId,
 *   names, dynamodbEndpoint, dynamodbIsLocal: true, tokenSecret });
 * functions.default.settings.timeoutMs // 10_000
 */
export function localFunctions(input: LocalFunctionsInput): LocalFunctionSet {
  const processEnv = input.processEnv ?? process.env;
  const model = deploymentModel(input.stack, {
    resolver: localResolver(input.stack.template, {
      region: input.region,
      accountId: input.accountId,
      sqsOrigin: input.origin,
      names: input.names,
    }),
    // The deployed Management API (the stage's callback URL) is this stack's.
    rewrite: (value) =>
      /^https:\/\/[^./]+\.execute-api\.[^/]+\/[^/]*$/.test(value) ? input.managementEndpoint : value,
  });
  const callers = callersOf(model, input.accountId);

  const build = (handler: HostedHandlerId): LocalFunction => {
    const fn = model.functions[handler];
    const credentials = callers.credentials(handler);
    const { [ENV.tokenSecretArn]: secretArn, ...templateVariables } = fn.environment;
    const environment: FunctionVariables = {
      // Lambda's own runtime variables.
      ...(processEnv.PATH === undefined ? {} : { PATH: processEnv.PATH }),
      AWS_REGION: input.region,
      AWS_DEFAULT_REGION: input.region,
      AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySizeMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      // The runtime as the template names it (the SDK's user agent and Powertools read it).
      AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.functionName}`,
      ...templateVariables,
      // What only a local run needs.
      [ENV.dynamodbEndpoint]: input.dynamodbEndpoint,
      // dynalite serves one request at a time, and a burst of frames queues there for seconds that
      // DynamoDB answers in milliseconds: the deployed timeout would cut them (LIMITS' default is
      // what test/unit/dynamo-timeout.test.ts holds the clients to).
      [ENV.dynamoRequestTimeoutMs]: String(LOCAL_DYNAMO_REQUEST_TIMEOUT_MS),
      // The SDK already sends to a queue URL's own host, but warns on every call when that
      // differs from its endpoint; this names the same host, so it stays quiet.
      AWS_ENDPOINT_URL_SQS: input.origin,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // EMF metric lines are captured into GET /metrics (local/handler-output.ts), not printed.
      POWERTOOLS_METRICS_DISABLED: 'false',
      ...Object.fromEntries(
        DEVELOPER_SWITCHES.flatMap((name) =>
          processEnv[name] === undefined ? [] : [[name, processEnv[name] as string]],
        ),
      ),
      ...(input.dynamodbIsLocal
        ? { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey }
        : Object.fromEntries(
            DEVELOPER_CREDENTIALS.flatMap((name) =>
              processEnv[name] === undefined ? [] : [[name, processEnv[name] as string]],
            ),
          )),
      // There is no local Secrets Manager: a function that reads the signing key from its secret
      // gets the key itself, which keyRingFromEnv reads when no ARN is set.
      ...(secretArn === undefined ? {} : { [ENV.tokenSecret]: input.tokenSecret }),
      ...input.environment,
    };
    return {
      model: fn,
      environment,
      settings: {
        functionName: fn.functionName,
        arn: fn.arn,
        timeoutMs: input.timeoutsMs?.[handler] ?? fn.timeoutSeconds * 1000,
        memorySizeMb: fn.memorySizeMb,
        ...(fn.reservedConcurrency === undefined ? {} : { reservedConcurrency: fn.reservedConcurrency }),
        // What the EventInvokeConfig leaves out, Lambda's defaults fill in.
        asyncInvoke: {
          maximumRetryAttempts:
            fn.asyncInvoke?.maximumRetryAttempts ?? ASYNC_INVOKE_DEFAULTS.maximumRetryAttempts,
          maximumEventAgeMs:
            (fn.asyncInvoke?.maximumEventAgeSeconds ?? ASYNC_INVOKE_DEFAULTS.maximumEventAgeSeconds) * 1000,
          ...(fn.asyncInvoke?.onFailure === undefined ? {} : { onFailure: fn.asyncInvoke.onFailure }),
        },
      },
    };
  };
  return {
    model,
    functions: Object.fromEntries(HANDLER_NAMES.map((handler) => [handler, build(handler)])) as Record<
      HostedHandlerId,
      LocalFunction
    >,
    callers,
  };
}
