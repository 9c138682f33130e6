/**
 * `--tag key=value` (repeatable): what a lab attaches to catalog rows that no
 * file says of itself, the experiment, the operator, the sample.
 *
 * The flag parser keeps only the last value of a flag, so the tags are taken
 * out of the arguments first, by {@linkcode takeTagFlags}. A key is a short
 * identifier (letters, digits, `_`, `-`, `.`); the value is any text.
 *
 * @example
 * ```ts
 * import { takeTagFlags } from "./tags.ts";
 *
 * const { args, tags } = takeTagFlags(["--tag", "sample=A12", "--tag=operator=kim", "runs/"]);
 * args; // ["runs/"]
 * tags; // { sample: "A12", operator: "kim" }
 * ```
 *
 * @module
 */
import { UsageError } from "../common/cli.ts";

/** The flag definition, for the help text (the values are taken out before). */
export const TAG_FLAG = {
  type: "string",
  description:
    "--tag key=value (repeatable): tags on each catalog row, e.g. --tag sample=A12",
} as const;

/** A tag key: a short identifier. */
const TAG_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * `key=value` as a pair.
 *
 * @throws {UsageError} when there is no `=` or the key is no identifier.
 *
 * @example
 * ```ts
 * parseTag("operator=kim"); // ["operator", "kim"]
 * ```
 */
export function parseTag(text: string): [string, string] {
  const equals = text.indexOf("=");
  const key = equals < 0 ? "" : text.slice(0, equals);
  if (!TAG_KEY.test(key)) {
    throw new UsageError(
      `a tag is key=value with a key of letters, digits, _ . - (not "${text}")`,
    );
  }
  return [key, text.slice(equals + 1)];
}

/**
 * The arguments without their `--tag` flags, and the tags they gave.
 *
 * @throws {UsageError} for a `--tag` without a value, or a malformed one.
 *
 * @example
 * ```ts
 * takeTagFlags(["--tag", "run=7"]).tags; // { run: "7" }
 * ```
 */
export function takeTagFlags(
  args: string[],
): { args: string[]; tags: Record<string, string> } {
  const rest: string[] = [];
  const tags: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let text: string | undefined;
    if (arg === "--tag") {
      text = args[++i];
      if (text === undefined) throw new UsageError("--tag needs key=value");
    } else if (arg.startsWith("--tag=")) {
      text = arg.slice("--tag=".length);
    } else {
      rest.push(arg);
      continue;
    }
    const [key, value] = parseTag(text);
    tags[key] = value;
  }
  return { args: rest, tags };
}
