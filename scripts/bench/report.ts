/**
 * The results table (Markdown, for the terminal and the README's Performance section, pasted by
 * hand from bench-results/latest.md) and the JSON report.
 */
import type { MachineInfo } from './machine';
import { machineLine } from './machine';
import type { ScenarioResult } from './types';

/** Everything one run produced. */
export interface BenchReport {
  readonly startedAt: string;
  readonly quick: boolean;
  readonly machine: MachineInfo;
  readonly gitCommit: string | undefined;
  readonly results: readonly ScenarioResult[];
  readonly elapsedMs: number;
}

const VERDICT: Readonly<Record<ScenarioResult['verdict'], string>> = {
  pass: 'pass',
  fail: '**FAIL**',
  reported: 'reported',
};

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The results as a Markdown table, one row per scenario. */
export function resultsTable(results: readonly ScenarioResult[]): string {
  const header = '| # | scenario | ours | baseline (same run) | ours ÷ baseline | target | result |';
  const rule = '|---|---|---|---|---|---|---|';
  const rows = results.map(
    (r) =>
      `| ${r.id} | ${cell(r.title)} | ${cell(r.ours)} | ${cell(r.baseline)} | ${cell(r.ratio)} | ${cell(r.target)} | ${VERDICT[r.verdict]} |`,
  );
  return [header, rule, ...rows].join('\n');
}

/** The path each scenario took and its notes, as a Markdown list. */
export function resultNotes(results: readonly ScenarioResult[]): string {
  return results
    .map((r) => {
      const lines = [`- **${r.id}** (${r.title}): ${r.path}.`];
      for (const note of r.notes) lines.push(`  - ${note}`);
      return lines.join('\n');
    })
    .join('\n');
}

/** The whole report as Markdown: machine, table, notes. */
export function markdownReport(report: BenchReport): string {
  const mode = report.quick ? ' (**--quick**: smoke-test sizes, not comparable)' : '';
  return [
    `Measured ${report.startedAt.slice(0, 10)} on ${machineLine(report.machine)}${mode}` +
      (report.gitCommit === undefined ? '.' : `, at commit \`${report.gitCommit.slice(0, 7)}\`.`),
    '',
    resultsTable(report.results),
    '',
    resultNotes(report.results),
  ].join('\n');
}
