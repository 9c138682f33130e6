/**
 * The real OpenMSIStream uploaders as outside peers of the tests, run from
 * ../shared/peers with Debian's python3 (see ../shared/peers/README.md; the
 * Debian packages are installed by .ci/run). Nothing of OpenMSIStream is
 * copied here: the tests only start its programs and read their output.
 *
 * `OPENMSISTREAM_PEERS` names another peers folder. A missing folder or
 * module fails the test (never a silent skip).
 *
 * @module
 */
import { resolve } from "node:path";
import { countMessages, createTopic, sha512File } from "./kafka.ts";
import { ROOT } from "./run_task.ts";
import { provisionWithTask, simpleProvision } from "./kafkacrypto_peer.ts";
import {
  formatNodeConfig,
  parseNodeConfig,
} from "../../lib/crypto/node_files.ts";
import { type OutputWatcher, watchOutputs } from "./streaming.ts";

/** The peers folder: ../shared/peers beside the project, or `OPENMSISTREAM_PEERS`. */
export const PEERS: string = Deno.env.get("OPENMSISTREAM_PEERS") ??
  resolve(ROOT, "../shared/peers");

/** The Debian python3 the peers README names (not a pyenv one). */
const PYTHON = "/usr/bin/python3";

/** The PYTHONPATH that lets python3 import OpenMSIStream from the peers folder. */
export const PEER_PYTHONPATH: string = [
  "openmsistream",
  "openmsitoolbox",
  "methodtools",
  "wirerope",
  "kafkacrypto",
  "shims",
].map((f) => `${PEERS}/${f}`).join(":");

/** The environment that lets python3 import OpenMSIStream from the peers folder. */
function peerEnv(bootstrap: string): Record<string, string> {
  return {
    PYTHONPATH: PEER_PYTHONPATH,
    LOCAL_KAFKA_BROKER_BOOTSTRAP_SERVERS: bootstrap,
    PYTHONUNBUFFERED: "1",
  };
}

/**
 * Writes an OpenMSIStream config for the plaintext broker at `bootstrap`
 * into `dir` (a folder under the project root) and returns its absolute path.
 * With `nodeId` it gets `[kafkacrypto] node_id = NAME`: OpenMSIStream then
 * encrypts and decrypts with the node whose files are in `dir/NAME/`
 * (beside the config; see {@linkcode pointNodeAtBroker}).
 */
export async function writeOpenMsiConfig(
  dir: string,
  bootstrap: string,
  options: { nodeId?: string } = {},
): Promise<string> {
  const path = `${ROOT}${dir}/openmsistream-${
    crypto.randomUUID().slice(0, 8)
  }.config`;
  await Deno.writeTextFile(
    path,
    [
      ...(options.nodeId
        ? ["[kafkacrypto]", `node_id = ${options.nodeId}`, ""]
        : []),
      "[broker]",
      `bootstrap.servers = ${bootstrap}`,
      "",
      "[producer]",
      "linger.ms = 20",
      "key.serializer = StringSerializer",
      "value.serializer = DataFileChunkSerializer",
      "",
      "[consumer]",
      "group.id = create_new",
      "auto.offset.reset = earliest",
      "enable.auto.commit = False",
      "key.deserializer = StringDeserializer",
      "value.deserializer = DataFileChunkDeserializer",
      "",
    ].join("\n"),
  );
  return path;
}

/**
 * Makes a node's config usable by OpenMSIStream on the plaintext broker at
 * `bootstrap`: KafkaCrypto's own clients (key requests and replies) take
 * `bootstrap_servers` and `security_protocol` from the node's
 * `[NAME-kafka]` section, which both provisioning tools leave at SSL with no
 * servers; OpenMSIStream does not override them. (Our CryptoNode ignores
 * that section, so the files stay usable here.)
 */
export async function pointNodeAtBroker(
  nodeConfig: string,
  bootstrap: string,
): Promise<void> {
  const sections = parseNodeConfig(await Deno.readTextFile(nodeConfig));
  const nodeId = sections.get("DEFAULT")?.get("node_id") ??
    nodeConfig.split("/").at(-1)!.replace(/\.config$/, "");
  const kafka = sections.get(`${nodeId}-kafka`) ?? new Map<string, string>();
  kafka.set("bootstrap_servers", bootstrap);
  kafka.set("security_protocol", "PLAINTEXT");
  sections.set(`${nodeId}-kafka`, kafka);
  await Deno.writeTextFile(nodeConfig, formatNodeConfig(sections), {
    mode: 0o600,
  });
}

/**
 * Makes KafkaCrypto (OpenMSIStream's reader) ask again for a key it lacks
 * every `seconds` instead of its default 60 s (`crypto_sub_interval` in the
 * node's own section). It reads `ROOT.keys` from the topic's end, fixed a
 * second or two after its first request: a producer that answers only once
 * and sooner leaves it waiting for its next request. The project's CryptoNode
 * sends each answer again, so tests of it keep the default; KafkaCrypto's own
 * producer answers once, about 1-2 s after the request, and on a busy shared
 * broker that loses the race often enough to fail a test after OpenMSIStream's
 * downloader gives up on the first messages.
 */
export async function askForKeysEvery(
  nodeConfig: string,
  seconds: number,
): Promise<void> {
  const sections = parseNodeConfig(await Deno.readTextFile(nodeConfig));
  const nodeId = sections.get("DEFAULT")?.get("node_id") ??
    nodeConfig.split("/").at(-1)!.replace(/\.config$/, "");
  const own = sections.get(nodeId) ?? new Map<string, string>();
  own.set("crypto_sub_interval", String(seconds));
  sections.set(nodeId, own);
  await Deno.writeTextFile(nodeConfig, formatNodeConfig(sections), {
    mode: 0o600,
  });
}

/**
 * Provisions `nodeId` in `ROOT/dir/NAME/` (where an OpenMSIStream config in
 * `dir` finds it) with the project's `deno task provision_node` or with
 * KafkaCrypto's `tools/simple-provision.py`, both from `rootPassword`, and
 * points it at `bootstrap`; returns the node config's absolute path.
 * `topics` (space separated roots) limits the node; simple-provision.py
 * needs them (its all-topics question is not answered here).
 */
export async function provisionOpenMsiNode(
  dir: string,
  nodeId: string,
  rootPassword: string,
  bootstrap: string,
  tool: "provision_node" | "simple-provision.py" = "provision_node",
  topics = "",
): Promise<string> {
  if (tool === "provision_node") {
    const result = await provisionWithTask(dir, nodeId, rootPassword, topics);
    if (result.code !== 0) {
      throw new Error(`provision_node failed: ${result.stderr}`);
    }
  } else {
    if (!topics) throw new Error("simple-provision.py needs topics here");
    await simpleProvision(
      `${ROOT}${dir}/${nodeId}`,
      nodeId,
      rootPassword,
      "provisioning pw",
      topics,
    );
  }
  const config = `${ROOT}${dir}/${nodeId}/${nodeId}.config`;
  await pointNodeAtBroker(config, bootstrap);
  return config;
}

/** Throws unless the peers folder holds OpenMSIStream. */
async function assertPeers(): Promise<void> {
  const module = `${PEERS}/openmsistream/openmsistream/__init__.py`;
  if (!await Deno.stat(module).then(() => true, () => false)) {
    throw new Error(
      `OpenMSIStream not found at ${PEERS} (set OPENMSISTREAM_PEERS)`,
    );
  }
}

/** What both OpenMSIStream uploaders are told: what to send, how, where, in what chunks. */
function uploadArgs(
  path: string,
  config: string,
  topic: string,
  chunkSize: number,
): string[] {
  return [
    path,
    "--config",
    config,
    "--topic_name",
    topic,
    "--chunk_size",
    String(chunkSize),
  ];
}

/**
 * Uploads one file with OpenMSIStream's `upload_data_file` and fails unless
 * it exits 0.
 */
export async function openMsiUploadFile(
  bootstrap: string,
  config: string,
  topic: string,
  path: string,
  chunkSize: number,
): Promise<void> {
  await assertPeers();
  const output = await new Deno.Command(PYTHON, {
    args: [
      "-m",
      "openmsistream.data_file_io.entity.upload_data_file",
      ...uploadArgs(path, config, topic, chunkSize),
    ],
    env: peerEnv(bootstrap),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    const text = new TextDecoder();
    throw new Error(
      `OpenMSIStream upload_data_file failed (${output.code}):\n${
        text.decode(output.stdout)
      }\n${text.decode(output.stderr)}`,
    );
  }
}

/** A running OpenMSIStream program that `q` on its stdin stops. */
class OpenMsiProgram {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  /** What it printed. */
  readonly stdout: OutputWatcher;
  /** What it printed on stderr. */
  readonly stderr: OutputWatcher;

  protected constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    ({ stdout: this.stdout, stderr: this.stderr } = watchOutputs(
      child,
      "OpenMSIStream",
    ));
  }

  /**
   * Starts `python3 -m module ...args` with the peers importable; fails
   * first if the peers folder lacks OpenMSIStream.
   */
  protected static async spawn(
    bootstrap: string,
    module: string,
    args: string[],
  ): Promise<Deno.ChildProcess> {
    await assertPeers();
    return new Deno.Command(PYTHON, {
      args: ["-m", module, ...args],
      env: peerEnv(bootstrap),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  }

  /** Types `q`, waits for the exit; its code and all it printed. */
  protected async quit(): Promise<
    { code: number; stdout: string; stderr: string }
  > {
    await this.#stdin.write(new TextEncoder().encode("q\n")).catch(() => {});
    await this.#stdin.close().catch(() => {});
    const status = await this.#child.status;
    return {
      code: status.code,
      stdout: await this.stdout.all(),
      stderr: await this.stderr.all(),
    };
  }
}

/** A running OpenMSIStream `DataFileUploadDirectory`, stopped with `q`. */
export class OpenMsiDirectoryUpload extends OpenMsiProgram {
  /**
   * Starts uploading `folder` (files already in it too) to `topic`, made
   * first when missing (one partition, as the broker would): the uploader
   * reads the topic's partitions at start and stops when there are none
   * yet (on a shared broker, auto-creation may not be done by then).
   */
  static async start(
    bootstrap: string,
    config: string,
    topic: string,
    folder: string,
    chunkSize: number,
  ): Promise<OpenMsiDirectoryUpload> {
    await createTopic(bootstrap, topic, 1);
    return new OpenMsiDirectoryUpload(
      await OpenMsiProgram.spawn(
        bootstrap,
        "openmsistream.data_file_io.actor.data_file_upload_directory",
        [
          ...uploadArgs(folder, config, topic, chunkSize),
          "--upload_existing",
          "--watchdog_lag_time",
          "1",
        ],
      ),
    );
  }

  /**
   * Waits until `topic` holds `messages` messages (every chunk sent), then
   * types `q` and waits for the exit; fails on a timeout.
   */
  async finish(
    bootstrap: string,
    topic: string,
    messages: number,
    timeoutMs = 90_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let count = 0;
    while (Date.now() < deadline) {
      count = await countMessages(bootstrap, topic).catch(() => 0);
      if (count >= messages) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const { stdout: out, stderr: err } = await this.quit();
    if (count < messages) {
      throw new Error(
        `OpenMSIStream sent ${count} of ${messages} messages:\n${out}\n${err}`,
      );
    }
  }
}

/**
 * A running OpenMSIStream `DataFileDownloadDirectory`, stopped with `q`.
 * Messages it cannot decrypt (no key after its wait: 60 s for the first,
 * then 5 s) it writes to `OUTDIR/ENCRYPTED_MESSAGES/` and goes on.
 */
export class OpenMsiDownloadDirectory extends OpenMsiProgram {
  /** Starts rebuilding the files of `topic` into `outDir` (absolute). */
  static async start(
    bootstrap: string,
    config: string,
    topic: string,
    outDir: string,
    groupId = `omsi-${crypto.randomUUID().slice(0, 8)}`,
  ): Promise<OpenMsiDownloadDirectory> {
    return new OpenMsiDownloadDirectory(
      await OpenMsiProgram.spawn(
        bootstrap,
        "openmsistream.data_file_io.actor.data_file_download_directory",
        [
          outDir,
          "--config",
          config,
          "--topic_name",
          topic,
          "--consumer_group_id",
          groupId,
        ],
      ),
    );
  }

  /**
   * Waits until every `[rebuilt, source]` pair has the same SHA-512 (the
   * rebuilt file is whole: OpenMSIStream writes chunks in place at the final
   * path, so a file that exists may still be partial) or `timeoutMs` pass;
   * returns the rebuilt paths still missing or different.
   */
  async waitForCopies(
    pairs: [string, string][],
    timeoutMs: number,
  ): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let missing = pairs;
    while (Date.now() < deadline) {
      const whole = await Promise.all(
        missing.map(async ([rebuilt, source]) =>
          await sha512File(rebuilt).catch(() => "") === await sha512File(source)
        ),
      );
      missing = missing.filter((_, i) => !whole[i]);
      if (missing.length === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    return missing.map(([rebuilt]) => rebuilt);
  }

  /**
   * Types `q` and waits for the exit. Its exit code is returned, not
   * checked: with encryption OpenMSIStream's shutdown fails (it closes its
   * KafkaCrypto twice: AttributeError, exit 1) after the files are written.
   */
  stop(): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.quit();
  }
}

/** Reads a file's `st_mtime` as Python does (what OpenMSIStream sends). */
export async function pythonMtime(path: string): Promise<number> {
  const output = await new Deno.Command(PYTHON, {
    args: [
      "-c",
      "import os,sys; print(repr(os.stat(sys.argv[1]).st_mtime))",
      path,
    ],
    stdout: "piped",
  }).output();
  return Number(new TextDecoder().decode(output.stdout).trim());
}

/** A file's modification time in nanoseconds, read with GNU stat. */
export async function mtimeNanoseconds(path: string): Promise<bigint> {
  const output = await new Deno.Command("stat", {
    args: ["-c", "%.9Y", "--", path],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  return BigInt(text.replace(".", ""));
}
