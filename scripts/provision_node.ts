/**
 * # Provision a node for end-to-end encryption (KafkaCrypto)
 *
 * ```sh
 * export KAFKACRYPTO_ROOT_PASSWORD=...           # or type it at the prompt
 * deno task provision_node --node_id lab_pc_1
 * deno task provision_node --node_id lab_pc_2 --topics "lecroy_files raw_scans"
 * deno task provision_node --node_id lab_pc_1 --check   # are its files usable?
 * ```
 *
 * Permissions: `--allow-env=KAFKACRYPTO_ROOT_PASSWORD` (the password),
 * `--allow-read` and `--allow-write=.kafkacrypto` (the node's folder; pass
 * `--dir` elsewhere and widen `--allow-write` to match).
 *
 * Files sent through a broker that someone else runs can be encrypted so
 * that the broker only ever holds ciphertext (see the README). Each machine
 * that sends or rebuilds is a *node* with its own signing key. A node is
 * trusted because its key is signed by the *root of trust*, a key pair
 * computed from a password that only the lab knows: type the same password
 * on every lab PC and their nodes trust each other, with no server to ask.
 * This script writes a node's three files, in the layout of KafkaCrypto's
 * own provisioning tools, so OpenMSIStream can use them too:
 * `DIR/NAME/NAME.config` (settings, the root's public key, the signed
 * chain), `NAME.crypto` (the node's secret key) and `NAME.seed` (the secret
 * the data keys are derived from). They are readable by you alone (mode
 * 600): whoever copies them can read the lab's data.
 *
 * `--check` provisions nothing: it reads a node's files (also ones written by
 * KafkaCrypto's `simple-provision.py`) and checks that its chain leads from
 * the root of trust to its own key.
 *
 * Try: provision two nodes with the same password and compare the `root`
 * line; then one with another password.
 *
 * @module
 */
import { runMain, UserError } from "../lib/common/cli.ts";
import { parseFlags, stringFlag } from "../lib/common/flags.ts";
import { openNode } from "../lib/crypto/node.ts";
import { NodeFilesError } from "../lib/crypto/node_files.ts";
import { ProvisionError, provisionNode } from "../lib/crypto/provision.ts";
import { readRootPassword } from "../lib/crypto/root_password.ts";

/** Where node folders go unless `--dir` says otherwise. TODO: change for your lab. */
const DEFAULT_DIR = ".kafkacrypto";

/** Reads the command line. */
function readCommandLine() {
  return parseFlags(Deno.args, {
    program: "provision_node",
    summary:
      "Write a KafkaCrypto node's files (config, crypto, seed) signed by the root of trust, " +
      "whose password comes from $KAFKACRYPTO_ROOT_PASSWORD or a prompt.",
    flags: {
      node_id: { type: "string", description: "the node's name (required)" },
      dir: stringFlag(DEFAULT_DIR, "folder that gets a sub-folder per node"),
      topics: stringFlag(
        "",
        "root topics the node may use, space separated (default: all)",
      ),
      check: {
        type: "boolean",
        description: "only check an existing node's files",
      },
    },
  }).flags;
}

/** Provisions the node and prints what a person may see (public keys only). */
async function provision(
  flags: ReturnType<typeof readCommandLine>,
): Promise<void> {
  if (!flags.node_id) throw new UserError("--node_id NAME is required");
  const password = await readRootPassword();
  try {
    const node = await provisionNode({
      nodeId: flags.node_id,
      folder: `${flags.dir}/${flags.node_id}`,
      rootPassword: password,
      topics: flags.topics.split(/[\s,]+/).filter((topic) => topic !== ""),
    });
    console.log(`node ${flags.node_id}: ${node.configPath}`);
    console.log(`  node public key: ${node.publicKeyHex}`);
    console.log(`  root of trust:   ${node.rootPublicKeyHex}`);
  } catch (error) {
    if (error instanceof ProvisionError) throw new UserError(error.message);
    throw error;
  }
}

/** Reads an existing node's files and prints what its chain grants. */
async function checkNode(
  flags: ReturnType<typeof readCommandLine>,
): Promise<void> {
  if (!flags.node_id) throw new UserError("--node_id NAME is required");
  try {
    const node = await openNode(
      `${flags.dir}/${flags.node_id}/${flags.node_id}.config`,
    );
    console.log(`node ${node.nodeId}: files usable`);
    console.log(`  topics: ${(node.grant.topics ?? ["(any)"]).join(" ")}`);
    console.log(`  usages: ${(node.grant.usages ?? ["(any)"]).join(" ")}`);
    console.log(`  root of trust: ${node.rootPublicKeyHex}`);
  } catch (error) {
    if (error instanceof NodeFilesError) throw new UserError(error.message);
    throw error;
  }
}

if (import.meta.main) {
  await runMain("provision_node", async () => {
    const flags = readCommandLine();
    await (flags.check ? checkNode(flags) : provision(flags));
  });
}

// A run prints (the keys are public; the password and secret keys never appear):
//
//   node lab_pc_1: .kafkacrypto/lab_pc_1/lab_pc_1.config
//     node public key: 5177...89ee
//     root of trust:   42ce...6b85
