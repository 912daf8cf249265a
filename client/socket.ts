/**
 * The part of the WebSocket API the client uses. The browser's `WebSocket`, Node 22's global one and
 * the `ws` package's class all fit, so Node 20 (which has no global) can pass `ws` in.
 *
 * Handlers take `never` because the client only ever writes them: any implementation's handler
 * type is accepted, and the client states the event fields it reads where it assigns them.
 */
export interface WebSocketLike {
  /** 1 while open, as in the standard. */
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => unknown) | null;
  onmessage: ((event: never) => unknown) | null;
  onclose: ((event: never) => unknown) | null;
  onerror: ((event: never) => unknown) | null;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or `WebSocket` from the `ws` package. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** The standard's `OPEN` ready state. */
export const OPEN = 1;
