/**
 * Reading zstd: frames written by the reference `zstd` command decode
 * identical, and a frame announcing a huge size is refused before anything
 * is allocated.
 */
import { deepStrictEqual, throws } from "node:assert/strict";
import {
  decompressZstd,
  MAX_ZSTD_FRAME_BYTES,
} from "../lib/kafka/zstd_codec.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";
import { commandOutput } from "./helpers/kafka_readers.ts";

Deno.test("zstd frames from the reference zstd tool decode identically", async () => {
  const dir = `${ROOT}${await makeOutTempDir("zstd")}`;
  const text = new TextEncoder().encode("C1 trigger 0.125 V\n".repeat(20_000));
  const random = crypto.getRandomValues(new Uint8Array(60_000));
  for (const [name, data] of [["text", text], ["random", random]] as const) {
    await Deno.writeFile(`${dir}/${name}`, data);
    for (const level of ["-1", "-19"]) {
      await commandOutput("zstd", ["-q", "-f", level, `${dir}/${name}`]);
      deepStrictEqual(
        decompressZstd(await Deno.readFile(`${dir}/${name}.zst`)),
        data,
        `${name} ${level}`,
      );
    }
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a zstd frame announcing more than the limit is refused", () => {
  // Magic, descriptor "8-byte content size", then 2^40.
  const frame = new Uint8Array(20);
  const view = new DataView(frame.buffer);
  view.setUint32(0, 0xfd2fb528, true);
  frame[4] = 0xe0; // content size flag 3 (8 bytes), single segment
  view.setBigUint64(5, 2n ** 40n, true);
  throws(
    () => decompressZstd(frame),
    new RegExp(
      `announces 1099511627776 bytes, more than ${MAX_ZSTD_FRAME_BYTES}`,
    ),
  );
});
