/**
 * The secretbox that seals and opens every chunk (lib/crypto/sodium.ts,
 * libsodium's C functions over the module's memory) gives exactly the bytes
 * of libsodium's own wrappers, and KafkaCrypto's message around it exactly
 * msgpack's `[keyIndex, salt, box]`: checked at the sizes where msgpack's
 * bin header changes and at the 512 KiB chunk size. And bench_secretbox,
 * which times them, runs with the permissions deno.json gives it (none).
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import sodium from "libsodium-wrappers-sumo";
import { loadSecretbox } from "../lib/crypto/sodium.ts";
import { MessageKeyGenerator } from "../lib/crypto/message_keys.ts";
import {
  decryptMessage,
  encryptMessage,
  KAFKACRYPTO_MAGIC,
  readEnvelope,
} from "../lib/crypto/message_framing.ts";
import { runTask } from "./helpers/run_task.ts";

/** Plaintext sizes: empty, around salsa's 64-byte block, msgpack's bin8/16/32 edges, a chunk. */
const SIZES = [
  0,
  1,
  31,
  32,
  33,
  63,
  64,
  65,
  238,
  239,
  240,
  65518,
  65519,
  65520,
  524288,
];

/** Bytes that differ from one position to the next. */
function patterned(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
  return bytes;
}

Deno.test("sealInto gives crypto_secretbox_easy's bytes and open gives the plaintext back", async () => {
  await sodium.ready;
  const box = await loadSecretbox();
  const key = patterned(32), nonce = patterned(24).reverse();
  for (const size of SIZES) {
    const plaintext = patterned(size);
    const expected = sodium.crypto_secretbox_easy(plaintext, nonce, key);
    const sealed = new Uint8Array(size + 16);
    box.sealInto(sealed, plaintext, nonce, key);
    deepStrictEqual(sealed, expected, `size ${size}`);
    deepStrictEqual(box.open(sealed, nonce, key), plaintext, `size ${size}`);
  }
});

Deno.test("a box with an altered byte, another key or too short opens nothing", async () => {
  const box = await loadSecretbox();
  const key = patterned(32), nonce = patterned(24);
  const sealed = new Uint8Array(1000 + 16);
  box.sealInto(sealed, patterned(1000), nonce, key);
  for (const at of [0, 15, 16, sealed.length - 1]) {
    const altered = sealed.slice();
    altered[at] ^= 1;
    strictEqual(box.open(altered, nonce, key), undefined, `byte ${at}`);
  }
  strictEqual(box.open(sealed, nonce, patterned(33).subarray(1)), undefined);
  strictEqual(box.open(sealed.subarray(0, 15), nonce, key), undefined);
  throws(() => box.open(sealed, nonce, key.subarray(1)), /key length/);
  throws(
    () => box.sealInto(sealed, patterned(1000), nonce.subarray(1), key),
    /nonce length/,
  );
  throws(
    () => box.sealInto(sealed, patterned(999), nonce, key),
    /takes 1015 bytes/,
  );
});

Deno.test("encryptMessage writes 0x01 and msgpack's [keyIndex, salt, box], byte for byte", async () => {
  await sodium.ready;
  const secret = patterned(32);
  for (const keyIndex of [7, patterned(32).reverse()]) {
    const sealing = await MessageKeyGenerator.forValues(secret);
    const reference = await MessageKeyGenerator.forValues(secret);
    for (const size of SIZES) {
      const plaintext = patterned(size);
      const message = await encryptMessage(sealing, keyIndex, plaintext);
      const { salt, key, nonce } = reference.next();
      const box = sodium.crypto_secretbox_easy(plaintext, nonce, key);
      const body = encode([keyIndex, salt, box]);
      const expected = new Uint8Array(1 + body.length);
      expected[0] = KAFKACRYPTO_MAGIC;
      expected.set(body, 1);
      deepStrictEqual(message, expected, `size ${size}`);
      const opened = await decryptMessage(reference, readEnvelope(message)!);
      deepStrictEqual(opened, plaintext, `size ${size}`);
    }
  }
});

Deno.test("bench_secretbox prints each operation's MB/s and the cost it predicts; a bad flag is a usage error", async () => {
  const run = await runTask("bench_secretbox", [
    "--chunk_kb",
    "16",
    "--rounds",
    "1",
    "--plain_upload_mb_s",
    "100",
  ]);
  strictEqual(run.code, 0, run.stderr);
  for (const name of ["encryptMessage", "decryptMessage", "Poly1305"]) {
    ok(new RegExp(`${name}.* \\d+ MB/s`).test(run.stdout), run.stdout);
  }
  ok(
    /^upload: 100 MB\/s plain -> \d+ MB\/s encrypted, cost [\d.]+% \(25% needs >= 300 MB\/s\)$/m
      .test(run.stdout),
    run.stdout,
  );
  const bad = await runTask("bench_secretbox", ["--chunk_kb", "zero"]);
  strictEqual(bad.code, 2);
  strictEqual(bad.stderr.trim().split("\n").length, 1, bad.stderr);
});
