// SPDX-License-Identifier: MIT
//
// validate.ts: the helpers the generated validators (veranic --ts) call, the same rules
// and the same texts as the C validators (runtime's validate.c): a failure is a field
// path and a reason ("text: longer than 2000"), nested outward through message fields
// and repeated elements ("players[3].name"); every string must be valid UTF-8 and
// min_len/max_len count code points. A JavaScript string cannot hold invalid UTF-8 but can
// hold a lone UTF-16 surrogate, which UTF-8 cannot encode: that is the invalid case here,
// reported at the UTF-8 byte offset it would have.

/** A payload that fails the schema's rules; `message` is "<path>: <reason>". */
export class ValidationError extends Error {
  constructor(readonly field: string, readonly reason: string) {
    super(field ? `${field}: ${reason}` : reason);
    this.name = "ValidationError";
  }
}

/** What a generated validator returns: null when the message passes. */
export interface Failure {
  path: string;
  reason: string;
}

export function fail(path: string | null, reason: string): Failure {
  return { path: path ?? "", reason };
}

/** Prefix `f`'s path with `field` and, when index >= 0, "[index]" (verani_verr_nest). */
export function nest(f: Failure, field: string, index: number): Failure {
  let p = field + (index >= 0 ? `[${index}]` : "");
  if (f.path !== "" && f.path[0] !== "[") p += ".";
  f.path = p + f.path;
  return f;
}

/**
 * The string rules (verani_check_string): valid UTF-8, at least `min` and at most `max`
 * code points (`max` undefined: no bound). Counting stops one past `max`.
 */
export function checkString(field: string | null, s: string | undefined, min: number,
                            max?: number): Failure | null {
  const str = s ?? "";
  const stop = max === undefined ? Infinity : max + 1;
  let n = 0;
  let bytes = 0;
  for (let i = 0; i < str.length && n < stop; i++) {
    const c = str.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const lo = i + 1 < str.length ? str.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || lo < 0xdc00 || lo > 0xdfff)
        return fail(field, `is not valid UTF-8 (at byte ${bytes})`);
      i++;
      bytes += 4;
    } else {
      bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    }
    n++;
  }
  if (n < min) return fail(field, `shorter than ${min}`);
  if (max !== undefined && n > max) return fail(field, `longer than ${max}`);
  return null;
}

/** A Failure as the error a send throws. */
export function validationError(f: Failure): ValidationError {
  return new ValidationError(f.path, f.reason);
}
