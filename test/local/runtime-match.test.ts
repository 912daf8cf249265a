import { describe, expect, it } from 'vitest';
import { runtimeNodeMajor, runtimeNote } from '../../local/runtime-match';

describe('runtimeNodeMajor', () => {
  it.each([
    ['nodejs24.x', 24],
    ['nodejs22.x', 22],
    ['nodejs18.x', 18],
    ['python3.13', undefined],
    ['nodejs24', undefined],
    ['provided.al2023', undefined],
  ])('reads %s as %s', (runtime, major) => {
    expect(runtimeNodeMajor(runtime)).toBe(major);
  });
});

describe('runtimeNote', () => {
  it.each([
    [['nodejs24.x'], 'v24.21.0', 'runtime nodejs24.x'],
    [['nodejs24.x', 'nodejs24.x'], 'v24.0.0', 'runtime nodejs24.x'],
    [
      ['nodejs24.x'],
      'v20.20.2',
      'runtime nodejs24.x, but this is Node v20.20.2: start the stack on Node 24 to run them as deployed',
    ],
    [
      ['nodejs22.x', 'nodejs24.x'],
      'v24.21.0',
      'runtime nodejs22.x, nodejs24.x, but this is Node v24.21.0: they differ from it',
    ],
    [['python3.13'], 'v24.21.0', 'runtime python3.13, but this is Node v24.21.0: they differ from it'],
  ])('says of %j on %s: %s', (runtimes, version, note) => {
    expect(runtimeNote(runtimes, version)).toBe(note);
  });
});
