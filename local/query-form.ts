/**
 * The form of an AWS query-protocol request (SQS's and SNS's awsQuery), read once. Its lists come
 * as numbered fields (`AttributeName.1`, `AttributeName.2`, …); `URLSearchParams.get` and `.has`
 * scan every field on each call, so walking such a list with them costs the square of the form's
 * size (20,000 fields held the event loop for seconds). A map built in one pass answers each look-up
 * at once, so a request costs what its fields do.
 */

/** A form's fields by name, each with its first value, as `URLSearchParams.get` would answer. */
export type FormFields = ReadonlyMap<string, string>;

/** Reads a form-encoded body in one pass. */
export function formFields(body: string): FormFields {
  const fields = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(body)) {
    if (!fields.has(name)) fields.set(name, value);
  }
  return fields;
}

/**
 * The numbers 1, 2, … of a numbered list, while `key(n)` names a field of the form: the first gap
 * ends the list.
 *
 * @example
 * [...numbered(formFields('A.1=x&A.2=y&A.4=z'), (n) => `A.${n}`)] // [1, 2]
 */
export function* numbered(fields: FormFields, key: (n: number) => string): Generator<number> {
  for (let n = 1; fields.has(key(n)); n++) yield n;
}
