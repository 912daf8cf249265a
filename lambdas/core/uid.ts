import { LIMITS } from '../shared/limits';

/*
 * One rule for uids wherever one is read: a token's `sub`, a publish's `to.uid`/`to.uids`, a
 * presence query, a kick, a dev token. A uid ends up in logs, in the presence answers an admin
 * page shows and in DynamoDB keys, so it may not carry what rewrites how text around it reads.
 */

/**
 * True for a code point a uid may not contain:
 * - C0 controls and DEL (U+0000–U+001F, U+007F) and C1 controls (U+0080–U+009F): they forge log
 *   lines and terminal output;
 * - U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: line breaks to JavaScript and to log
 *   viewers, though not to JSON;
 * - bidi embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069): they make `u1‮2u`
 *   display as another uid;
 * - lone surrogates (U+D800–U+DFFF not in a pair): not Unicode text, and each JSON or UTF-8 encoder
 *   mangles them its own way, so one uid would become two.
 */
export function isForbiddenUidCodePoint(codePoint: number): boolean {
  return (
    codePoint <= 0x1f ||
    (codePoint >= 0x7f && codePoint <= 0x9f) ||
    codePoint === 0x2028 ||
    codePoint === 0x2029 ||
    (codePoint >= 0x202a && codePoint <= 0x202e) ||
    (codePoint >= 0x2066 && codePoint <= 0x2069) ||
    (codePoint >= 0xd800 && codePoint <= 0xdfff)
  );
}

/**
 * True for a valid uid: a string of 1–128 code points (not UTF-16 units: `😀` is one) none of
 * which {@link isForbiddenUidCodePoint}. Iterating a string by code point yields a lone surrogate
 * as itself, so the same check refuses it.
 *
 * @example
 * isValidUid('merchant-1') // true
 * isValidUid('a\u202Eb')   // false: a bidi override
 */
export function isValidUid(uid: unknown): uid is string {
  if (typeof uid !== 'string' || uid.length === 0) return false;
  // A code point is at most two UTF-16 units: longer strings cannot pass, and are not walked.
  if (uid.length > 2 * LIMITS.maxUidLength) return false;
  let count = 0;
  for (const char of uid) {
    if (++count > LIMITS.maxUidLength) return false;
    if (isForbiddenUidCodePoint(char.codePointAt(0) as number)) return false;
  }
  return true;
}
