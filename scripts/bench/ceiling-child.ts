/**
 * One poster for the multi-process ceiling (ceiling.ts): receives its share of connection ids,
 * builds the handlers' Management API client, warms it on ids whose deliveries the parent does not
 * count, then on `go` posts once to each id with a fixed number in flight and reports when done.
 */
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { createManagementClient } from '../../lambdas/adapters/management-gateway';
import { forEachBounded } from '../../lambdas/core/pool';
import { FAKE_CREDENTIALS } from './env';

/** The parent's instructions. */
export interface CeilingChildInput {
  readonly endpoint: string;
  readonly ids: readonly string[];
  readonly warmIds: readonly string[];
  readonly concurrency: number;
}

/** What the child tells the parent. */
export type CeilingChildMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly failed: number };

const send = (message: CeilingChildMessage) => process.send?.(message);
const data = Buffer.from(JSON.stringify({ type: 'message', id: 'ceiling', data: { probe: true }, ts: 0 }));

async function postAll(
  client: ReturnType<typeof createManagementClient>,
  ids: readonly string[],
  concurrency: number,
): Promise<number> {
  let failed = 0;
  await forEachBounded(ids, concurrency, async (connectionId) => {
    try {
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
    } catch {
      failed++;
    }
  });
  return failed;
}

// The ids come over IPC: ten thousand of them would not fit on a command line.
process.once('message', (input: CeilingChildInput) => {
  const client = createManagementClient({
    endpoint: input.endpoint,
    region: 'us-east-1',
    credentials: FAKE_CREDENTIALS,
    maxSockets: input.concurrency,
  });
  void postAll(client, input.warmIds, input.concurrency).then(() => {
    process.once('message', () => {
      void postAll(client, input.ids, input.concurrency).then((failed) => {
        send({ type: 'done', failed });
        client.destroy();
        process.disconnect?.();
      });
    });
    send({ type: 'ready' });
  });
});
process.on('disconnect', () => process.exit(0));
