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
 * How a scenario came out against its target: `pass` / `fail` against a ratio or bound the issue
 * sets, `reported` where the issue asks only for the figure.
 */
export type Verdict = 'pass' | 'fail' | 'reported';

/** One point of the fan-out chart. */
export interface ChartPoint {
  readonly connections: number;
  readonly ms: number;
  /** Drawn next to the point (`35 % reached`). */
  readonly label?: string;
}

/** One line of the chart. `ours` is drawn solid, baselines dashed. */
export interface ChartSeries {
  readonly name: string;
  readonly kind: 'ours' | 'baseline' | 'baseline-alt' | 'floor';
  readonly points: readonly ChartPoint[];
}

/** The fan-out chart's data: time to last delivery against connection count. */
export interface ChartData {
  readonly series: readonly ChartSeries[];
  readonly caption: string;
}

/** What a scenario reports. Table cells are short strings; `data` holds everything measured. */
export interface ScenarioResult {
  readonly id: ScenarioId;
  readonly title: string;
  /** The target, verbatim where it sets one. */
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
  readonly chart?: ChartData;
  readonly elapsedMs: number;
}

/** A scenario's implementation. */
export type Scenario = (context: ScenarioContext) => Promise<Omit<ScenarioResult, 'elapsedMs'>>;
