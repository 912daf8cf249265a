import type { PushClient, PushClientEvents, PushMessage } from '../../../client/push-client';

/** Resolves with the first event of a type that passes `match`. */
export function nextEvent<K extends keyof PushClientEvents>(
  pushClient: PushClient,
  type: K,
  match: (event: PushClientEvents[K]) => boolean = () => true,
): Promise<PushClientEvents[K]> {
  return new Promise((resolve) => {
    const off = pushClient.on(type, (event) => {
      if (!match(event)) return;
      off();
      resolve(event);
    });
  });
}

/** Collects messages; `until(n)` resolves once n have arrived. */
export function collect(pushClient: PushClient): {
  messages: PushMessage[];
  until: (count: number) => Promise<void>;
} {
  const messages: PushMessage[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  pushClient.on('message', (message) => {
    messages.push(message);
    for (const waiter of waiters) if (messages.length >= waiter.count) waiter.resolve();
  });
  const until = (count: number) =>
    new Promise<void>((resolve) => {
      if (messages.length >= count) resolve();
      else waiters.push({ count, resolve });
    });
  return { messages, until };
}
