/**
 * The upload's first pass (file_chunks.ts `planChunks`) gives each chunk the
 * SHA-512 of its bytes and the file the SHA-512 of all of them, for an empty
 * file, a small one (hashed here) and one of 16 MiB or more (its blocks
 * read by the hash workers on their own), and that the second pass sends no
 * chunk before its hash is in the plan (a big file's chunks are still being
 * hashed when the first pass resolves).
 */
import { strictEqual } from "node:assert/strict";
import { planChunks, readPlannedChunks } from "../lib/transfer/file_chunks.ts";
import { sha512, toHex } from "../lib/transfer/chunk.ts";
import { randomBytes } from "./helpers/chunk_messages.ts";

/** Plans `bytes` written to a file and checks every hash against node:crypto's. */
async function checkPlan(bytes: Uint8Array, chunkSize: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "file_chunks_test_" });
  try {
    const path = `${dir}/data.bin`;
    await Deno.writeFile(path, bytes);
    const plan = await planChunks(path, chunkSize);
    await plan.hashed(plan.totalChunks);
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
        toHex(plan.chunkHashes.subarray(index * 64, (index + 1) * 64)),
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
    "a 20 MiB file (hash worker, shared blocks) at 16 KiB and 512 KiB",
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
    await plan.hashed(plan.totalChunks);
    // The same plan, its chunk hashes arriving only 50 ms later, as they do
    // from a worker that is behind.
    const hashes = plan.chunkHashes.slice();
    plan.chunkHashes.fill(0);
    const arrived = new Promise<void>((resolve) =>
      setTimeout(() => {
        plan.chunkHashes.set(hashes);
        resolve();
      }, 50)
    );
    const late = { ...plan, hashed: () => arrived };
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
