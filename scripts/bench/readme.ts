/**
 * Writes generated sections into Markdown files: only what lies between a pair of markers changes
 * (README.md's bench section, docs/cost.md's measured section).
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** A pair of markers around a generated section. */
export interface Markers {
  readonly start: string;
  readonly end: string;
}

export const BENCH_MARKERS: Markers = { start: '<!-- bench:start -->', end: '<!-- bench:end -->' };
export const COST_MARKERS: Markers = { start: '<!-- cost:start -->', end: '<!-- cost:end -->' };

/**
 * Replaces the text between the markers in `text` with `section`.
 * Throws when either marker is missing or they are out of order, rather than guessing.
 */
export function replaceSection(text: string, section: string, markers: Markers = BENCH_MARKERS): string {
  const start = text.indexOf(markers.start);
  const end = text.indexOf(markers.end);
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`the file must contain ${markers.start} followed by ${markers.end}`);
  }
  return `${text.slice(0, start + markers.start.length)}\n${section.trim()}\n${text.slice(end)}`;
}

/** Rewrites the section between `markers` in the file at `path`. */
export function writeSection(path: string, section: string, markers: Markers = BENCH_MARKERS): void {
  writeFileSync(path, replaceSection(readFileSync(path, 'utf8'), section, markers));
}
