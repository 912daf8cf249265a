/**
 * Scenario r: sequential round trips before the first post of a uid push, from the publish
 * handler's calls as the HTTP recorder saw them sent and answered. On dynalite they take well under
 * a millisecond, in AWS each is a network round trip, so the count, not this machine's time, is
 * what a deployment pays; the AWS figure is a projection from it, labelled as such.
 */
import { startLocalStack } from '../../../local/stack';
import { virtualConnections } from '../../../test/support/virtual';
import { HttpRecorder, type RecordedCall } from '../http-recorder';
import { median, ms, pushUid, type Scenario } from '../kit';

const UID = 'round-trips';
/** AWS figures the projection uses: a DynamoDB call in the same Region, and a PostToConnection. */
const DYNAMODB_MS = 5;
const POST_MS = 25;

/**
 * The longest chain of DynamoDB calls that wait on each other (each starts after the one before it
 * has answered), all answered before the first post starts. Calls that overlap count once.
 */
function sequentialBeforeFirstPost(calls: readonly RecordedCall[]): { count: number; chain: string[] } {
  const firstPost = Math.min(...calls.filter((c) => c.kind === 'post').map((c) => c.start));
  const before = calls
    .filter((c) => c.kind === 'dynamodb' && c.end <= firstPost)
    .sort((a, b) => a.end - b.end);
  const best: { count: number; chain: string[] }[] = [];
  for (const [i, call] of before.entries()) {
    let longest = { count: 0, chain: [] as string[] };
    for (let j = 0; j < i; j++) {
      const prior = best[j] as { count: number; chain: string[] };
      if ((before[j] as RecordedCall).end <= call.start && prior.count > longest.count) longest = prior;
    }
    best.push({ count: longest.count + 1, chain: [...longest.chain, call.operation] });
  }
  return best.reduce((a, b) => (b.count > a.count ? b : a), { count: 0, chain: [] });
}

export const roundTripsScenario: Scenario = async ({ quick, progress }) => {
  const pushes = quick ? 10 : 50;
  const stack = await startLocalStack({ port: 0 });
  const recorder = new HttpRecorder();
  try {
    await virtualConnections(stack).add(1, { uid: () => UID });
    progress.note(`${pushes} uid pushes to one connection, every HTTP call of the handler recorded`);
    for (let i = 0; i < 5; i++) await pushUid(stack, UID, `rt-${-1 - i}`, { i: -1 - i });
    const counts: number[] = [];
    let chain: string[] = [];
    let calls: string[] = [];
    for (let i = 0; i < pushes; i++) {
      const recorded = await recorder.record(() => pushUid(stack, UID, `rt-${i}`, { i }));
      const found = sequentialBeforeFirstPost(recorded);
      counts.push(found.count);
      if (found.count >= Math.max(...counts)) {
        chain = found.chain;
        calls = recorded.map((c) => c.operation);
      }
      progress.tick('pushes', i + 1, pushes);
    }
    const worst = Math.max(...counts);
    const projectionMs = (n: number) => n * DYNAMODB_MS + POST_MS;
    return {
      title: 'sequential round trips before the first post of a uid push',
      target: '≤ 2',
      ours: `${worst} (${chain.join(' → ') || 'none'} → post); AWS projection ${ms(projectionMs(worst))}`,
      baseline: `none: a post straight away, AWS projection ${ms(projectionMs(0))}`,
      ratio: '—',
      verdict: worst <= 2 ? 'pass' : 'fail',
      path: 'POST /publish → publish handler, in-process stack; each call timed on the wire (sent → answered)',
      notes: [
        `worst of ${pushes} pushes (median ${median(counts)}); every call of the worst push, in the order sent: ${calls.join(', ')}`,
        `AWS projection, not a measurement: ${DYNAMODB_MS} ms per DynamoDB call and ${POST_MS} ms per post, so ${worst} round trips + the post ≈ ${ms(projectionMs(worst))} from publish to receipt, before CPU (3 would be ${ms(projectionMs(3))})`,
      ],
      data: { pushes, counts, worst, chain, calls, projectionMs: projectionMs(worst) },
    };
  } finally {
    recorder.stop();
    await stack.stop();
  }
};
