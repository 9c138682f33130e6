/**
 * Names made safe to print: one function for every file name a tool logs.
 *
 * A file name may come from anyone who can write to a topic, or from a folder
 * anyone can write to. Printed as it is, a name could forge a log line (a
 * newline, U+2028), colour or clear a terminal (ESC), reverse the rest of the
 * line (U+202E), hide itself (U+200B, U+FEFF), or fill the disk with one line
 * of ten million characters. {@linkcode printableName} escapes every control
 * and format character and cuts the name short; {@linkcode hasUnprintable}
 * tells whether a name holds any such character at all.
 *
 * @example
 * ```ts
 * import { printableName } from "./printable.ts";
 *
 * printableName("evil\u202Egnp.exe"); // "evil\\u202egnp.exe"
 * printableName("x".repeat(10_000_000)).length; // about 150, not 10 million
 * ```
 *
 * @module
 */

/**
 * Characters never printed as they are: control characters (C0, DEL, C1),
 * format characters (Unicode category Cf: bidirectional overrides, zero-width
 * characters, U+FEFF...), the line and paragraph separators U+2028 and
 * U+2029, and lone surrogates.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/** Characters of a name printed at most; the rest is counted, not shown. */
export const PRINTED_NAME_MAX = 120;

/**
 * Whether `text` holds a character {@linkcode printableName} would escape.
 *
 * @example
 * ```ts
 * hasUnprintable("a\x1b[31m.bin"); // true
 * hasUnprintable("scope\u202Ecrt.bin"); // true
 * hasUnprintable("scope_1.trc"); // false
 * ```
 */
export function hasUnprintable(text: string): boolean {
  return UNPRINTABLE.test(text);
}

/**
 * One character as an escape: `\xNN` below U+0100, `\uNNNN` in the rest of
 * the Basic Multilingual Plane, `\u{NNNNN}` beyond.
 */
function escapeCharacter(character: string): string {
  const code = character.codePointAt(0)!;
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, "0")}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, "0")}`;
  return `\\u{${code.toString(16)}}`;
}

/**
 * `name` safe to print on one line: control and format characters escaped
 * (`\x0a`, `\u202e`), and cut after `maxChars` printed characters, with how
 * long it really was. Use it for every file name a log line shows.
 *
 * @example
 * ```ts
 * printableName("evil\nERROR: fake"); // "evil\\x0aERROR: fake"
 * printableName("a".repeat(1000), 10); // "aaaaaaaaaa... (1000 characters)"
 * ```
 */
export function printableName(
  name: string,
  maxChars: number = PRINTED_NAME_MAX,
): string {
  let printed = "";
  // Walks by code point, and stops early: a huge name costs nothing.
  for (const character of name) {
    const shown = UNPRINTABLE.test(character)
      ? escapeCharacter(character)
      : character;
    if (printed.length + shown.length > maxChars) {
      return `${printed}... (${name.length} characters)`;
    }
    printed += shown;
  }
  return printed;
}
