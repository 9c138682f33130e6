/**
 * Command-line flags for every script, parsed the same way everywhere.
 *
 * Built on `parseArgs` from `node:util` (the JSR package `@std/cli` is not
 * reachable from the course machines). On top of it this module adds what the
 * scripts promise their users:
 *
 * - each flag works in snake_case (the Python originals' spelling,
 *   `--task_duration`) and in kebab-case (`--task-duration`);
 * - numbers are checked: `--delay abc` is a one-line error, not `NaN`;
 * - `--help` prints the script's summary and its flags;
 * - an unknown flag or a bad value throws {@linkcode UsageError} (exit code 2),
 *   and so does an argument that is not a flag, in a script whose spec names
 *   no `positionals` (`deno task process_streaming_0 data/my.csv` would
 *   otherwise stream the default file).
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 *
 * const { flags, positionals } = parseFlags(Deno.args, {
 *   program: "process_streaming_0",
 *   summary: "Stream a CSV file to a listener, one row every few seconds.",
 *   flags: {
 *     delay: { type: "number", default: 3, description: "seconds between rows" },
 *     protocol: { type: "string", default: "udp", choices: ["udp", "tcp"], description: "transport" },
 *     loop: { type: "boolean", description: "start over at the end" },
 *   },
 * });
 * flags.delay; // number
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { HelpRequested, UsageError } from "./cli.ts";

/** One flag: its type, default, and the line `--help` shows for it. */
export type FlagDef =
  | {
    type: "string";
    default?: string;
    choices?: readonly string[];
    description: string;
  }
  | {
    type: "number";
    default?: number;
    /** Only whole numbers are accepted. */
    integer?: boolean;
    /** The smallest accepted value. */
    min?: number;
    /** The largest accepted value. */
    max?: number;
    /** Left out of `--help` (e.g. a flag only a parent process passes). */
    hidden?: boolean;
    description: string;
  }
  | { type: "boolean"; description: string };

/** What a script tells {@linkcode parseFlags} about itself. */
export interface FlagsSpec<F extends Record<string, FlagDef>> {
  /** The script's name, as in `deno task <program>`. */
  program: string;
  /** One or two sentences for `--help`. */
  summary: string;
  /** Positional arguments shown in the usage line, e.g. `"FILEPATH..."`. */
  positionals?: string;
  /** The flags, keyed by their snake_case name. */
  flags: F;
}

/**
 * The parsed value of one flag, typed from its definition: a flag with
 * `choices` gives the union of its choices, so no cast is needed.
 */
export type FlagValue<D> = D extends { type: "boolean" } ? boolean
  : D extends { type: "number"; default: number } ? number
  : D extends { type: "number" } ? number | undefined
  : D extends { type: "string"; choices: readonly (infer C)[]; default: string }
    ? C
  : D extends { type: "string"; choices: readonly (infer C)[] } ? C | undefined
  : D extends { type: "string"; default: string } ? string
  : string | undefined;

/** All parsed flags, keyed by their snake_case names. */
export type FlagValues<F extends Record<string, FlagDef>> = {
  [K in keyof F]: FlagValue<F[K]>;
};

/** The result of {@linkcode parseFlags}. */
export interface ParsedArgs<F extends Record<string, FlagDef>> {
  /** Every flag's value (its default when not given). */
  flags: FlagValues<F>;
  /** The arguments that are not flags, in order. */
  positionals: string[];
}

/**
 * Parses `args` against `spec`. On `--help` it throws
 * {@linkcode HelpRequested}, which `runMain` turns into the help text and
 * exit code 0.
 *
 * @example
 * ```ts
 * const { flags } = parseFlags(["--task-duration", "3"], {
 *   program: "multiple_processes",
 *   summary: "Three processes share one SQLite database.",
 *   flags: { task_duration: { type: "number", default: 0, description: "seconds" } },
 * });
 * flags.task_duration; // 3
 * ```
 */
export function parseFlags<F extends Record<string, FlagDef>>(
  args: string[],
  spec: FlagsSpec<F>,
): ParsedArgs<F> {
  const normalized = attachValues(args.map(toSnakeCaseFlag), spec.flags);
  if (normalized.includes("--help") || normalized.includes("-h")) {
    throw new HelpRequested(helpText(spec));
  }

  // parseArgs only knows strings and booleans; numbers are checked below.
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const [name, def] of Object.entries(spec.flags)) {
    options[name] = { type: def.type === "boolean" ? "boolean" : "string" };
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: normalized,
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }

  const extra = parsed.positionals[0];
  if (!spec.positionals && extra !== undefined) {
    const hint = "input" in spec.flags
      ? `; did you mean --input ${extra}?`
      : "";
    throw new UsageError(
      `unexpected argument "${extra}": this script takes only flags${hint}`,
    );
  }
  const flags: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(spec.flags)) {
    flags[name] = convertValue(name, def, parsed.values[name]);
  }
  return {
    flags: flags as FlagValues<F>,
    positionals: parsed.positionals,
  };
}

/** Turns `--task-duration=3` into `--task_duration=3`; leaves values alone. */
function toSnakeCaseFlag(arg: string): string {
  if (!arg.startsWith("--")) return arg;
  const equals = arg.indexOf("=");
  const name = equals < 0 ? arg : arg.slice(0, equals);
  const rest = equals < 0 ? "" : arg.slice(equals);
  return "--" + name.slice(2).replaceAll("-", "_") + rest;
}

/**
 * Joins `--flag value` into `--flag=value` for flags that take a value, so
 * that a negative number (`--update_seconds -1`) is read as the value and not
 * as another flag.
 */
function attachValues(
  args: string[],
  flags: Record<string, FlagDef>,
): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : "";
    const def = flags[name];
    if (def && def.type !== "boolean" && i + 1 < args.length) {
      joined.push(`${args[i]}=${args[++i]}`);
    } else {
      joined.push(args[i]);
    }
  }
  return joined;
}

/** Checks and converts one raw value, or supplies the default. */
function convertValue(
  name: string,
  def: FlagDef,
  raw: string | boolean | (string | boolean)[] | undefined,
): unknown {
  if (Array.isArray(raw)) raw = raw.at(-1);
  if (def.type === "boolean") return raw === true;
  if (raw === undefined) return def.default;
  const text = String(raw);
  if (def.type === "string") {
    if (def.choices && !def.choices.includes(text)) {
      throw new UsageError(
        `--${name} must be one of ${def.choices.join(", ")}, not "${text}"`,
      );
    }
    return text;
  }
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new UsageError(`--${name} needs a number, not "${text}"`);
  }
  if (def.integer && !Number.isInteger(value)) {
    throw new UsageError(`--${name} needs a whole number, not "${text}"`);
  }
  if (def.min !== undefined && value < def.min) {
    throw new UsageError(`--${name} must be at least ${def.min}, not ${text}`);
  }
  if (def.max !== undefined && value > def.max) {
    throw new UsageError(`--${name} must be at most ${def.max}, not ${text}`);
  }
  return value;
}

/** Rewrites node:util's messages into one short line that names the flag. */
function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = message.match(/Unknown option '([^']+)'/);
  if (unknown) return `unknown flag ${unknown[1]}`;
  const missing = message.match(/Option '(?:-\w, )?(--[\w]+) <value>'/);
  if (missing) return `${missing[1]} needs a value`;
  return message.split("\n")[0].replace(/\. To specify.*$/, "");
}

/** The text `--help` prints. */
function helpText<F extends Record<string, FlagDef>>(
  spec: FlagsSpec<F>,
): string {
  const lines = [
    spec.summary,
    "",
    `Usage: deno task ${spec.program}${
      spec.positionals ? " " + spec.positionals : ""
    } [flags]`,
    "",
    "Flags (snake_case or kebab-case):",
  ];
  for (const [name, def] of Object.entries(spec.flags)) {
    if (def.type === "number" && def.hidden) continue;
    const value = def.type === "boolean" ? "" : ` ${name.toUpperCase()}`;
    let extra = "";
    if (def.type === "string" && def.choices) {
      extra = ` (${def.choices.join("|")})`;
    }
    if (def.type !== "boolean" && def.default !== undefined) {
      extra += ` [default: ${def.default}]`;
    }
    lines.push(`  --${name}${value}`, `      ${def.description}${extra}`);
  }
  lines.push("  --help", "      print this help and exit");
  return lines.join("\n");
}

/**
 * A number flag in one line: its default, its `--help` text and its limits.
 *
 * @example
 * ```ts
 * const flags = { idle_seconds: numberFlag(30, "how long to watch", { min: 1 }) };
 * ```
 */
export function numberFlag(
  defaultValue: number,
  description: string,
  limits: { integer?: boolean; min?: number; max?: number } = {},
): {
  type: "number";
  default: number;
  integer?: boolean;
  min?: number;
  max?: number;
  description: string;
} {
  return { type: "number", default: defaultValue, description, ...limits };
}

/**
 * A string flag in one line: its default and its `--help` text.
 *
 * @example
 * ```ts
 * const flags = { input: stringFlag("data/my.csv", "CSV file to stream") };
 * ```
 */
export function stringFlag(
  defaultValue: string,
  description: string,
): { type: "string"; default: string; description: string } {
  return { type: "string", default: defaultValue, description };
}

/**
 * Throws {@linkcode UsageError} if a path on the command line is empty (`""`,
 * e.g. an unset shell variable): `what` names it, as in `FILEPATH`.
 *
 * @example
 * ```ts
 * checkPathArguments(["data/a.csv"], "FILEPATH"); // fine
 * checkPathArguments([""], "FILEPATH"); // UsageError
 * ```
 */
export function checkPathArguments(paths: string[], what: string): void {
  if (paths.some((path) => path === "")) {
    throw new UsageError(
      `${what} "" is empty (an unset shell variable?); name a path`,
    );
  }
}
