/**
 * Provisioning a KafkaCrypto node: a fresh Ed25519 identity, signed by the
 * root of trust (derived from its password) into a chain that allows the
 * node to produce and consume the given topics, written as the node's three
 * files (mode 600) in a folder of their own.
 *
 * The chain has one entry, signed directly by the root (KafkaCrypto's
 * simple-provision.py puts a provisioner key derived from a second password
 * in between; both kinds of chain lead to the same root, so nodes of either
 * kind accept each other).
 *
 * @example
 * ```ts
 * import { provisionNode } from "./provision.ts";
 *
 * const folder = await Deno.makeTempDir();
 * const node = await provisionNode({
 *   nodeId: "lab_pc_1",
 *   folder: `${folder}/lab_pc_1`,
 *   rootPassword: "a long root password",
 * });
 * node.configPath; // ".../lab_pc_1/lab_pc_1.config"
 * ```
 *
 * @module
 */
import {
  deriveRootOfTrust,
  PRODCON_USAGES,
  signChainEntries,
  signChainEntry,
  verifyChain,
} from "./chain.ts";
import {
  bytesValue,
  encodeCryptoFile,
  encodeSeedFile,
  formatNodeConfig,
} from "./node_files.ts";
import { loadSodium } from "./sodium.ts";

/** KafkaCrypto's shortest root password. */
export const MIN_ROOT_PASSWORD_LENGTH = 12;
/** How long a provisioned chain stays valid: 10 years, as KafkaCrypto's tools. */
export const CHAIN_LIFETIME_SECONDS = 316_224_000;

/** What to provision. */
export interface ProvisionOptions {
  /** The node's name: letters, digits, `_`, `-`, `.`. */
  nodeId: string;
  /** The folder for the node's files (created; must not hold them yet). */
  folder: string;
  /** The root of trust's password. Never printed or stored. */
  rootPassword: string;
  /** Root topics the node may use (default: all, `^.*$`). */
  topics?: string[];
}

/** What was written. */
export interface ProvisionedNode {
  /** The node config's path. */
  configPath: string;
  /** The node's public signing key, hex (safe to print). */
  publicKeyHex: string;
  /** The root of trust's public key, hex (safe to print). */
  rootPublicKeyHex: string;
}

/** A provisioning request the user can fix (name, password, folder). */
export class ProvisionError extends Error {
  /** `message` is one line, with no key material or password in it. */
  constructor(message: string) {
    super(message);
    this.name = "ProvisionError";
  }
}

/**
 * Derives the root of trust, makes the node's keys, signs its chain and
 * writes its files; on any failure no node file is left behind.
 *
 * @example
 * ```ts
 * const folder = await Deno.makeTempDir();
 * const node = await provisionNode({
 *   nodeId: "n1",
 *   folder: `${folder}/n1`,
 *   rootPassword: "a long root password",
 *   topics: ["lecroy_files"],
 * });
 * node.publicKeyHex.length; // 64
 * ```
 */
export async function provisionNode(
  options: ProvisionOptions,
): Promise<ProvisionedNode> {
  const { nodeId, folder, rootPassword } = options;
  if (!/^[A-Za-z0-9_.-]+$/.test(nodeId) || nodeId.startsWith(".")) {
    throw new ProvisionError(
      `node id ${
        JSON.stringify(nodeId)
      } must be letters, digits, '_', '-' or '.'`,
    );
  }
  if ([...rootPassword].length < MIN_ROOT_PASSWORD_LENGTH) {
    throw new ProvisionError(
      `the root password must have at least ${MIN_ROOT_PASSWORD_LENGTH} characters`,
    );
  }
  const topics = options.topics?.length ? options.topics : ["^.*$"];
  const sodium = await loadSodium();
  const root = await deriveRootOfTrust(rootPassword);
  const identity = sodium.crypto_sign_keypair();
  const signed = await signChainEntry(root.secretKey, {
    maxAge: Math.floor(Date.now() / 1000) + CHAIN_LIFETIME_SECONDS,
    usages: [...PRODCON_USAGES],
    topics: [...new Set(topics.map(rootTopic))],
    pathlen: 1,
    publicKey: identity.publicKey,
  });
  sodium.memzero(root.secretKey);
  const chain = signChainEntries([signed]);
  await verifyChain(chain, [root.allowlistEntry]);

  const config = new Map([
    ["DEFAULT", new Map([["node_id", nodeId]])],
    [
      nodeId,
      new Map([
        ["mgmt_long_keyindex", "True"],
        ["cryptokey", `file#${nodeId}.crypto`],
        ["ratchet", `file#${nodeId}.seed`],
      ]),
    ],
    [
      `${nodeId}-allowlist`,
      new Map([["rot0", bytesValue(root.allowlistEntry)]]),
    ],
    [`${nodeId}-denylist`, new Map()],
    [`${nodeId}-crypto`, new Map([["maxage", String(CHAIN_LIFETIME_SECONDS)]])],
    [
      `${nodeId}-kafka`,
      new Map([["bootstrap_servers", ""], ["security_protocol", "SSL"]]),
    ],
    [`${nodeId}-kafka-consumer`, new Map()],
    [`${nodeId}-kafka-producer`, new Map()],
    [`${nodeId}-kafka-crypto`, new Map()],
    [`${nodeId}-kafka-crypto-consumer`, new Map()],
    [`${nodeId}-kafka-crypto-producer`, new Map()],
    [`${nodeId}-chains`, new Map([["chain0", bytesValue(chain)]])],
  ]);
  const files: [string, Uint8Array][] = [
    [
      `${nodeId}.crypto`,
      encodeCryptoFile(identity.privateKey, sodium.crypto_secretbox_keygen(), [
        1,
      ]),
    ],
    [`${nodeId}.seed`, encodeSeedFile(0, sodium.randombytes_buf(32))],
    [`${nodeId}.config`, new TextEncoder().encode(formatNodeConfig(config))],
  ];
  await writeNodeFolder(folder, files);
  return {
    configPath: `${folder}/${nodeId}.config`,
    publicKeyHex: sodium.to_hex(identity.publicKey),
    rootPublicKeyHex: sodium.to_hex(root.publicKey),
  };
}

/**
 * Writes the files (mode 600) into `folder` (mode 700): each first to a
 * temporary name, then renamed, the config last; anything written is removed
 * again when a later step fails.
 */
async function writeNodeFolder(
  folder: string,
  files: [string, Uint8Array][],
): Promise<void> {
  await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
  for (const [name] of files) {
    if (await exists(`${folder}/${name}`)) {
      throw new ProvisionError(
        `${folder}/${name} already exists: this node is provisioned (remove its files to provision it again)`,
      );
    }
  }
  const written: string[] = [];
  try {
    for (const [name, bytes] of files) {
      const temporary = `${folder}/.${name}.tmp`;
      await Deno.remove(temporary).catch(() => {}); // left by a crash
      written.push(temporary);
      await Deno.writeFile(temporary, bytes, { mode: 0o600, createNew: true });
      await Deno.chmod(temporary, 0o600);
      await Deno.rename(temporary, `${folder}/${name}`);
      written.push(`${folder}/${name}`);
    }
  } catch (error) {
    for (const path of written) await Deno.remove(path).catch(() => {});
    throw error;
  }
}

/** A topic's root (before the first dot); a `^regex` is kept whole. */
function rootTopic(topic: string): string {
  return topic.startsWith("^") ? topic : topic.split(".", 1)[0];
}

/** Whether a path exists. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
