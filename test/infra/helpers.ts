import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { PushStack, type PushStackProps } from '../../infra/push-stack';

/** A synthesized PushStack with the handles tests need to find its resources. */
export interface Synthesized {
  readonly app: App;
  readonly stack: PushStack;
  readonly template: Template;
}

/**
 * Builds a PushStack the fast way: no bundling (the bundle test does that for real) and no
 * CloudFormation validation, about 0.3 s instead of 4 s.
 */
export function synth(props: PushStackProps = {}, context: Record<string, unknown> = {}): Synthesized {
  const app = new App({
    builtinCloudFormationValidation: false,
    context: { 'aws:cdk:bundling-stacks': [], ...context },
  });
  const stack = new PushStack(app, 'Push', props);
  return { app, stack, template: Template.fromStack(stack) };
}

/** The logical id of a construct's CloudFormation resource (its default child, or itself). */
export function logicalId(construct: IConstruct): string {
  const element = construct instanceof CfnElement ? construct : construct.node.defaultChild;
  if (!(element instanceof CfnElement))
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return Stack.of(construct).resolve(element.logicalId) as string;
}

/** `{ Ref: id }` for the construct. */
export function ref(construct: IConstruct): { Ref: string } {
  return { Ref: logicalId(construct) };
}

/** `{ 'Fn::GetAtt': [id, attr] }` for the construct. */
export function getAtt(construct: IConstruct, attribute: string): { 'Fn::GetAtt': [string, string] } {
  return { 'Fn::GetAtt': [logicalId(construct), attribute] };
}

/** A policy statement as it appears in the template. */
export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

/** Every statement of every AWS::IAM::Policy attached to `role`. */
export function statementsOf(template: Template, role: IConstruct): Statement[] {
  const roleRef = ref(role);
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((policy) => JSON.stringify(policy.Properties.Roles) === JSON.stringify([roleRef]))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

/** The actions of a statement, always as a list. */
export function actionsOf(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}
