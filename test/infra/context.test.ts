import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { contextBoolean, contextList, contextString } from '../../infra/context';

const node = (value: unknown) => new App({ context: value === undefined ? {} : { key: value } }).node;

describe('context values', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    [true, true],
    ['true', true],
    [false, false],
    ['false', false],
  ])('reads boolean %j as %j', (value, expected) => {
    expect(contextBoolean(node(value), 'key')).toBe(expected);
  });

  it.each([['yes'], ['1'], [1]])('refuses %j as a boolean', (value) => {
    expect(() => contextBoolean(node(value), 'key')).toThrow(
      `context key must be true or false, got ${JSON.stringify(value)}`,
    );
  });

  it.each([
    [undefined, undefined],
    ['', undefined],
    ['dev', 'dev'],
  ])('reads string %j as %j', (value, expected) => {
    expect(contextString(node(value), 'key')).toBe(expected);
  });

  it('refuses a number where a string belongs', () => {
    expect(() => contextString(node(3), 'key')).toThrow('context key must be a string, got 3');
  });

  it.each([
    [undefined, undefined],
    ['arn:a', ['arn:a']],
    ['arn:a, arn:b,', ['arn:a', 'arn:b']],
    [
      ['arn:a', 'arn:b'],
      ['arn:a', 'arn:b'],
    ],
  ])('reads list %j as %j', (value, expected) => {
    expect(contextList(node(value), 'key')).toEqual(expected);
  });

  it('refuses a list of non-strings', () => {
    expect(() => contextList(node([1]), 'key')).toThrow('context key must be a list of strings, got [1]');
  });
});
