/**
 * Big files (16 MiB or more) have their whole SHA-512 kept on a second core
 * while their chunks arrive (partial_files.ts `PartialHashes`): rebuilt byte
 * for byte whatever order their chunks come in, across a restart; a file
 * whose bytes differ from what its sender hashed is still kept aside.
 */
import { ok, strictEqual } from "node:assert/strict";
import {
  decodeChunk,
  type FileChunk,
  sha512,
  toHex,
} from "../lib/transfer/chunk.ts";
import { FileAssembler } from "../lib/transfer/file_assembler.ts";
import { PartialHashes } from "../lib/transfer/partial_files.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";
import { chunkMessages, randomBytes } from "./helpers/chunk_messages.ts";

const CHUNK = 256 * 1024;
/** 20 MiB and a bit: over the 16 MiB from which the worker hashes. */
const SIZE = 80 * CHUNK + 1234;

/** The chunks of `bytes` as a sender makes them (the file hash given). */
function chunksOf(bytes: Uint8Array, fileHash = sha512(bytes)): FileChunk[] {
  // Through the real message format, as the reconstructor would get them.
  return chunkMessages(bytes, CHUNK, { filename: "big.trc", fileHash }).map(
    (message) => decodeChunk(message),
  );
}

/** The chunks in the order of 5 partitions read side by side, unevenly. */
function interleaved(chunks: FileChunk[]): FileChunk[] {
  const lanes = [0, 1, 2, 3, 4].map((p) =>
    chunks.filter((_, i) => i % 5 === p)
  );
  const order: FileChunk[] = [];
  // Lane 0 last of all: the start of the file comes at the very end.
  for (let round = 0; order.length < chunks.length - lanes[0].length; round++) {
    for (const lane of lanes.slice(1)) {
      order.push(...lane.slice(round * 2, round * 2 + 2));
    }
  }
  return [...order, ...lanes[0]];
}

Deno.test("a big file whose chunks come out of order, some twice, with a restart midway, is rebuilt byte for byte", async () => {
  const dir = `${ROOT}${await makeOutTempDir("bighash")}`;
  const bytes = randomBytes(SIZE);
  const order = interleaved(chunksOf(bytes));
  const half = Math.floor(order.length / 2);

  const first = await FileAssembler.open(dir);
  for (const chunk of order.slice(0, half)) {
    strictEqual((await first.accept(chunk)).kind, "written");
  }
  first.close();

  const again = await FileAssembler.open(dir);
  strictEqual((await again.accept(order[0])).kind, "duplicate");
  const outcomes = [];
  for (const chunk of order.slice(half)) {
    outcomes.push((await again.accept(chunk)).kind);
  }
  again.close();

  strictEqual(outcomes.at(-1), "reconstructed");
  const rebuilt = await Deno.readFile(`${dir}/day1/big.trc`);
  strictEqual(rebuilt.length, SIZE);
  strictEqual(toHex(sha512(rebuilt)), toHex(sha512(bytes)));
});

Deno.test("a big file whose bytes differ from what its sender hashed is kept aside, not moved into place", async () => {
  const dir = `${ROOT}${await makeOutTempDir("bighash")}`;
  const bytes = randomBytes(SIZE);
  const fileHash = sha512(bytes);
  const changed = bytes.slice();
  changed[40 * CHUNK + 7] ^= 1; // each chunk's own hash still matches
  const assembler = await FileAssembler.open(dir);
  let last;
  for (const chunk of interleaved(chunksOf(changed, fileHash))) {
    last = await assembler.accept(chunk);
  }
  assembler.close();

  strictEqual(last?.kind, "rejected");
  ok(
    last.kind === "rejected" && /does not match its SHA-512/.test(last.reason),
  );
  strictEqual(
    await Deno.stat(`${dir}/day1/big.trc`).then(() => true, () => false),
    false,
  );
});

Deno.test("PartialHashes: the worker's hash of a file told in steps is its SHA-512; a file gone gives none", async () => {
  const dir = `${ROOT}${await makeOutTempDir("bighash")}`;
  const bytes = randomBytes(3 * 1024 * 1024 + 5);
  await Deno.writeFile(`${dir}/a.part`, bytes);
  const hashes = new PartialHashes();
  try {
    strictEqual(hashes.available, true);
    hashes.hashTo("a", `${dir}/a.part`, 1024 * 1024);
    hashes.hashTo("a", `${dir}/a.part`, 2 * 1024 * 1024 + 3);
    const hash = await hashes.digest("a", `${dir}/a.part`);
    strictEqual(toHex(hash!), toHex(sha512(bytes)));

    hashes.hashTo("b", `${dir}/b.part`, 1024);
    strictEqual(await hashes.digest("b", `${dir}/b.part`), undefined);
  } finally {
    hashes.close();
  }
});
