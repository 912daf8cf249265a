import { describe, expect, it } from 'vitest';
import { isValidGrant, isValidTopic, parseGrants, topicGranted } from '../../lambdas/core/topics';

describe('topics', () => {
  it.each([
    ['orders', true],
    ['orders.eu:1-2_3', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['', false],
    ['a b', false],
    ['ordres/1', false],
    ['orders*', false],
    [42, false],
  ])('isValidTopic(%j) is %s', (topic, expected) => {
    expect(isValidTopic(topic)).toBe(expected);
  });

  it.each([
    ['orders', true],
    ['orders.*', true],
    ['*', true],
    ['**', false],
    ['a b*', false],
    [null, false],
  ])('isValidGrant(%j) is %s', (grant, expected) => {
    expect(isValidGrant(grant)).toBe(expected);
  });

  it.each([
    ['orders', ['orders'], true],
    ['orders', ['orders.*'], false],
    ['orders.eu', ['orders.*'], true],
    ['orders.eu.de', ['orders.*'], true],
    ['ordersx', ['orders'], false],
    ['anything', ['*'], true],
    ['orders', [], false],
    ['chat', ['orders', 'chat'], true],
  ])('topicGranted(%s, %j) is %s', (topic, grants, expected) => {
    expect(topicGranted(topic, grants)).toBe(expected);
  });

  it.each([
    [undefined, []],
    [['orders', 'orders'], ['orders']],
    [
      ['orders.*', 'chat'],
      ['orders.*', 'chat'],
    ],
    ['orders', undefined],
    [[1], undefined],
    [['bad topic'], undefined],
    [Array.from({ length: 101 }, (_, i) => `t${i}`), undefined],
  ])('parseGrants(%j) is %j', (value, expected) => {
    expect(parseGrants(value)).toEqual(expected);
  });
});
