/**
 * # Benchmark: how fast one core seals and opens a chunk (encryption's floor)
 *
 * ```sh
 * deno task bench_secretbox
 * deno task bench_secretbox --chunk_kb 16 --rounds 30
 * deno task bench_secretbox --plain_upload_mb_s 154 --plain_rebuild_mb_s 195
 * ```
 *
 * What it demonstrates: every encrypted chunk goes through libsodium's
 * secretbox (XSalsa20 to hide, Poly1305 to authenticate), in WebAssembly, on
 * the tool's main thread. This script times each part on one chunk, by the
 * CPU time of this process (`process.cpuUsage()`), so that other programs on
 * a busy machine change the figures little: Poly1305 alone, the whole
 * secretbox through libsodium's wrappers, and what the tools run
 * (`loadSecretbox()` on the module's memory, `encryptMessage` with
 * KafkaCrypto's envelope, `decryptMessage`). XSalsa20's share is the seal's
 * time less Poly1305's (the wrappers have no call for XSalsa20 alone).
 *
 * Done in turn with the rest of the work, sealing at S MB/s slows a tool that
 * moves P MB/s without it to 1 / (1/P + 1/S). Encryption then costs
 * P / (P + S): at most 25% only when S >= 3 P. Given the plain tools' rates
 * (`deno task bench` prints them), the last lines say what that predicts and
 * what S would have to be.
 *
 * Permissions: none (it reads no file and opens no connection).
 *
 * Try: `--chunk_kb 16` (the per-call overhead shows), or run it while
 * `deno task bench` runs and compare with a quiet run.
 *
 * @module
 */
import process from "node:process";
import sodium from "libsodium-wrappers-sumo";
import { runMain } from "../lib/common/cli.ts";
import { numberFlag, parseFlags } from "../lib/common/flags.ts";
import { loadSecretbox } from "../lib/crypto/sodium.ts";
import { MessageKeyGenerator } from "../lib/crypto/message_keys.ts";
import {
  decryptMessage,
  encryptMessage,
  readEnvelope,
} from "../lib/crypto/message_framing.ts";

/** Calls timed together; the median batch counts. */
const BATCH = 20;
/** Whole numbers, at least 1. */
const WHOLE = { integer: true, min: 1 };
/** Fixed (not secret) key and nonce: the bytes sealed do not matter here. */
const KEY = new Uint8Array(32).fill(7);
const NONCE = new Uint8Array(24).fill(9);

/** One timed operation: a name and what it does to the chunk. */
type Operation = [name: string, run: () => unknown];

/** Bytes that differ from one position to the next. */
function patterned(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
  return bytes;
}

/** The operations, each on the same chunk, all ready to call. */
async function operations(chunk: Uint8Array): Promise<Operation[]> {
  await sodium.ready;
  const box = await loadSecretbox();
  const sealed = new Uint8Array(chunk.length + 16);
  box.sealInto(sealed, chunk, NONCE, KEY);
  const keys = await MessageKeyGenerator.forValues(KEY);
  const envelope = readEnvelope(await encryptMessage(keys, 0, chunk))!;
  return [
    ["Poly1305 alone (wrappers)", () => sodium.crypto_onetimeauth(chunk, KEY)],
    [
      "secretbox seal (wrappers)",
      () => sodium.crypto_secretbox_easy(chunk, NONCE, KEY),
    ],
    [
      "secretbox open (wrappers)",
      () => sodium.crypto_secretbox_open_easy(sealed, NONCE, KEY),
    ],
    [
      "secretbox seal (module memory)",
      () => box.sealInto(sealed, chunk, NONCE, KEY),
    ],
    ["secretbox open (module memory)", () => box.open(sealed, NONCE, KEY)],
    ["encryptMessage (whole message)", () => encryptMessage(keys, 0, chunk)],
    ["decryptMessage (whole message)", () => decryptMessage(keys, envelope)],
  ];
}

/** Median CPU milliseconds per call of each operation, rounds interleaved. */
async function timeOperations(
  ops: Operation[],
  rounds: number,
): Promise<number[]> {
  const perCall: number[][] = ops.map(() => []);
  for (let round = 0; round <= rounds; round++) {
    for (const [index, [, run]] of ops.entries()) {
      const before = process.cpuUsage();
      for (let call = 0; call < BATCH; call++) await run();
      const used = process.cpuUsage(before);
      // Round 0 only warms up (WebAssembly tiers up, caches fill).
      if (round > 0) {
        perCall[index].push((used.user + used.system) / 1000 / BATCH);
      }
    }
  }
  return perCall.map((times) => times.sort((a, b) => a - b)[times.length >> 1]);
}

/** What sealing at `sealMbS` predicts for a tool that moves `plainMbS` plain. */
function costLine(what: string, plainMbS: number, sealMbS: number): string {
  const encrypted = 1 / (1 / plainMbS + 1 / sealMbS);
  const cost = (1 - encrypted / plainMbS) * 100;
  return `${what}: ${plainMbS} MB/s plain -> ${encrypted.toFixed(0)} MB/s ` +
    `encrypted, cost ${cost.toFixed(1)}% (25% needs >= ${3 * plainMbS} MB/s)`;
}

if (import.meta.main) {
  await runMain("bench_secretbox", async () => {
    const { flags } = parseFlags(Deno.args, {
      program: "bench_secretbox",
      summary: "Time libsodium's secretbox on one chunk, by CPU time.",
      flags: {
        chunk_kb: numberFlag(512, "KiB per chunk", WHOLE),
        rounds: numberFlag(15, `rounds of ${BATCH} calls each`, WHOLE),
        plain_upload_mb_s: numberFlag(154, "the plain upload's MB/s", {
          min: 1,
        }),
        plain_rebuild_mb_s: numberFlag(195, "the plain rebuild's MB/s", {
          min: 1,
        }),
      },
    });
    const chunk = patterned(flags.chunk_kb * 1024);
    console.log(
      `bench_secretbox: ${flags.chunk_kb} KiB chunks, median of ` +
        `${flags.rounds} rounds of ${BATCH} calls, CPU time of this process`,
    );
    const ops = await operations(chunk);
    const ms = await timeOperations(ops, flags.rounds);
    const mbS = ms.map((each) => chunk.length / 1e6 / (each / 1000));
    for (const [index, [name]] of ops.entries()) {
      console.log(
        `  ${name.padEnd(32)} ${ms[index].toFixed(3)} ms  ` +
          `${mbS[index].toFixed(0)} MB/s`,
      );
    }
    const xsalsa = ms[
      ops.findIndex(([name]) => name.includes("seal (module"))
    ] -
      ms[ops.findIndex(([name]) => name.startsWith("Poly1305"))];
    console.log(
      `  ${"XSalsa20 (seal less Poly1305)".padEnd(32)} ${
        xsalsa.toFixed(3)
      } ms  ` +
        `${(chunk.length / 1e6 / (xsalsa / 1000)).toFixed(0)} MB/s`,
    );
    const seal = mbS[ops.findIndex(([name]) => name.startsWith("encrypt"))];
    const open = mbS[ops.findIndex(([name]) => name.startsWith("decrypt"))];
    console.log(costLine("upload", flags.plain_upload_mb_s, seal));
    console.log(costLine("rebuild", flags.plain_rebuild_mb_s, open));
  });
}

// A run on the 2-core machine (2026-12-03, others busy beside it):
//
// bench_secretbox: 512 KiB chunks, median of 15 rounds of 20 calls, CPU time of this process
//   Poly1305 alone (wrappers)        0.396 ms  1325 MB/s
//   secretbox seal (wrappers)        1.782 ms  294 MB/s
//   secretbox open (wrappers)        1.774 ms  296 MB/s
//   secretbox seal (module memory)   1.681 ms  312 MB/s
//   secretbox open (module memory)   1.743 ms  301 MB/s
//   encryptMessage (whole message)   1.840 ms  285 MB/s
//   decryptMessage (whole message)   1.776 ms  295 MB/s
//   XSalsa20 (seal less Poly1305)    1.285 ms  408 MB/s
// upload: 154 MB/s plain -> 100 MB/s encrypted, cost 35.1% (25% needs >= 462 MB/s)
// rebuild: 195 MB/s plain -> 117 MB/s encrypted, cost 39.8% (25% needs >= 585 MB/s)
