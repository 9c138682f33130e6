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

Deno.test("PartialHashes: with --allow-sys=setPriority the hash worker's thread runs at nice 10 and the main thread at its own; without it, both as they are", async () => {
  const dir = `${ROOT}${await makeOutTempDir("bighash_nice")}`;
  await Deno.writeFile(`${dir}/a.part`, randomBytes(1024 * 1024));
  // A process that starts the worker, hashes a file with it, and waits.
  await Deno.writeTextFile(
    `${dir}/hold.ts`,
    `import { PartialHashes } from "${ROOT}lib/transfer/partial_files.ts";
const hashes = new PartialHashes();
await hashes.digest("a", "${dir}/a.part");
console.log("hashed");
await new Promise((resolve) => setTimeout(resolve, 60_000));`,
  );
  /** The nice value of each thread of a process, by the thread's name. */
  async function niceByThread(sys: string[]): Promise<Map<string, string>> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", ...sys, `${dir}/hold.ts`],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let said = "";
      while (!said.includes("hashed")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the process ended: ${said}`);
        said += value;
      }
      reader.releaseLock();
      const ps = await new Deno.Command("ps", {
        args: ["-L", "-o", "ni=,comm=", "-p", String(child.pid)],
      }).output();
      const threads = new Map<string, string>();
      for (const line of new TextDecoder().decode(ps.stdout).split("\n")) {
        const [nice, ...name] = line.trim().split(/\s+/);
        if (nice) threads.set(name.join(" "), nice);
      }
      return threads;
    } finally {
      child.kill();
      await child.stdout.cancel().catch(() => {});
      await child.status;
    }
  }
  const allowed = await niceByThread(["--allow-sys=setPriority"]);
  strictEqual(allowed.get("worker-1"), "10");
  strictEqual(allowed.get("deno"), "0");
  const refused = await niceByThread([]);
  strictEqual(refused.get("worker-1"), "0");
});
