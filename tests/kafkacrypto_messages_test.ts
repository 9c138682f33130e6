/**
 * Message encryption as KafkaCrypto does it: the same ratchet step, topic
 * secret, key index, per-message keys and `0x01 || msgpack([...])`
 * framing, checked both ways against KafkaCrypto's own Ratchet and
 * KeyGenerator classes (with pysodium's secretbox).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { provisionNode } from "../lib/crypto/provision.ts";
import { readNodeFiles } from "../lib/crypto/node_files.ts";
import { Ratchet } from "../lib/crypto/message_keys.ts";
import {
  decryptMessage,
  encryptMessage,
  keyIndexText,
  readEnvelope,
} from "../lib/crypto/message_framing.ts";
import { runKafkaCryptoPython } from "./helpers/kafkacrypto_peer.ts";

/** Our Python lines: KafkaCrypto's Ratchet and KeyGenerator, encrypting or decrypting values. */
const PYTHON_MESSAGES = [
  "import sys, msgpack, pysodium",
  "from kafkacrypto.ratchet import Ratchet",
  "seed, root, node, mode = sys.argv[1:5]",
  "ratchet = Ratchet(seed)",
  "ki, secret, keygen, valuegen = ratchet.get_key_value_generators(root, node=bytes.fromhex(node))",
  "ratchet.close()",
  "print(ki.hex())",
  "for item in sys.argv[5:]:",
  "  if mode == 'encrypt':",
  "    salt = valuegen.salt()",
  "    key, nonce = valuegen.generate()",
  "    box = pysodium.crypto_secretbox(item.encode(), nonce, key)",
  "    print((b'\\x01' + msgpack.packb([ki, salt, box], use_bin_type=True)).hex())",
  "  else:",
  "    parts = msgpack.unpackb(bytes.fromhex(item)[1:], raw=True)",
  "    assert parts[0] == ki, 'key index differs'",
  "    key, nonce = valuegen.generate(salt=parts[1])",
  "    print(pysodium.crypto_secretbox_open(parts[2], nonce, key).decode())",
].join("\n");

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text: string) =>
  Uint8Array.from(text.match(/../g)!.map((pair) => parseInt(pair, 16)));

Deno.test("values encrypted here open in KafkaCrypto and KafkaCrypto's open here, same key index and ratchet step", async () => {
  const folder = await Deno.makeTempDir({ prefix: "h20-messages-" });
  try {
    const node = await provisionNode({
      nodeId: "n",
      folder,
      rootPassword: "lab root password 2026",
    });
    const files = await readNodeFiles(node.configPath);
    await Deno.copyFile(files.seedPath, `${folder}/python.seed`);
    const nodeKeyHex = hex(files.signingPublicKey);

    // KafkaCrypto encrypts three values; we open them.
    const markers = ["MARKER-one", "MARKER-two", "MARKER-three"];
    const python = await runKafkaCryptoPython(
      PYTHON_MESSAGES,
      [
        `${folder}/python.seed`,
        "lecroy_files",
        nodeKeyHex,
        "encrypt",
        ...markers,
      ],
      { cwd: folder },
    );
    strictEqual(python.code, 0, python.stderr);
    const [pythonKeyIndex, ...sealed] = python.stdout.trim().split("\n");

    const ratchet = await Ratchet.open(files.seedPath);
    const topic = await ratchet.topicSecret(
      "lecroy_files",
      files.signingPublicKey,
    );
    strictEqual(keyIndexText(topic.keyIndex), pythonKeyIndex);
    const opened = [];
    for (const line of sealed) {
      const envelope = readEnvelope(fromHex(line));
      ok(envelope, "not a KafkaCrypto message");
      opened.push(
        new TextDecoder().decode(await decryptMessage(topic.values, envelope)),
      );
    }
    deepStrictEqual(opened, markers);
    // Both ratchets moved the seed file on to the same next secret.
    deepStrictEqual(
      await Deno.readFile(files.seedPath),
      await Deno.readFile(`${folder}/python.seed`),
    );

    // We encrypt three values under the next ratchet step; KafkaCrypto opens them.
    const next = await Ratchet.open(files.seedPath);
    const nextTopic = await next.topicSecret(
      "lecroy_files",
      files.signingPublicKey,
    );
    const ours = [];
    for (const marker of markers) {
      ours.push(
        hex(
          await encryptMessage(
            nextTopic.values,
            nextTopic.keyIndex,
            new TextEncoder().encode(marker),
          ),
        ),
      );
    }
    for (const line of ours) {
      ok(
        !line.includes(hex(new TextEncoder().encode("MARKER"))),
        "plaintext in a message",
      );
    }
    const back = await runKafkaCryptoPython(
      PYTHON_MESSAGES,
      [`${folder}/python.seed`, "lecroy_files", nodeKeyHex, "decrypt", ...ours],
      { cwd: folder },
    );
    strictEqual(back.code, 0, back.stderr);
    deepStrictEqual(back.stdout.trim().split("\n"), [
      keyIndexText(nextTopic.keyIndex),
      ...markers,
    ]);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("an altered byte or another topic's secret opens nothing", async () => {
  const folder = await Deno.makeTempDir({ prefix: "h20-messages-" });
  try {
    const node = await provisionNode({
      nodeId: "n",
      folder,
      rootPassword: "lab root password 2026",
    });
    const files = await readNodeFiles(node.configPath);
    const ratchet = await Ratchet.open(files.seedPath);
    const topic = await ratchet.topicSecret(
      "lecroy_files",
      files.signingPublicKey,
    );
    const other = await ratchet.topicSecret(
      "other_files",
      files.signingPublicKey,
    );
    const sealed = await encryptMessage(
      topic.values,
      topic.keyIndex,
      new TextEncoder().encode("data"),
    );
    strictEqual(
      await decryptMessage(other.values, readEnvelope(sealed)!),
      undefined,
    );
    sealed[sealed.length - 1] ^= 1;
    strictEqual(
      await decryptMessage(topic.values, readEnvelope(sealed)!),
      undefined,
    );
    strictEqual(
      readEnvelope(new TextEncoder().encode("plain chunk")),
      undefined,
    );
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("programs of one node starting at the same moment each get their own ratchet step (no two seal with the same keys)", async () => {
  const folder = await Deno.makeTempDir({ prefix: "h20-ratchet-" });
  try {
    const node = await provisionNode({
      nodeId: "n",
      folder,
      rootPassword: "lab root password 2026",
    });
    const { seedPath } = await readNodeFiles(node.configPath);
    const startIndex = (await Ratchet.open(seedPath)).keyIndex + 1;
    const PROGRAMS = 6;
    const moduleUrl = new URL("../lib/crypto/message_keys.ts", import.meta.url);
    // Each program waits for the same wall-clock moment, then opens the seed.
    const at = Date.now() + 1500;
    const code = [
      `import { Ratchet } from "${moduleUrl.href}";`,
      `while (Date.now() < ${at}) {}`,
      `console.log((await Ratchet.open(${
        JSON.stringify(seedPath)
      })).keyIndex);`,
    ].join("\n");
    const outputs = await Promise.all(
      Array.from({ length: PROGRAMS }, () =>
        new Deno.Command(Deno.execPath(), {
          args: ["eval", "--node-modules-dir=auto", code],
          stdout: "piped",
          stderr: "piped",
        }).output()),
    );
    const indexes = outputs.map((output) => {
      strictEqual(output.code, 0, new TextDecoder().decode(output.stderr));
      return Number(new TextDecoder().decode(output.stdout).trim());
    });
    deepStrictEqual(
      indexes.toSorted((a, b) => a - b),
      Array.from({ length: PROGRAMS }, (_, i) => startIndex + i),
    );
    strictEqual(
      (await Ratchet.open(seedPath)).keyIndex,
      startIndex + PROGRAMS,
    );
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
