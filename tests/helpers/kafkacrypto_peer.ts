/**
 * KafkaCrypto itself as an outside peer of the tests: its provisioning tool
 * and its classes, run from ../shared/peers/kafkacrypto with Debian's
 * python3 (python3-pysodium, python3-msgpack, python3-dirhash; see
 * ../shared/peers/README.md). Nothing of KafkaCrypto is copied here: the
 * short Python lines below are ours and only call its public classes.
 * A missing peer fails the test (never a silent skip).
 *
 * @module
 */
import { PEERS } from "./openmsistream.ts";
import { startTestBroker, type TestBroker, uniqueTopic } from "./kafka.ts";
import { makeOutTempDir, ROOT, runTask, type TaskResult } from "./run_task.ts";

/** The Debian python3 the peers README names. */
const PYTHON = "/usr/bin/python3";

/** What a Python run printed. */
export interface PythonResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `code` with KafkaCrypto importable, in `cwd`, feeding `stdin`. */
export async function runKafkaCryptoPython(
  code: string,
  args: string[],
  options: { cwd: string; stdin?: string },
): Promise<PythonResult> {
  const module = `${PEERS}/kafkacrypto/kafkacrypto/__init__.py`;
  if (!await Deno.stat(module).then(() => true, () => false)) {
    throw new Error(`KafkaCrypto not found at ${PEERS}/kafkacrypto`);
  }
  const child = new Deno.Command(PYTHON, {
    args: ["-c", code, ...args],
    cwd: options.cwd,
    env: { PYTHONPATH: `${PEERS}/kafkacrypto`, PYTHONDONTWRITEBYTECODE: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(options.stdin ?? ""));
  await writer.close();
  const output = await child.output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

/**
 * Provisions `nodeId` (producer and consumer, Ed25519) in `folder` with
 * KafkaCrypto's own `tools/simple-provision.py`, its prompts answered on
 * stdin (its password prompts read stdin too: no terminal in tests).
 */
export async function simpleProvision(
  folder: string,
  nodeId: string,
  rootPassword: string,
  provisioningPassword: string,
  topics: string,
): Promise<PythonResult> {
  await Deno.mkdir(folder, { recursive: true });
  const tool = `${PEERS}/kafkacrypto/tools/simple-provision.py`;
  const answers = [
    "1",
    rootPassword,
    provisioningPassword,
    nodeId,
    "4",
    "n",
    topics,
    "",
    "yes",
    "",
  ];
  const result = await runKafkaCryptoPython(
    "import getpass, sys\n" +
      "getpass.getpass = lambda prompt='': input(prompt)\n" +
      "sys.argv = [sys.argv[1]]\n" +
      "exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'))\n",
    [tool],
    { cwd: folder, stdin: answers.join("\n") },
  );
  if (result.code !== 0) {
    throw new Error(
      `simple-provision.py failed (${result.code}):\n${result.stderr}`,
    );
  }
  return result;
}

/**
 * Loads a node's files with KafkaCrypto's classes (KafkaCryptoStore,
 * CryptoKey, Ratchet) and checks its chain0 with KafkaCrypto's
 * `process_chain` against `allowlistConfig`'s allowlist (default: its own)
 * for `topic` and usage `key-encrypt`. Prints `ok <public key hex>`.
 * Works on the files in place: run it on a copy (the ratchet advances).
 */
export function pythonCheckNode(
  configPath: string,
  topic: string,
  allowlistConfig = configPath,
): Promise<PythonResult> {
  const folder = configPath.slice(0, configPath.lastIndexOf("/"));
  return runKafkaCryptoPython(
    [
      "import sys, os",
      "from kafkacrypto import KafkaCryptoStore",
      "from kafkacrypto.cryptokey import CryptoKey",
      "from kafkacrypto.ratchet import Ratchet",
      "from kafkacrypto.chain import process_chain",
      "config, topic, allowfrom = sys.argv[1:4]",
      "allowstore = KafkaCryptoStore(allowfrom)",
      "allow = list(allowstore.load_section('allowlist', defaults=False).values())",
      "store = KafkaCryptoStore(config)",
      "key = CryptoKey(store.load_value('cryptokey')[5:])",
      "Ratchet(store.load_value('ratchet')[5:]).close()",
      "pk = process_chain(store.load_value('chain0', section='chains'), topic, 'key-encrypt', allowlist=allow)[0]",
      "assert pk[2] == key.get_spk(0), 'chain key differs from crypto key'",
      "print('ok', bytes(key.get_spk(0)).hex())",
    ].join("\n"),
    [configPath.slice(folder.length + 1), topic, allowlistConfig],
    { cwd: folder },
  );
}

/**
 * Starts KafkaCrypto's KafkaProducer / KafkaConsumer as an outside program
 * (tests/helpers/kafkacrypto_peer.py: `produce VALUE...` then stays `STAY`
 * seconds to answer key requests, its kept `oldkeys` too; `consume COUNT`).
 */
export function startKafkaCryptoPeer(
  config: string,
  bootstrap: string,
  topic: string,
  args: string[],
  env: Record<string, string>,
): Deno.ChildProcess {
  return new Deno.Command(PYTHON, {
    args: [
      new URL("./kafkacrypto_peer.py", import.meta.url).pathname,
      config,
      bootstrap,
      topic,
      ...args,
    ],
    env: {
      PYTHONPATH: `${PEERS}/kafkacrypto`,
      PYTHONDONTWRITEBYTECODE: "1",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * A fresh folder under .kafkacrypto/ (the tasks may write node files only
 * there), relative to the project root.
 */
export async function makeNodesDir(prefix = "test-"): Promise<string> {
  await Deno.mkdir(`${ROOT}.kafkacrypto`, { recursive: true });
  const path = await Deno.makeTempDir({ dir: `${ROOT}.kafkacrypto`, prefix });
  return path.slice(ROOT.length);
}

/**
 * Provisions `nodeId` in `dir` (under .kafkacrypto/) with the project's own
 * `deno task provision_node`, the root password in the environment; `topics`
 * (space separated roots) limits the node. The caller checks the result.
 */
export function provisionWithTask(
  dir: string,
  nodeId: string,
  rootPassword: string,
  topics = "",
): Promise<TaskResult> {
  return runTask("provision_node", [
    "--node_id",
    nodeId,
    "--dir",
    dir,
    ...(topics ? ["--topics", topics] : []),
  ], { env: { KAFKACRYPTO_ROOT_PASSWORD: rootPassword } });
}

/** What an encrypted test runs on: see {@linkcode withEncryptedRig}. */
export interface EncryptedRig {
  broker: TestBroker;
  /** A fresh folder for node files under .kafkacrypto/, root-relative. */
  nodesDir: string;
  /** A fresh folder under out/.tmp, root-relative. */
  outDir: string;
  /** A topic name not used before. */
  topic: string;
}

/**
 * Runs `test` on the (shared) test broker with a fresh nodes folder, a fresh
 * out folder and a new topic name (prefixes as named); removes both folders
 * and lets go of the broker afterwards, whether `test` passed or not.
 */
export async function withEncryptedRig(
  prefixes: { nodes: string; out: string; topic: string },
  test: (rig: EncryptedRig) => Promise<void>,
): Promise<void> {
  const broker = await startTestBroker();
  let nodesDir: string | undefined;
  let outDir: string | undefined;
  try {
    nodesDir = await makeNodesDir(prefixes.nodes);
    outDir = await makeOutTempDir(prefixes.out);
    await test({
      broker,
      nodesDir,
      outDir,
      topic: uniqueTopic(prefixes.topic),
    });
  } finally {
    for (const dir of [nodesDir, outDir]) {
      if (dir) {
        await Deno.remove(`${ROOT}${dir}`, { recursive: true }).catch(() => {});
      }
    }
    await broker.stop();
  }
}
