/**
 * Scenario d: items read per uid push at 10k connections (seed.ts records plus one real socket),
 * counted by a proxy in front of dynalite (counting-proxy.ts: `ScannedCount`, what read capacity is
 * billed on). The baseline is the AWS sample's Scan, filtered to the uid, through the same proxy.
 */
import { startDynalite } from '../../../local/dynalite';
import { startLocalStack } from '../../../local/stack';
import { type Counts, startCountingProxy } from '../counting-proxy';
import { int, median, postPublish, round, type Scenario, socketFor, times } from '../kit';
import { fullScanItems, naiveClients, naivePublish } from '../scan-baseline';
import { seedConnections } from '../seed';

const TARGET_UID = 'reads-target';

export const readsScenario: Scenario = async ({ quick, progress }) => {
  const connections = quick ? 1_000 : 10_000;
  const pushes = 5;
  const dynamo = await startDynalite();
  const proxy = await startCountingProxy(dynamo.endpoint);
  const stack = await startLocalStack({ port: 0, dynamodbEndpoint: proxy.endpoint });
  const durations: number[] = [];
  const stopObserving = stack.emulator.onInvoke((record) => {
    if (record.functionName === 'publish') durations.push(record.durationMs);
  });
  const clients = naiveClients(proxy.endpoint, stack.managementEndpoint);
  try {
    progress.note(`writing ${int(connections - 1)} connection records built by the store adapter`);
    await seedConnections({
      dynamodbEndpoint: dynamo.endpoint,
      tableName: stack.tableName,
      count: connections - 1,
      onProgress: (done) => progress.tick('records', done, connections - 1),
    });
    const socket = await socketFor(stack, TARGET_UID);

    progress.note(`${pushes} uid pushes through the counting proxy`);
    const perPush: Counts[] = [];
    let delivered = 0;
    for (let i = 0; i < pushes; i++) {
      proxy.reset();
      const { body: result } = await postPublish(stack, { to: { uid: TARGET_UID }, data: { orderId: i } });
      delivered += Number(result.delivered ?? 0);
      perPush.push(proxy.counts());
    }
    const [oursItems, readRequests, readUnits] = (['itemsRead', 'readRequests', 'readUnits'] as const).map(
      (field) => median(perPush.map((c) => c[field])),
    ) as [number, number, number];
    const ours = perPush[perPush.length - 1] as Counts;
    const queryCount = ours.byOperation.Query?.requests ?? 0;

    progress.note('the Scan baseline (the AWS sample: one Scan, 1 MB page, filtered to the uid)');
    proxy.reset();
    const payload = JSON.stringify({ type: 'message', id: 'naive', data: {}, ts: Date.now() });
    const naive = await naivePublish(clients, {
      tableName: stack.tableName,
      to: { uid: TARGET_UID },
      payload,
    });
    const baselineCounts = proxy.counts();
    const { itemsRead: baselineItems, readUnits: baselineUnits } = baselineCounts;
    proxy.reset();
    const fullScan = await fullScanItems(clients.doc, stack.tableName);
    socket.terminate();

    const factor = baselineItems / Math.max(1, oursItems);
    const pass = queryCount === 1 && readRequests === 1 && factor >= 1000 && delivered === pushes;
    return {
      title: `items read per uid push at ${int(connections)} connections`,
      target: '1 Query, ≥ 1000× fewer',
      ours: `${readRequests} read request (${queryCount} Query), ${int(oursItems)} item, ${readUnits} RRU`,
      baseline: `1 Scan page: ${int(baselineItems)} items, ${round(baselineUnits, 1)} RRU${naive.truncated ? ' (stopped at 1 MB)' : ''}`,
      ratio: `${times(factor)} fewer items`,
      verdict: pass ? 'pass' : 'fail',
      path: 'POST /publish → publish handler → byUid Query; counted by a proxy in front of dynalite (ScannedCount per answer)',
      notes: [
        `the sample's Scan page ${naive.found > 0 ? 'happened to include' : 'missed'} the target uid` +
          `${naive.truncated ? `; it stopped at 1 MB after ${int(naive.itemsScanned)} of ${int(fullScan)} items, so a uid past the page is never reached` : ''}`,
        `a paginated Scan would read all ${int(fullScan)} items (${times(fullScan / Math.max(1, oursItems))} ours)`,
        `ours also writes ${ours.writes.requests} items per uid push (log counter and message), for resume`,
        `publish handler duration for a 1-connection uid push: median ${round(median(durations), 1)} ms (in-process, through the proxy)`,
        'ReturnConsumedCapacity is not supported by dynalite; RRU are estimated from item sizes (4 KB units, eventually consistent = ½)',
      ],
      data: {
        connections,
        pushes,
        delivered,
        ours: { itemsRead: oursItems, readRequests, readUnits, perPush },
        baseline: {
          itemsRead: baselineItems,
          readUnits: baselineUnits,
          truncated: naive.truncated,
          found: naive.found,
          delivered: naive.delivered,
          counts: baselineCounts,
          paginatedScanItems: fullScan,
        },
        fewerItemsFactor: round(factor, 1),
        publishDurationMs: {
          median: round(median(durations), 2),
          samples: durations.map((d) => round(d, 2)),
        },
        method: 'counting HTTP proxy in front of dynalite (ScannedCount of each Query/Scan answer)',
      },
    };
  } finally {
    stopObserving();
    clients.destroy();
    await stack.stop();
    await proxy.close();
    await dynamo.stop();
  }
};
