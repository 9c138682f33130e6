/**
 * Opening a provisioned node: its files read (lib/crypto/node_files.ts) and
 * its chain checked, so that a node whose files do not fit together never
 * starts sending: the chain must lead from an allowlisted root of trust to
 * the very key in the crypto file, unexpired, and allow the topic.
 *
 * @example
 * ```ts
 * import { openNode } from "./node.ts";
 *
 * const node = await openNode(".kafkacrypto/lab_pc_1/lab_pc_1.config", {
 *   topic: "lecroy_files",
 * });
 * node.grant.topics; // e.g. ["^.*$"]
 * ```
 *
 * @module
 */
import { ChainError, type ChainGrant, verifyChain } from "./chain.ts";
import { type NodeFiles, NodeFilesError, readNodeFiles } from "./node_files.ts";
import { loadSodium } from "./sodium.ts";

/** A node ready to use: its files and what its chain grants it. */
export interface OpenNode extends NodeFiles {
  /** What chain0 grants (topics, usages, expiry). */
  grant: ChainGrant;
  /** The root of trust the chain leads from, hex (public, safe to print). */
  rootPublicKeyHex: string;
}

/**
 * Reads the node's files and checks its chain (for `check.topic` when
 * given); throws {@linkcode NodeFilesError} with one line otherwise.
 *
 * @example
 * ```ts
 * try {
 *   await openNode("missing/missing.config");
 * } catch (error) {
 *   (error as Error).message; // "node config missing/missing.config not found"
 * }
 * ```
 */
export async function openNode(
  configPath: string,
  check: { topic?: string } = {},
): Promise<OpenNode> {
  const sodium = await loadSodium();
  const files = await readNodeFiles(configPath);
  const topic = check.topic?.split(".", 1)[0];
  let refusal = "no root of trust is allowed";
  for (const rootEntry of files.allowlist) {
    let grant: ChainGrant;
    try {
      grant = await verifyChain(files.chains[0], [rootEntry], { topic });
    } catch (error) {
      if (!(error instanceof ChainError)) throw error;
      refusal = error.message;
      continue;
    }
    if (
      sodium.to_hex(grant.publicKey) !== sodium.to_hex(files.signingPublicKey)
    ) {
      throw new NodeFilesError(
        `${configPath}: chain0 signs another key than the one in the crypto file (files from two provisionings?)`,
      );
    }
    return {
      ...files,
      grant,
      rootPublicKeyHex: sodium.to_hex(rootEntry.slice(-32)),
    };
  }
  throw new NodeFilesError(
    `${configPath}: the node's chain is not accepted: ${refusal}`,
  );
}
