/**
 * An HTTP proxy in front of a local stack that lets the first request through to the stack and
 * then drops the connection instead of its answer: the call ran, and the caller's SDK (the AWS SDK,
 * botocore) retries it as a new request, as it does when an answer is lost on the way back.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LostAnswerProxy {
  /** Give it to the client as its endpoint. */
  readonly url: string;
  /** Requests the proxy received, the dropped first one included. */
  requests(): number;
  /** The bodies of those requests, as UTF-8 text, in the order received. */
  bodies(): string[];
  close(): Promise<void>;
}

export async function startLostAnswerProxy(target: string): Promise<LostAnswerProxy> {
  let requests = 0;
  const bodies: string[] = [];
  const upstream = new URL(target);
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const first = ++requests === 1;
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      const forward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          // The stack answers only requests addressed to itself (its DNS-rebinding guard).
          headers: { ...req.headers, host: upstream.host },
        },
        (answer) => {
          if (first) {
            answer.resume();
            answer.once('end', () => req.socket.destroy());
            return;
          }
          res.writeHead(answer.statusCode ?? 500, answer.headers);
          answer.pipe(res);
        },
      );
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    bodies: () => [...bodies],
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}
