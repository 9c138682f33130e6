/**
 * lib/common/deno_tasks.ts reads a task's line the way `deno task` runs it:
 * the `NAME=value` words before `deno` are the environment, the rest the
 * arguments; and the transfer tools' tasks keep glibc's malloc to one arena
 * (4-8 MB less memory) and do without Deno's code cache (4-7 MB less),
 * README "Benchmark".
 */
import { deepStrictEqual, ok, throws } from "node:assert/strict";
import { taskArgs, taskEnv } from "../lib/common/deno_tasks.ts";
import { ROOT } from "./helpers/run_task.ts";

Deno.test("a task line's leading NAME=value words are its environment", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deno_tasks_test_" });
  try {
    const denoJson = `${dir}/deno.json`;
    await Deno.writeTextFile(
      denoJson,
      JSON.stringify({
        tasks: {
          tuned: "A_1=1 B=x=y deno run --allow-read=data scripts/a.ts",
          plain: "deno run scripts/b.ts",
          other: "echo hello",
        },
      }),
    );
    deepStrictEqual(taskEnv("tuned", denoJson), { A_1: "1", B: "x=y" });
    deepStrictEqual(taskArgs("tuned", denoJson), [
      "run",
      "--allow-read=data",
      "scripts/a.ts",
    ]);
    deepStrictEqual(taskEnv("plain", denoJson), {});
    deepStrictEqual(taskArgs("plain", denoJson), ["run", "scripts/b.ts"]);
    throws(() => taskArgs("other", denoJson), /no task "other" that runs deno/);
    throws(() => taskArgs("missing", denoJson), /no task "missing"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the transfer tools run with one malloc arena and without Deno's code cache", () => {
  for (
    const task of [
      "upload_data_file",
      "upload_data_files_added_to_directory",
      "reconstruct_data_files",
      "process_data_files",
      "reproduce_undecryptable_messages",
    ]
  ) {
    deepStrictEqual(
      taskEnv(task, `${ROOT}deno.json`),
      { MALLOC_ARENA_MAX: "1" },
      task,
    );
    ok(
      taskArgs(task, `${ROOT}deno.json`).includes("--no-code-cache"),
      `${task} loads the code cache`,
    );
  }
});
