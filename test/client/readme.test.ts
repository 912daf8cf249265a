/**
 * The README's client section against the client's types: every option, event, client error code
 * and member has a row or a mention. The lists below are checked against the types by tsc
 * (npm run typecheck), so an option added to the client fails to compile here until it is listed,
 * and then this test until the README documents it: the client package's own README sends its
 * readers there for "every option and event".
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClientErrorCode } from '../../client/errors';
import type { PushClient, PushClientEvents, PushClientOptions } from '../../client/push-client';
import { REPO_ROOT } from '../../infra/push-function';

/** Every key of `T`, once: an object literal that `satisfies` this has exactly T's keys. */
type Every<T extends PropertyKey> = Record<T, true>;

const OPTIONS = {
  url: true,
  token: true,
  WebSocket: true,
  heartbeatMs: true,
  timeoutMs: true,
  rotateAfterMs: true,
  backoffBaseMs: true,
  backoffCapMs: true,
  dedupSize: true,
  reorderMs: true,
  since: true,
  epoch: true,
  random: true,
} satisfies Every<keyof PushClientOptions>;

const EVENTS = { message: true, status: true, error: true, gap: true } satisfies Every<
  keyof PushClientEvents
>;

const CLIENT_ERROR_CODES = {
  token_failed: true,
  socket_closed: true,
  heartbeat_timeout: true,
  kicked: true,
} satisfies Every<ClientErrorCode>;

const MEMBERS = {
  status: true,
  seq: true,
  epoch: true,
  on: true,
  subscribe: true,
  seqOf: true,
  epochOf: true,
  unsubscribe: true,
  close: true,
} satisfies Every<keyof PushClient>;

/** The README's section on the client library, up to the next section. */
function clientSection(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### From a browser or Node: the client library');
  if (start === -1) throw new Error('the README has no client library section');
  const end = readme.indexOf('\n## ', start);
  return readme.slice(start, end === -1 ? undefined : end);
}

/** The first cells of the section's table rows: `url`, `since`, `epoch`, … */
function rowNames(section: string): Set<string> {
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    const cell = /^\| ([^|]+) \|/.exec(line)?.[1];
    for (const name of cell?.matchAll(/`([^`]+)`/g) ?? []) names.add(name[1] as string);
  }
  return names;
}

describe("the README's client library section", () => {
  const section = clientSection();
  const rows = rowNames(section);

  it.each(Object.keys(OPTIONS))('has a row for the option %s', (option) => {
    expect(rows).toContain(option);
  });

  it.each(Object.keys(EVENTS))('has a row for the event %s', (event) => {
    expect(rows).toContain(event);
  });

  it.each(Object.keys(CLIENT_ERROR_CODES))('has a row for the client error code %s', (code) => {
    expect(rows).toContain(code);
  });

  it.each(Object.keys(MEMBERS))('names the client member %s', (member) => {
    expect(section).toMatch(new RegExp(`\`(client\\.)?${member}[(\`]`));
  });
});
