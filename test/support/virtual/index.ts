/**
 * Virtual connections for a running local stack: DynamoDB records exactly as `$connect` and
 * subscribe write them, and a registry that counts each post instead of writing it to a socket.
 * The fan-out tests use them to check that every connection got exactly one copy, and the bench
 * (scripts/bench/) to measure fan-out to 100k connections on a 2-core machine.
 */
import { ENV } from '../../../lambdas/shared/env';
import { documentClientFromEnv } from '../../../lambdas/wiring';
import type { LocalStack } from '../../../local/stack';
import { VirtualConnections } from './connections';
import { addVirtualConnections, type VirtualConnectionOptions } from './records';

export type { VirtualConnectionOptions };

/** The virtual connections of one stack: the registry, and `add` to make more. */
export class StackVirtualConnections extends VirtualConnections {
  readonly #stack: LocalStack;

  constructor(stack: LocalStack) {
    super();
    this.#stack = stack;
    stack.emulator.attachSocketless(this);
  }

  /**
   * Adds `count` connections and resolves to their ids once their records are written.
   *
   * @example
   * const ids = await virtualConnections(stack).add(10_000, { topics: ['orders'] });
   * // publish, then: virtualConnections(stack).deliveriesTo(ids[0]) === 1
   */
  async add(count: number, options?: VirtualConnectionOptions): Promise<string[]> {
    const stack = this.#stack;
    // The same marshalling as the handlers' clients, so virtual records match real ones.
    const doc = documentClientFromEnv({ [ENV.dynamodbEndpoint]: stack.dynamodbEndpoint });
    try {
      const deps = {
        connections: this,
        stage: stack.stage,
        apiId: stack.emulator.apiId,
        doc,
        tableName: stack.tableName,
        region: stack.region,
        accountId: stack.accountId,
        domainName: new URL(stack.httpUrl).host,
      };
      return await addVirtualConnections(deps, count, options);
    } finally {
      doc.destroy();
    }
  }
}

const byStack = new WeakMap<LocalStack, StackVirtualConnections>();

/**
 * The virtual connections of `stack`, attached to it on first use (the same object afterwards).
 *
 * @example
 * const virtual = virtualConnections(stack);
 * const [id] = await virtual.add(1, { uid: 'u1' });
 */
export function virtualConnections(stack: LocalStack): StackVirtualConnections {
  let connections = byStack.get(stack);
  if (connections === undefined) {
    connections = new StackVirtualConnections(stack);
    byStack.set(stack, connections);
  }
  return connections;
}
