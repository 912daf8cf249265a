import { describe, expect, it } from 'vitest';
import { parseShardJob, shardJobBody } from '../../lambdas/core/shard-jobs';

describe('parseShardJob', () => {
  it.each([
    [
      'a topic job',
      {
        id: 'p1',
        shard: 0,
        to: { topic: 'news' },
        payload: '{"type":"message","id":"p1","topic":"news","data":1}',
      },
    ],
    [
      'a broadcast job',
      { id: 'p1:3', shard: 15, to: { all: true }, payload: '{"type":"message","id":"p1:3"}' },
    ],
  ])('reads %s as it was queued', (_name, job) => {
    expect(parseShardJob(JSON.stringify(job))).toEqual(job);
  });

  it('reads a job back from its queue body unchanged, with U+FFFE and U+FFFF escaped in the body', () => {
    // SQS takes neither in a body (XML 1.0's characters), and JSON.stringify leaves both raw.
    const payload = JSON.stringify({ type: 'message', id: 'p1', data: 'a\ufffe\\\uffffb"\u0001\ud800' });
    const job = { id: 'p1', shard: 2, to: { all: true as const }, payload };

    const body = shardJobBody(job);

    expect(body).not.toMatch(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u);
    // The backslash before U+FFFF, escaped twice (frame, then job), then the escape of U+FFFF itself.
    expect(body).toContain(String.raw`\\\\\uffff`);
    expect(parseShardJob(body)).toEqual(job);
  });

  it.each([
    ['text that is not JSON', 'not json', 'shard job is not valid JSON'],
    ['a JSON array', '[]', 'shard job must be a JSON object'],
    ['a missing id', '{"shard":0,"to":{"all":true},"payload":""}', 'shard job id must be a publish id'],
    [
      'an id with a space',
      '{"id":"a b","shard":0,"to":{"all":true},"payload":""}',
      'shard job id must be a publish id',
    ],
    [
      'a shard past the last',
      '{"id":"p","shard":16,"to":{"all":true},"payload":""}',
      'shard job shard must be an integer from 0 to 15',
    ],
    [
      'a fractional shard',
      '{"id":"p","shard":1.5,"to":{"all":true},"payload":""}',
      'shard job shard must be an integer from 0 to 15',
    ],
    [
      'a payload that is not text',
      '{"id":"p","shard":0,"to":{"all":true},"payload":{}}',
      'shard job payload must be a string',
    ],
    [
      'a uid target',
      '{"id":"p","shard":0,"to":{"uid":"u1"},"payload":""}',
      'shard job to must be {"topic":<topic>} or {"all":true}',
    ],
    [
      'all: false',
      '{"id":"p","shard":0,"to":{"all":false},"payload":""}',
      'shard job to must be {"topic":<topic>} or {"all":true}',
    ],
    [
      'two targets',
      '{"id":"p","shard":0,"to":{"all":true,"topic":"t"},"payload":""}',
      'shard job to must be {"topic":<topic>} or {"all":true}',
    ],
    // The frame is sent to the whole audience as it stands: only the publish's own message may be.
    [
      'a payload that is not JSON',
      '{"id":"p","shard":0,"to":{"all":true},"payload":"hi"}',
      'shard job payload must be a message frame',
    ],
    [
      'a kicked frame for everyone',
      '{"id":"p","shard":0,"to":{"all":true},"payload":"{\\"type\\":\\"kicked\\",\\"reason\\":\\"forged\\"}"}',
      'shard job payload must be a message frame',
    ],
    [
      "another publish's message",
      '{"id":"p","shard":0,"to":{"all":true},"payload":"{\\"type\\":\\"message\\",\\"id\\":\\"q\\"}"}',
      "shard job payload's id must be the job's",
    ],
    [
      "another topic's message",
      '{"id":"p","shard":0,"to":{"topic":"a"},"payload":"{\\"type\\":\\"message\\",\\"id\\":\\"p\\",\\"topic\\":\\"b\\"}"}',
      "shard job payload's topic must be the job's",
    ],
    [
      "a topic's message as a broadcast",
      '{"id":"p","shard":0,"to":{"all":true},"payload":"{\\"type\\":\\"message\\",\\"id\\":\\"p\\",\\"topic\\":\\"b\\"}"}',
      "shard job payload's topic must be the job's",
    ],
  ])('refuses %s with bad_request', (_name, body, message) => {
    expect(() => parseShardJob(body)).toThrow(
      expect.objectContaining({ name: 'BadRequestError', code: 'bad_request', message }),
    );
  });
});
