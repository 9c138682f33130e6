/**
 * A producing node's secrets kept across runs, as KafkaCrypto keeps them:
 * the `oldkeys` value of the config's `NAME-crypto` section, sealed with the
 * node's wrapping key (`nonce(24) || secretbox`, stored as `base64#`). A
 * producer that restarts reads them back and can still answer key requests
 * for what it sent before, for up to a week (KafkaCrypto's
 * `CRYPTO_MAX_PGEN_AGE`).
 *
 * @example
 * ```ts
 * import { readOldKeys, writeOldKeys } from "./old_keys.ts";
 * import { readNodeFiles } from "./node_files.ts";
 *
 * const config = ".kafkacrypto/lab_pc_1/lab_pc_1.config";
 * const node = await readNodeFiles(config);
 * await writeOldKeys(config, node, await readOldKeys(node));
 * ```
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import {
  bytesValue,
  formatNodeConfig,
  type NodeFiles,
  NodeFilesError,
  parseNodeConfig,
} from "./node_files.ts";
import { decodeBase64 } from "./base64.ts";
import { loadSodium } from "./sodium.ts";

/** How long a producing secret is kept: one week. */
export const OLD_KEY_MAX_AGE_SECONDS = 604_800;

/** One kept producing secret. */
export interface OldKey {
  /** The topic root it encrypts. */
  root: string;
  /** Its key index (32 bytes in the long form, else an integer). */
  keyIndex: Uint8Array | number;
  /** The topic secret (32 bytes). Secret. */
  secret: Uint8Array;
  /** When it was first used, Unix seconds. */
  birthSeconds: number;
}

/**
 * The kept secrets of `node` that are younger than a week (none when the
 * config holds none); throws {@linkcode NodeFilesError} when they do not
 * open with the node's wrapping key.
 *
 * @example
 * ```ts
 * import { readNodeFiles } from "./node_files.ts";
 * const node = await readNodeFiles(".kafkacrypto/lab_pc_1/lab_pc_1.config");
 * (await readOldKeys(node)).length; // 0 for a new node
 * ```
 */
export async function readOldKeys(
  node: NodeFiles,
  nowSeconds = Date.now() / 1000,
): Promise<OldKey[]> {
  const sodium = await loadSodium();
  const stored = node.config.get(`${node.nodeId}-crypto`)?.get("oldkeys");
  if (!stored) return [];
  let sealed: Uint8Array;
  try {
    if (!stored.startsWith("base64#")) throw new Error("not base64#");
    sealed = decodeBase64(stored.slice(7));
    const plain = sodium.crypto_secretbox_open_easy(
      sealed.slice(sodium.crypto_secretbox_NONCEBYTES),
      sealed.slice(0, sodium.crypto_secretbox_NONCEBYTES),
      node.wrappingKey,
    );
    const contents = decode(plain) as Record<string, unknown>;
    const pgens = contents?.pgens;
    if (!Array.isArray(pgens)) return [];
    const keys: OldKey[] = [];
    for (const item of pgens) {
      if (!Array.isArray(item) || item.length < 4) continue;
      const [root, keyIndex, secret, birth] = item;
      const rootText = root instanceof Uint8Array
        ? new TextDecoder().decode(root)
        : root;
      if (
        typeof rootText !== "string" || !(secret instanceof Uint8Array) ||
        typeof birth !== "number" ||
        !(keyIndex instanceof Uint8Array || typeof keyIndex === "number")
      ) continue;
      if (nowSeconds - birth < OLD_KEY_MAX_AGE_SECONDS) {
        keys.push({ root: rootText, keyIndex, secret, birthSeconds: birth });
      }
    }
    return keys;
  } catch {
    throw new NodeFilesError(
      `the kept keys (oldkeys) in the config of node ${node.nodeId} do not open with its crypto file`,
    );
  }
}

/**
 * Writes `keys` as the node's kept secrets into its config (the whole file
 * rewritten through a temporary file and a rename, mode 600).
 *
 * @example
 * ```ts
 * import { readNodeFiles } from "./node_files.ts";
 * const config = ".kafkacrypto/lab_pc_1/lab_pc_1.config";
 * await writeOldKeys(config, await readNodeFiles(config), []);
 * ```
 */
export async function writeOldKeys(
  configPath: string,
  node: NodeFiles,
  keys: OldKey[],
): Promise<void> {
  const sodium = await loadSodium();
  const plain = encode({
    pgens: keys.map((
      key,
    ) => [key.root, key.keyIndex, key.secret, key.birthSeconds]),
  });
  const nonce = sodium.randombytes_buf(sodium.crypto_secretbox_NONCEBYTES);
  const box = sodium.crypto_secretbox_easy(plain, nonce, node.wrappingKey);
  const sealed = new Uint8Array(nonce.length + box.length);
  sealed.set(nonce);
  sealed.set(box, nonce.length);
  // Read the file again: another tool may have changed it since it was opened.
  const config = parseNodeConfig(await Deno.readTextFile(configPath));
  const section = `${node.nodeId}-crypto`;
  const values = config.get(section) ?? new Map<string, string>();
  values.set("oldkeys", bytesValue(sealed));
  config.set(section, values);
  const temporary = `${configPath}.tmp`;
  await Deno.writeTextFile(temporary, formatNodeConfig(config), {
    mode: 0o600,
  });
  await Deno.chmod(temporary, 0o600);
  await Deno.rename(temporary, configPath);
}
