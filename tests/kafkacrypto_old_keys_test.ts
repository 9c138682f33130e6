/**
 * A producer's kept secrets (`oldkeys`), read and written as KafkaCrypto
 * does: ours open in KafkaCrypto's CryptoStore, KafkaCrypto's open here,
 * week-old ones are dropped, and the rest of the config is kept.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { provisionNode } from "../lib/crypto/provision.ts";
import { readNodeFiles } from "../lib/crypto/node_files.ts";
import { readOldKeys, writeOldKeys } from "../lib/crypto/old_keys.ts";
import { openNode } from "../lib/crypto/node.ts";
import { loadSodium } from "../lib/crypto/sodium.ts";
import { runKafkaCryptoPython } from "./helpers/kafkacrypto_peer.ts";

/** Our Python lines: KafkaCrypto's CryptoStore reads or writes the node's oldkeys. */
const PYTHON_OLD_KEYS = [
  "import sys, time, msgpack",
  "from kafkacrypto import KafkaCryptoStore",
  "from kafkacrypto.cryptokey import CryptoKey",
  "config, mode = sys.argv[1:3]",
  "store = KafkaCryptoStore(config)",
  "store.set_cryptokey(CryptoKey(store.load_value('cryptokey')[5:]))",
  "if mode == 'read':",
  "  kvs = msgpack.unpackb(store.load_opaque_value('oldkeys', section='crypto'), raw=False)",
  "  for root, ki, ks, b in kvs['pgens']: print(root, ki.hex(), ks.hex(), int(time.time() - b < 604800))",
  "else:",
  "  root, ki, ks = sys.argv[3:6]",
  "  kvs = {'pgens': [[root, bytes.fromhex(ki), bytes.fromhex(ks), time.time()]]}",
  "  store.store_opaque_value('oldkeys', msgpack.packb(kvs, use_bin_type=True), section='crypto')",
].join("\n");

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("kept producing secrets: ours open in KafkaCrypto's CryptoStore and its open here; old ones dropped; the node stays usable", async () => {
  const sodium = await loadSodium();
  const folder = await Deno.makeTempDir({ prefix: "h20-oldkeys-" });
  try {
    const node = await provisionNode({
      nodeId: "n",
      folder,
      rootPassword: "lab root password 2026",
    });
    const files = await readNodeFiles(node.configPath);
    deepStrictEqual(await readOldKeys(files), []);
    const now = Date.now() / 1000;
    const fresh = {
      root: "lecroy_files",
      keyIndex: sodium.randombytes_buf(32),
      secret: sodium.randombytes_buf(32),
      birthSeconds: now,
    };
    const stale = {
      ...fresh,
      root: "old_files",
      birthSeconds: now - 8 * 86_400,
    };
    await writeOldKeys(node.configPath, files, [fresh, stale]);
    strictEqual((await Deno.stat(node.configPath)).mode! & 0o777, 0o600);

    const reread = await readNodeFiles(node.configPath);
    deepStrictEqual(await readOldKeys(reread), [fresh]);
    ok((await openNode(node.configPath)).grant.usages?.includes("key-encrypt"));

    const python = await runKafkaCryptoPython(PYTHON_OLD_KEYS, [
      "n.config",
      "read",
    ], { cwd: folder });
    strictEqual(python.code, 0, python.stderr);
    deepStrictEqual(python.stdout.trim().split("\n"), [
      `lecroy_files ${hex(fresh.keyIndex)} ${hex(fresh.secret)} 1`,
      `old_files ${hex(stale.keyIndex)} ${hex(stale.secret)} 0`,
    ]);

    const theirs = {
      keyIndex: sodium.randombytes_buf(32),
      secret: sodium.randombytes_buf(32),
    };
    const written = await runKafkaCryptoPython(
      PYTHON_OLD_KEYS,
      [
        "n.config",
        "write",
        "raw_scans",
        hex(theirs.keyIndex),
        hex(theirs.secret),
      ],
      { cwd: folder },
    );
    strictEqual(written.code, 0, written.stderr);
    const loaded = await readOldKeys(await readNodeFiles(node.configPath));
    strictEqual(loaded.length, 1);
    deepStrictEqual([loaded[0].root, loaded[0].keyIndex, loaded[0].secret], [
      "raw_scans",
      theirs.keyIndex,
      theirs.secret,
    ]);
    ok((await openNode(node.configPath)).grant.usages?.includes("key-encrypt"));

    // Sealed with another node's wrapping key: one clear error.
    const other = await provisionNode({
      nodeId: "o",
      folder: `${folder}/o`,
      rootPassword: "lab root password 2026",
    });
    const otherFiles = await readNodeFiles(other.configPath);
    let message = "";
    await readOldKeys({
      ...otherFiles,
      config: (await readNodeFiles(node.configPath)).config,
      nodeId: "n",
    })
      .catch((error) => message = error.message);
    strictEqual(
      message,
      "the kept keys (oldkeys) in the config of node n do not open with its crypto file",
    );
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
