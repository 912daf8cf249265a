/** Writes the bench section of README.md: only what lies between the two markers changes. */
import { readFileSync, writeFileSync } from 'node:fs';

export const START_MARKER = '<!-- bench:start -->';
export const END_MARKER = '<!-- bench:end -->';

/**
 * Replaces the text between the markers in `readme` with `section`.
 * Throws when either marker is missing or they are out of order, rather than guessing.
 */
export function replaceSection(readme: string, section: string): string {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`README.md must contain ${START_MARKER} followed by ${END_MARKER}`);
  }
  return `${readme.slice(0, start + START_MARKER.length)}\n${section.trim()}\n${readme.slice(end)}`;
}

/** Rewrites the section in the file at `path`. */
export function writeReadmeSection(path: string, section: string): void {
  writeFileSync(path, replaceSection(readFileSync(path, 'utf8'), section));
}
