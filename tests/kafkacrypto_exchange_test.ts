/**
 * The key exchange messages of ROOT.reqs / ROOT.keys, both ways against
 * KafkaCrypto's own CryptoExchange and CryptoKey classes (run as an outside
 * Python program, no broker): a request made here is answered by
 * KafkaCrypto and the reply opened here, and the other way round; a node of
 * another root of trust gets nothing.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { provisionNode } from "../lib/crypto/provision.ts";
import { readNodeFiles } from "../lib/crypto/node_files.ts";
import { answerKeyRequest, KeyRequester } from "../lib/crypto/key_exchange.ts";
import { loadSodium } from "../lib/crypto/sodium.ts";
import { PEERS } from "./helpers/openmsistream.ts";

const ROOT_PASSWORD = "lab root password 2026";

/** Our Python lines around KafkaCrypto's CryptoExchange: `reader` or `producer`. */
const PYTHON_EXCHANGE = [
  "import sys",
  "from kafkacrypto import KafkaCryptoStore",
  "from kafkacrypto.cryptokey import CryptoKey",
  "from kafkacrypto.cryptoexchange import CryptoExchange",
  "config, root, mode = sys.argv[1:4]",
  "store = KafkaCryptoStore(config)",
  "key = CryptoKey(store.load_value('cryptokey')[5:])",
  "allow = list(store.load_section('allowlist', defaults=False).values())",
  "ce = CryptoExchange([store.load_value('chain0', section='chains')], key, allowlist=allow)",
  "if mode == 'reader':",
  "  print(ce.signed_epks(root)[0][0].hex(), flush=True)",
  "  got = ce.decrypt_keys(root, msgval=bytes.fromhex(sys.stdin.readline().strip()))",
  "  for k, v in (got or {}).items(): print(k.hex(), v.hex())",
  "else:",
  "  request, ki, secret = sys.argv[4:7]",
  "  out = ce.encrypt_keys([bytes.fromhex(ki)], [bytes.fromhex(secret)], root, msgval=bytes.fromhex(request))",
  "  print(out[0].hex() if out else 'refused')",
].join("\n");

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text: string) =>
  Uint8Array.from(text.match(/../g)!.map((pair) => parseInt(pair, 16)));

/** Starts the Python side in `folder` (a copy of a node's files). */
function startPython(
  config: string,
  root: string,
  mode: string,
  args: string[] = [],
): Deno.ChildProcess {
  return new Deno.Command("/usr/bin/python3", {
    args: [
      "-c",
      PYTHON_EXCHANGE,
      config.slice(config.lastIndexOf("/") + 1),
      root,
      mode,
      ...args,
    ],
    cwd: config.slice(0, config.lastIndexOf("/")),
    env: { PYTHONPATH: `${PEERS}/kafkacrypto`, PYTHONDONTWRITEBYTECODE: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** A child's stdout, line by line: `next()` waits for the next line, `rest()` for the remainder. */
function stdoutLines(child: Deno.ChildProcess) {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  return {
    async next(): Promise<string> {
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      const [line, ...more] = text.split("\n");
      text = more.join("\n");
      return line;
    },
    async rest(): Promise<string> {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += value;
      }
    },
  };
}

/** Provisions a node (ours) in a fresh temporary folder. */
async function makeNode(nodeId: string, password = ROOT_PASSWORD) {
  const folder = await Deno.makeTempDir({ prefix: `h20-exchange-${nodeId}-` });
  const node = await provisionNode({ nodeId, folder, rootPassword: password });
  return {
    folder,
    config: node.configPath,
    files: await readNodeFiles(node.configPath),
  };
}

Deno.test("KafkaCrypto's request is answered here and its CryptoExchange opens our reply", async () => {
  const sodium = await loadSodium();
  const reader = await makeNode("py_reader");
  const producer = await makeNode("ts_producer");
  try {
    const python = startPython(reader.config, "lecroy_files", "reader");
    const lines = stdoutLines(python);
    const request = fromHex(await lines.next());
    const secret = {
      keyIndex: sodium.randombytes_buf(32),
      secret: sodium.randombytes_buf(32),
    };
    const reply = await answerKeyRequest(
      producer.files,
      "lecroy_files",
      request,
      [secret],
    );
    ok(reply, "a valid request was refused");
    const writer = python.stdin.getWriter();
    await writer.write(new TextEncoder().encode(hex(reply.value) + "\n"));
    await writer.close();
    const printed = await lines.rest();
    const stderr = await new Response(python.stderr).text();
    strictEqual((await python.status).code, 0, stderr);
    strictEqual(
      printed.trim(),
      `${hex(secret.keyIndex)} ${hex(secret.secret)}`,
    );
    // A request for another topic root than the one asked about is refused.
    strictEqual(
      await answerKeyRequest(producer.files, "raw_scans", request, [secret]),
      undefined,
    );
  } finally {
    for (const node of [reader, producer]) {
      await Deno.remove(node.folder, { recursive: true });
    }
  }
});

Deno.test("our request is answered by KafkaCrypto's CryptoExchange and the reply opens here; another root's node gets nothing", async () => {
  const sodium = await loadSodium();
  const reader = await makeNode("ts_reader");
  const producer = await makeNode("py_producer");
  const stranger = await makeNode("stranger", "another lab's password");
  try {
    const requester = new KeyRequester(reader.files);
    const request = await requester.request("lecroy_files", [
      sodium.randombytes_buf(32),
    ]);
    const keyIndex = sodium.randombytes_buf(32);
    const secret = sodium.randombytes_buf(32);
    const output = await startPython(
      producer.config,
      "lecroy_files",
      "producer",
      [
        hex(request.value),
        hex(keyIndex),
        hex(secret),
      ],
    ).output();
    strictEqual(output.code, 0, new TextDecoder().decode(output.stderr));
    const reply = fromHex(new TextDecoder().decode(output.stdout).trim());
    const secrets = await requester.readReply("lecroy_files", reply);
    deepStrictEqual(secrets, [{ keyIndex, secret }]);
    // The same reply again: its random value was used up.
    strictEqual(await requester.readReply("lecroy_files", reply), undefined);

    // A node of another root asks: KafkaCrypto refuses, and so do we.
    const strangerRequest = await new KeyRequester(stranger.files).request(
      "lecroy_files",
      [keyIndex],
    );
    const refused = await startPython(
      producer.config,
      "lecroy_files",
      "producer",
      [
        hex(strangerRequest.value),
        hex(keyIndex),
        hex(secret),
      ],
    ).output();
    strictEqual(new TextDecoder().decode(refused.stdout).trim(), "refused");
    strictEqual(
      await answerKeyRequest(
        reader.files,
        "lecroy_files",
        strangerRequest.value,
        [{ keyIndex, secret }],
      ),
      undefined,
    );
  } finally {
    for (const node of [reader, producer, stranger]) {
      await Deno.remove(node.folder, { recursive: true });
    }
  }
});
