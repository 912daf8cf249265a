/**
 * Table state changes that a killed dynalite left half done in a store on disk (`--data DIR`).
 *
 * dynalite writes a table as CREATING, DELETING or UPDATING and ends the change from a timer of the
 * same process (`createTableMs` and the like; the stack's are 0 ms). A process killed in that window
 * (Ctrl-C twice, SIGKILL, a crash during the first `npm start`) keeps the first state on disk, and
 * no later process ever runs the timer: a CREATING table refuses every read and write, and every
 * later start waited for ACTIVE until its poll bound and failed. {@link finishTransitions} ends
 * those changes as the timers would have, once, when the store opens and before it serves a request.
 */
import { type Level, subRange } from './dynalite-index';

/** The parts of a table's record (as dynalite stores it) that its state changes touch. */
interface TableRecord {
  TableName: string;
  TableStatus?: string;
  CreationDateTime?: number;
  GlobalSecondaryIndexes?: { IndexStatus?: string }[];
  BillingModeSummary?: { BillingMode?: string; LastUpdateToPayPerRequestDateTime?: number };
}

/** What {@link finishTransitions} did, by table name. */
export interface TransitionsFinished {
  /** Tables left CREATING or UPDATING, now ACTIVE. */
  readonly activated: readonly string[];
  /** Tables left DELETING, now gone with their items, indexes and tags. */
  readonly deleted: readonly string[];
}

/**
 * Ends every table state change left unfinished in `db` (dynalite's root store) as dynalite's own
 * timer would have:
 * - CREATING becomes ACTIVE, with its global indexes. A CREATING table refuses writes, so it holds
 *   no items and none are lost or made up.
 * - DELETING finishes: the table's items, index entries and tags are cleared (dynalite clears them
 *   before it answers the DeleteTable, but a kill can come between the two), then its record goes.
 *   dynalite drops a deleting table's global indexes from its record, so their entries are found by
 *   the table's name: table names cannot hold `~`, the separator, so no other table's range matches.
 * - UPDATING becomes ACTIVE. dynalite's UpdateTable changes only throughput and billing mode, and
 *   the record already holds the new billing mode; provisioned figures asked for by a killed update
 *   are not applied, and dynalite never enforces them.
 */
export async function finishTransitions(db: Level): Promise<TransitionsFinished> {
  const activated: string[] = [];
  const deleted: string[] = [];
  const tables: TableRecord[] = [];
  for await (const [, value] of db.iterator(subRange('table'))) tables.push(value as TableRecord);
  for (const table of tables) {
    const name = table.TableName;
    if (table.TableStatus === 'DELETING') {
      for (const range of [`item-${name}`, `tag-${name}`, `index-local~${name}`, `index-global~${name}`]) {
        await db.clear(subRange(range));
      }
      await db.batch([{ type: 'del', key: `table~${name}` }]);
      deleted.push(name);
      continue;
    }
    const indexes = table.GlobalSecondaryIndexes ?? [];
    const wasCreating = table.TableStatus === 'CREATING';
    const settled =
      table.TableStatus === 'ACTIVE' && indexes.every((index) => index.IndexStatus === 'ACTIVE');
    // A record without a known state is dynalite's to handle (its CreateTable replaces it).
    if (settled || !['ACTIVE', 'CREATING', 'UPDATING'].includes(table.TableStatus ?? '')) continue;
    table.TableStatus = 'ACTIVE';
    for (const index of indexes) index.IndexStatus = 'ACTIVE';
    if (wasCreating && table.BillingModeSummary !== undefined) {
      table.BillingModeSummary.LastUpdateToPayPerRequestDateTime = table.CreationDateTime;
    }
    await db.batch([{ type: 'put', key: `table~${name}`, value: table }]);
    activated.push(name);
  }
  return { activated, deleted };
}
