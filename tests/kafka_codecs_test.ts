/**
 * The codecs of @platformatic/kafka (the client library) against independent
 * implementations, no broker needed: its lz4 frames against the reference
 * `lz4` command (liblz4, the code inside librdkafka and the broker's
 * lz4-java) and Kafka's own Java frame streams from the broker's jars, both
 * ways, for random, compressible and all-zero data of sizes around the block
 * edges; its zstd frames against the reference `zstd` command. (Issue 13: a
 * JavaScript lz4 codec once wrote frames the broker refused.)
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { compressionsAlgorithms } from "@platformatic/kafka";
import { randomBytes } from "./helpers/chunk_messages.ts";
import { commandOutput, javaHelperArgs } from "./helpers/kafka_readers.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";

const LZ4_MAGIC = 0x184d2204;

/** Reproducible bytes: random, text-like (compressible), or zeros. */
function sample(kind: "random" | "text" | "zeros", size: number): Uint8Array {
  if (kind === "zeros") return new Uint8Array(size);
  if (kind === "random") return randomBytes(size);
  const line = "C1 trigger 0.125 V, -3.5e-4 s; channel 3 ok\n";
  // Numbered lines: compressible, yet not one repeated pattern.
  let text = "";
  for (let i = 0; text.length < size; i++) text += `${i} ${line}`;
  return new TextEncoder().encode(text.slice(0, size));
}

/**
 * Sizes around the 64 KiB and 256 KiB block edges, and a few blocks more.
 * No empty input: a batch always holds a record, and @platformatic/wasm-utils
 * 0.2.1 throws on an empty input once its WebAssembly memory has grown (its
 * input view is left detached; any longer input makes a new one).
 */
const SIZES = [1, 13, 100, 65535, 65536, 65537, 262144, 262145, 1_100_000];
const CASES = (["random", "text", "zeros"] as const).flatMap((kind) =>
  SIZES.map((size) => ({ name: `${kind}-${size}`, data: sample(kind, size) }))
);

/** Runs `work` in a fresh folder under out/, removed afterwards. */
async function inTempDir(
  prefix: string,
  work: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = `${ROOT}${await makeOutTempDir(prefix)}`;
  try {
    await work(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The client library's lz4 frame of `data`, as it puts it in a batch. */
function clientLz4(data: Uint8Array): Uint8Array {
  return compressionsAlgorithms.lz4.compressSync(Buffer.from(data));
}

/** `frame` decoded by the client library's lz4 codec. */
function clientUnlz4(frame: Uint8Array): Uint8Array {
  return new Uint8Array(
    compressionsAlgorithms.lz4.decompressSync(Buffer.from(frame)),
  );
}

Deno.test("lz4 frames the client library writes are read back identical by the reference lz4 tool", async () => {
  await inTempDir("lz4cli", async (dir) => {
    for (const { name, data } of CASES) {
      await Deno.writeFile(`${dir}/${name}.lz4`, clientLz4(data));
      await commandOutput("lz4", [
        "-d",
        "-f",
        "-q",
        `${dir}/${name}.lz4`,
        `${dir}/${name}`,
      ]);
      deepStrictEqual(await Deno.readFile(`${dir}/${name}`), data, name);
    }
  });
});

Deno.test("lz4 frames the client library writes are read back identical by Kafka's Java frame reader", async () => {
  await inTempDir("lz4java", async (dir) => {
    const args = [];
    for (const { name, data } of CASES) {
      await Deno.writeFile(`${dir}/${name}.lz4`, clientLz4(data));
      args.push(`${dir}/${name}.lz4`, `${dir}/${name}`);
    }
    await commandOutput("java", [
      ...await javaHelperArgs("KafkaLz4"),
      "decode",
      ...args,
    ]);
    for (const { name, data } of CASES) {
      deepStrictEqual(await Deno.readFile(`${dir}/${name}`), data, name);
    }
  });
});

Deno.test("lz4 frames from the reference tool and from Kafka's Java writer decode identically in the client library", async () => {
  await inTempDir("lz4in", async (dir) => {
    const javaArgs: string[] = [];
    const javaChecksumArgs: string[] = [];
    for (const { name, data } of CASES) {
      await Deno.writeFile(`${dir}/${name}`, data);
      javaArgs.push(`${dir}/${name}`, `${dir}/${name}.java.lz4`);
      javaChecksumArgs.push(`${dir}/${name}`, `${dir}/${name}.javasum.lz4`);
    }
    const kafkaLz4 = await javaHelperArgs("KafkaLz4");
    for (
      const [mode, args] of [["encode", javaArgs], [
        "encode-checksum",
        javaChecksumArgs,
      ]] as const
    ) {
      await commandOutput("java", [
        ...kafkaLz4,
        mode,
        ...args,
      ]);
    }
    // The lz4 tool's options cover every frame feature a producer may set.
    const cliVariants: Record<string, string[]> = {
      "default": [],
      "b4-blocksum-size": ["-B4", "-BX", "--content-size"],
      "b5-nocrc": ["-B5", "--no-frame-crc"],
      "b6-fast": ["-B6", "--fast=3"],
      "b7-hc": ["-B7", "-9"],
    };
    for (const { name, data } of CASES) {
      for (const [variant, options] of Object.entries(cliVariants)) {
        // lz4 1.9.4 itself fails to write 64 KiB blocks for a file of exactly
        // 65535 bytes ("dstMaxSize_tooSmall"); its other block sizes cover it.
        if (data.length === 65535 && options.includes("-B4")) continue;
        const frame = `${dir}/${name}.${variant}.lz4`;
        await commandOutput("lz4", [
          "-f",
          "-q",
          ...options,
          `${dir}/${name}`,
          frame,
        ]);
        deepStrictEqual(
          clientUnlz4(await Deno.readFile(frame)),
          data,
          `${name} ${variant}`,
        );
      }
      for (const kind of ["java", "javasum"]) {
        deepStrictEqual(
          clientUnlz4(await Deno.readFile(`${dir}/${name}.${kind}.lz4`)),
          data,
          `${name} ${kind}`,
        );
      }
    }
  });
});

Deno.test("an lz4 frame of the client library: magic, independent blocks, a header checksum the lz4 tool checks, blocks within their size, an end mark", async () => {
  const data = sample("text", 1_100_000);
  const frame = clientLz4(data);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  strictEqual(view.getUint32(0, true), LZ4_MAGIC, "magic");
  const flags = frame[4];
  strictEqual(flags >> 6, 1, "version 01");
  ok(flags & 0x20, "independent blocks (Kafka refuses linked ones)");
  strictEqual(flags & 0x08, 0, "no content size: a 7-byte header");
  strictEqual(flags & 0x01, 0, "no dictionary id");
  const blockChecksums = (flags & 0x10) !== 0;
  const contentChecksum = (flags & 0x04) !== 0;
  const blockCode = (frame[5] >> 4) & 0x07;
  ok(blockCode >= 4 && blockCode <= 7, `block size code ${blockCode}`);
  const maxBlock = 1 << (2 * blockCode + 8);
  // Walk the blocks: each within the declared size, text compressed.
  let at = 7;
  let blocks = 0;
  let compressed = 0;
  while (view.getUint32(at, true) !== 0) {
    const word = view.getUint32(at, true);
    const size = word & 0x7fffffff;
    ok(size <= maxBlock, `block ${blocks} is ${size} bytes`);
    if (!(word & 0x80000000)) compressed++;
    at += 4 + size + (blockChecksums ? 4 : 0);
    blocks++;
  }
  strictEqual(blocks, Math.ceil(data.length / maxBlock));
  strictEqual(compressed, blocks, "text compresses in every block");
  strictEqual(
    frame.length,
    at + 4 + (contentChecksum ? 4 : 0),
    "end mark (and content checksum), nothing after",
  );
  // The lz4 tool checks the header checksum (and the content one, if set):
  // it takes the frame, and refuses it with that byte changed.
  await inTempDir("lz4format", async (dir) => {
    await Deno.writeFile(`${dir}/good.lz4`, frame);
    await commandOutput("lz4", ["-t", "-q", `${dir}/good.lz4`]);
    const damaged = frame.slice();
    damaged[6] ^= 0x01;
    await Deno.writeFile(`${dir}/bad.lz4`, damaged);
    await rejects(
      commandOutput("lz4", ["-t", "-q", `${dir}/bad.lz4`]),
      /lz4 failed/,
    );
  });
  // Random data is stored as is, with the "uncompressed" bit.
  const stored = clientLz4(sample("random", 1000));
  strictEqual(
    new DataView(stored.buffer, stored.byteOffset).getUint32(7, true),
    0x80000000 + 1000,
  );
});

Deno.test("zstd frames of the client library and of the reference zstd tool decode identically in each other", async () => {
  await inTempDir("zstd", async (dir) => {
    for (const { name, data } of CASES) {
      const ours = compressionsAlgorithms.zstd.compressSync(Buffer.from(data));
      await Deno.writeFile(`${dir}/${name}.zst`, ours);
      await commandOutput("zstd", [
        "-d",
        "-f",
        "-q",
        `${dir}/${name}.zst`,
        "-o",
        `${dir}/${name}.out`,
      ]);
      deepStrictEqual(await Deno.readFile(`${dir}/${name}.out`), data, name);
      await Deno.writeFile(`${dir}/${name}`, data);
      await commandOutput("zstd", [
        "-f",
        "-q",
        "-19",
        `${dir}/${name}`,
        "-o",
        `${dir}/${name}.ref.zst`,
      ]);
      deepStrictEqual(
        new Uint8Array(
          compressionsAlgorithms.zstd.decompressSync(
            Buffer.from(await Deno.readFile(`${dir}/${name}.ref.zst`)),
          ),
        ),
        data,
        `${name} from the zstd tool`,
      );
    }
  });
});
