/**
 * The upload's first pass (file_chunks.ts `planChunks`) gives each chunk the
 * SHA-512 of its bytes and the file the SHA-512 of all of them, for an empty
 * file, a small one (hashed here) and one of 16 MiB or more (in small
 * chunks, hashed by a worker that reads the file on its own; in big ones, as
 * the second pass reads them), and that the second pass sends no
 * chunk before its hash is in the plan (a big file's chunks are still being
 * hashed when the first pass resolves), that it skips the chunks a resumed
 * upload already sent (a whole block, a block's ends, the short last chunk)
 * and gives every other chunk its own bytes, and that a big file's many chunk
 * hashes wait in a scratch file under out/ (already deleted, so never left
 * behind), not in memory.
 */
import { strictEqual } from "node:assert/strict";
import {
  planChunks,
  readPlannedChunks,
  SCRATCH_CHUNKS,
  SCRATCH_DIR,
} from "../lib/transfer/file_chunks.ts";
import { sha512, toHex } from "../lib/transfer/chunk.ts";
import { randomBytes } from "./helpers/chunk_messages.ts";

/** Plans `bytes` written to a file and checks every hash against node:crypto's. */
async function checkPlan(bytes: Uint8Array, chunkSize: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "file_chunks_test_" });
  try {
    const path = `${dir}/data.bin`;
    await Deno.writeFile(path, bytes);
    const plan = await planChunks(path, chunkSize);
    // The hashes as the second pass hands them out (a big file in big chunks
    // has them hashed only then).
    const hashes = new Uint8Array(plan.totalChunks * 64);
    for await (const chunk of readPlannedChunks(plan)) {
      hashes.set(chunk.hash, (chunk.index - 1) * 64);
    }
    const chunks = Math.max(1, Math.ceil(bytes.length / chunkSize));
    strictEqual(plan.totalChunks, chunks);
    strictEqual(plan.size, bytes.length);
    strictEqual(toHex(plan.fileHash), toHex(sha512(bytes)));
    for (let index = 0; index < chunks; index++) {
      const piece = bytes.subarray(
        index * chunkSize,
        Math.min(bytes.length, (index + 1) * chunkSize),
      );
      strictEqual(
        toHex(hashes.subarray(index * 64, (index + 1) * 64)),
        toHex(sha512(piece)),
        `chunk ${index} of ${chunks}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("planChunks hashes every chunk and the whole file", async (t) => {
  await t.step("an empty file is one chunk of no bytes", async () => {
    await checkPlan(new Uint8Array(0), 16384);
  });
  await t.step("a small file, its last chunk short", async () => {
    await checkPlan(randomBytes(3 * 16384 + 77), 16384);
  });
  await t.step(
    "a 20 MiB file at 16 KiB (chunks hashed on a worker) and 512 KiB (as read)",
    async () => {
      const bytes = randomBytes(20 * 1024 * 1024 + 4321);
      await checkPlan(bytes, 16384);
      await checkPlan(bytes, 524288);
    },
  );
});

Deno.test("the second pass waits for each chunk's hash before yielding it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "file_chunks_test_" });
  try {
    const path = `${dir}/data.bin`;
    await Deno.writeFile(path, randomBytes(3 * 1024 * 1024 + 99));
    const plan = await planChunks(path, 16384);
    // The same plan, its chunk hashes arriving only 50 ms later, as they do
    // from a worker that is behind (zeros before that).
    let isIn = false;
    const arrived = new Promise<void>((resolve) =>
      setTimeout(() => {
        isIn = true;
        resolve();
      }, 50)
    );
    const late = {
      ...plan,
      chunkHashes: async (first: number, last: number) => {
        const hashes = plan.chunkHashes(first, last);
        await arrived;
        return isIn ? hashes : new Uint8Array(64 * (last - first + 1));
      },
    };
    let chunks = 0;
    for await (const chunk of readPlannedChunks(late)) {
      strictEqual(toHex(chunk.hash), toHex(sha512(chunk.data)));
      chunks++;
    }
    strictEqual(chunks, plan.totalChunks);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the second pass yields each chunk's own bytes and hash, skipping some", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "file_chunks_test_" });
  try {
    const bytes = randomBytes(20 * 1024 * 1024 + 4321);
    const path = `${dir}/data.bin`;
    await Deno.writeFile(path, bytes);
    for (const chunkSize of [16384, 524288]) {
      await t.step(`${chunkSize / 1024} KiB chunks`, async () => {
        const total = Math.ceil(bytes.length / chunkSize);
        // A whole block, a block's first and last chunk, one in the middle,
        // and the short last chunk.
        const perBlock = 1024 * 1024 / chunkSize;
        const skip = new Set([
          ...Array.from({ length: perBlock }, (_, i) => perBlock + 1 + i),
          3 * perBlock + 1,
          4 * perBlock,
          total - 3,
          total,
        ]);
        const plan = await planChunks(path, chunkSize);
        let expected = 0;
        for await (const chunk of readPlannedChunks(plan, skip)) {
          expected++;
          while (skip.has(expected)) expected++;
          strictEqual(chunk.index, expected);
          const offset = (chunk.index - 1) * chunkSize;
          strictEqual(chunk.offset, offset);
          const piece = bytes.subarray(offset, offset + chunkSize);
          strictEqual(toHex(sha512(chunk.data)), toHex(sha512(piece)));
          strictEqual(toHex(chunk.hash), toHex(sha512(piece)));
        }
        strictEqual(expected, total - 1, "every chunk not skipped, in order");
      });
    }
    await t.step("stopping early closes the file", async () => {
      const plan = await planChunks(path, 524288);
      for await (const chunk of readPlannedChunks(plan)) {
        if (chunk.index === 3) break;
      }
      // Deno's test sanitizer fails the step if the file were left open.
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Paths of the files this process has open whose name is deleted, each once
 * (asked of `ls`: Deno lets only --allow-all read /proc/self).
 */
async function openDeletedFiles(): Promise<string[]> {
  const { stdout } = await new Deno.Command("ls", {
    args: ["-l", `/proc/${Deno.pid}/fd`],
  }).output();
  const targets = new TextDecoder().decode(stdout).split("\n")
    .filter((line) => line.endsWith(" (deleted)"))
    .map((line) => line.slice(line.indexOf(" -> ") + 4));
  return [...new Set(targets)];
}

Deno.test({
  name: "a big file's chunk hashes wait in a deleted scratch file in out/",
  ignore: Deno.build.os !== "linux", // /proc/self/fd shows the open files
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "file_chunks_test_" });
    try {
      // 1 KiB chunks: 40,960 hashes (2.5 MiB), more than SCRATCH_CHUNKS.
      const chunkSize = 1024;
      const path = `${dir}/data.bin`;
      await Deno.writeFile(path, randomBytes(40 * 1024 * 1024));
      const before = (await openDeletedFiles()).length;
      const plan = await planChunks(path, chunkSize);
      strictEqual(plan.totalChunks > SCRATCH_CHUNKS, true);
      const scratch = (await openDeletedFiles()).slice(before);
      strictEqual(scratch.length, 1, "one deleted scratch file open");
      strictEqual(
        scratch[0].startsWith(`${SCRATCH_DIR}/.chunk_hashes_`),
        true,
        scratch[0],
      );
      let index = 0;
      for await (const chunk of readPlannedChunks(plan)) {
        index++;
        strictEqual(chunk.index, index);
        strictEqual(
          toHex(chunk.hash),
          toHex(sha512(chunk.data)),
          `chunk ${index}`,
        );
      }
      strictEqual(index, plan.totalChunks);
      strictEqual(
        (await openDeletedFiles()).length,
        before,
        "the scratch file closed",
      );
      const left = [...Deno.readDirSync(SCRATCH_DIR)].filter((entry) =>
        entry.name.startsWith(".chunk_hashes_")
      );
      strictEqual(left.length, 0, "no scratch file left in out/");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
