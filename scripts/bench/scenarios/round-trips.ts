/**
 * Scenario r: sequential round trips before the first post of a uid push.
 *
 * An in-process stack runs the real publish handler; the HTTP recorder (http-recorder.ts) notes
 * when each of its DynamoDB and `@connections` calls was sent and answered. For each push the
 * count is the longest chain of DynamoDB calls that waited on each other and were answered before
 * the first post started: on dynalite they take well under a millisecond each, in AWS each is a
 * network round trip, so the count, not this machine's time, is what a deployment pays. The AWS
 * figure is a projection from it (each DynamoDB call ~5 ms, each post 25 ms), labelled as such.
 */
import { startLocalStack } from '../../../local/stack';
import { virtualConnections } from '../../../test/support/virtual';
import { ms } from '../format';
import { HttpRecorder, sequentialBeforeFirstPost } from '../http-recorder';
import { postPublish } from '../stack-features';
import { median } from '../stats';
import type { Scenario } from '../types';

const UID = 'round-trips';
/** AWS figures the projection uses: a DynamoDB call in the same Region, and a PostToConnection. */
const DYNAMODB_MS = 5;
const POST_MS = 25;

export const roundTripsScenario: Scenario = async ({ quick, progress }) => {
  const pushes = quick ? 10 : 50;
  const stack = await startLocalStack({ port: 0 });
  const recorder = new HttpRecorder();
  try {
    await virtualConnections(stack).add(1, { uid: () => UID });
    progress.note(`${pushes} uid pushes to one connection, every HTTP call of the handler recorded`);
    const publish = async (i: number) => {
      const { status, body } = await postPublish(stack, { to: { uid: UID }, data: { i }, id: `rt-${i}` });
      if (status !== 200 || body.delivered !== 1)
        throw new Error(`publish answered ${status}: ${JSON.stringify(body)}`);
    };
    for (let i = 0; i < 5; i++) await publish(-1 - i);
    recorder.start();
    const counts: number[] = [];
    let chain: string[] = [];
    let calls: string[] = [];
    for (let i = 0; i < pushes; i++) {
      recorder.take();
      await publish(i);
      const recorded = recorder.take().filter((c) => c.kind !== 'other');
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
      id: 'r',
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
