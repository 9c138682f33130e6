/**
 * A KafkaCrypto node's files, in the layout KafkaCrypto's own tools write:
 * a folder `NAME/` holding `NAME.config` (an INI file: `key : value`, byte
 * values as `base64#...`), `NAME.crypto` (msgpack: the node's Ed25519
 * secret key and a key for wrapping stored secrets) and `NAME.seed`
 * (msgpack: the ratchet's key index and 32-byte secret). Files are written
 * with mode 600 and never printed. See docs/kafkacrypto-wire.md.
 *
 * @example
 * ```ts
 * import { readNodeFiles } from "./node_files.ts";
 *
 * try {
 *   await readNodeFiles(".kafkacrypto/lab_pc_1/lab_pc_1.config");
 * } catch (error) {
 *   console.log((error as Error).message); // one line: which file, what is wrong
 * }
 * ```
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { loadSodium } from "./sodium.ts";

/** Sections of a KafkaCrypto config: section name to (lower-case key to raw value). */
export type ConfigSections = Map<string, Map<string, string>>;

/** What a node's files hold, decoded. Secret fields are never printed. */
export interface NodeFiles {
  /** The node's name (`node_id`). */
  nodeId: string;
  /** The folder the files are in. */
  folder: string;
  /** The parsed config, every section (for tools that keep other keys). */
  config: ConfigSections;
  /** Allowlisted roots of trust (chain entries), from `NAME-allowlist`. */
  allowlist: Uint8Array[];
  /** The node's chains by index (`chain0`, ...), from `NAME-chains`. */
  chains: Uint8Array[];
  /** The Ed25519 secret key (64 bytes) from the crypto file. Secret. */
  signingSecretKey: Uint8Array;
  /** Its public key (32 bytes). */
  signingPublicKey: Uint8Array;
  /** The key that wraps stored secrets (32 bytes). Secret. */
  wrappingKey: Uint8Array;
  /** Ephemeral key-exchange versions the crypto file lists (1 = X25519). */
  exchangeVersions: number[];
  /** The ratchet's key index, from the seed file. */
  seedKeyIndex: number;
  /** The ratchet's current secret (32 bytes). Secret. */
  seedSecret: Uint8Array;
  /** Path of the seed file (the ratchet rewrites it). */
  seedPath: string;
}

/** Node files that are missing or malformed; the message names the file. */
export class NodeFilesError extends Error {
  /** `message` is one line, with no key material in it. */
  constructor(message: string) {
    super(message);
    this.name = "NodeFilesError";
  }
}

/**
 * Parses a KafkaCrypto config (Python's ConfigParser with `:` as the
 * delimiter and `;` comments). Keys keep their case, as KafkaCrypto keeps
 * it (it writes names in lower case, and `base64#` keys as they are).
 *
 * @example
 * ```ts
 * parseNodeConfig("[DEFAULT]\nnode_id : a\n").get("DEFAULT")?.get("node_id"); // "a"
 * ```
 */
export function parseNodeConfig(text: string): ConfigSections {
  const sections: ConfigSections = new Map();
  let current: Map<string, string> | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trimEnd();
    if (line.trim() === "" || line.trimStart().startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = sections.get(header[1]) ?? new Map();
      sections.set(header[1], current);
      continue;
    }
    const colon = line.indexOf(":");
    if (!current || colon < 0) {
      throw new Error(`unreadable line ${JSON.stringify(line)}`);
    }
    current.set(
      line.slice(0, colon).trim().toLowerCase(),
      line.slice(colon + 1).trim(),
    );
  }
  return sections;
}

/**
 * Writes sections back in ConfigParser's layout (`key : value`, a blank line
 * after each section).
 *
 * @example
 * ```ts
 * formatNodeConfig(new Map([["DEFAULT", new Map([["node_id", "a"]])]]));
 * // "[DEFAULT]\nnode_id : a\n\n"
 * ```
 */
export function formatNodeConfig(sections: ConfigSections): string {
  let text = "";
  for (const [name, values] of sections) {
    text += `[${name}]\n`;
    for (const [key, value] of values) text += `${key} : ${value}\n`;
    text += "\n";
  }
  return text;
}

/**
 * A config value for bytes, as KafkaCrypto stores them: `base64#` + base64.
 *
 * @example
 * ```ts
 * bytesValue(new Uint8Array([1, 2])); // "base64#AQI="
 * ```
 */
export function bytesValue(bytes: Uint8Array): string {
  return `base64#${encodeBase64(bytes)}`;
}

/**
 * Reads and checks a node's files from the path of its `.config` file (the
 * crypto and seed files are found through its `cryptokey` and `ratchet`
 * keys, relative to its folder). Throws {@linkcode NodeFilesError}.
 *
 * @example
 * ```ts
 * const node = await readNodeFiles(".kafkacrypto/lab_pc_1/lab_pc_1.config");
 * node.nodeId; // "lab_pc_1"
 * ```
 */
export async function readNodeFiles(configPath: string): Promise<NodeFiles> {
  const sodium = await loadSodium();
  const folder = configPath.includes("/")
    ? configPath.slice(0, configPath.lastIndexOf("/"))
    : ".";
  const config = parseConfigFile(
    await readNodeFile(configPath, "node config"),
    configPath,
  );
  const nodeId = config.get("DEFAULT")?.get("node_id") ?? "";
  if (nodeId === "") throw new NodeFilesError(`${configPath} names no node_id`);
  const own = config.get(nodeId) ?? new Map<string, string>();
  const cryptoPath = `${folder}/${
    fileValue(own.get("cryptokey"), `${nodeId}.crypto`)
  }`;
  const seedPath = `${folder}/${
    fileValue(own.get("ratchet"), `${nodeId}.seed`)
  }`;

  const allowlist = [
    ...(config.get(`${nodeId}-allowlist`) ?? new Map()).values(),
  ]
    .map((value) => bytesFromValue(value, configPath, "allowlist"));
  const chainsSection = config.get(`${nodeId}-chains`) ??
    new Map<string, string>();
  const chains: Uint8Array[] = [];
  for (const [key, value] of chainsSection) {
    const index = /^chain(\d+)$/.exec(key);
    if (index) {
      chains[Number(index[1])] = bytesFromValue(value, configPath, key);
    }
  }
  if (allowlist.length === 0) {
    throw new NodeFilesError(`${configPath} allows no root of trust`);
  }
  if (chains.length === 0 || !chains[0]) {
    throw new NodeFilesError(
      `${configPath} has no chain0: the node is not provisioned`,
    );
  }

  const crypto = decodeCryptoFile(
    await readNodeFile(cryptoPath, "crypto file"),
    cryptoPath,
  );
  const seed = decodeSeedFile(
    await readNodeFile(seedPath, "seed file"),
    seedPath,
  );
  return {
    nodeId,
    folder,
    config,
    allowlist,
    chains,
    signingSecretKey: crypto.signingSecretKey,
    signingPublicKey: sodium.crypto_sign_ed25519_sk_to_pk(
      crypto.signingSecretKey,
    ),
    wrappingKey: crypto.wrappingKey,
    exchangeVersions: crypto.exchangeVersions,
    seedKeyIndex: seed.keyIndex,
    seedSecret: seed.secret,
    seedPath,
  };
}

/**
 * The crypto file's bytes: `msgpack([2, [signingSecretKey], wrappingKey,
 * false, exchangeVersions])` (version 2 of KafkaCrypto's CryptoKey file).
 *
 * @example
 * ```ts
 * const file = encodeCryptoFile(new Uint8Array(64), new Uint8Array(32), [1]);
 * file[0]; // 0x95 (a msgpack list of 5)
 * ```
 */
export function encodeCryptoFile(
  signingSecretKey: Uint8Array,
  wrappingKey: Uint8Array,
  exchangeVersions: number[],
): Uint8Array {
  return encode([2, [signingSecretKey], wrappingKey, false, exchangeVersions]);
}

/**
 * The seed file's bytes: `msgpack([keyIndex, secret])`.
 *
 * @example
 * ```ts
 * encodeSeedFile(0, new Uint8Array(32)).length; // 35
 * ```
 */
export function encodeSeedFile(
  keyIndex: number,
  secret: Uint8Array,
): Uint8Array {
  return encode([keyIndex, secret]);
}

/** The decoded crypto file (versions 1, 2 and the unversioned legacy one). */
function decodeCryptoFile(bytes: Uint8Array, path: string): {
  signingSecretKey: Uint8Array;
  wrappingKey: Uint8Array;
  exchangeVersions: number[];
} {
  let contents: unknown;
  try {
    contents = decode(bytes);
  } catch {
    throw new NodeFilesError(
      `${path} is not a KafkaCrypto crypto file (not msgpack)`,
    );
  }
  if (!Array.isArray(contents)) {
    throw new NodeFilesError(`${path} is not a KafkaCrypto crypto file`);
  }
  if (contents.length === 2) {
    contents = [2, [contents[0]], contents[1], true, [1]];
  }
  const list = contents as unknown[];
  if (list[0] === 1) list[1] = [list[1]];
  const signingKeys = list[1];
  const signingSecretKey = Array.isArray(signingKeys)
    ? signingKeys.find((key) => key instanceof Uint8Array && key.length === 64)
    : undefined;
  if (!(signingSecretKey instanceof Uint8Array)) {
    throw new NodeFilesError(`${path} holds no Ed25519 signing key`);
  }
  const wrappingKey = list[2];
  if (!(wrappingKey instanceof Uint8Array) || wrappingKey.length !== 32) {
    throw new NodeFilesError(`${path} holds no 32-byte wrapping key`);
  }
  const exchangeVersions = Array.isArray(list[4]) ? list[4].map(Number) : [1];
  if (!exchangeVersions.includes(1)) {
    throw new NodeFilesError(
      `${path} allows no X25519 key exchange (post-quantum only is not supported)`,
    );
  }
  return { signingSecretKey, wrappingKey, exchangeVersions };
}

/** The decoded seed file. */
function decodeSeedFile(
  bytes: Uint8Array,
  path: string,
): { keyIndex: number; secret: Uint8Array } {
  let contents: unknown;
  try {
    contents = decode(bytes);
  } catch {
    throw new NodeFilesError(
      `${path} is not a KafkaCrypto seed file (not msgpack)`,
    );
  }
  if (
    !Array.isArray(contents) || typeof contents[0] !== "number" ||
    !(contents[1] instanceof Uint8Array) || contents[1].length !== 32
  ) {
    throw new NodeFilesError(`${path} is not a KafkaCrypto seed file`);
  }
  return { keyIndex: contents[0], secret: contents[1] };
}

/** A file's bytes, or a one-line error naming it. */
async function readNodeFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NodeFilesError(`${what} ${path} not found`);
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new NodeFilesError(
        `${what} ${path} cannot be read (permission denied)`,
      );
    }
    throw error;
  }
}

/** The config parsed, or a one-line error naming it. */
function parseConfigFile(bytes: Uint8Array, path: string): ConfigSections {
  try {
    return parseNodeConfig(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    );
  } catch {
    throw new NodeFilesError(`${path} is not a KafkaCrypto node config`);
  }
}

/** A `file#NAME` value's file name (or the default). */
function fileValue(value: string | undefined, fallback: string): string {
  if (value === undefined || value === "") return fallback;
  return value.startsWith("file#") ? value.slice(5) : value;
}

/** A `base64#` value's bytes, or a one-line error (the value is not shown). */
function bytesFromValue(value: string, path: string, key: string): Uint8Array {
  if (!value.startsWith("base64#")) {
    throw new NodeFilesError(`${path}: ${key} is not a base64# value`);
  }
  try {
    return decodeBase64(value.slice(7));
  } catch {
    throw new NodeFilesError(`${path}: ${key} is not valid base64`);
  }
}
