import type { WebSocketConstructor, WebSocketLike } from '../../../client/socket';

/**
 * An in-memory WebSocket for unit tests: it records what the client sends and lets the test play
 * the server (`open`, `receive`, `drop`). Nothing happens unless the test says so, which keeps
 * every step deterministic under fake timers.
 */
export class FakeWebSocket implements WebSocketLike {
  readonly url: string;
  readyState = 0;
  /** Frames the client sent, parsed. */
  readonly sent: unknown[] = [];
  /** The arguments of every `close()` the client made. */
  readonly closeCalls: { code?: number; reason?: string }[] = [];
  onopen: ((event: Record<string, never>) => unknown) | null = null;
  onmessage: ((event: { data: string }) => unknown) | null = null;
  onclose: ((event: { code: number; reason: string }) => unknown) | null = null;
  onerror: ((event: Record<string, never>) => unknown) | null = null;

  constructor(url: string) {
    this.url = url;
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error(`send while readyState is ${this.readyState}`);
    this.sent.push(JSON.parse(data));
  }

  close(code?: number, reason?: string): void {
    this.closeCalls.push({ code, reason });
    this.readyState = 3;
  }

  /** The server accepted the handshake. */
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** The server sent a frame (an object is serialized, a string is sent as is). */
  receive(frame: object | string): void {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }

  /** The connection failed or ended without the client asking, as a browser reports it. */
  drop(code = 1006): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code, reason: '' });
  }

  /** The token the client put in the URL. */
  get token(): string | null {
    return new URL(this.url).searchParams.get('token');
  }
}

/** A fresh `WebSocket` constructor per test, and every socket it made, oldest first. */
export function fakeWebSocket(): { WebSocket: WebSocketConstructor; sockets: FakeWebSocket[] } {
  const sockets: FakeWebSocket[] = [];
  class WebSocket extends FakeWebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return { WebSocket, sockets };
}
