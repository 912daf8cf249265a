import { describe, expect, it } from 'vitest';
import { Dedup, UID_STREAM } from '../../client/dedup';

/** Feeds messages in order and returns which were accepted. */
function feed(dedup: Dedup, messages: [id: string, seq?: number, stream?: string][]): boolean[] {
  return messages.map(([id, seq, stream]) => dedup.accept(id, seq, stream));
}

describe('Dedup', () => {
  it('holds at most 10,000 seqs above a hole, however large a dedupSize it is given', () => {
    // A server skipping every other seq: each message waits above a hole. With 200,000 held, the
    // spread of them into Math.min threw RangeError out of the socket's message handler.
    const dedup = new Dedup(200_000);
    expect(dedup.accept('m1', 1)).toBe(true);
    for (let i = 0; i < 10_000; i++) dedup.accept(`m${3 + 2 * i}`, 3 + 2 * i);
    // 10,000 held above the holes at 2, 4, …: none stepped over yet.
    expect(dedup.cursor(UID_STREAM)).toBe(1);
    expect(dedup.highest(UID_STREAM)).toBe(20_001);
    // The 10,001st steps over the lowest hole, as the limit says.
    expect(dedup.accept('m20003', 20_003)).toBe(true);
    expect(dedup.cursor(UID_STREAM)).toBe(3);
    expect(dedup.highest(UID_STREAM)).toBe(20_003);
    // A late message below the cursor is a repeat by then; one above it is still welcome.
    expect(dedup.accept('m2', 2)).toBe(false);
    expect(dedup.accept('m4', 4)).toBe(true);
  });

  it('accepts a message the first time and refuses a repeat of its id', () => {
    const dedup = new Dedup(10);
    expect(feed(dedup, [['a'], ['b'], ['a']])).toEqual([true, true, false]);
  });

  it('refuses a repeat of a seq even under another id', () => {
    const dedup = new Dedup(10);
    expect(
      feed(dedup, [
        ['a', 1],
        ['b', 1],
        ['c', 2],
      ]),
    ).toEqual([true, false, true]);
    expect(dedup.cursor(UID_STREAM)).toBe(2);
  });

  it('counts the seq of a repeated id as delivered, so the cursor does not stop below it', () => {
    const dedup = new Dedup(10);
    expect(
      feed(dedup, [
        ['a', 1],
        ['a', 2],
        ['b', 3],
      ]),
    ).toEqual([true, false, true]);
    expect(dedup.cursor(UID_STREAM)).toBe(3);
  });

  it('takes the first seq of a stream as its baseline and refuses anything older', () => {
    const dedup = new Dedup(10);
    expect(
      feed(dedup, [
        ['a', 41],
        ['b', 40],
      ]),
    ).toEqual([true, false]);
    expect(dedup.cursor(UID_STREAM)).toBe(41);
  });

  it('keeps the cursor below a hole until the late message fills it', () => {
    const dedup = new Dedup(10);
    feed(dedup, [
      ['a', 1],
      ['c', 3],
      ['d', 4],
    ]);
    expect(dedup.cursor(UID_STREAM)).toBe(1);
    expect(
      feed(dedup, [
        ['b', 2],
        ['c2', 3],
      ]),
    ).toEqual([true, false]);
    expect(dedup.cursor(UID_STREAM)).toBe(4);
  });

  it('steps over a hole once more than max later seqs are waiting above it', () => {
    const dedup = new Dedup(3);
    feed(dedup, [
      ['a', 1],
      ['c', 3],
      ['d', 4],
      ['e', 5],
    ]);
    expect(dedup.cursor(UID_STREAM)).toBe(1);
    feed(dedup, [['f', 6]]);
    expect(dedup.cursor(UID_STREAM)).toBe(6);
    expect(dedup.accept('b', 2)).toBe(false);
  });

  it('remembers at most max ids, forgetting the oldest first', () => {
    const dedup = new Dedup(3);
    feed(dedup, [['a'], ['b'], ['c'], ['d']]);
    expect(feed(dedup, [['b'], ['c'], ['d'], ['a']])).toEqual([false, false, false, true]);
  });

  it('still refuses an old seq after its id has left the window', () => {
    const dedup = new Dedup(2);
    feed(dedup, [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
    expect(dedup.accept('a', 1)).toBe(false);
  });

  it('keeps one cursor per stream, so topic seqs and uid seqs never collide', () => {
    const dedup = new Dedup(10);
    expect(
      feed(dedup, [
        ['a', 5],
        ['b', 5, 'orders'],
        ['c', 6, 'orders'],
        ['d', 6],
      ]),
    ).toEqual([true, true, true, true]);
    expect([dedup.cursor(UID_STREAM), dedup.cursor('orders'), dedup.cursor('alerts')]).toEqual([
      6,
      6,
      undefined,
    ]);
  });

  it('resumes from the latest seq after a gap, yet still takes a seq of the hole that arrives late', () => {
    const dedup = new Dedup(10, 3);
    dedup.skipGap(40);
    expect(dedup.cursor(UID_STREAM)).toBe(40);
    expect(
      feed(dedup, [
        ['late', 39],
        ['late-again', 39],
        ['next', 41],
      ]),
    ).toEqual([true, false, true]);
    expect(dedup.cursor(UID_STREAM)).toBe(41);
  });

  it('resumes after a gap from past the seqs already held above it', () => {
    const dedup = new Dedup(10, 3);
    feed(dedup, [
      ['j', 10],
      ['k', 11],
    ]);
    dedup.skipGap(9);
    expect(dedup.cursor(UID_STREAM)).toBe(11);
  });

  it('never moves the resume point back on a gap older than it', () => {
    const dedup = new Dedup(10, 9);
    dedup.skipGap(3);
    expect(dedup.cursor(UID_STREAM)).toBe(9);
  });

  it('ignores a gap for a stream it never saw', () => {
    const dedup = new Dedup(10);
    dedup.skipGap(12, 'orders');
    expect(dedup.cursor('orders')).toBeUndefined();
  });

  it('starts the uid stream from a seq kept from an earlier session', () => {
    const dedup = new Dedup(10, 20);
    expect(dedup.cursor(UID_STREAM)).toBe(20);
    expect(
      feed(dedup, [
        ['a', 20],
        ['b', 21],
      ]),
    ).toEqual([false, true]);
  });

  it('forgets a stream so a later subscription starts from a new baseline', () => {
    const dedup = new Dedup(10);
    feed(dedup, [['a', 8, 'orders']]);
    dedup.forget('orders');
    expect(dedup.cursor('orders')).toBeUndefined();
    expect(dedup.accept('b', 3, 'orders')).toBe(true);
  });
});
