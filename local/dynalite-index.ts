/**
 * Gives every global and local secondary index entry in dynalite a key of its own.
 *
 * dynalite 4.0 files an index entry under the index key plus six hex characters (24 bits) of an
 * MD5 of the item's table key (`createIndexKey` and `hashPrefix` in dynalite/db/index.js). Two
 * items with the same index key whose table keys share those 24 bits get one entry between them:
 * the later write replaces the earlier, which silently drops out of every Query on that index. All
 * connections of one shard share the `byShard` key and all subscribers of one topic shard the
 * `byTopic` key, so a broadcast or topic push through `npm start` missed a connection in about
 * one run of five at 10,000 sockets, and about twenty at 100,000: a loss AWS would never show.
 *
 * Here an entry's key ends with the whole MD5 (128 bits, hex) of the item's canonical table key
 * instead: still hex, so every range bound dynalite builds from an index key (`…/~`) still holds,
 * and no two table keys meet by chance. dynalite's actions reach both functions through its `db`
 * module's exports (`db.updateIndexes` on every write, `db.createIndexKey` for a Query's or a
 * Scan's `ExclusiveStartKey`), so replacing the exports changes every path that files or finds an
 * entry; the projection rules are dynalite's.
 *
 * A store on disk (`--data DIR`) may hold entries filed the old way; {@link rebuildIndexes} refiles
 * every index of every table from its items when the store opens.
 */
import { createHash } from 'node:crypto';

/** An attribute value as dynalite keeps it: `{ S: "…" }`, `{ N: "…" }` and so on. */
type Item = Record<string, Record<string, unknown> | undefined>;

interface KeyElement {
  readonly AttributeName: string;
}

interface Index {
  readonly IndexName: string;
  readonly KeySchema: readonly KeyElement[];
  readonly Projection: { readonly ProjectionType: string; readonly NonKeyAttributes?: readonly string[] };
}

/** The parts of a table description (as dynalite stores it) that index entries depend on. */
export interface DynaliteTable {
  readonly TableName: string;
  readonly KeySchema: readonly KeyElement[];
  readonly LocalSecondaryIndexes?: readonly Index[];
  readonly GlobalSecondaryIndexes?: readonly Index[];
}

type Callback = (error?: Error | null) => void;

interface SubDb {
  put(key: string, value: unknown, callback: Callback): void;
  del(key: string, callback: Callback): void;
}

/** A level database, as far as the rebuild (and dynalite-transitions.ts) reads and writes it. */
export interface Level {
  iterator(options: { gte: string; lt: string }): AsyncIterable<[string, unknown]>;
  clear(options: { gte: string; lt: string }): Promise<void>;
  batch(
    operations: ({ type: 'put'; key: string; value: unknown } | { type: 'del'; key: string })[],
  ): Promise<void>;
  /** dynalite's own close: waits for the operations in flight (its lifecycle manager), then closes. */
  close(callback: Callback): void;
}

/** dynalite's store (`db.create`), as far as index entries use it. */
export interface DynaliteStore {
  readonly db: Level;
  getIndexDb(indexType: 'Local' | 'Global', tableName: string, indexName: string): SubDb;
}

/** dynalite's `db` module, as far as index entries use it. */
export interface DynaliteDb {
  createKey(item: Item, table: DynaliteTable, keySchema?: readonly KeyElement[]): string;
  createIndexKey(item: Item, table: DynaliteTable, keySchema: readonly KeyElement[]): string;
  updateIndexes(
    store: DynaliteStore,
    table: DynaliteTable,
    existing: Item | null | undefined,
    item: Item | null | undefined,
    done: Callback,
  ): void;
  create(options: object): DynaliteStore;
}

/** One write to one index: file `item` under `key`, or remove the entry at `key`. */
interface IndexAction {
  readonly indexType: 'Local' | 'Global';
  readonly index: string;
  readonly key: string;
  readonly item?: Item;
}

const INDEX_TYPES = ['Local', 'Global'] as const;

/** The index writes that take an item from `existing` to `item` (either absent: put, delete). */
type IndexActions = (
  table: DynaliteTable,
  existing: Item | null | undefined,
  item: Item | null | undefined,
) => { puts: IndexAction[]; deletes: IndexAction[] };

/**
 * Where the patch keeps its state: on dynalite's `db` module itself, so that a second copy of this
 * file in the process (another bundle, a reset module registry) finds the first one's patch
 * instead of patching again or refusing to rebuild.
 */
const PATCH = Symbol.for('apigw-push.dynalite-index');

interface Patch {
  readonly actions: IndexActions;
  /** The store `db.create` opened last. */
  lastStore?: DynaliteStore;
}

type Patched = DynaliteDb & { [PATCH]?: Patch };

const indexesOf = (table: DynaliteTable, indexType: 'Local' | 'Global'): readonly Index[] =>
  (indexType === 'Local' ? table.LocalSecondaryIndexes : table.GlobalSecondaryIndexes) ?? [];

const hasKeys = (item: Item, keys: readonly KeyElement[]) => keys.every((k) => item[k.AttributeName] != null);

/** What an index keeps of an item: all of it, or its keys and the projected attributes. */
function projected(item: Item, index: Index, table: DynaliteTable): Item {
  if (index.Projection.ProjectionType === 'ALL') return item;
  const names = [...index.KeySchema, ...table.KeySchema].map((k) => k.AttributeName);
  names.push(...(index.Projection.NonKeyAttributes ?? []));
  const kept: Item = Object.create(null);
  for (const name of names) if (item[name] !== undefined) kept[name] = item[name];
  return kept;
}

/**
 * Patches dynalite's `db` module so index entries are keyed as this file describes, and notes the
 * store each dynalite server opens ({@link lastOpenedStore}). Call before dynalite's first
 * request; patching twice is harmless.
 */
export function fixIndexKeys(db: DynaliteDb): void {
  const patched = db as Patched;
  if (patched[PATCH] !== undefined) return;
  const { createKey } = db;
  /** What ends every index key of an item: the whole MD5 of its canonical table key. */
  const tableKeyHash = (item: Item, table: DynaliteTable): string =>
    createHash('md5').update(createKey(item, table), 'utf8').digest('hex');
  const indexKey = (item: Item, table: DynaliteTable, keySchema: readonly KeyElement[]): string =>
    createKey(item, table, keySchema) + tableKeyHash(item, table);

  const actions: IndexActions = (table, existing, item) => {
    const puts: IndexAction[] = [];
    const deletes: IndexAction[] = [];
    const either = item ?? existing;
    if (either == null) return { puts, deletes };
    // A write never changes an item's table key, so the old and the new entries share this part.
    const hash = tableKeyHash(either, table);
    for (const indexType of INDEX_TYPES) {
      for (const index of indexesOf(table, indexType)) {
        let key: string | undefined;
        if (item != null && hasKeys(item, index.KeySchema)) {
          const kept = projected(item, index, table);
          key = createKey(kept, table, index.KeySchema) + hash;
          puts.push({ indexType, index: index.IndexName, key, item: kept });
        }
        if (existing != null && hasKeys(existing, index.KeySchema)) {
          const old = createKey(existing, table, index.KeySchema) + hash;
          if (old !== key) deletes.push({ indexType, index: index.IndexName, key: old });
        }
      }
    }
    return { puts, deletes };
  };

  db.createIndexKey = indexKey;
  // As dynalite does it: every delete first, then every put, the callback once with the first error.
  db.updateIndexes = (store, table, existing, item, done) => {
    if (existing == null && item == null) return done();
    const { puts, deletes } = actions(table, existing, item);
    const each = (list: IndexAction[], then: Callback) => {
      let left = list.length;
      let failed = false;
      if (left === 0) return then();
      for (const action of list) {
        const sub = store.getIndexDb(action.indexType, table.TableName, action.index);
        const settle: Callback = (error) => {
          if (failed) return;
          if (error) {
            failed = true;
            return then(error);
          }
          if (--left === 0) then();
        };
        if (action.item === undefined) sub.del(action.key, settle);
        else sub.put(action.key, action.item, settle);
      }
    };
    each(deletes, (error) => (error ? done(error) : each(puts, done)));
  };
  const patch: Patch = { actions };
  const create = db.create;
  db.create = (options) => {
    const store = create(options);
    patch.lastStore = store;
    return store;
  };
  patched[PATCH] = patch;
}

/**
 * The store dynalite's `db.create` opened last. A dynalite server opens its store as it is made,
 * synchronously, so read this in the same step as the call that made the server.
 */
export function lastOpenedStore(db: DynaliteDb): DynaliteStore | undefined {
  return (db as Patched)[PATCH]?.lastStore;
}

/** The key range of one of dynalite's prefixed sub-databases (`getSubDb` in dynalite/db/index.js). */
export const subRange = (name: string) => ({ gte: `${name}~`, lt: `${name}~\xff` });

/** The name dynalite gives an index's sub-database (`getIndexDb` in dynalite/db/index.js). */
const indexDbName = (indexType: 'Local' | 'Global', tableName: string, indexName: string) =>
  `index-${indexType.toLowerCase()}~${tableName}~${indexName}`;

/**
 * Refiles every index entry of every table in `store` from the table's items, dropping whatever
 * was there: entries filed under dynalite's own keys by an earlier version of the stack, and any
 * entry whose item is gone. Run once when a store on disk opens, before it serves a request.
 */
export async function rebuildIndexes(db: DynaliteDb, store: DynaliteStore): Promise<void> {
  const actions = (db as Patched)[PATCH]?.actions;
  if (actions === undefined) throw new Error('rebuildIndexes needs fixIndexKeys(db) first');
  for await (const [, value] of store.db.iterator(subRange('table'))) {
    const table = value as DynaliteTable;
    const indexes = INDEX_TYPES.flatMap((type) => indexesOf(table, type).map((index) => ({ type, index })));
    if (indexes.length === 0) continue;
    for (const { type, index } of indexes) {
      await store.db.clear(subRange(indexDbName(type, table.TableName, index.IndexName)));
    }
    let batch: { type: 'put'; key: string; value: unknown }[] = [];
    for await (const [, item] of store.db.iterator(subRange(`item-${table.TableName}`))) {
      for (const put of actions(table, null, item as Item).puts) {
        const prefix = `${indexDbName(put.indexType, table.TableName, put.index)}~`;
        batch.push({ type: 'put', key: prefix + put.key, value: put.item });
      }
      if (batch.length >= 500) {
        await store.db.batch(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await store.db.batch(batch);
  }
}
