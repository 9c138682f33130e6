/**
 * The lz4 codec against two independent implementations, no broker needed:
 * the reference `lz4` command (liblz4, the code inside the broker's lz4-java
 * and librdkafka) and Kafka's own Java frame streams from the broker's jars.
 * Frames go both ways, for random, compressible and all-zero data of sizes
 * around the 64 KiB block edge, and each part of the frame format is checked.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  compressFrame,
  decompressFrame,
  Lz4FormatError,
  xxh32,
} from "../lib/kafka/lz4_codec.ts";
import { resolveClasspath } from "../lib/kafka/maven_classpath.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";
import { commandOutput } from "./helpers/kafka_readers.ts";

const KAFKA_LZ4_JAVA = `${ROOT}tests/helpers/java/KafkaLz4.java`;

/** Reproducible bytes: random, text-like (compressible), or zeros. */
function sample(kind: "random" | "text" | "zeros", size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  if (kind === "zeros") return bytes;
  const words = ["trigger ", "channel ", "C1 ", "0.125 ", "-3.5e-4\n", "x"];
  let x = size * 2654435761 >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let i = 0; i < size;) {
    if (kind === "random") bytes[i++] = next() & 0xff;
    else {for (const c of words[next() % words.length]) {
        if (i < size) bytes[i++] = c.charCodeAt(0);
      }}
  }
  return bytes;
}

const SIZES = [0, 1, 12, 13, 100, 65535, 65536, 65537, 300_000];
const CASES = (["random", "text", "zeros"] as const).flatMap((kind) =>
  SIZES.map((size) => ({ name: `${kind}-${size}`, data: sample(kind, size) }))
);

Deno.test("lz4 frames written here are read back identical by the reference lz4 tool", async () => {
  const dir = `${ROOT}${await makeOutTempDir("lz4cli")}`;
  for (const { name, data } of CASES) {
    await Deno.writeFile(`${dir}/${name}.lz4`, compressFrame(data));
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

Deno.test("lz4 frames written here are read back identical by Kafka's Java frame reader", async () => {
  const dir = `${ROOT}${await makeOutTempDir("lz4java")}`;
  const args = [];
  for (const { name, data } of CASES) {
    await Deno.writeFile(`${dir}/${name}.lz4`, compressFrame(data));
    args.push(`${dir}/${name}.lz4`, `${dir}/${name}`);
  }
  const classpath = await resolveClasspath();
  await commandOutput("java", [
    "-cp",
    classpath,
    KAFKA_LZ4_JAVA,
    "decode",
    ...args,
  ]);
  for (const { name, data } of CASES) {
    deepStrictEqual(await Deno.readFile(`${dir}/${name}`), data, name);
  }
});

Deno.test("lz4 frames from the reference tool and from Kafka's Java writer decode identically here", async () => {
  const dir = `${ROOT}${await makeOutTempDir("lz4in")}`;
  const javaArgs: string[] = [];
  const javaChecksumArgs: string[] = [];
  for (const { name, data } of CASES) {
    await Deno.writeFile(`${dir}/${name}`, data);
    javaArgs.push(`${dir}/${name}`, `${dir}/${name}.java.lz4`);
    javaChecksumArgs.push(`${dir}/${name}`, `${dir}/${name}.javasum.lz4`);
  }
  const classpath = await resolveClasspath();
  await commandOutput("java", [
    "-cp",
    classpath,
    KAFKA_LZ4_JAVA,
    "encode",
    ...javaArgs,
  ]);
  await commandOutput("java", [
    "-cp",
    classpath,
    KAFKA_LZ4_JAVA,
    "encode-checksum",
    ...javaChecksumArgs,
  ]);
  // The lz4 tool's options cover every frame feature a producer may set.
  const cliVariants: Record<string, string[]> = {
    "default": [],
    "b4-blocksum-size": ["-B4", "-BX", "--content-size"],
    "b5-nocrc": ["-B5", "--no-frame-crc"],
    "b6-fast": ["-B6", "--fast=3"],
    "hc": ["-B4", "-9"],
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
        decompressFrame(await Deno.readFile(frame)),
        data,
        `${name} ${variant}`,
      );
    }
    for (const kind of ["java", "javasum"]) {
      deepStrictEqual(
        decompressFrame(await Deno.readFile(`${dir}/${name}.${kind}.lz4`)),
        data,
        `${name} ${kind}`,
      );
    }
  }
});

Deno.test("an lz4 frame has a valid header checksum, 64 KiB blocks, an end mark and a content checksum", () => {
  const data = sample("text", 200_000);
  const frame = compressFrame(data);
  const view = new DataView(frame.buffer);
  strictEqual(view.getUint32(0, true), 0x184d2204, "magic");
  strictEqual(
    frame[4],
    0x64,
    "version 01, independent blocks, content checksum",
  );
  strictEqual(frame[5], 0x40, "64 KiB blocks");
  strictEqual(frame[6], (xxh32(frame, 4, 6) >>> 8) & 0xff, "header checksum");
  // Walk the blocks: each at most 64 KiB, compressible ones smaller.
  let at = 7;
  let blocks = 0;
  while (view.getUint32(at, true) !== 0) {
    const size = view.getUint32(at, true) & 0x7fffffff;
    ok(size <= 65536, `block ${blocks} is ${size} bytes`);
    ok(size < 65536, "text compresses");
    at += 4 + size;
    blocks++;
  }
  strictEqual(blocks, Math.ceil(data.length / 65536));
  strictEqual(view.getUint32(at + 4, true), xxh32(data), "content checksum");
  strictEqual(frame.length, at + 8, "end mark, checksum, nothing after");
  // Random data is stored as is, with the "uncompressed" bit.
  const stored = compressFrame(sample("random", 1000));
  strictEqual(
    new DataView(stored.buffer).getUint32(7, true),
    0x80000000 + 1000,
  );
});

Deno.test("damaged lz4 frames are refused with a reason, never read past their blocks", async () => {
  const data = sample("text", 100_000);
  const frame = compressFrame(data);
  const damaged = (at: number) => {
    const copy = frame.slice();
    copy[at] ^= 0x01;
    return copy;
  };
  throws(() => decompressFrame(damaged(6)), /header checksum/);
  throws(() => decompressFrame(damaged(frame.length - 1)), /content checksum/);
  throws(
    () => decompressFrame(frame.subarray(0, frame.length - 10)),
    Lz4FormatError,
  );
  throws(() => decompressFrame(damaged(0)), /magic/);
  // A block claiming more than the declared block size.
  const oversize = frame.slice();
  new DataView(oversize.buffer).setUint32(7, 70_000, true);
  throws(() => decompressFrame(oversize), /exceeds 65536/);
  // Block checksums (the lz4 tool's -BX) are checked too.
  const dir = `${ROOT}${await makeOutTempDir("lz4bad")}`;
  await Deno.writeFile(`${dir}/in`, data);
  await commandOutput("lz4", [
    "-f",
    "-q",
    "-B4",
    "-BX",
    `${dir}/in`,
    `${dir}/in.lz4`,
  ]);
  const withSums = await Deno.readFile(`${dir}/in.lz4`);
  withSums[7 + 4 + 10] ^= 0x01;
  throws(() => decompressFrame(withSums), /block checksum|content checksum/);
  // Linked blocks (lz4 -BD), which Kafka refuses, fail cleanly here too.
  await commandOutput("lz4", [
    "-f",
    "-q",
    "-B4",
    "-BD",
    `${dir}/in`,
    `${dir}/linked.lz4`,
  ]);
  throws(
    () => decompressFrame(Deno.readFileSync(`${dir}/linked.lz4`)),
    /before the block/,
  );
});
