/**
 * A folder claim lasts as long as the program that took it, even when the
 * program keeps no reference to it (reconstruct_data_files keeps none):
 * node:sqlite closes a database that is garbage-collected, and with it the
 * claim. A real second process takes a claim, drops it and collects all
 * its garbage; this process must still be refused the folder.
 */
import { ok, strictEqual, throws } from "node:assert/strict";
import { FolderLock } from "../lib/common/folder_lock.ts";
import { UserError } from "../lib/common/cli.ts";

/** The second process: takes a shared claim, keeps no reference, collects. */
const HOLDER = `
import { FolderLock } from ${
  JSON.stringify(import.meta.resolve("../lib/common/folder_lock.ts"))
};
FolderLock.take(Deno.args[0], "shared", "in use");
const gc = (globalThis as unknown as { gc: () => void }).gc;
for (let round = 0; round < 3; round++) {
  gc();
  // node:sqlite's finalizer runs after the collection, on a task of its own.
  await new Promise((resolve) => setTimeout(resolve, 50));
}
console.log("collected");
await new Response(Deno.stdin.readable).text();
`;

Deno.test("a folder claim outlives a garbage collection in a program that dropped its reference", async () => {
  const dir = await Deno.makeTempDir({ prefix: "folder_lock_" });
  try {
    const script = `${dir}/holder.ts`;
    const lockFile = `${dir}/in_use.lock`;
    await Deno.writeTextFile(script, HOLDER);
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--v8-flags=--expose-gc",
        "--allow-read",
        "--allow-write",
        script,
        lockFile,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let said = "";
    while (!said.includes("collected")) {
      const { value, done } = await reader.read();
      if (done) break;
      said += value;
    }
    try {
      ok(said.includes("collected"), `the holder stopped early: ${said}`);
      throws(
        () => FolderLock.take(lockFile, "exclusive", "in use").release(),
        (error: Error) =>
          error instanceof UserError && error.message === "in use",
      );
    } finally {
      await reader.cancel();
      await holder.stdin.close();
      await holder.stderr.cancel();
      strictEqual((await holder.status).code, 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
