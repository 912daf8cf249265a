/**
 * What one invocation printed, for Invoke's `LogType: Tail`: Lambda answers with the last 4 KB of
 * the invocation's log (its START, END and REPORT lines around the function's own output),
 * base64-encoded in `X-Amz-Log-Result`. Functions running in this process write to its stdout,
 * which the stack already captures (handler-output.ts); each write is credited to the invocation
 * whose async context it comes from, so concurrent invocations never see each other's lines.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Lambda's tail: the last 4 KB. */
export const LOG_TAIL_BYTES = 4 * 1024;

interface Collected {
  chunks: Buffer[];
  bytes: number;
}

const current = new AsyncLocalStorage<Collected>();

/** Credits a chunk written to stdout to the invocation running now, if one is collecting. */
export function recordInvocationOutput(chunk: unknown): void {
  const log = current.getStore();
  if (log === undefined) return;
  const bytes =
    typeof chunk === 'string'
      ? Buffer.from(chunk, 'utf8')
      : chunk instanceof Uint8Array
        ? Buffer.from(chunk)
        : undefined;
  if (bytes === undefined) return;
  log.chunks.push(bytes);
  log.bytes += bytes.length;
  // Only the tail is ever answered; older output is let go as it is pushed out.
  while (log.chunks.length > 1 && log.bytes - (log.chunks[0] as Buffer).length >= LOG_TAIL_BYTES) {
    log.bytes -= (log.chunks.shift() as Buffer).length;
  }
}

/**
 * Runs one invocation while collecting its output, and returns its outcome with the base64 tail
 * of its log, framed as Lambda frames it.
 *
 * @example
 * const { outcome, tail } = await withLogTail(requestId, () => functions.invoke('publish', event));
 */
export async function withLogTail<T>(
  requestId: string,
  run: () => Promise<T>,
): Promise<{ outcome: PromiseSettledResult<T>; tail: string }> {
  const log: Collected = { chunks: [], bytes: 0 };
  const started = performance.now();
  const [outcome] = await current.run(log, () => Promise.allSettled([run()]));
  const durationMs = performance.now() - started;
  const text = Buffer.concat([
    Buffer.from(`START RequestId: ${requestId} Version: $LATEST\n`),
    ...log.chunks,
    Buffer.from(
      `END RequestId: ${requestId}\nREPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\t` +
        `Billed Duration: ${Math.max(1, Math.ceil(durationMs))} ms\t\n`,
    ),
  ]);
  return {
    outcome: outcome as PromiseSettledResult<T>,
    tail: text.subarray(Math.max(0, text.length - LOG_TAIL_BYTES)).toString('base64'),
  };
}
