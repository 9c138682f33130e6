/**
 * The course runs on Deno alone: on a fresh clone, with an empty Deno cache,
 * the course tasks download and set up no npm package (the lab's Kafka client,
 * PostgreSQL driver and the rest are for the lab tasks only).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { ROOT } from "./helpers/run_task.ts";

/** The course tasks, each with arguments that end it quickly. */
const COURSE_RUNS: string[][] = [
  ["multiple_processes"],
  ["check"],
  ["process_streaming_0", "--help"],
  ["process_streaming_name", "--help"],
  ["stream", "scripts/process_streaming_name.ts", "--help"],
  ["listen", "--help"],
];

/** Runs a command in `cwd` with its own Deno cache; its exit code and output. */
async function run(cwd: string, denoDir: string, args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { DENO_DIR: denoDir, NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(output.stderr) +
    new TextDecoder().decode(output.stdout);
  return { code: output.code, text };
}

Deno.test("a fresh clone's course tasks set up no npm package", async () => {
  const dir = await Deno.makeTempDir({ prefix: "course_clone_" });
  const denoDir = await Deno.makeTempDir({ prefix: "course_deno_dir_" });
  try {
    const clone = await new Deno.Command("git", {
      args: ["clone", "--quiet", ROOT, `${dir}/clone`],
    }).output();
    strictEqual(clone.code, 0, new TextDecoder().decode(clone.stderr));
    for (const args of COURSE_RUNS) {
      const { code, text } = await run(`${dir}/clone`, denoDir, [
        "task",
        ...args,
      ]);
      strictEqual(code, 0, `${args.join(" ")}: ${text}`);
      ok(!/\b(Download|Initialize)\b/.test(text), `${args.join(" ")}: ${text}`);
    }
    const folders = await Array.fromAsync(Deno.readDir(`${dir}/clone`));
    deepStrictEqual(
      folders.filter((entry) => entry.name === "node_modules"),
      [],
      "no node_modules folder was created",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(denoDir, { recursive: true });
  }
});
