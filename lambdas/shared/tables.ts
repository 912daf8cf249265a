import { ENV } from './env';

/*
 * The tables: their attributes, indexes and every key format, in a form `infra/` turns into
 * `TableV2`s, `local/` into `CreateTable` calls and the adapters read and write.
 */

/** Attribute names of the connections table. */
export const ATTR = {
  pk: 'pk',
  sk: 'sk',
  connectionId: 'connectionId',
  uid: 'uid',
  shard: 'shard',
  topic: 'topic',
  topicShard: 'topicShard',
  subscriber: 'subscriber',
  connectedAt: 'connectedAt',
  lastSeenAt: 'lastSeenAt',
  expiresAt: 'expiresAt',
  grants: 'grants',
  /** The token's `exp` (epoch seconds), on connection and subscription records alike. */
  tokenExp: 'tokenExp',
  /** On a uid's revocation record: tokens issued at or before this second are refused. */
  revokedBefore: 'revokedBefore',
  /** On a uid's revocation record: when (epoch ms) its `revokedBefore` was written. */
  revokedAt: 'revokedAt',
  /**
   * On a uid's revocation record: until when (epoch ms) the uid may open no connection, since one
   * of its connections was closed for flooding `$default`.
   */
  coolOffUntil: 'coolOffUntil',
  /** On a uid's revocation record: how long (ms) its latest cool-off was, for a repeat's to double. */
  coolOffMs: 'coolOffMs',
  /** String set of the topics a connection subscribed to, kept on its connection record for presence. */
  topics: 'topics',
  sourceIp: 'sourceIp',
  userAgent: 'userAgent',
  /** The client instance the connection was opened by (`instance` query parameter), when given. */
  instance: 'instance',
  /** Epoch ms until which a replay holds the connection's lease; absent or past when none runs. */
  replayUntil: 'replayUntil',
  /** Start (epoch ms) of the window the connection's resumes are counted in. */
  resumeWindow: 'resumeWindow',
  /** Resumes the connection started in that window; on a uid's resume counter, the uid's. */
  resumeCount: 'resumeCount',
} as const;

/** Attribute names of the messages table. */
export const LOG_ATTR = {
  stream: 'stream',
  seq: 'seq',
  latest: 'latest',
  /** Of the counter item and each message: the stream's epoch, drawn when the counter is created. */
  epoch: 'epoch',
  id: 'id',
  topic: 'topic',
  data: 'data',
  ts: 'ts',
  expiresAt: 'expiresAt',
} as const;

/** Attribute names of the publishes table. */
export const PUBLISH_ATTR = {
  id: 'id',
  part: 'part',
  shards: 'shards',
  createdAt: 'createdAt',
  checkpoint: 'checkpoint',
  done: 'done',
  connections: 'connections',
  delivered: 'delivered',
  gone: 'gone',
  failed: 'failed',
  expiresAt: 'expiresAt',
  /** Of an id record: the hash of the body the id was first used for. */
  hash: 'hash',
  /** Of an id record: `running`, `failed` or `done`. */
  state: 'state',
  /** Of an id record: the attempt that owns the id (a random token per invocation's publish). */
  attempt: 'attempt',
  /** Of an id record: epoch ms after which a `running` attempt is dead (its invocation timed out). */
  deadline: 'deadline',
  /** Of an id record: the first result, as JSON text. */
  result: 'result',
  /** Of an id record: the seqs a failed attempt took, by uid, as JSON text. */
  seqs: 'seqs',
} as const;

/** Index names of the connections table. */
export const INDEX = {
  /** `uid` → the connection records of one user: a uid push is one Query here. */
  byUid: 'byUid',
  /** `topic` + `topicShard` → the subscription records of one topic, readable one shard at a time. */
  byTopic: 'byTopic',
  /** `shard` → every connection record of one shard, for broadcasts without a hot key. */
  byShard: 'byShard',
} as const;

/** Sort-key values and prefixes inside one connection's item collection. */
export const SK = {
  connection: 'conn',
  topicPrefix: 'topic#',
  /** The one item of a uid's revocation record. */
  revocation: 'revoked',
} as const;

/**
 * What every revocation record's partition key starts with: the authorizer's grant is limited to
 * partition keys of this prefix (`dynamodb:LeadingKeys`, infra/push-stack.ts).
 */
export const REVOCATION_PK_PREFIX = 'revoked#';

/**
 * Partition key of a uid's revocation record in the connections table. API Gateway's connection
 * ids never contain `#`, so it cannot meet a connection's item collection; it carries no `uid`,
 * `shard` or `topic` attribute, so no index sees it.
 */
export const REVOCATION_PK = (uid: string): string => `${REVOCATION_PK_PREFIX}${uid}`;

/**
 * Key of the item counting a uid's resumes in one resume window (`windowStart`, epoch ms, a
 * multiple of the window's length). Like a revocation record, it never meets a connection's item
 * collection and carries no indexed attribute.
 */
export const RESUME_COUNT_KEY = (uid: string, windowStart: number) => ({
  pk: `resumes#${uid}`,
  sk: `window#${windowStart}`,
});

/** Partition keys of the message log: one stream per uid and per logged topic. */
export const STREAM = {
  uid: (uid: string): string => `uid#${uid}`,
  topic: (topic: string): string => `topic#${topic}`,
} as const;

/** Sort keys of the publishes table: one summary item and one item per shard job. */
export const PUBLISH_PART = {
  summary: 'summary',
  /** Every publish's id record: which body the id stands for, and its first result. */
  id: 'id',
  shard: (shard: number): string => `shard#${String(shard).padStart(4, '0')}`,
} as const;

export type KeyType = 'S' | 'N';

/** A table key, in a form both CDK and the DynamoDB API can be built from. */
export interface KeyDefinition {
  readonly name: string;
  readonly type: KeyType;
}

/** A global secondary index, projecting all attributes. */
export interface IndexDefinition {
  readonly name: string;
  readonly partitionKey: KeyDefinition;
  readonly sortKey?: KeyDefinition;
}

/** A table definition: `infra/` turns it into a `TableV2`, `local/` into a `CreateTable` call. */
export interface TableDefinition {
  /** Logical id in the CDK stack and default physical name in the local stack. */
  readonly id: string;
  /** Environment variable through which handlers learn the physical name. */
  readonly envName: string;
  readonly partitionKey: KeyDefinition;
  readonly sortKey?: KeyDefinition;
  readonly ttlAttribute?: string;
  readonly indexes: readonly IndexDefinition[];
}

/** The connections table: one item collection per connection id. */
export const CONNECTIONS_TABLE: TableDefinition = {
  id: 'Connections',
  envName: ENV.connectionsTable,
  partitionKey: { name: ATTR.pk, type: 'S' },
  sortKey: { name: ATTR.sk, type: 'S' },
  ttlAttribute: ATTR.expiresAt,
  indexes: [
    { name: INDEX.byUid, partitionKey: { name: ATTR.uid, type: 'S' } },
    {
      name: INDEX.byTopic,
      partitionKey: { name: ATTR.topic, type: 'S' },
      sortKey: { name: ATTR.topicShard, type: 'N' },
    },
    { name: INDEX.byShard, partitionKey: { name: ATTR.shard, type: 'N' } },
  ],
};

/**
 * The message log: one stream per uid (`uid#<uid>`) or logged topic (`topic#<name>`), sorted by
 * `seq`. The item at `seq = 0` is the stream's counter, so a resume's `seq > since` never sees it.
 */
export const MESSAGES_TABLE: TableDefinition = {
  id: 'Messages',
  envName: ENV.messagesTable,
  partitionKey: { name: LOG_ATTR.stream, type: 'S' },
  sortKey: { name: LOG_ATTR.seq, type: 'N' },
  ttlAttribute: LOG_ATTR.expiresAt,
  indexes: [],
};

/**
 * Publishes by id: `part = "id"` is every publish's id record (the body hash, the attempt's state
 * and the first result); for a sharded publish, `part = "summary"` holds the shard count and
 * `part = "shard#NN"` one shard job's checkpoint and counts. Status is the sum of the shard items,
 * so no counter is written twice.
 */
export const PUBLISHES_TABLE: TableDefinition = {
  id: 'Publishes',
  envName: ENV.publishesTable,
  partitionKey: { name: PUBLISH_ATTR.id, type: 'S' },
  sortKey: { name: PUBLISH_ATTR.part, type: 'S' },
  ttlAttribute: PUBLISH_ATTR.expiresAt,
  indexes: [],
};

/** Every table the system needs. */
export const TABLES: readonly TableDefinition[] = [CONNECTIONS_TABLE, MESSAGES_TABLE, PUBLISHES_TABLE];
