/**
 * A `ws` WebSocket class for the client library's tests on a real stack: every socket the client
 * makes is kept with the frames it received, parsed and in order, and `until` waits for a frame
 * that makes a check hold, woken by each arrival instead of polling.
 */
import { WebSocket } from 'ws';
import { within } from './within';

/** One socket the client made, and what it received. */
export interface ObservedSocket {
  readonly ws: WebSocket;
  readonly frames: Record<string, unknown>[];
}

/**
 * @example
 * const observed = observeWebSockets();
 * const client = createPushClient({ url, token, WebSocket: observed.WebSocket });
 * await observed.until(() => observed.frames().some((f) => f.type === 'resumed'), 'the resume', 5_000);
 */
export function observeWebSockets() {
  const sockets: ObservedSocket[] = [];
  const arrivals: (() => void)[] = [];

  class ObservedWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      const frames: Record<string, unknown>[] = [];
      sockets.push({ ws: this, frames });
      this.on('message', (data: Buffer) => {
        frames.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
        for (const wake of arrivals.splice(0)) wake();
      });
    }
  }

  return {
    WebSocket: ObservedWebSocket,
    sockets,
    /** Every frame any socket received, socket by socket. */
    frames: (): Record<string, unknown>[] => sockets.flatMap((s) => s.frames),
    /** Forgets the sockets of an earlier test. */
    reset: (): void => {
      sockets.length = 0;
    },
    /** Resolves once `check` holds, looked at on every frame received; fails after `ms`. */
    until: async (check: () => boolean, what: string, ms: number): Promise<void> => {
      await within(
        (async () => {
          while (!check()) await new Promise<void>((resolve) => arrivals.push(resolve));
        })(),
        ms,
        what,
      );
    },
  };
}
