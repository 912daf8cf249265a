import { Stack, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * How cdk-nag spells a pseudo parameter inside a finding id: `<AWS::Region>` while the stack is
 * environment-agnostic, the literal value once `cdk synth` knows the account and Region. Finding
 * ids must match exactly, so every acknowledgement that names an ARN builds it with this.
 */
export function nagPseudo(scope: IConstruct, name: 'Partition' | 'Region' | 'AccountId'): string {
  const stack = Stack.of(scope);
  const value = name === 'Partition' ? stack.partition : name === 'Region' ? stack.region : stack.account;
  return Token.isUnresolved(value) ? `<AWS::${name}>` : value;
}
