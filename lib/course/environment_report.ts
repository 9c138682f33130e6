/**
 * What this machine looks like to Deno: the report of `deno task check` and
 * `deno task about`, and the details of the multiple_processes banner.
 *
 * Everything comes from the local machine: Deno's own build and version
 * information, a few environment variables, and `git`, `java` and `mvn` asked
 * for their versions. Nothing is downloaded and no remote code runs (the
 * Python original fetched and executed a script from the internet).
 *
 * @example
 * ```ts
 * import { buildEnvironmentReport } from "./environment_report.ts";
 *
 * const report = await buildEnvironmentReport({
 *   title: "Welcome to NW Diagnostics!",
 *   dateLabel: "At",
 *   scriptUrl: import.meta.url,
 * });
 * console.log(report);
 * ```
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runMain } from "../common/cli.ts";
import { parseFlags } from "../common/flags.ts";
import { friendlyDateTime } from "../common/log.ts";

/** The line of 70 `=` that frames the report, as in the original. */
export const REPORT_DIVIDER: string = "=".repeat(70);

/** How long a tool may take to tell its version (Maven starts a JVM). */
export const VERSION_TIMEOUT_MS = 5000;

/** What differs between the check report and the about report. */
export interface ReportOptions {
  /** First line inside the frame. */
  title: string;
  /** Label of the date line: `At` (check) or `Date and Time` (about). */
  dateLabel: string;
  /** `import.meta.url` of the script that builds the report. */
  scriptUrl: string;
  /** The time to report; now by default. */
  now?: Date;
}

/** What a report script says about itself; the rest is shared. */
export interface ReportScript extends ReportOptions {
  /** The task name, for `--help` and error lines (`check`, `about`). */
  program: string;
  /** What the report is for, one sentence for `--help`. */
  summary: string;
  /** Where the report is saved, e.g. `out/about.txt`. */
  path: string;
}

/**
 * The whole of `deno task check` and `deno task about`: reads the (empty)
 * command line, builds the report, saves it and prints it, and exits.
 *
 * @example
 * ```ts
 * await runReportScript({
 *   program: "about", summary: "Debugging information.", path: "out/about.txt",
 *   title: "About", dateLabel: "Date and Time", scriptUrl: import.meta.url,
 * });
 * ```
 */
export async function runReportScript(script: ReportScript): Promise<never> {
  return await runMain(script.program, async () => {
    parseFlags(Deno.args, {
      program: script.program,
      summary: `${script.summary} Saved as ${script.path}.`,
      flags: {},
    });
    await saveEnvironmentReport(script.path, script);
  });
}

/**
 * Builds the report, saves it to `path` (creating out/ if it was removed), and
 * prints the same text followed by where it was saved.
 *
 * @example
 * ```ts
 * await saveEnvironmentReport("out/about.txt", { title: "About", dateLabel: "Date and Time", scriptUrl: import.meta.url });
 * ```
 */
export async function saveEnvironmentReport(
  path: string,
  options: ReportOptions,
): Promise<void> {
  const report = await buildEnvironmentReport(options);
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, report + "\n");
  console.log(report);
  console.log(`Report saved to ${path}.`);
}

/**
 * Builds the report: a frame of two `=` lines above and below, one field per
 * line with a leading space.
 *
 * @example
 * ```ts
 * const text = await buildEnvironmentReport({ title: "About", dateLabel: "Date and Time", scriptUrl: import.meta.url });
 * text.includes(`Deno Version: ${Deno.version.deno}`); // true
 * ```
 */
export async function buildEnvironmentReport(
  options: ReportOptions,
): Promise<string> {
  const scriptPath = fileURLToPath(options.scriptUrl);
  // The three tools answer at the same time: Maven alone can take a second.
  const [git, java, mvn] = await Promise.all([
    toolVersion("git", ["--version"]),
    toolVersion("java", ["-version"]),
    toolVersion("mvn", ["--version"]),
  ]);
  const fields: [string, string][] = [
    [options.dateLabel, friendlyDateTime(options.now ?? new Date())],
    ["Operating System", operatingSystem()],
    ["System Architecture", Deno.build.arch],
    ["Number of CPUs", String(navigator.hardwareConcurrency)],
    ["Machine Type", Deno.build.target],
    ["Deno Version", Deno.version.deno],
    ["V8 Version", Deno.version.v8],
    ["TypeScript Version", Deno.version.typescript],
    ["Path to Deno", Deno.execPath()],
    ["Deno Config File", await existingPath("deno.json")],
    ["npm Packages Folder", await existingPath("node_modules")],
    ["Current Working Directory", Deno.cwd()],
    ["Path to source directory", dirname(scriptPath)],
    ["Path to script file", scriptPath],
    ["User's Home Directory", env("HOME") ?? env("USERPROFILE") ?? "unknown"],
    ["Terminal Environment", terminalEnvironment()],
    ["Terminal Type", terminalType()],
    ["Git available in PATH", git],
    ["Java available in PATH", java],
    ["Maven available in PATH", mvn],
  ];
  return [
    REPORT_DIVIDER,
    REPORT_DIVIDER,
    ` ${options.title}`,
    ...fields.map(([label, value]) => ` ${label}: ${value}`),
    REPORT_DIVIDER,
    REPORT_DIVIDER,
  ].join("\n");
}

/**
 * The OS name and its release, like Python's `platform.system()` and
 * `platform.release()`. Needs `--allow-sys=osRelease`.
 *
 * @example
 * ```ts
 * operatingSystem(); // "linux 6.8.0-45-generic"
 * ```
 */
export function operatingSystem(): string {
  return `${Deno.build.os} ${Deno.osRelease()}`;
}

/**
 * The runtime lines of the multiple_processes banner, aligned as in the
 * original (which showed Python's version and interpreter path).
 *
 * @example
 * ```ts
 * bannerDetails();
 * // ["  Date and Time:    2024-05-09 at 02:06 PM",
 * //  "  Operating System: linux 6.8.0-45-generic",
 * //  "  Deno Version:     2.9.6",
 * //  "  Path to Deno:     /usr/bin/deno"]
 * ```
 */
export function bannerDetails(now: Date = new Date()): string[] {
  return [
    `  Date and Time:    ${friendlyDateTime(now)}`,
    `  Operating System: ${operatingSystem()}`,
    `  Deno Version:     ${Deno.version.deno}`,
    `  Path to Deno:     ${Deno.execPath()}`,
  ];
}

/**
 * Asks a tool for its version: `yes, <first line of its answer>`, or
 * `not found` when it is not on PATH. A tool that hangs is stopped after
 * `timeoutMs`. Needs `--allow-run=<command>`.
 *
 * @example
 * ```ts
 * await toolVersion("git", ["--version"]); // "yes, git version 2.39.5"
 * await toolVersion("nosuchtool", ["--version"]); // "not found"
 * ```
 */
export async function toolVersion(
  command: string,
  args: string[],
  timeoutMs: number = VERSION_TIMEOUT_MS,
): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args,
      stdin: "null",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "not found";
    if (error instanceof Deno.errors.NotCapable) {
      return "not checked (no --allow-run)";
    }
    throw error;
  }
  const decoder = new TextDecoder();
  // java -version answers on stderr, git and mvn on stdout; mvn adds colours.
  const answer = (decoder.decode(output.stdout) + decoder.decode(output.stderr))
    // deno-lint-ignore no-control-regex -- removes ANSI colour codes (ESC [ ... m)
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .map((line) => line.trim())
    .find((line) => line !== "") ?? "";
  if (output.signal !== null) {
    return `yes, but "${command} ${args.join(" ")}" did not answer within ${
      timeoutMs / 1000
    } s`;
  }
  if (!output.success) {
    return `yes, but it failed: ${answer || `exit code ${output.code}`}`;
  }
  return `yes, ${answer}`;
}

/** `VS Code` inside VS Code's terminal, `Native Terminal` elsewhere. */
function terminalEnvironment(): string {
  return env("TERM_PROGRAM") === "vscode" ? "VS Code" : "Native Terminal";
}

/** The shell's name (last part of $SHELL, or of %ComSpec% on Windows). */
function terminalType(): string {
  const shell = env("SHELL") ?? env("ComSpec");
  if (!shell) return "unknown";
  return shell.split(/[\\/]/).at(-1)!.toLowerCase();
}

/** The absolute path if it exists in the working directory, else "not found". */
async function existingPath(path: string): Promise<string> {
  try {
    await Deno.stat(path);
    return resolve(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "not found";
    throw error;
  }
}

/** An environment variable, or undefined when it is unset or not allowed. */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
}
