/** Shapes every scenario shares: what it is given, and what it reports. */
import type { ScenarioId } from './cli';
import type { Progress } from './progress';

/** What a scenario is given. */
export interface ScenarioContext {
  readonly quick: boolean;
  readonly progress: Progress;
  /** Repository root. */
  readonly root: string;
  /** Absolute results directory (gitignored), for scratch files such as bundles. */
  readonly outDir: string;
}

/**
 * How a scenario came out against its target: `pass` / `fail` against a ratio or bound the project
 * sets itself, `reported` where there is only a figure to record.
 */
export type Verdict = 'pass' | 'fail' | 'reported';

/** What a scenario reports. Table cells are short strings; `data` holds everything measured. */
export interface ScenarioResult {
  readonly id: ScenarioId;
  readonly title: string;
  /** The project's target for the scenario, or `reported`. */
  readonly target: string;
  readonly ours: string;
  readonly baseline: string;
  /** `ours / baseline` as the scenario defines it (`—` when there is none). */
  readonly ratio: string;
  readonly verdict: Verdict;
  /** Which code path ran (inline or sharded publish, in-process or child stack, ...). */
  readonly path: string;
  readonly notes: readonly string[];
  readonly data: Readonly<Record<string, unknown>>;
  readonly elapsedMs: number;
}

/** A scenario's implementation. */
export type Scenario = (context: ScenarioContext) => Promise<Omit<ScenarioResult, 'elapsedMs'>>;
