/*
 * The wire contract: what clients and publishers see. The README's protocol section documents
 * every value here; error codes are in `errors.ts`.
 */

/** Route keys of the WebSocket API. */
export const ROUTES = {
  connect: '$connect',
  disconnect: '$disconnect',
  default: '$default',
} as const;

/** Route selection expression: clients pick a route with `{"action": ...}`. */
export const ROUTE_SELECTION_EXPRESSION = '$request.body.action';

/** Query-string parameter carrying the client token on `$connect`. */
export const TOKEN_QUERY_PARAM = 'token';

/**
 * Optional query-string parameter naming the client instance (one client library object, across
 * its reconnects and rollovers) a connection belongs to. Past its uid's connection cap, a new
 * connection ends the uid's connections of the same instance first: the socket a rollover is
 * replacing, not another tab's.
 */
export const INSTANCE_QUERY_PARAM = 'instance';

/** Instance ids: 1–64 characters of `[A-Za-z0-9_-]`; any other value is ignored. */
export const INSTANCE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Longest publish id or topic name. */
export const MAX_ID_LENGTH = 128;

/** Publish ids and topic names alike: 1–128 characters of `[A-Za-z0-9_.:-]`. */
export const ID_PATTERN = new RegExp(`^[A-Za-z0-9_.:-]{1,${MAX_ID_LENGTH}}$`);

/** What a value that fails {@link ID_PATTERN} is told: `to.topic must match …`. */
export const ID_RULE = `must match [A-Za-z0-9_.:-]{1,${MAX_ID_LENGTH}}`;

/** Topic names: the same rule as publish ids. */
export const TOPIC_PATTERN = ID_PATTERN;

/**
 * What an invalid uid is told, after the field's name: `to.uid must be …`. The rule itself is
 * `isValidUid` in `core/uid.ts`; the README's token claims table states it too.
 */
export const UID_RULE =
  'must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates';

/**
 * A stream's epoch: drawn at random when its counter is created, so a stream that was reset (its
 * counter gone, a table replaced) and counts from 1 again is told apart from the one a client's
 * cursor was taken in. Clients echo it on `resume`; anything else is refused.
 */
export const EPOCH_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** What an invalid `epoch` is told. */
export const EPOCH_RULE = 'must match [A-Za-z0-9_-]{1,32}';
