/**
 * End-to-end encryption for the transfer tools, turned on by a
 * `[kafkacrypto]` section in the Kafka config (lib/kafka/config.ts), as
 * OpenMSIStream turns it on. The node's files are found and checked before
 * anything is sent or read ({@linkcode checkNodeFiles}); then a
 * {@linkcode TransferCrypto} (a {@linkcode CryptoNode} on the same broker)
 * seals each chunk's key and value for the uploaders, answers key requests
 * on `ROOT.reqs`, and opens the chunks a reconstructor reads, waiting a
 * bounded time for their keys ({@linkcode ChunkDecryptor}).
 *
 * A producing key is kept in the node's config (`oldkeys`, as KafkaCrypto
 * keeps it) before anything is sent with it: every later run of an uploader
 * with that node answers requests for it, for up to a week.
 *
 * @example
 * ```ts
 * import { TransferCrypto } from "./transfer_crypto.ts";
 * import { createKafka } from "../kafka/client.ts";
 * import { loadKafkaConfig } from "../kafka/config.ts";
 *
 * const settings = await loadKafkaConfig("encrypted");
 * const crypto = await TransferCrypto.open(settings, createKafka(settings), "lecroy_files");
 * const sealed = await crypto?.seal("lecroy_files", "a.txt_chunk_1_of_1", new Uint8Array([1]));
 * await crypto?.close();
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { UserError } from "../common/cli.ts";
import type { Logger } from "../common/log.ts";
import {
  CryptoNode,
  REQUESTS_SUFFIX,
  topicRoot,
} from "../crypto/crypto_node.ts";
import { type OpenNode, openNode } from "../crypto/node.ts";
import { NodeFilesError } from "../crypto/node_files.ts";
import type { KafkaClient } from "../kafka/client.ts";
import type { KafkaSettings } from "../kafka/config.ts";
import type { MessagePosition } from "../kafka/consumer_loop.ts";
import {
  ENCRYPTED_MESSAGES_FOLDER,
  keepEncryptedMessage as keepMessageFiles,
} from "./encrypted_messages.ts";

/** How long the first message of a key index waits for its key (OpenMSIStream: 60 s). */
export const FIRST_KEY_WAIT_MS = 60_000;
/** How long later messages wait for a key that did not come (OpenMSIStream: 5 s). */
export const LATER_KEY_WAIT_MS = 5_000;

/**
 * How long a reader of heartbeats (status) waits for the key of a key index
 * it meets first; after that wait, messages of that index are only opened
 * once the key has come (they are not waited for again).
 */
export const SIDE_KEY_WAIT_MS = 15_000;

/** The rebuild's `--key_wait_seconds` flag (used with `[kafkacrypto]` only). */
export const KEY_WAIT_FLAG = {
  type: "number",
  default: FIRST_KEY_WAIT_MS / 1000,
  min: 1,
  description:
    "with [kafkacrypto]: seconds the first message of a key waits for it (later ones wait 5 s at most) before it is kept in ENCRYPTED_MESSAGES/",
} as const;

/** The node's config file and the node opened from it. */
interface CheckedNode {
  configPath: string;
  node: OpenNode;
}

/**
 * Finds the `[kafkacrypto]` node's config (the first candidate that
 * exists) and opens it, checking that its chain allows `topic`; undefined
 * without the section. Throws a one-line {@linkcode UserError} (no key
 * material in it) for missing or wrong node files.
 *
 * @example
 * ```ts
 * import { loadKafkaConfig } from "../kafka/config.ts";
 * const settings = await loadKafkaConfig("encrypted");
 * await checkNodeFiles(settings, "lecroy_files"); // UserError if unusable
 * ```
 */
export async function checkNodeFiles(
  settings: KafkaSettings,
  topic: string,
): Promise<{ configPath: string } | undefined> {
  const checked = await openCheckedNode(settings, topic);
  return checked && { configPath: checked.configPath };
}

/** The heartbeat and log topics a tool was given (heartbeats.ts's flags). */
export interface SideTopics {
  /** `--heartbeat_topic_name`. */
  heartbeat_topic_name?: string;
  /** `--log_topic_name`. */
  log_topic_name?: string;
}

/**
 * {@linkcode checkNodeFiles} for `topic`, and for the heartbeat and log
 * topics of `side` whose messages the node will encrypt (all but those of
 * a `[heartbeat]` / `[log]` section with `prefer.separate.producer`): a
 * node whose chain does not allow one is a one-line {@linkcode UserError}
 * saying both ways out, before anything connects.
 *
 * @example
 * ```ts
 * import { loadKafkaConfig } from "../kafka/config.ts";
 * const settings = await loadKafkaConfig("encrypted");
 * await checkNodeFilesWithSides(settings, "lecroy_files", { heartbeat_topic_name: "heartbeats" });
 * ```
 */
export async function checkNodeFilesWithSides(
  settings: KafkaSettings,
  topic: string,
  side: SideTopics,
): Promise<void> {
  await checkNodeFiles(settings, topic);
  for (const kind of ["heartbeat", "log"] as const) {
    const name = side[`${kind}_topic_name`];
    if (!name || settings[kind]?.separateProducer) continue;
    try {
      await checkNodeFiles(settings, name);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      throw new UserError(
        `${error.message} (--${kind}_topic_name ${name}: with [kafkacrypto] ${kind} messages are encrypted, as OpenMSIStream's; provision the node for that topic too, or add prefer.separate.producer = True to a [${kind}] section to send them in plaintext)`,
      );
    }
  }
}

/**
 * The config file of the `[kafkacrypto]` node: the first of the places the
 * section points to that exists (as OpenMSIStream looks, then in
 * `.kafkacrypto/`); undefined without the section. Throws a one-line
 * {@linkcode UserError} when none exists.
 *
 * @example
 * ```ts
 * import { loadKafkaConfig } from "../kafka/config.ts";
 * const settings = await loadKafkaConfig("encrypted");
 * await findNodeConfig(settings); // ".kafkacrypto/lab_pc_2/lab_pc_2.config"
 * ```
 */
export async function findNodeConfig(
  settings: KafkaSettings,
): Promise<string | undefined> {
  const wanted = settings.kafkacrypto;
  if (!wanted) return undefined;
  for (const candidate of wanted.nodeConfigCandidates) {
    if (await isFile(candidate)) return candidate;
  }
  const which = wanted.nodeId
    ? `node ${wanted.nodeId}`
    : `config_file ${wanted.configFile}`;
  throw new UserError(
    `${settings.source}: [kafkacrypto] ${which}: no node config found (looked for ${
      wanted.nodeConfigCandidates.join(", ")
    }; make one with deno task provision_node)`,
  );
}

/** The node {@linkcode openReadingNode} opened, and what it may not read. */
export interface ReadingNode {
  /** The node's name (safe to print). */
  nodeId: string;
  /** The node, opened without a topic check. */
  opened: OpenNode;
  /** For each topic, why the node may not read it (undefined: it may). */
  refusals: Map<string, string | undefined>;
}

/**
 * Opens the `[kafkacrypto]` node of `settings` to read `topics` again
 * (reproduce_undecryptable_messages): a one-line {@linkcode UserError}
 * without the section or for unusable node files; per topic, why its chain
 * does not allow it.
 *
 * @example
 * ```ts
 * import { loadKafkaConfig } from "../kafka/config.ts";
 * const settings = await loadKafkaConfig("encrypted");
 * const { refusals } = await openReadingNode(settings, new Set(["lecroy_files"]));
 * refusals.get("lecroy_files"); // undefined when the node may read it
 * ```
 */
export async function openReadingNode(
  settings: KafkaSettings,
  topics: Set<string>,
): Promise<ReadingNode> {
  const configPath = await findNodeConfig(settings);
  if (!configPath) {
    throw new UserError(
      `${settings.source} has no [kafkacrypto] section with node_id = NAME: no node to decrypt with`,
    );
  }
  const wanted = settings.kafkacrypto!;
  const opened = await openNode(configPath).catch((error) => {
    throw new UserError((error as Error).message);
  });
  const refusals = new Map<string, string | undefined>();
  for (const topic of topics) {
    refusals.set(
      topic,
      await openNode(configPath, { topic }).then(
        () => undefined,
        (error) => (error as Error).message,
      ),
    );
  }
  return { nodeId: wanted.nodeId ?? wanted.configFile!, opened, refusals };
}

/** {@linkcode checkNodeFiles}, keeping the opened node. */
async function openCheckedNode(
  settings: KafkaSettings,
  topic: string,
): Promise<CheckedNode | undefined> {
  const configPath = await findNodeConfig(settings);
  if (!configPath) return undefined;
  try {
    return { configPath, node: await openNode(configPath, { topic }) };
  } catch (error) {
    throw nodeError(error, configPath);
  }
}

/** A one-line {@linkcode UserError} for what went wrong with the node's files. */
function nodeError(error: unknown, configPath: string): unknown {
  if (error instanceof NodeFilesError) {
    return new UserError(`[kafkacrypto] ${error.message}`);
  }
  if (
    error instanceof Deno.errors.PermissionDenied ||
    error instanceof Deno.errors.NotCapable
  ) {
    return new UserError(
      `[kafkacrypto] ${configPath}: the node's files may not be read or written by this tool (it rewrites the seed and kept keys; widen --allow-write to the node's folder)`,
    );
  }
  return error;
}

/** Whether `path` is a file (false when it is missing). */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** A sealed chunk message: its key and value, both KafkaCrypto's format. */
export interface SealedMessage {
  /** The encrypted Kafka key. */
  key: Uint8Array;
  /** The encrypted Kafka value. */
  value: Uint8Array;
}

/** The node at work for a transfer tool. */
export class TransferCrypto {
  /** The node's name (safe to print). */
  readonly nodeId: string;
  readonly #node: CryptoNode;
  readonly #missed = new Set<string>();

  private constructor(nodeId: string, node: CryptoNode) {
    this.nodeId = nodeId;
    this.#node = node;
  }

  /**
   * Opens the `[kafkacrypto]` node of `settings` for `topic` (undefined
   * without the section); throws as {@linkcode checkNodeFiles}.
   *
   * @example
   * ```ts
   * import type { KafkaClient } from "../kafka/client.ts";
   * import type { KafkaSettings } from "../kafka/config.ts";
   * declare const settings: KafkaSettings, kafka: KafkaClient;
   * const crypto = await TransferCrypto.open(settings, kafka, "lecroy_files");
   * ```
   */
  static async open(
    settings: KafkaSettings,
    kafka: KafkaClient,
    topic: string,
  ): Promise<TransferCrypto | undefined> {
    const checked = await openCheckedNode(settings, topic);
    if (!checked) return undefined;
    try {
      const node = await CryptoNode.start(checked.node, kafka, settings, {
        configPath: checked.configPath,
      });
      return new TransferCrypto(checked.node.nodeId, node);
    } catch (error) {
      throw nodeError(error, checked.configPath);
    }
  }

  /**
   * Encrypts a chunk message's key and value for `topic`. The first time
   * for its root, the key is kept in the node's config and requests for it
   * are answered.
   *
   * @example
   * ```ts
   * declare const crypto: TransferCrypto;
   * const { key, value } = await crypto.seal("lecroy_files", "a_chunk_1_of_1", new Uint8Array(4));
   * ```
   */
  async seal(
    topic: string,
    key: string,
    value: Uint8Array,
  ): Promise<SealedMessage> {
    const sealedKey = await this.#node.encrypt(
      topic,
      new TextEncoder().encode(key),
      "key",
    );
    return {
      key: sealedKey,
      value: await this.#node.encrypt(topic, value, "value"),
    };
  }

  /**
   * Opens the key and value of a message of `topic` that is not a chunk (a
   * heartbeat or log message): plaintext comes back as it is; undefined
   * when its key did not come (see {@linkcode SIDE_KEY_WAIT_MS}) or it does
   * not open.
   *
   * @example
   * ```ts
   * declare const crypto: TransferCrypto, key: Uint8Array, value: Uint8Array;
   * const plain = await crypto.unseal("heartbeats", key, value);
   * ```
   */
  async unseal(
    topic: string,
    key: Uint8Array | null,
    value: Uint8Array,
    firstWaitMs: number = SIDE_KEY_WAIT_MS,
  ): Promise<{ key?: string; value: Uint8Array } | undefined> {
    const waitFor = (index: string) =>
      this.#missed.has(index) ? 0 : firstWaitMs;
    const open = async (bytes: Uint8Array, part: "key" | "value") => {
      const result = await this.#node.decrypt(topic, bytes, part, waitFor);
      if (!result.plaintext && result.keyIndex) {
        this.#missed.add(result.keyIndex);
      }
      return result.plaintext;
    };
    const plainValue = await open(value, "value");
    if (!plainValue) return undefined;
    if (!key) return { value: plainValue };
    const plainKey = await open(key, "key");
    if (!plainKey) return undefined;
    return { key: new TextDecoder().decode(plainKey), value: plainValue };
  }

  /**
   * Answers key requests for `topic`'s root from now on, with the keys kept
   * from earlier runs too (a watcher does so while it is up).
   *
   * @example
   * ```ts
   * declare const crypto: TransferCrypto;
   * await crypto.answerRequests("lecroy_files");
   * ```
   */
  answerRequests(topic: string): Promise<void> {
    return this.#node.answerRequests(topic);
  }

  /**
   * A decryptor for the chunks of source topic `topic` (also when read
   * again from its repartition topic: the keys are the source's).
   *
   * @example
   * ```ts
   * import type { Logger } from "../common/log.ts";
   * declare const crypto: TransferCrypto, log: Logger;
   * const decryptor = crypto.decryptor("lecroy_files", log);
   * ```
   */
  decryptor(
    topic: string,
    log: Pick<Logger, "info">,
    firstWaitMs: number = FIRST_KEY_WAIT_MS,
  ): ChunkDecryptor {
    return new ChunkDecryptor(this.#node, topic, log, firstWaitMs);
  }

  /**
   * Stops the node's clients (it answers no more requests).
   *
   * @example
   * ```ts
   * declare const crypto: TransferCrypto;
   * await crypto.close();
   * ```
   */
  async close(): Promise<void> {
    await this.#node.close();
  }
}

/**
 * Opens chunk values of one source topic. The first message of a key index
 * not yet known waits up to {@linkcode FIRST_KEY_WAIT_MS} for its key; once
 * that wait ended without it, each further message of that index waits
 * {@linkcode LATER_KEY_WAIT_MS} (OpenMSIStream's 60 s and 5 s, per key
 * index: one producer's missing key does not shorten another's wait). Each
 * key waited for is said in one line.
 */
export class ChunkDecryptor {
  readonly #node: CryptoNode;
  readonly #topic: string;
  readonly #log: Pick<Logger, "info">;
  readonly #announced = new Set<string>();
  readonly #missed = new Set<string>();
  readonly #firstWaitMs: number;

  /**
   * A decryptor for `topic` with `node` (see {@linkcode TransferCrypto.decryptor});
   * the first message of a key waits `firstWaitMs` (`--key_wait_seconds`).
   */
  constructor(
    node: CryptoNode,
    topic: string,
    log: Pick<Logger, "info">,
    firstWaitMs: number = FIRST_KEY_WAIT_MS,
  ) {
    this.#node = node;
    this.#topic = topic;
    this.#log = log;
    this.#firstWaitMs = firstWaitMs;
  }

  /**
   * The plaintext of `value` (bytes that are not encrypted come back as
   * they are), or undefined when its key did not come in time or it does
   * not open.
   *
   * @example
   * ```ts
   * declare const decryptor: ChunkDecryptor, value: Uint8Array;
   * const plain = await decryptor.open(value);
   * ```
   */
  async open(value: Uint8Array): Promise<Uint8Array | undefined> {
    const root = topicRoot(this.#topic);
    const waitFor = (keyIndex: string) =>
      this.#missed.has(keyIndex)
        ? Math.min(LATER_KEY_WAIT_MS, this.#firstWaitMs)
        : this.#firstWaitMs;
    const result = await this.#node.decrypt(
      this.#topic,
      value,
      "value",
      waitFor,
      (keyIndex) => {
        if (this.#announced.has(keyIndex)) return;
        this.#announced.add(keyIndex);
        this.#log.info(
          `Waiting up to ${
            waitFor(keyIndex) / 1000
          } s for the key of topic ${this.#topic} (key index ${
            keyIndex.slice(0, 12)
          }...), asked for on ${root}${REQUESTS_SUFFIX}`,
        );
      },
    );
    if (!result.plaintext && result.keyIndex) {
      this.#missed.add(result.keyIndex);
    }
    return result.plaintext;
  }
}

/**
 * The default `undecryptable` hook: writes the message's key and value
 * under `OUTPUT/ENCRYPTED_MESSAGES/` with OpenMSIStream's names (see
 * encrypted_messages.ts: each file through a synced temporary file and a
 * rename, the key file last), with a warning line, so the message is kept
 * before its offset is committed; reproduce_undecryptable_messages
 * decrypts it later.
 *
 * @example
 * ```ts
 * import type { Logger } from "../common/log.ts";
 * declare const log: Logger;
 * const keep = keepEncryptedMessage("out/rebuilt", log);
 * await keep({ topic: "t", partition: 0, offset: "5" }, null, new Uint8Array([1]));
 * ```
 */
export function keepEncryptedMessage(
  outputDir: string,
  log: Pick<Logger, "warn">,
): (
  where: MessagePosition,
  key: Uint8Array | null,
  value: Uint8Array,
) => Promise<void> {
  return async (where, key, value) => {
    // OpenMSIStream's names (encrypted_messages.ts): its tools and
    // reproduce_undecryptable_messages find them.
    const name = await keepMessageFiles(outputDir, where, key, value);
    const folder = join(outputDir, ENCRYPTED_MESSAGES_FOLDER);
    log.warn(
      `message at ${where.topic}/${where.partition}/${where.offset} could not be decrypted; kept as ${
        join(folder, name)
      }_key.bin/_value.bin (deno task reproduce_undecryptable_messages decrypts it later)`,
    );
  };
}
