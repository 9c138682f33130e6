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
 * quotes, so splitting on spaces is exact).
 *
 * @example
 * ```ts
 * new Deno.Command(Deno.execPath(), { args: [...taskArgs("upload_data_file"), "a.bin"] });
 * ```
 */
export function taskArgs(name: string, denoJson = "deno.json"): string[] {
  const config = JSON.parse(Deno.readTextFileSync(denoJson));
  const line: unknown = config.tasks?.[name];
  if (typeof line !== "string" || !line.startsWith("deno ")) {
    throw new Error(`deno.json has no task "${name}" that runs deno`);
  }
  return line.split(/\s+/).slice(1);
}
