/**
 * Command-line arguments of `npm run bench`:
 *
 *   npm run bench -- [a b c d e f s ...] [--quick] [--out DIR]
 *
 * Positionals pick scenarios (all of them when none is named); `--quick` runs every scenario at
 * smoke-test sizes.
 */
import { parseArgs } from 'node:util';

/** Scenario ids, in the order they run: `r` round trips and `p` publish CPU next to a, `s` startup last. */
export const SCENARIO_IDS = ['a', 'r', 'p', 'b', 'c', 'd', 'e', 'f', 's'] as const;

/** One scenario id. */
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** Parsed arguments. */
export interface BenchArgs {
  readonly scenarios: readonly ScenarioId[];
  readonly quick: boolean;
  /** Where results go. @default bench-results */
  readonly outDir: string;
  readonly help: boolean;
}

export const USAGE = `usage: npm run bench -- [scenario ...] [--quick] [--out DIR]

  scenarios  any of ${SCENARIO_IDS.join(' ')} (default: all), in any order; they run in the order above
               a  uid push latency through npm start, against a bare ws push server (two processes each)
               r  sequential DynamoDB round trips before a uid push's first post (+ AWS projection)
               p  publish handler CPU per uid push, against the same requests sent as bare signed calls
               b  topic fan-out to 10k connections (25 ms latency, 10k/s budget) against Scan + Promise.all
               c  broadcast to 100k virtual connections through the sharded workers
               d  items read per uid push at 10k connections, against the Scan baseline
               e  cold start of each bundled Lambda against the same SDK clients from node_modules
               f  RSS of the local stack holding 10k real sockets
               s  startup: npm start until it accepts connections
  --quick    smoke-test sizes (seconds, not minutes); results are not comparable with a full run
  --out DIR  results directory (default bench-results; JSON and the Markdown table go there)

example: npm run bench -- b c --quick`;

/** Thrown for arguments that make no sense; the message says which. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'bad_arguments';
}

/**
 * Parses `argv` (without node and the script).
 *
 * @example
 * parseBenchArgs(['b', 'c', '--quick']) // { scenarios: ['b', 'c'], quick: true, ... }
 */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  }
  try {
    parsed = parse();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const known = new Set<string>(SCENARIO_IDS);
  const picked = new Set<string>();
  for (const raw of parsed.positionals) {
    for (const id of raw.toLowerCase().split(',').filter(Boolean)) {
      if (!known.has(id)) throw new UsageError(`unknown scenario ${JSON.stringify(id)}`);
      picked.add(id);
    }
  }
  const scenarios = SCENARIO_IDS.filter((id) => picked.size === 0 || picked.has(id));
  return {
    scenarios,
    quick: parsed.values.quick ?? false,
    outDir: parsed.values.out ?? 'bench-results',
    help: parsed.values.help ?? false,
  };
}
