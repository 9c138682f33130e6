/**
 * The file assembler on its own (no Kafka): a file whose last chunk was on
 * disk and recorded when the reconstructor was killed, but which was not yet
 * checked and moved into place, is finished at the next start.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  decodeChunk,
  encodeChunk,
  type FileChunk,
  sha512,
} from "../lib/transfer/chunk.ts";
import { FileAssembler } from "../lib/transfer/file_assembler.ts";
import { ReconstructState } from "../lib/transfer/reconstruct_state.ts";
import { STATE_FOLDER } from "../lib/transfer/safe_paths.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";

/** Two chunks of `bytes` (1024 bytes each at most), as a sender would make them. */
function twoChunks(bytes: Uint8Array): FileChunk[] {
  return [0, 1].map((i) => {
    const data = bytes.subarray(i * 1024, (i + 1) * 1024);
    // Through the real message format, as the reconstructor would get them.
    return decodeChunk(encodeChunk({
      filename: "scope.trc",
      fileHash: sha512(bytes),
      chunkHash: sha512(data),
      offset: i * 1024,
      chunkIndex: i + 1,
      totalChunks: 2,
      subdir: "day1",
      filenameAppend: "",
      data,
    }));
  });
}

/**
 * Plays a crash: chunk 1 goes through the assembler; chunk 2 is written into
 * the partial file and recorded, exactly as the assembler does, but the run
 * "dies" before it checks and moves the file.
 */
async function crashBeforeFinishing(dir: string, chunks: FileChunk[]) {
  const first = await FileAssembler.open(dir);
  strictEqual((await first.accept(chunks[0])).kind, "written");
  first.close();
  const partialDir = `${dir}/${STATE_FOLDER}/partial`;
  const [partial] = await Array.fromAsync(Deno.readDir(partialDir));
  using file = await Deno.open(`${partialDir}/${partial.name}`, {
    write: true,
  });
  await file.seek(chunks[1].offset, Deno.SeekMode.Start);
  await file.write(chunks[1].data);
  const state = new ReconstructState(`${dir}/${STATE_FOLDER}/state.db`);
  state.addChunk(partial.name.replace(/\.part$/, ""), 2, chunks[1].chunkHash);
  state.close();
  return `${partialDir}/${partial.name}`;
}

Deno.test("a file complete on disk when the reconstructor died is checked and moved into place at the next start", async () => {
  const dir = `${ROOT}${await makeOutTempDir("assembler")}`;
  try {
    const bytes = crypto.getRandomValues(new Uint8Array(1500));
    await crashBeforeFinishing(dir, twoChunks(bytes));

    const restarted = await FileAssembler.open(dir);
    const outcomes = await restarted.finishInterrupted();
    restarted.close();
    deepStrictEqual(outcomes.map((o) => [o.kind, o.relativePath]), [
      ["reconstructed", "day1/scope.trc"],
    ]);
    deepStrictEqual(await Deno.readFile(`${dir}/day1/scope.trc`), bytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file already renamed into place when the reconstructor died is recorded as done, not lost", async () => {
  const dir = `${ROOT}${await makeOutTempDir("assembler")}`;
  try {
    const bytes = crypto.getRandomValues(new Uint8Array(2048));
    const partial = await crashBeforeFinishing(dir, twoChunks(bytes));
    // The rename happened; recording it did not.
    await Deno.mkdir(`${dir}/day1`);
    await Deno.rename(partial, `${dir}/day1/scope.trc`);

    const restarted = await FileAssembler.open(dir);
    const outcomes = await restarted.finishInterrupted();
    deepStrictEqual(restarted.inProgress(), []);
    restarted.close();
    deepStrictEqual(outcomes.map((o) => o.kind), ["reconstructed"]);
    deepStrictEqual(await Deno.readFile(`${dir}/day1/scope.trc`), bytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file named finished in the group's commit but not yet moved (killed in between) is moved in at the next start, with its modification time to the microsecond", async () => {
  const dir = await makeOutTempDir("assembler-commit");
  try {
    const bytes = new Uint8Array(1500).map((_, i) => i * 5);
    const mtime = 1700000000.123456;
    const chunks = twoChunks(bytes).map((chunk) => ({ ...chunk, mtime }));
    const first = await FileAssembler.open(`${ROOT}${dir}`);
    await first.accept(chunks[0]);
    // The commit before the move: the run "dies" right after it.
    const killed = first.accept(
      chunks[1],
      () => Promise.reject(new Error("killed")),
    );
    await killed.then(() => {
      throw new Error("the move was not stopped");
    }, () => {});
    first.close();
    const target = `${ROOT}${dir}/day1/scope.trc`;
    strictEqual(await Deno.stat(target).then(() => true, () => false), false);

    const next = await FileAssembler.open(`${ROOT}${dir}`);
    const outcomes = await next.finishInterrupted();
    next.close();
    deepStrictEqual(outcomes.map((o) => o.kind), ["reconstructed"]);
    deepStrictEqual(await Deno.readFile(target), bytes);
    const stat = new Deno.Command("stat", { args: ["-c", "%.9Y", target] });
    const ns = BigInt(
      new TextDecoder().decode((await stat.output()).stdout).trim().replace(
        ".",
        "",
      ),
    );
    deepStrictEqual((ns + 500n) / 1000n, 1700000000123456n);
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("a file whose folder in WORKINGDIR is a link to outside is kept aside, never written through the link; one in a real subfolder goes in", async () => {
  const dir = `${ROOT}${await makeOutTempDir("assembler-link")}`;
  const outside = `${ROOT}${await makeOutTempDir("assembler-outside")}`;
  try {
    await Deno.mkdir(`${dir}/work`);
    await Deno.symlink(outside, `${dir}/work/day1`);
    const bytes = new Uint8Array(1500).map((_, i) => i * 3);
    const assembler = await FileAssembler.open(`${dir}/work`);
    const chunks = twoChunks(bytes);
    strictEqual((await assembler.accept(chunks[0])).kind, "written");
    const outcome = await assembler.accept(chunks[1]);
    strictEqual(outcome.kind, "rejected");
    ok(
      outcome.kind === "rejected" &&
        outcome.reason.includes("leads outside the working folder"),
      JSON.stringify(outcome),
    );
    deepStrictEqual(await Array.fromAsync(Deno.readDir(outside)), []);

    // The same file in a real folder of the same name is moved in.
    await Deno.remove(`${dir}/work/day1`);
    const again = twoChunks(new Uint8Array(1500).map((_, i) => i * 7));
    await assembler.accept(again[0]);
    strictEqual((await assembler.accept(again[1])).kind, "reconstructed");
    assembler.close();
    deepStrictEqual(
      await Deno.readFile(`${dir}/work/day1/scope.trc`),
      new Uint8Array(1500).map((_, i) => i * 7),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
