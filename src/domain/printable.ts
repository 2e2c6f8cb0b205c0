/**
 * Characters that do not print as themselves: C0 and C1 controls (CR, LF, ESC and the
 * 8-bit CSI a terminal takes for the start of an escape sequence), DEL, format characters
 * (bidirectional overrides and isolates, zero-width marks), line and paragraph separators,
 * and lone surrogates. Any of them in a line of text can move the cursor, erase or recolour
 * what was printed before, or reorder what follows: a name holding them can make one line
 * read as another.
 */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const NOT_PRINTABLE_ALL = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;
/** The same, less what JSON.stringify already escapes (C0 controls), so it can run on JSON text. */
const NOT_PRINTABLE_IN_JSON = /[\u007f-\u009f\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

/** Each UTF-16 unit as `\uXXXX` (a character beyond the BMP as its surrogate pair, as JSON writes it). */
const code = (c: string) => [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');

/** True when every character of `s` prints as itself. */
export function isPrintable(s: string): boolean {
  return !NOT_PRINTABLE.test(s);
}

/** `s` with each character that does not print as itself written as `\uXXXX`, visibly. */
export function escapeUnprintable(s: string): string {
  return s.replace(NOT_PRINTABLE_ALL, code);
}

/**
 * JSON text (JSON.stringify's output) with what it leaves raw and a terminal may still act
 * on (DEL, C1 controls, format characters, separators) escaped as `\uXXXX`: still the same
 * JSON. Outside strings JSON holds only spaces and line breaks, which are left alone.
 */
export function escapeUnprintableJson(json: string): string {
  return json.replace(NOT_PRINTABLE_IN_JSON, code);
}
