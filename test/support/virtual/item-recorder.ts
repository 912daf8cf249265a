/**
 * A stand-in for a DynamoDB document client that records the items an adapter would write,
 * instead of sending them. Running `DynamoConnectionStore.put` and `.subscribe` against it yields
 * exactly the items `$connect` and a subscribe write (nobody retypes the record format), which can
 * then go to DynamoDB in batches of 25: a hundred times fewer requests for virtual connections.
 *
 * It understands what those two methods send (PutCommand; UpdateCommand with `SET a = :v`,
 * `ADD a :v` and an `attribute_exists(...)` condition; the consistent GetCommand a subscribe reads
 * its note back with, answered from what was recorded) and throws on anything else, so a change
 * in the store shows up as a loud failure here, not as subtly different records.
 */
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TableDefinition } from '../../../lambdas/shared/tables';

type Item = Record<string, unknown>;

/** Thrown when the recorded adapter sends something the recorder cannot replay faithfully. */
export class UnsupportedRecordingError extends Error {
  override readonly name = 'UnsupportedRecordingError';
  readonly code = 'unsupported_recording';
}

function resolveName(token: string, names: Record<string, string> | undefined): string {
  if (!token.startsWith('#')) return token;
  const name = names?.[token];
  if (name === undefined) throw new UnsupportedRecordingError(`unknown attribute name ${token}`);
  return name;
}

function resolveValue(token: string, values: Record<string, unknown> | undefined): unknown {
  if (values === undefined || !(token in values))
    throw new UnsupportedRecordingError(`unknown attribute value ${token}`);
  return values[token];
}

/** Applies an update expression made of SET (plain assignments) and ADD clauses to `item`. */
export function applyUpdate(
  item: Item,
  expression: string,
  names?: Record<string, string>,
  values?: Record<string, unknown>,
): void {
  const clauses = expression.trim().split(/\b(?=SET\b|ADD\b|REMOVE\b|DELETE\b)/);
  for (const clause of clauses) {
    const [keyword = '', ...rest] = clause.trim().split(/\s+/);
    const body = rest.join(' ');
    const actions = body.split(',').map((a) => a.trim());
    for (const action of actions) {
      if (keyword === 'SET') {
        const match = /^(\S+)\s*=\s*(:\S+)$/.exec(action);
        if (match === null) throw new UnsupportedRecordingError(`cannot replay SET ${action}`);
        item[resolveName(match[1] as string, names)] = resolveValue(match[2] as string, values);
      } else if (keyword === 'ADD') {
        const match = /^(\S+)\s+(:\S+)$/.exec(action);
        if (match === null) throw new UnsupportedRecordingError(`cannot replay ADD ${action}`);
        const name = resolveName(match[1] as string, names);
        const value = resolveValue(match[2] as string, values);
        const current = item[name];
        if (value instanceof Set) {
          item[name] = new Set([...(current instanceof Set ? current : []), ...value]);
        } else if (typeof value === 'number') {
          item[name] = (typeof current === 'number' ? current : 0) + value;
        } else {
          throw new UnsupportedRecordingError(`cannot ADD a ${typeof value} to ${name}`);
        }
      } else {
        throw new UnsupportedRecordingError(`cannot replay ${keyword} clauses`);
      }
    }
  }
}

/**
 * Records the items of one table, keyed by the table's own key attributes.
 *
 * @example
 * const recorder = new ItemRecorder(CONNECTIONS_TABLE);
 * const store = new DynamoConnectionStore(recorder.asDocumentClient(), 'Connections');
 * await store.put(record);
 * recorder.take(); // [the connection item]
 */
export class ItemRecorder {
  readonly #partitionKey: string;
  readonly #sortKey: string | undefined;
  #items = new Map<string, Item>();

  constructor(table: TableDefinition) {
    this.#partitionKey = table.partitionKey.name;
    this.#sortKey = table.sortKey?.name;
  }

  /** This recorder typed as what adapters take. */
  asDocumentClient<T>(): T {
    return { send: (command: unknown) => this.send(command) } as T;
  }

  /** The items recorded since the last call, in first-write order. */
  take(): Item[] {
    const items = [...this.#items.values()];
    this.#items = new Map();
    return items;
  }

  async send(command: unknown): Promise<Record<string, unknown>> {
    if (command instanceof GetCommand) {
      // The whole recorded item: a projection only narrows what the caller reads of it.
      const item = this.#items.get(this.#keyOf(command.input.Key as Item));
      return item === undefined ? {} : { Item: { ...item } };
    }
    if (command instanceof PutCommand) {
      const item = { ...(command.input.Item as Item) };
      this.#items.set(this.#keyOf(item), item);
      return {};
    }
    if (command instanceof UpdateCommand) {
      const { Key, UpdateExpression, ConditionExpression } = command.input;
      const names = command.input.ExpressionAttributeNames;
      const key = this.#keyOf(Key as Item);
      const existing = this.#items.get(key);
      if (ConditionExpression !== undefined) {
        const match =
          /^attribute_exists\((\S+)\)(?: AND \(attribute_not_exists\((\S+)\) OR contains\(\2, (:\w+)\) OR size\(\2\) < (:\w+)\))?$/.exec(
            ConditionExpression.trim(),
          );
        if (match === null)
          throw new UnsupportedRecordingError(`cannot replay the condition ${ConditionExpression}`);
        if (existing === undefined)
          throw new UnsupportedRecordingError('an update whose item was never put would fail its condition');
        // The subscription cap: a set attribute that may not grow past a size unless it holds the value.
        const [, , setName, valueName, maxName] = match;
        if (setName !== undefined) {
          const values = command.input.ExpressionAttributeValues ?? {};
          const set = existing[names?.[setName] ?? setName];
          const capped =
            set instanceof Set &&
            !set.has(values[valueName as string]) &&
            set.size >= (values[maxName as string] as number);
          if (capped)
            throw new UnsupportedRecordingError('a write past the set cap would fail its condition');
        }
      }
      if (UpdateExpression === undefined)
        throw new UnsupportedRecordingError('an update without an expression');
      const item = existing ?? { ...(Key as Item) };
      applyUpdate(item, UpdateExpression, names, command.input.ExpressionAttributeValues);
      this.#items.set(key, item);
      return {};
    }
    throw new UnsupportedRecordingError(
      `cannot record ${(command as object)?.constructor?.name ?? typeof command}; only puts, updates and gets`,
    );
  }

  #keyOf(item: Item): string {
    const pk = item[this.#partitionKey];
    const sk = this.#sortKey === undefined ? '' : item[this.#sortKey];
    if (pk === undefined || (this.#sortKey !== undefined && sk === undefined))
      throw new UnsupportedRecordingError('an item without its table key');
    return JSON.stringify([pk, sk]);
  }
}
