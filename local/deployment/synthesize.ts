/**
 * Synthesizes the CDK app's PushStack in this process, the fast way (no bundling, no
 * CloudFormation validation): the template is what `cdk deploy` would send, minus the code
 * assets, which the local stack does not need because it runs the handler sources.
 *
 * aws-cdk-lib is imported lazily, here only: a warm start reads the cached template and never
 * loads it (loading it alone takes most of a second).
 */
import { rmSync } from 'node:fs';
import type { PushStack, PushStackProps } from '../../infra/push-stack';

/** A CloudFormation template, as synthesized. */
export interface CfnTemplate {
  readonly Resources: Readonly<Record<string, CfnResource>>;
  readonly Outputs?: Readonly<Record<string, unknown>>;
  readonly Parameters?: Readonly<Record<string, unknown>>;
}

/** One resource of a {@link CfnTemplate}. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
  readonly DependsOn?: string | readonly string[];
}

/**
 * Logical ids of the resources the local stack stands in for, found from the construct tree
 * (the template alone cannot say which function is which handler).
 */
export interface ResourceIndex {
  /** Each deployed handler's function and execution role, by handler name. */
  readonly functions: Readonly<Record<string, { readonly function: string; readonly role: string }>>;
  /** Each table, by its `TableDefinition.id` (`Connections`, ...). */
  readonly tables: Readonly<Record<string, string>>;
  readonly api: string;
  readonly stage: string;
  readonly shardQueue: string;
  readonly shardDeadLetterQueue: string;
  readonly publishTopic: string;
  readonly subscriptionDeadLetterQueue: string;
  readonly invokeFailureQueue: string;
  readonly tokenSecret: string;
  readonly messageKey: string;
}

/** A synthesized stack: its template and the index into it. */
export interface SynthesizedStack {
  readonly template: CfnTemplate;
  readonly index: ResourceIndex;
}

/** What to synthesize: the same inputs `cdk synth` takes. */
export interface SynthesizeOptions {
  /** Context, as in cdk.json or `-c key=value`. @default {} */
  readonly context?: Readonly<Record<string, unknown>>;
  /** Props of the PushStack, as another CDK app would pass them. @default {} */
  readonly props?: PushStackProps;
  /**
   * Changes the built stack before synthesis, as a CDK app does with escape hatches
   * (`node.defaultChild`, `addPropertyOverride`) for what PushStack has no prop for.
   * @default none
   */
  readonly customize?: (stack: PushStack) => void;
}

/**
 * Builds the stack and returns its template and resource index.
 *
 * @example
 * const { template, index } = await synthesizeStack({ context: { 'push:stage': 'dev' } });
 * template.Resources[index.functions.publish.function].Properties.Timeout // 60
 */
export async function synthesizeStack(options: SynthesizeOptions = {}): Promise<SynthesizedStack> {
  const [{ App, CfnElement, Stack }, { PushStack }] = await Promise.all([
    import('aws-cdk-lib'),
    import('../../infra/push-stack'),
  ]);
  const app = new App({
    builtinCloudFormationValidation: false,
    context: { ...options.context, 'aws:cdk:bundling-stacks': [] },
  });
  const stack = new PushStack(app, 'Push', options.props ?? {});
  options.customize?.(stack);
  const idOf = (
    construct: { node: { defaultChild?: unknown } } | InstanceType<typeof CfnElement>,
  ): string => {
    const element = construct instanceof CfnElement ? construct : construct.node.defaultChild;
    if (!(element instanceof CfnElement)) throw new Error('construct has no CloudFormation resource');
    return Stack.of(element).resolve(element.logicalId) as string;
  };
  const index: ResourceIndex = {
    functions: Object.fromEntries(
      Object.entries(stack.functions).map(([name, fn]) => [
        name,
        { function: idOf(fn), role: idOf(fn.role as unknown as { node: { defaultChild?: unknown } }) },
      ]),
    ),
    tables: Object.fromEntries(stack.tables.entries().map(([def, table]) => [def.id, idOf(table)])),
    api: idOf(stack.api),
    stage: idOf(stack.stage),
    shardQueue: idOf(stack.shardFanOut.queue),
    shardDeadLetterQueue: idOf(stack.shardFanOut.deadLetterQueue),
    publishTopic: idOf(stack.publishTopic),
    subscriptionDeadLetterQueue: idOf(stack.publishIngress.subscriptionDeadLetterQueue),
    invokeFailureQueue: idOf(stack.publishIngress.invokeFailureQueue),
    tokenSecret: idOf(stack.tokenSecret),
    messageKey: idOf(stack.messageKey),
  };
  try {
    const template = app.synth().getStackByName(stack.stackName).template as CfnTemplate;
    return { template, index };
  } finally {
    // The assembly is written to a temporary directory nobody reads again.
    rmSync(app.outdir, { recursive: true, force: true });
  }
}
