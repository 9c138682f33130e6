/**
 * Giving a message's memory back once its chunk is written (issue 22): only
 * a buffer a value owns whole is released, and a file whose messages were
 * all released as the rebuild does it still comes out whole, because what
 * outlives a message (its hashes) is copied out of it. No Kafka: the real
 * message format straight into the assembler. And the old generation's
 * garbage is collected once the heap grew a few MB, in a process that may
 * ask for collections (a real `deno run`, its collections traced by V8).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  collectionFor,
  OLD_BUFFER_BYTES,
  ownBytes,
  releaseBuffer,
  SENT_GARBAGE_BYTES,
  YOUNG_GARBAGE_BYTES,
  youngGarbage,
} from "../lib/common/buffer_memory.ts";
import { decodeChunk, sha512 } from "../lib/transfer/chunk.ts";
import { FileAssembler } from "../lib/transfer/file_assembler.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";
import { chunkMessages, randomBytes } from "./helpers/chunk_messages.ts";

Deno.test("releaseBuffer frees a buffer owned whole, and leaves a view into a shared one (a socket read) untouched", () => {
  const owned = new Uint8Array(512 * 1024).fill(7);
  strictEqual(releaseBuffer(owned), true);
  strictEqual(owned.byteLength, 0);
  strictEqual(owned.buffer.byteLength, 0);

  // As the Kafka client hands out a 16 KiB record read within one 64 KiB read.
  const socketRead = Buffer.alloc(64 * 1024, 3);
  const record = socketRead.subarray(16 * 1024, 32 * 1024);
  strictEqual(releaseBuffer(record), false);
  strictEqual(record.byteLength, 16 * 1024);
  strictEqual(socketRead[0], 3);
  // A record that spans two reads is copied by the client: its own buffer.
  const spanning = Buffer.concat([socketRead.subarray(60_000), socketRead]);
  strictEqual(releaseBuffer(spanning), true);
  strictEqual(spanning.byteLength, 0);

  // A record's key kept while it waits: its own bytes, not the 64 KiB read.
  const key = ownBytes(socketRead.subarray(100, 120));
  strictEqual(key.buffer.byteLength, 20);
  deepStrictEqual([...key], Array(20).fill(3));
  const whole = new Uint8Array(8);
  strictEqual(ownBytes(whole), whole);

  strictEqual(releaseBuffer(null), false);
  strictEqual(releaseBuffer(new Uint8Array(0)), false);
  // Released twice: nothing left the second time.
  strictEqual(releaseBuffer(owned), false);
});

Deno.test("a file whose messages are released as soon as each chunk is written is rebuilt SHA-512-identical", async () => {
  const dir = `${ROOT}${await makeOutTempDir("release")}`;
  try {
    const bytes = randomBytes(5 * 64 * 1024 + 1000);
    const assembler = await FileAssembler.open(dir);
    const outcomes: string[] = [];
    for (const encoded of chunkMessages(bytes, 64 * 1024)) {
      // Each message in a Node Buffer of its own, as the client copies big
      // records out of its socket reads (a Buffer's slice() is a view).
      const message = Buffer.from(encoded);
      const chunk = decodeChunk(message, { checkHash: false });
      outcomes.push((await assembler.accept(chunk)).kind);
      strictEqual(releaseBuffer(message), true);
      strictEqual(chunk.data.byteLength, 0);
    }
    assembler.close();
    deepStrictEqual(outcomes, [
      ...Array(5).fill("written"),
      "reconstructed",
    ]);
    const rebuilt = await Deno.readFile(`${dir}/day1/scope.trc`);
    deepStrictEqual(sha512(rebuilt), sha512(bytes));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A program that leaves old-generation garbage behind and calls oldGarbage. */
const OLD_GARBAGE_PROGRAM = `
import { oldGarbage } from ${
  JSON.stringify(
    new URL("../lib/common/buffer_memory.ts", import.meta.url).href,
  )
};
// Each batch of objects lives through many young collections (so it is
// promoted), then is dropped: garbage in the old generation.
const kept = [];
for (let round = 0; round < 400; round++) {
  kept.push(Array.from({ length: 1000 }, (_, i) => ({ i, s: "x" + i })));
  if (kept.length > 50) kept.shift();
  oldGarbage(64);
  await new Promise((resolve) => setTimeout(resolve, 0));
}
console.log("done");
`;

/** Runs OLD_GARBAGE_PROGRAM with `v8Flags`; its full collections asked for by gc(). */
async function askedFullCollections(v8Flags: string): Promise<number> {
  const dir = await makeOutTempDir("old_garbage");
  try {
    const path = `${ROOT}${dir}/program.ts`;
    await Deno.writeTextFile(path, OLD_GARBAGE_PROGRAM);
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", `--v8-flags=${v8Flags}`, path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout);
    strictEqual(code, 0);
    ok(text.includes("done"), text);
    // V8 marks the collections that gc() asked for as "testing".
    return text.split("\n").filter((line) => /Mark-Compact.*testing/.test(line))
      .length;
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
}

Deno.test("oldGarbage asks for full collections as the old generation fills, and does nothing without --expose-gc", async () => {
  ok(await askedFullCollections("--expose-gc,--trace-gc") >= 1);
  strictEqual(await askedFullCollections("--trace-gc"), 0);
});

Deno.test("youngGarbage asks for a full collection instead of a young one once buffers grew 12 MB past their lowest since the last", () => {
  const MB = 1024 * 1024;
  strictEqual(OLD_BUFFER_BYTES, 12 * MB);
  // The buffers of a 512 KiB upload in use: 11-32 MB; a pile of old ones on top.
  strictEqual(collectionFor(24 * MB, 13 * MB), "minor");
  strictEqual(collectionFor(25 * MB - 1, 13 * MB), "minor");
  strictEqual(collectionFor(25 * MB, 13 * MB), "major");
  strictEqual(collectionFor(87 * MB, 20 * MB), "major");
});

/**
 * Runs `body` with a stand-in for V8's gc() (youngGarbage looks for it at
 * each call) that notes the kind of each collection asked for; `turn` lets
 * the collections asked for run.
 */
async function withGcStandIn(
  body: (asked: string[], turn: () => Promise<unknown>) => Promise<void>,
): Promise<void> {
  const asked: string[] = [];
  const global = globalThis as { gc?: (options: { type: string }) => void };
  const realGc = global.gc;
  global.gc = ({ type }) => asked.push(type);
  try {
    await body(asked, () => new Promise((resolve) => setTimeout(resolve, 0)));
  } finally {
    global.gc = realGc;
  }
}

Deno.test("youngGarbage asks for one full collection once buffers grew 12 MB, then starts its lowest level again", async () => {
  // The buffers' memory is V8's own count, moved by a real 48 MiB buffer.
  const MB = 1024 * 1024;
  await withGcStandIn(async (asked, turn) => {
    youngGarbage(6 * MB); // the lowest level: now
    await turn();
    const held = new ArrayBuffer(48 * MB);
    youngGarbage(6 * MB); // 48 MiB up: a full collection
    youngGarbage(6 * MB); // asked again before it ran: the same one
    await turn();
    youngGarbage(6 * MB); // after it, the lowest starts again (48 MiB up)
    await turn();
    deepStrictEqual(asked, ["minor", "major", "minor"]);
    strictEqual(held.byteLength, 48 * MB);
  });
});

Deno.test("youngGarbage asks for a young collection every 6 MiB of fetched records, every 2 MiB of sent ones when told, each counted apart", async () => {
  // Buffers stay level, so only young ones.
  const MB = 1024 * 1024;
  strictEqual(YOUNG_GARBAGE_BYTES, 6 * MB);
  strictEqual(SENT_GARBAGE_BYTES, 2 * MB);
  await withGcStandIn(async (asked, turn) => {
    /** Collections asked for after `records` big records of 512 KiB. */
    const after = async (records: number, every?: number) => {
      asked.length = 0;
      for (let i = 0; i < records; i++) {
        youngGarbage(MB / 2, every);
        await turn();
      }
      return asked.length;
    };
    await after(12); // whatever an earlier test left counted is used up
    strictEqual(await after(12), 1); // 6 MiB fetched: one
    strictEqual(await after(12, SENT_GARBAGE_BYTES), 3); // 6 MiB sent: three
    // A reconstructor passing chunks on both fetches and sends: 6 MiB each
    // way, one after the other, asks for one plus three, not one every 2 MiB.
    asked.length = 0;
    for (let i = 0; i < 12; i++) {
      youngGarbage(MB / 2);
      await turn();
      youngGarbage(MB / 2, SENT_GARBAGE_BYTES);
      await turn();
    }
    strictEqual(asked.length, 4);
    deepStrictEqual(new Set(asked), new Set(["minor"]));
  });
});
