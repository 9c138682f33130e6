/**
 * The upload tasks may load the native code of the project's npm packages
 * (`--allow-ffi=node_modules/.deno`, and nothing else native), so the Kafka
 * client computes each record batch's CRC32C with @node-rs/crc32 instead of
 * its WebAssembly fallback (issue 22: the 16 KiB upload 5-11% faster). A task
 * without that grant (the rebuild, which sends no batches of chunks) gets the
 * fallback. Checked with the tasks' own flags from deno.json.
 */
import { strictEqual } from "node:assert/strict";
import { taskArgs } from "../lib/common/deno_tasks.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";

/** Which CRC32C the Kafka client picks when run with `task`'s flags. */
async function crcWith(task: string, probe: string): Promise<string> {
  // The task's flags, with the probe in place of its script.
  const args = taskArgs(task, `${ROOT}deno.json`).slice(0, -1);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...args, probe],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  strictEqual(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout).trim();
}

Deno.test("the upload tasks compute each batch's CRC32C natively; the rebuild, without the grant, in WebAssembly", async () => {
  const dir = await makeOutTempDir("native_crc");
  try {
    const probe = `${ROOT}${dir}/probe.ts`;
    await Deno.writeTextFile(
      probe,
      'import { crc32c } from "@platformatic/kafka";\n' +
        "console.log(crc32c.name);\n",
    );
    strictEqual(await crcWith("upload_data_file", probe), "nativeCRC32C");
    strictEqual(
      await crcWith("upload_data_files_added_to_directory", probe),
      "nativeCRC32C",
    );
    strictEqual(await crcWith("reconstruct_data_files", probe), "crc32c");
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});
