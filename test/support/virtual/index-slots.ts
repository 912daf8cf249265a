/**
 * Keeps virtual connection ids clear of a dynalite bug. dynalite 4.0 files a global secondary
 * index entry under the index key plus only six hex characters (24 bits) of an MD5 of the item's
 * table key (`hashPrefix` in dynalite/db/index.js: "for now just first six chars"). Two items with
 * the same index key whose table keys share those 24 bits overwrite each other's entry, and one of
 * them silently vanishes from every Query on that index. All connections of one shard share the
 * `byShard` key, so 2,500 of them lose one entry in about one run of six, and 100k lose
 * about twenty: a bench or an exact test would count deliveries that never happened as missing.
 *
 * Virtual connections pick their ids so that no two of them share a slot in any index partition
 * they join. Real sockets get random ids, as in AWS, and can still collide (rarely, with the
 * handful a test opens). Other DynamoDBs are unaffected; the avoidance costs them nothing.
 */
import { createHash } from 'node:crypto';

/** The six hex characters dynalite appends to an index entry for the table key `(pk, sk)`. */
export function dynaliteIndexSlot(pk: string, sk: string): string {
  return createHash('md5').update('Outliers').update(pk, 'utf8').update(sk, 'utf8').digest('hex').slice(0, 6);
}

/** One index entry a record creates: which partition of which index, and the record's table key. */
export interface IndexEntry {
  /** Index name plus its key values, e.g. `byShard/3` or `byTopic/orders/3`. */
  readonly partition: string;
  readonly pk: string;
  readonly sk: string;
}

/**
 * The slots taken in every index partition virtual connections joined.
 *
 * @example
 * const slots = new IndexSlots();
 * if (slots.free(entries)) slots.take(entries);
 */
export class IndexSlots {
  readonly #taken = new Map<string, Set<string>>();

  /** True when none of the entries would land on a taken slot, nor two of them on one. */
  free(entries: readonly IndexEntry[]): boolean {
    const mine = new Set<string>();
    for (const entry of entries) {
      const key = `${entry.partition}\n${dynaliteIndexSlot(entry.pk, entry.sk)}`;
      if (mine.has(key)) return false;
      mine.add(key);
      const slot = key.slice(key.indexOf('\n') + 1);
      if (this.#taken.get(entry.partition)?.has(slot)) return false;
    }
    return true;
  }

  take(entries: readonly IndexEntry[]): void {
    for (const entry of entries) {
      let slots = this.#taken.get(entry.partition);
      if (slots === undefined) {
        slots = new Set();
        this.#taken.set(entry.partition, slots);
      }
      slots.add(dynaliteIndexSlot(entry.pk, entry.sk));
    }
  }
}
