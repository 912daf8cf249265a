/**
 * Records every HTTP request this process sends (the in-process handlers' SDK calls among them):
 * when it was sent, when its answer's headers came back, and its method, URL, headers and body.
 * The handlers' clients are built inside lambdas/, out of the bench's reach, so the recorder sits
 * below them: `ClientRequest.prototype.end` (where the SDK hands over the body) notes the start,
 * and the `http.client.response.finish` diagnostics channel the end. Only while started.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { ClientRequest } from 'node:http';

/** One request as sent, with its timing (performance.now(), ms). */
export interface RecordedCall {
  readonly kind: 'dynamodb' | 'post' | 'other';
  /** The DynamoDB operation (`Query`, `PutItem`, ...) or `PostToConnection`. */
  readonly operation: string;
  readonly method: string;
  readonly url: string;
  /** The headers that select the operation (`content-type`, `x-amz-target`). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly start: number;
  end: number;
}

const FINISH = 'http.client.response.finish';
const isChunk = (value: unknown) => typeof value === 'string' || value instanceof Uint8Array;

export class HttpRecorder {
  #calls: RecordedCall[] = [];
  readonly #pending = new WeakMap<ClientRequest, RecordedCall>();
  readonly #written = new WeakMap<ClientRequest, Buffer[]>();
  #restore: (() => void) | undefined;
  readonly #onFinish = (message: unknown) => {
    const call = this.#pending.get((message as { request: ClientRequest }).request);
    if (call !== undefined) call.end = performance.now();
  };

  /** The DynamoDB calls and posts `run` made, in the order sent; recording goes on until {@link stop}. */
  async record(run: () => Promise<unknown>): Promise<RecordedCall[]> {
    this.#start();
    this.#calls = [];
    await run();
    return this.#calls.filter((c) => c.kind !== 'other');
  }

  stop(): void {
    this.#restore?.();
    this.#restore = undefined;
  }

  #start(): void {
    if (this.#restore !== undefined) return;
    const { write, end } = ClientRequest.prototype;
    const recorder = this;
    // Bodies are usually handed to end(); a streamed one arrives through write() first.
    ClientRequest.prototype.write = function (this: ClientRequest, ...args: unknown[]) {
      const parts = recorder.#written.get(this) ?? [];
      recorder.#written.set(this, parts);
      if (isChunk(args[0])) parts.push(Buffer.from(args[0] as string));
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof write;
    ClientRequest.prototype.end = function (this: ClientRequest, ...args: unknown[]) {
      const parts = recorder.#written.get(this) ?? [];
      if (isChunk(args[0])) parts.push(Buffer.from(args[0] as string));
      recorder.#note(this, Buffer.concat(parts).toString('utf8'));
      return (end as (...a: unknown[]) => ClientRequest).apply(this, args);
    } as typeof end;
    subscribe(FINISH, this.#onFinish);
    this.#restore = () => {
      Object.assign(ClientRequest.prototype, { write, end });
      unsubscribe(FINISH, this.#onFinish);
    };
  }

  #note(request: ClientRequest, body: string): void {
    const target = String(request.getHeader('x-amz-target') ?? '');
    const post = request.method === 'POST' && /\/(@|%40)connections\//.test(request.path);
    const kind = target.startsWith('DynamoDB_') ? 'dynamodb' : post ? 'post' : 'other';
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'x-amz-target']) {
      const value = request.getHeader(name);
      if (value !== undefined) headers[name] = String(value);
    }
    const call: RecordedCall = {
      kind,
      operation:
        kind === 'dynamodb' ? (target.split('.')[1] ?? target) : post ? 'PostToConnection' : request.path,
      method: request.method,
      url: `${request.protocol}//${String(request.getHeader('host') ?? request.host)}${request.path}`,
      headers,
      body,
      start: performance.now(),
      end: Number.NaN,
    };
    this.#calls.push(call);
    this.#pending.set(request, call);
  }
}
