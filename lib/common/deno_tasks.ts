/**
 * The project's `deno task` lines, read from deno.json.
 *
 * Tests and benchmarks sometimes start a script without `deno task` in between
 * (so that a signal such as SIGKILL reaches the script itself, or so that its
 * memory can be measured), yet with exactly the permissions its task grants.
 * This module gives them the task's command line.
 *
 * @example
 * ```ts
 * import { taskArgs } from "./deno_tasks.ts";
 *
 * taskArgs("listen"); // ["run", "--allow-net=127.0.0.1,localhost", ..., "scripts/listen.ts"]
 * ```
 *
 * @module
 */

/**
 * The arguments after `deno` in the task's command line (the tasks use no
 * quotes, so splitting on spaces is exact), without the environment
 * variables set before it ({@linkcode taskEnv}).
 *
 * @example
 * ```ts
 * new Deno.Command(Deno.execPath(), { args: [...taskArgs("upload_data_file"), "a.bin"] });
 * ```
 */
export function taskArgs(name: string, denoJson = "deno.json"): string[] {
  return taskLine(name, denoJson).args;
}

/**
 * The environment variables the task's line sets before `deno` (`NAME=value`
 * words, as `deno task` understands them), for a run without `deno task`.
 *
 * @example
 * ```ts
 * taskEnv("reconstruct_data_files"); // { MALLOC_ARENA_MAX: "1" }
 * ```
 */
export function taskEnv(
  name: string,
  denoJson = "deno.json",
): Record<string, string> {
  return taskLine(name, denoJson).env;
}

/** A task's line split into its leading `NAME=value` words and what follows `deno`. */
function taskLine(
  name: string,
  denoJson: string,
): { env: Record<string, string>; args: string[] } {
  const config = JSON.parse(Deno.readTextFileSync(denoJson));
  const line: unknown = config.tasks?.[name];
  const words = typeof line === "string" ? line.trim().split(/\s+/) : [];
  const env: Record<string, string> = {};
  while (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0] ?? "")) {
    const word = words.shift()!;
    const equals = word.indexOf("=");
    env[word.slice(0, equals)] = word.slice(equals + 1);
  }
  if (words[0] !== "deno") {
    throw new Error(`deno.json has no task "${name}" that runs deno`);
  }
  return { env, args: words.slice(1) };
}
