import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { HANDLER_ENTRIES, type HandlerId } from '../lambdas/shared/deployment';
import { ENV } from '../lambdas/shared/env';
import {
  ESM_REQUIRE_BANNER,
  EXTERNAL_MODULES,
  LAMBDA_NODE_TARGET,
  MAIN_FIELDS,
  SOURCE_MAP,
} from '../scripts/bundle-options';

/** The repository root: handler entries in `HANDLER_ENTRIES` and the lock file are relative to it. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The Lambda runtime of every function. It moves together with `LAMBDA_NODE_TARGET`, the esbuild
 * target the bundles are built and benchmarked for (scripts/bundle-options.ts).
 */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

/**
 * Levels a deployment may log at, lowest first. At `INFO` every publish and shard job writes a line
 * (about a quarter of the bytes a uid push logs, docs/cost.md); `WARN` keeps the lines that need
 * someone's attention.
 */
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const isLogLevel = (value: string): value is LogLevel =>
  (LOG_LEVELS as readonly string[]).includes(value);

/**
 * The timeout of a function not given its own: the authorizer and the route functions (`$connect`,
 * `$disconnect`, `$default`), well inside API Gateway's 29 s integration limit.
 */
export const DEFAULT_FUNCTION_TIMEOUT = Duration.seconds(10);

/** Properties of a {@link PushFunction}. */
export interface PushFunctionProps {
  /** Which handler in `lambdas/shared/deployment.ts` `HANDLER_ENTRIES` to bundle. */
  readonly handler: HandlerId;
  /** Powertools service name, shared by every function of one deployment. */
  readonly serviceName: string;
  /** The lowest level its Powertools logger prints. @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** Extra environment variables; keys must come from `ENV`. @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default - a description naming the service (and so the stage) and the handler */
  readonly description?: string;
  /** @default {@link DEFAULT_FUNCTION_TIMEOUT} */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** Retention of the function's own log group. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** What happens to the log group when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** X-Ray active tracing. @default true */
  readonly tracing?: boolean;
  /**
   * Concurrency reserved for (and capping) this function. Set it where the code relies on how many
   * copies can run at once, as the shard worker does to split the rate budget.
   * @default - none: the function shares the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Actions the function is granted on Resource "*" because they support no resource-level
   * permissions, each with what needs them (a sentence). Whoever grants them, naming them here puts
   * them beside X-Ray's in the role's cdk-nag acknowledgement, which so names every "*" it covers.
   * @default none
   */
  readonly wildcardActions?: Readonly<Record<string, string>>;
}

/**
 * One push-service Lambda, built the same way for every handler: Node 24 (`LAMBDA_RUNTIME`, the
 * current LTS and cdk-nag's latest, so AwsSolutions-L1 holds without an acknowledgement) on arm64, an ESM bundle
 * made by the local esbuild from `scripts/bundle-options.ts` (the same settings as `npm run build`
 * and the bench), source maps, its own log group with a retention, and its own role that may only
 * write to that log group. Everything else the function may do is granted by the stack.
 *
 * The AWS SDK is bundled (`EXTERNAL_MODULES` is empty), from its ES module build (`MAIN_FIELDS`),
 * so each handler keeps only the clients it calls. Measured with `npm run build`: 380–450 KiB
 * minified per handler, ~90% of it SDK (with `@aws-sdk/*` and `@smithy/*` external the same
 * handlers are 30–45 KiB). We pay that size on purpose: the bundle pins the SDK version the tests
 * ran against instead of whatever the runtime ships that week, and published measurements show a
 * minified, tree-shaken SDK cold-starting faster than the runtime's copy loaded from node_modules.
 * Cold starts were not measured here (no AWS access); 600 KiB is far below Lambda's 50 MB zip limit.
 *
 * @example
 * const connect = new PushFunction(this, 'ConnectHandler', { handler: 'connect', serviceName: 'push' });
 * tables.bind(connect.function, CONNECTIONS_TABLE, 'write');
 */
export class PushFunction extends Construct {
  /** The Lambda function. */
  readonly function: NodejsFunction;
  /** Its execution role, owned here so no managed policy is ever attached. */
  readonly role: Role;
  /** Its log group. */
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: PushFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    // A role of our own instead of AWSLambdaBasicExecutionRole: that managed policy lets the
    // function create log groups and write to any of them; this one may only write to its own.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${props.serviceName} ${props.handler} handler`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: join(REPO_ROOT, HANDLER_ENTRIES[props.handler]),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      // The service name carries the stage (`push-dev`), so two stages in one account tell apart.
      description: props.description ?? `${props.serviceName}: ${props.handler} handler`,
      timeout: props.timeout ?? DEFAULT_FUNCTION_TIMEOUT,
      memorySize: props.memorySize ?? 256,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role: this.role,
      logGroup: this.logGroup,
      tracing: (props.tracing ?? true) ? Tracing.ACTIVE : Tracing.DISABLED,
      environment: {
        [ENV.serviceName]: props.serviceName,
        [ENV.logLevel]: props.logLevel ?? 'INFO',
        // Minified bundles give useless stack traces without this. Measured here on Node 24 (a
        // shared 2-core machine): importing the publish bundle takes about 10% longer with it
        // (~320 → ~355 ms), kept that small by leaving the sources out of the map (SOURCE_MAP);
        // with them in, the map is 2.8 MB and the import ~25% longer. The cold-start bench runs
        // with this variable, read from the template.
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: LAMBDA_NODE_TARGET,
        banner: ESM_REQUIRE_BANNER,
        externalModules: EXTERNAL_MODULES,
        minify: true,
        mainFields: MAIN_FIELDS,
        sourceMap: SOURCE_MAP.sourcemap,
        sourcesContent: SOURCE_MAP.sourcesContent,
      },
    });
    const wildcardNeeds = [
      ...((props.tracing ?? true)
        ? ['Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords']
        : []),
      ...Object.entries(props.wildcardActions ?? {}).map(([action, need]) => `${need} needs ${action}`),
    ];
    if (wildcardNeeds.length > 0) {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          `${wildcardNeeds.join('. ')}. These actions support no resource-level permissions: AWS ` +
          'requires Resource "*" for them. No other statement uses "*".',
      });
    }
  }
}
