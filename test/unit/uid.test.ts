import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../lambdas/core/command';
import { parsePublishRequest } from '../../lambdas/core/publish-request';
import { secretKey, signToken, verifyToken } from '../../lambdas/core/token';
import { isValidUid } from '../../lambdas/core/uid';
import { UID_RULE } from '../../lambdas/shared/protocol';

const LONE_HIGH = String.fromCharCode(0xd83d);
const LONE_LOW = String.fromCharCode(0xde00);

/** [description, uid, valid] */
const CASES: [string, string, boolean][] = [
  ['a plain uid', 'merchant-1', true],
  ['one character', 'u', true],
  ['128 ASCII characters', 'u'.repeat(128), true],
  ['129 ASCII characters', 'u'.repeat(129), false],
  ['128 emoji (256 UTF-16 units, 128 code points)', '😀'.repeat(128), true],
  ['129 emoji', '😀'.repeat(129), false],
  ['accented and CJK letters', 'josé-東京', true],
  ['the empty string', '', false],
  ['a space and punctuation', 'a b#c/d', true],
  ['NUL (C0)', 'a\u0000b', false],
  ['a newline (C0)', 'a\nb', false],
  ['a tab (C0)', 'a\tb', false],
  ['DEL', 'a\u007fb', false],
  ['U+0080 (C1)', 'a\u0080b', false],
  ['U+0085 NEXT LINE (C1)', 'a\u0085b', false],
  ['U+009F (C1)', 'a\u009fb', false],
  ['U+00A0 NO-BREAK SPACE (after C1)', 'a\u00a0b', true],
  ['U+2028 LINE SEPARATOR', 'a\u2028b', false],
  ['U+2029 PARAGRAPH SEPARATOR', 'a\u2029b', false],
  ['U+202A LEFT-TO-RIGHT EMBEDDING', 'a\u202ab', false],
  ['U+202E RIGHT-TO-LEFT OVERRIDE', 'a\u202eb', false],
  ['U+202F NARROW NO-BREAK SPACE (after the overrides)', 'a\u202fb', true],
  ['U+2066 LEFT-TO-RIGHT ISOLATE', 'a\u2066b', false],
  ['U+2069 POP DIRECTIONAL ISOLATE', 'a\u2069b', false],
  ['U+2065 (before the isolates)', 'a\u2065b', true],
  ['a lone high surrogate', `a${LONE_HIGH}`, false],
  ['a lone low surrogate', `${LONE_LOW}a`, false],
  ['a low surrogate before a high one', `${LONE_LOW}${LONE_HIGH}`, false],
  ['a surrogate pair', `${LONE_HIGH}${LONE_LOW}`, true],
];

describe('isValidUid', () => {
  it.each(CASES)('%s → %s', (_, uid, valid) => {
    expect(isValidUid(uid)).toBe(valid);
  });

  it.each([[undefined], [null], [42], [['u1']], [{ uid: 'u1' }]])('refuses the non-string %j', (value) => {
    expect(isValidUid(value)).toBe(false);
  });
});

const key = secretKey('uid-test-secret-of-sufficient-length');

describe('every place that reads a uid applies the same rule', () => {
  it.each(CASES)('%s', async (_, uid, valid) => {
    const publish = () => parsePublishRequest({ to: { uid }, data: 1 });
    const publishMany = () => parsePublishRequest({ to: { uids: ['ok', uid] }, data: 1 });
    const presence = () => parseCommand({ presence: { uid } });
    const presenceMany = () => parseCommand({ presence: { uids: [uid] } });
    const kick = () => parseCommand({ kick: { uid } });
    const token = await signToken({ uid }, key);
    if (valid) {
      expect(publish().to).toEqual({ uid });
      expect(publishMany().to).toEqual({ uids: ['ok', uid] });
      expect(presence()).toEqual({ kind: 'presence', query: { uid } });
      expect(presenceMany()).toEqual({ kind: 'presence', query: { uids: [uid] } });
      expect(kick()).toEqual({ kind: 'kick', uid });
      expect((await verifyToken(token, key)).uid).toBe(uid);
    } else {
      expect(publish).toThrow(`to.uid ${UID_RULE}`);
      expect(publishMany).toThrow(`to.uids[1] ${UID_RULE}`);
      expect(presence).toThrow(`presence.uid ${UID_RULE}`);
      expect(presenceMany).toThrow(`presence.uids[0] ${UID_RULE}`);
      expect(kick).toThrow(`kick.uid ${UID_RULE}`);
      await expect(verifyToken(token, key)).rejects.toThrow(`token sub ${UID_RULE}`);
    }
  });
});
