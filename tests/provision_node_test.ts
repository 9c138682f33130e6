/**
 * provision_node: a node's files in KafkaCrypto's layout, accepted by
 * KafkaCrypto's own classes, and KafkaCrypto's own nodes accepted here;
 * the root password and secret keys never printed.
 */
import {
  deepStrictEqual,
  match,
  ok as assert,
  strictEqual as assertEquals,
} from "node:assert/strict";
import { decode } from "@msgpack/msgpack";
import { ROOT, runTask } from "./helpers/run_task.ts";
import {
  makeNodesDir,
  pythonCheckNode,
  simpleProvision,
} from "./helpers/kafkacrypto_peer.ts";
import { encodeBase64 } from "../lib/crypto/base64.ts";
import { verifyChain } from "../lib/crypto/chain.ts";
import { readNodeFiles } from "../lib/crypto/node_files.ts";
import { loadSodium } from "../lib/crypto/sodium.ts";

const ROOT_PASSWORD = "lab root password 2026";
const OTHER_PASSWORD = "another lab's password";

/** Provisions `nodeId` in `dir` with the password in the environment. */
function provision(
  dir: string,
  nodeId: string,
  password = ROOT_PASSWORD,
  extra: string[] = [],
) {
  return runTask("provision_node", [
    "--node_id",
    nodeId,
    "--dir",
    dir,
    ...extra,
  ], {
    env: { KAFKACRYPTO_ROOT_PASSWORD: password },
  });
}

/** A copy of a node folder in a temporary place (KafkaCrypto's classes rewrite files). */
async function copyNode(from: string): Promise<string> {
  const to = await Deno.makeTempDir({ prefix: "h20-node-" });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isFile) {
      await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
    }
  }
  return to;
}

/** Every secret of a node folder, as hex and base64, and the password. */
async function secretsOf(configPath: string): Promise<string[]> {
  const sodium = await loadSodium();
  const node = await readNodeFiles(configPath);
  const secrets = [
    node.signingSecretKey,
    node.signingSecretKey.slice(0, 32),
    node.wrappingKey,
    node.seedSecret,
  ];
  return [
    ROOT_PASSWORD,
    ...secrets.flatMap((key) => [sodium.to_hex(key), encodeBase64(key)]),
  ];
}

Deno.test("a node provisioned here is accepted by KafkaCrypto's own classes, files mode 600, no secret printed", async () => {
  const dir = await makeNodesDir();
  try {
    const result = await provision(dir, "lab_pc_1", ROOT_PASSWORD, [
      "--topics",
      "lecroy_files raw.scans",
    ]);
    assertEquals(result.code, 0, result.stderr);
    const folder = `${ROOT}${dir}/lab_pc_1`;
    for (
      const name of ["lab_pc_1.config", "lab_pc_1.crypto", "lab_pc_1.seed"]
    ) {
      assertEquals(
        (await Deno.stat(`${folder}/${name}`)).mode! & 0o777,
        0o600,
        name,
      );
    }
    const publicKey = /node public key: ([0-9a-f]{64})/.exec(result.stdout)
      ?.[1];
    assert(publicKey, result.stdout);
    for (const secret of await secretsOf(`${folder}/lab_pc_1.config`)) {
      assert(
        !result.stdout.includes(secret) && !result.stderr.includes(secret),
        "a secret was printed",
      );
    }

    const copy = await copyNode(folder);
    const python = await pythonCheckNode(`${copy}/lab_pc_1.config`, "raw");
    await Deno.remove(copy, { recursive: true });
    assertEquals(python.code, 0, python.stderr);
    assertEquals(python.stdout.trim(), `ok ${publicKey}`);

    const check = await runTask("provision_node", [
      "--node_id",
      "lab_pc_1",
      "--dir",
      dir,
      "--check",
    ]);
    assertEquals(check.code, 0, check.stderr);
    assert(check.stdout.includes("topics: lecroy_files raw"), check.stdout);
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("KafkaCrypto's simple-provision.py node loads here, and it and a node provisioned here trust each other", async () => {
  const dir = await makeNodesDir();
  try {
    await simpleProvision(
      `${ROOT}${dir}/py_node`,
      "py_node",
      ROOT_PASSWORD,
      "provisioning pw",
      "lecroy_files",
    );
    const check = await runTask("provision_node", [
      "--node_id",
      "py_node",
      "--dir",
      dir,
      "--check",
    ]);
    assertEquals(check.code, 0, check.stderr);
    assert(check.stdout.includes("node py_node: files usable"), check.stdout);
    assert(check.stdout.includes("topics: lecroy_files"), check.stdout);

    assertEquals((await provision(dir, "ts_node")).code, 0);
    const pyConfig = `${ROOT}${dir}/py_node/py_node.config`;
    const tsConfig = `${ROOT}${dir}/ts_node/ts_node.config`;
    // KafkaCrypto checks our chain against the root its own node trusts...
    const pyCopy = await copyNode(`${ROOT}${dir}/py_node`);
    const tsCopy = await copyNode(`${ROOT}${dir}/ts_node`);
    const accepted = await pythonCheckNode(
      `${tsCopy}/ts_node.config`,
      "lecroy_files",
      `${pyCopy}/py_node.config`,
    );
    assertEquals(accepted.code, 0, accepted.stderr);
    // ... and we check its two-step chain (root, provisioner, node) against ours.
    const py = await readNodeFiles(pyConfig);
    const ts = await readNodeFiles(tsConfig);
    const grant = await verifyChain(py.chains[0], ts.allowlist, {
      topic: "lecroy_files",
      usage: "key-encrypt",
    });
    deepStrictEqual(grant.publicKey, py.signingPublicKey);

    // A node under another root password is refused by KafkaCrypto's node.
    assertEquals((await provision(dir, "stranger", OTHER_PASSWORD)).code, 0);
    const strangerCopy = await copyNode(`${ROOT}${dir}/stranger`);
    const refused = await pythonCheckNode(
      `${strangerCopy}/stranger.config`,
      "lecroy_files",
      `${pyCopy}/py_node.config`,
    );
    assert(refused.code !== 0, "KafkaCrypto accepted a node of another root");
    for (const copy of [pyCopy, tsCopy, strangerCopy]) {
      await Deno.remove(copy, { recursive: true });
    }
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("missing, broken or mismatched node files end in one line and exit 1, no key printed", async () => {
  const dir = await makeNodesDir();
  try {
    assertEquals((await provision(dir, "a")).code, 0);
    assertEquals((await provision(dir, "b")).code, 0);
    const folder = (node: string) => `${ROOT}${dir}/${node}`;
    const secrets = [
      ...await secretsOf(`${folder("a")}/a.config`),
      ...await secretsOf(`${folder("b")}/b.config`),
    ];
    const expectOneLine = async (node: string, pattern: RegExp) => {
      const result = await runTask("provision_node", [
        "--node_id",
        node,
        "--dir",
        dir,
        "--check",
      ]);
      assertEquals(result.code, 1, result.stdout);
      assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
      match(result.stderr, pattern);
      for (const secret of secrets) {
        assert(!result.stderr.includes(secret), "a secret was printed");
      }
    };

    await expectOneLine("nobody", /node config .*nobody\.config not found/);
    // b's secret key under a's config: the chain signs another key.
    await Deno.copyFile(`${folder("b")}/b.crypto`, `${folder("a")}/a.crypto`);
    await expectOneLine(
      "a",
      /chain0 signs another key than the one in the crypto file/,
    );
    // A flipped byte in b's chain: its signature no longer verifies.
    const config = await Deno.readTextFile(`${folder("b")}/b.config`);
    const chain = /chain0 : base64#(\S+)/.exec(config)![1];
    const bytes = Uint8Array.from(atob(chain), (c) => c.charCodeAt(0));
    bytes[10] ^= 1;
    await Deno.writeTextFile(
      `${folder("b")}/b.config`,
      config.replace(chain, encodeBase64(bytes)),
    );
    await expectOneLine(
      "b",
      /the node's chain is not accepted: a signature does not verify/,
    );
    // A seed file that is not msgpack.
    await Deno.writeTextFile(`${folder("b")}/b.seed`, "not a seed");
    await Deno.writeTextFile(`${folder("b")}/b.config`, config);
    await expectOneLine("b", /b\.seed is not a KafkaCrypto seed file/);
    const seed = decode(await Deno.readFile(`${folder("a")}/a.seed`));
    assert(Array.isArray(seed));
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("a short root password typed on stdin is refused in one line, never echoed, no files left", async () => {
  const dir = await makeNodesDir();
  try {
    const result = await runTask("provision_node", [
      "--node_id",
      "c",
      "--dir",
      dir,
    ], {
      stdin: "short pw\n",
      env: { KAFKACRYPTO_ROOT_PASSWORD: "" },
    });
    assertEquals(result.code, 1);
    assertEquals(
      result.stderr.trim(),
      "provision_node: error: the root password must have at least 12 characters",
    );
    assert(
      !result.stdout.includes("short pw") &&
        !result.stderr.includes("short pw"),
    );
    assertEquals([...Deno.readDirSync(`${ROOT}${dir}`)].length, 0);
    const good = await runTask("provision_node", [
      "--node_id",
      "c",
      "--dir",
      dir,
    ], {
      stdin: `${ROOT_PASSWORD}\n`,
      env: { KAFKACRYPTO_ROOT_PASSWORD: "" },
    });
    assertEquals(good.code, 0, good.stderr);
    assert(
      !good.stdout.includes(ROOT_PASSWORD) &&
        !good.stderr.includes(ROOT_PASSWORD),
    );
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});
