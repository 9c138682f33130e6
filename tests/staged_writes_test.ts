/**
 * A big file's small chunks are gathered into 1 MiB writes made off the main
 * thread (staged_writes.ts): a chunk is reported written (and so recorded)
 * only once its bytes are in the partial file, and a file rebuilt from 16 KiB
 * chunks comes out byte for byte, in order or not, with a chunk sent twice
 * while its first copy was still gathered, across a restart, and with a
 * damaged chunk that a later good copy replaces.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  decodeChunk,
  type FileChunk,
  sha512,
  toHex,
} from "../lib/transfer/chunk.ts";
import { FileAssembler } from "../lib/transfer/file_assembler.ts";
import { PartialFiles } from "../lib/transfer/partial_files.ts";
import {
  STAGE_BYTES,
  StagedWrites,
  type WrittenChunk,
} from "../lib/transfer/staged_writes.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";
import { chunkMessages, randomBytes } from "./helpers/chunk_messages.ts";

const CHUNK = 16 * 1024;
/** Over the 16 MiB from which a file is big (hashed on the worker, gathered). */
const SIZE = 20 * 1024 * 1024 + 1234;

/** The chunks of `bytes` as a sender makes them, through the real message format. */
function chunksOf(bytes: Uint8Array, fileHash = sha512(bytes)): FileChunk[] {
  return chunkMessages(bytes, CHUNK, { filename: "big.bin", fileHash }).map(
    (message) => decodeChunk(message),
  );
}

/** The file rebuilt in `dir`, as its SHA-512 in hex. */
async function rebuiltHash(dir: string): Promise<string> {
  return toHex(sha512(await Deno.readFile(`${dir}/day1/big.bin`)));
}

Deno.test("StagedWrites reports a chunk written only once its bytes are in the partial file", async () => {
  const dir = `${ROOT}${await makeOutTempDir("staged")}`;
  const partials = new PartialFiles(dir);
  const bytes = randomBytes(3 * STAGE_BYTES);
  const checked: number[] = [];
  const onDisk = (chunks: WrittenChunk[]) => {
    const file = Deno.readFileSync(partials.path("k"));
    for (const { index, hash } of chunks) {
      const piece = file.subarray((index - 1) * CHUNK, index * CHUNK);
      strictEqual(toHex(sha512(piece)), toHex(hash), `chunk ${index}`);
      checked.push(index);
    }
  };
  const staged = new StagedWrites(partials, (_key, chunks) => onDisk(chunks));
  const perBuffer = STAGE_BYTES / CHUNK;
  const stage = (index: number) => {
    const data = bytes.subarray((index - 1) * CHUNK, index * CHUNK);
    return staged.stage("k", {
      index,
      offset: (index - 1) * CHUNK,
      data,
      hash: sha512(data),
    });
  };
  try {
    for (let index = 1; index <= perBuffer - 1; index++) await stage(index);
    strictEqual(staged.firstUnwritten("k"), 1);
    strictEqual(checked.length, 0, "nothing written before the buffer is full");
    await stage(perBuffer); // full: its write goes out
    strictEqual(staged.firstUnwritten("k"), 1);
    // A chunk that does not follow the last: the buffer before it is written.
    await stage(2 * perBuffer + 1);
    await stage(perBuffer + 1);
    await staged.settle("k");
    strictEqual(staged.firstUnwritten("k"), Infinity);
    deepStrictEqual(checked.toSorted((a, b) => a - b), [
      ...Array.from({ length: perBuffer + 1 }, (_, i) => i + 1),
      2 * perBuffer + 1,
    ]);
    // closeNow writes what is still gathered, on this thread.
    await stage(2 * perBuffer + 10);
    strictEqual(checked.includes(2 * perBuffer + 10), false);
    staged.closeNow();
    strictEqual(checked.includes(2 * perBuffer + 10), true);
  } finally {
    partials.closeAll();
  }
});

Deno.test("a big file of 16 KiB chunks, with a duplicate, a restart midway and chunks out of order, is rebuilt byte for byte", async () => {
  const dir = `${ROOT}${await makeOutTempDir("staged")}`;
  const bytes = randomBytes(SIZE);
  const chunks = chunksOf(bytes);
  // Not a whole number of 1 MiB buffers: some chunks are still gathered at
  // each step below.
  const half = 660;

  const first = await FileAssembler.open(dir);
  for (const chunk of chunks.slice(0, 650)) {
    strictEqual((await first.accept(chunk)).kind, "written");
  }
  // Sent again while its first copy is still gathered.
  strictEqual((await first.accept(chunks[644])).kind, "duplicate");
  for (const chunk of chunks.slice(650, half)) {
    strictEqual((await first.accept(chunk)).kind, "written");
  }
  first.close(); // what was gathered is written and recorded

  const again = await FileAssembler.open(dir);
  strictEqual((await again.accept(chunks[half - 1])).kind, "duplicate");
  // The rest in the order of 3 partitions read one after another.
  const rest = chunks.slice(half);
  const order = [0, 1, 2].flatMap((lane) =>
    rest.filter((_, i) => i % 3 === lane)
  );
  let last;
  for (const chunk of order) last = (await again.accept(chunk)).kind;
  again.close();
  strictEqual(last, "reconstructed");
  strictEqual(await rebuiltHash(dir), toHex(sha512(bytes)));
});

Deno.test("a damaged 16 KiB chunk of a big file is found at its end and replaced by a good copy", async () => {
  const dir = `${ROOT}${await makeOutTempDir("staged")}`;
  const bytes = randomBytes(SIZE);
  const chunks = chunksOf(bytes);
  const bad = 700;
  const damaged = { ...chunks[bad - 1], data: chunks[bad - 1].data.slice() };
  damaged.data[5] ^= 1; // its declared hash no longer matches

  const assembler = await FileAssembler.open(dir);
  try {
    let outcome;
    for (const chunk of chunks) {
      outcome = await assembler.accept(
        chunk.chunkIndex === bad ? damaged : chunk,
      );
    }
    strictEqual(outcome?.kind, "damaged");
    deepStrictEqual(outcome.kind === "damaged" && outcome.chunks, [bad]);
    strictEqual(
      (await assembler.accept(chunks[bad - 1])).kind,
      "reconstructed",
    );
  } finally {
    assembler.close();
  }
  strictEqual(await rebuiltHash(dir), toHex(sha512(bytes)));
});
