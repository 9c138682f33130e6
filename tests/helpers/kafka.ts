/**
 * Test helpers for the Kafka scripts: a real broker for the test run, config
 * files that point at it, and a way to produce hand-made messages.
 *
 * The broker is the project's own (`deno task kafka start --port 19092`, data
 * in `.kafka/19092`; `TEST_KAFKA_PORT` picks another port), started once per
 * `deno test` run and shared by every test file, or the one in
 * `KAFKA_BOOTSTRAP_SERVERS` when that is set.
 * There is no mock: if no broker can be had, the tests fail.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Producer } from "@platformatic/kafka";
import {
  connectAdmin,
  countMessages as countMessagesOnTopic,
  createKafka,
  ensureTopic,
  type KafkaAdmin,
  KafkaClient,
} from "../../lib/kafka/client.ts";
import {
  type KafkaSettings,
  parseKafkaConfig,
  type ProducerSettings,
} from "../../lib/kafka/config.ts";
import { deepStrictEqual } from "node:assert/strict";
import { BackgroundTask, type FinishedTask } from "./background_task.ts";
import { type FileChunk, sha512 } from "../../lib/transfer/chunk.ts";
import { ROOT, runTask } from "./run_task.ts";
import { randomBytes } from "./chunk_messages.ts";

// The Kafka tests take their test bytes from here too.
export { randomBytes };

/**
 * The port of the tests' own broker, apart from a user's 9092.
 * `TEST_KAFKA_PORT` moves it, so two checkouts can run their tests at once.
 */
const TEST_BROKER_PORT = Number(Deno.env.get("TEST_KAFKA_PORT") ?? 19092);

/** A broker the tests can use. */
export interface TestBroker {
  bootstrap: string;
  /**
   * Lets go of the broker. The shared test broker keeps running for the next
   * test file and stops when the `deno test` run ends (see
   * {@linkcode startTestBroker}), so this does not stop it.
   */
  stop(): Promise<void>;
}

/**
 * Hands out the tests' broker (or uses `KAFKA_BOOTSTRAP_SERVERS`).
 *
 * One broker serves the whole `deno test` run: the first test file that asks
 * starts it (`deno task kafka start`, which returns at once when it already
 * runs), and every later file gets the same one, so the run pays for one JVM
 * start instead of one per file. Tests keep apart through their own topics
 * (`uniqueTopic`) and consumer groups. Deno runs each test file in its own
 * isolate, so no module state survives from one file to the next: what the
 * files share is the broker process itself, and a small watcher process
 * (started once per run, see `stopWhenTestRunEnds`) stops it once the
 * `deno test` process has gone, whether the run passed, failed or was
 * interrupted with Ctrl-C.
 *
 * @example
 * ```ts
 * const broker = await startTestBroker();
 * // ...
 * await broker.stop();
 * ```
 */
export async function startTestBroker(): Promise<TestBroker> {
  const external = Deno.env.get("KAFKA_BOOTSTRAP_SERVERS");
  if (external) return { bootstrap: external, stop: () => Promise.resolve() };
  const port = String(TEST_BROKER_PORT);
  // A run that just ended may be stopping the broker: its watcher holds this
  // lock while it decides and stops, this run while it starts and takes over.
  await Deno.mkdir(`${ROOT}.kafka`, { recursive: true });
  using lock = await Deno.open(brokerLockPath(port), {
    create: true,
    write: true,
  });
  await lock.lock(true);
  try {
    const started = await runTask("kafka", ["start", "--port", port]);
    if (started.code !== 0) {
      throw new Error(
        `the test broker did not start:\n${started.stdout}\n${started.stderr}`,
      );
    }
    await stopWhenTestRunEnds(port);
  } finally {
    await lock.unlock();
  }
  return {
    bootstrap: `127.0.0.1:${port}`,
    stop: () => Promise.resolve(),
  };
}

/** The lock a starting run and a finished run's watcher take in turn. */
function brokerLockPath(port: string): string {
  return `${ROOT}.kafka/test-broker-${port}.lock`;
}

/**
 * Makes sure the broker on `port` is stopped once this `deno test` process
 * ends: the first call of a run starts a detached shell that waits for
 * `Deno.pid` to go away and then runs `deno task kafka stop --port <port>`.
 * A file in the broker's folder names the run that has its watcher, so the
 * later test files (fresh isolates, same pid) do not start another; and a
 * watcher whose run was followed at once by another (that named itself
 * there, under the lock of {@linkcode brokerLockPath}) leaves the broker
 * running for it, instead of stopping it under the new run's feet.
 *
 * The watcher is a grandchild (the shell that starts it exits at once), so no
 * child process or pipe of the test is left open for the sanitizers to
 * report; it ignores SIGINT and SIGHUP, so a Ctrl-C that ends the run still
 * lets it stop the broker.
 */
async function stopWhenTestRunEnds(port: string): Promise<void> {
  const marker = `${ROOT}.kafka/${port}/stopped-after-run`;
  const owner = await Deno.readTextFile(marker).catch(() => "");
  if (owner.trim() === String(Deno.pid)) return;
  await Deno.writeTextFile(marker, `${Deno.pid}\n`);
  const watcher = [
    'trap "" INT HUP',
    'while kill -0 "$1" 2>/dev/null; do sleep 1; done',
    // flock(1) and Deno's FsFile.lock are the same flock(2) lock.
    'exec 9>"$5"',
    "flock 9",
    '[ "$(cat "$4" 2>/dev/null)" = "$1" ] || exit 0',
    'rm -f "$4"',
    '"$2" task --quiet kafka stop --port "$3"',
  ].join("; ");
  const launched = await new Deno.Command("sh", {
    args: [
      "-c",
      `(${watcher}) </dev/null >/dev/null 2>&1 &`,
      "sh",
      String(Deno.pid),
      Deno.execPath(),
      port,
      marker,
      brokerLockPath(port),
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  if (!launched.success) {
    throw new Error("could not start the watcher that stops the test broker");
  }
}

/**
 * Writes a config file for `bootstrap` into `dir` and returns its path
 * (relative to the project root, as a user would type it).
 *
 * @example
 * ```ts
 * const config = await writeTestConfig(dir, broker.bootstrap, "compression.type = lz4");
 * ```
 */
export async function writeTestConfig(
  dir: string,
  bootstrap: string,
  producerLines = "",
): Promise<string> {
  const path = `${dir}/test-${crypto.randomUUID().slice(0, 8)}.config`;
  await Deno.writeTextFile(
    `${ROOT}${path}`,
    `[cluster]\nbootstrap.servers = ${bootstrap}\n\n[producer]\nlinger.ms = 20\n${producerLines}\n\n[consumer]\ngroup.id = new\nauto.offset.reset = earliest\nsession.timeout.ms = 6000\nheartbeat.interval.ms = 1000\n`,
  );
  return path;
}

/**
 * A topic name no other test uses.
 *
 * @example
 * ```ts
 * const topic = uniqueTopic("roundtrip");
 * ```
 */
export function uniqueTopic(prefix: string): string {
  return `test_${prefix}_${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Settings for a plaintext cluster at `bootstrap`, as a minimal config says.
 *
 * @example
 * ```ts
 * const settings = plaintextSettings(broker.bootstrap);
 * const kafka = createKafka(settings);
 * ```
 */
export function plaintextSettings(bootstrap: string): KafkaSettings {
  return parseKafkaConfig(
    `[cluster]\nbootstrap.servers = ${bootstrap}\n`,
    "test",
    () => undefined,
  );
}

/**
 * A connected admin for the plaintext cluster at `bootstrap`; the caller
 * disconnects it.
 *
 * @example
 * ```ts
 * const admin = await connectTestAdmin(broker.bootstrap);
 * try { await admin.listTopics(); } finally { await admin.disconnect(); }
 * ```
 */
export function connectTestAdmin(bootstrap: string): Promise<KafkaAdmin> {
  const settings = plaintextSettings(bootstrap);
  return connectAdmin(createKafka(settings), settings);
}

/**
 * Creates `topic` with `partitions` partitions (if missing).
 *
 * @example
 * ```ts
 * await createTopic(broker.bootstrap, topic, 6);
 * ```
 */
export async function createTopic(
  bootstrap: string,
  topic: string,
  partitions: number,
): Promise<void> {
  const admin = await connectTestAdmin(bootstrap);
  try {
    await ensureTopic(admin, topic, partitions);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Produces hand-made message values to `topic`, in the given order, in one
 * batch per partition compressed with `compression` (acks=all). With
 * `spread`, the topic gets that many partitions and message i goes to
 * partition i % spread, as an uploader that picks a partition per chunk
 * (OpenMSIStream) does. `headers` go on every message (e.g. the project's
 * uploads' `WHOLE_FILE_HEADERS`).
 *
 * @example
 * ```ts
 * await produceRaw(broker.bootstrap, topic, [encodeChunk(chunk)], "lz4");
 * ```
 */
export async function produceRaw(
  bootstrap: string,
  topic: string,
  values: Uint8Array[],
  compression: ProducerSettings["compression"] = "none",
  spread?: number,
  headers?: Record<string, string>,
): Promise<void> {
  await createTopic(bootstrap, topic, spread ?? 1);
  const kafka = createKafka(plaintextSettings(bootstrap));
  // Hand-made batches need the client library itself (its codecs).
  const producer = new Producer({
    ...KafkaClient.options(kafka),
    acks: -1,
    compression,
  });
  try {
    await producer.send({
      messages: values.map((value, i) => ({
        topic,
        key: Buffer.from(`crafted_${i}`),
        value: Buffer.from(value),
        ...(spread ? { partition: i % spread } : {}),
        ...(headers
          ? {
            headers: new Map(
              Object.entries(headers).map((
                [k, v],
              ) => [Buffer.from(k), Buffer.from(v)]),
            ),
          }
          : {}),
      })),
    });
  } finally {
    await producer.close();
  }
}

/**
 * How many messages `topic` holds, over all its partitions.
 *
 * @example
 * ```ts
 * assertEquals(await countMessages(broker.bootstrap, topic), 14);
 * ```
 */
export async function countMessages(
  bootstrap: string,
  topic: string,
): Promise<number> {
  const admin = await connectTestAdmin(bootstrap);
  try {
    return await countMessagesOnTopic(admin, topic);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads a file and returns its SHA-512 in hex, for comparing originals with
 * rebuilt files.
 *
 * @example
 * ```ts
 * assertEquals(await sha512File(rebuilt), await sha512File(original));
 * ```
 */
export async function sha512File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-512",
    await Deno.readFile(path),
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/**
 * Writes `size` pseudo-random bytes (a fixed seed, so runs repeat) to `path`.
 *
 * @example
 * ```ts
 * await writeRandomFile(`${dir}/a.bin`, 16385);
 * ```
 */
export async function writeRandomFile(
  path: string,
  size: number,
  seed = size,
): Promise<void> {
  await Deno.writeFile(path, randomBytes(size, seed));
}

/**
 * The flags that point a transfer tool at `config` and `topic`, with chunks
 * of `chunkSize` bytes when one is given.
 *
 * @example
 * ```ts
 * await runTask("upload_data_file", [...topicArgs(config, topic, 1024), source]);
 * ```
 */
export function topicArgs(
  config: string,
  topic: string,
  chunkSize?: number,
): string[] {
  const chunks = chunkSize === undefined
    ? []
    : ["--chunk_size", String(chunkSize)];
  return ["--config", config, "--topic_name", topic, ...chunks];
}

/**
 * A reconstruct_data_files running in the background (no "." lines), driven
 * through stdin.
 *
 * @example
 * ```ts
 * const reconstructor = new Reconstructor(["--config", config, "--topic_name", topic, rebuilt]);
 * await reconstructor.waitForFiles([[`${rebuilt}/a.bin`, 5]]);
 * await reconstructor.quit();
 * ```
 */
export class Reconstructor extends BackgroundTask {
  constructor(args: string[], env?: Record<string, string>) {
    super("reconstruct_data_files", ["--update_seconds", "-1", ...args], env);
  }

  /** Starts one that reads `topic` with `config` into `workingDir`. */
  static start(
    config: string,
    topic: string,
    workingDir: string,
    extra: string[] = [],
  ): Reconstructor {
    return new Reconstructor([
      ...topicArgs(config, topic),
      ...extra,
      workingDir,
    ]);
  }

  /**
   * Rebuilds `topic` into `workingDir` until every `[path, size]` is there,
   * quits, and fails unless the run ended with exit code 0.
   */
  static rebuild(
    config: string,
    topic: string,
    workingDir: string,
    files: [string, number][],
    extra: string[] = [],
  ): Promise<FinishedTask> {
    return Reconstructor.start(config, topic, workingDir, extra).finish(files);
  }

  /**
   * Waits until every `[path, size]` is there, quits, and fails unless the
   * run ended with exit code 0.
   */
  async finish(files: [string, number][]): Promise<FinishedTask> {
    await this.waitForFiles(files);
    const run = await this.quit();
    deepStrictEqual(run.code, 0, `${run.stdout}\n${run.stderr}`);
    return run;
  }

  /** Waits until every `[path, size]` exists with that size; fails if it exits. */
  async waitForFiles(files: [string, number][]): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (const [path, size] of files) {
      while (
        (await Deno.stat(`${ROOT}${path}`).catch(() => undefined))?.size !==
          size
      ) {
        if (this.exited || Date.now() > deadline) {
          throw new Error(
            `${path} never appeared with ${size} bytes:\n${this.stdout.text}\n${this.stderr.text}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

/**
 * Hand-made chunks of `bytes`, as upload_data_file would make them.
 *
 * @example
 * ```ts
 * await produceRaw(broker.bootstrap, topic, makeChunks(bytes, "a.txt", 1024).map(encodeChunk));
 * ```
 */
export function makeChunks(
  bytes: Uint8Array,
  filename: string,
  chunkSize: number,
  subdir = "",
): FileChunk[] {
  const total = Math.max(1, Math.ceil(bytes.length / chunkSize));
  return Array.from({ length: total }, (_, i) => {
    const data = bytes.subarray(i * chunkSize, (i + 1) * chunkSize);
    return {
      filename,
      fileHash: sha512(bytes),
      chunkHash: sha512(data),
      offset: i * chunkSize,
      chunkIndex: i + 1,
      totalChunks: total,
      subdir,
      filenameAppend: "",
      data,
    };
  });
}

/**
 * The heartbeat flags of a long-running tool: beats of `programId` to
 * `topic` every `seconds`.
 *
 * @example
 * ```ts
 * heartbeatArgs("beats", "lab-pc-1"); // ["--heartbeat_topic_name", "beats", ...]
 * ```
 */
export function heartbeatArgs(
  topic: string,
  programId: string,
  seconds = 1,
): string[] {
  return [
    "--heartbeat_topic_name",
    topic,
    "--heartbeat_program_id",
    programId,
    "--heartbeat_interval_secs",
    String(seconds),
  ];
}
