/**
 * A provisioned node at work on Kafka, as KafkaCrypto runs one: it encrypts
 * keys and values of the topics it produces to and answers key requests on
 * `ROOT.reqs` with replies on `ROOT.keys`; for the topics it reads, it asks
 * for the keys it lacks and decrypts once a reply has come.
 *
 * @example
 * ```ts
 * import { CryptoNode } from "./crypto_node.ts";
 * import { openNode } from "./node.ts";
 * import { createKafka } from "../kafka/client.ts";
 * import { loadKafkaConfig } from "../kafka/config.ts";
 *
 * const settings = await loadKafkaConfig("local");
 * const node = await CryptoNode.start(
 *   await openNode(".kafkacrypto/lab_pc_1/lab_pc_1.config"),
 *   createKafka(settings),
 *   settings,
 * );
 * const sealed = await node.encrypt("lecroy_files", new Uint8Array([1, 2, 3]), "value");
 * await node.close();
 * ```
 *
 * @module
 */
import { Consumer, type MessagesStream, Producer } from "@platformatic/kafka";
import { Buffer } from "node:buffer";
import { connectAdmin, ensureTopic, KafkaClient } from "../kafka/client.ts";
import type { KafkaSettings } from "../kafka/config.ts";
import {
  answerKeyRequest,
  type ExchangedSecret,
  KeyRequester,
} from "./key_exchange.ts";
import {
  decryptMessage,
  encryptMessage,
  keyIndexText,
  readEnvelope,
} from "./message_framing.ts";
import {
  MessageKeyGenerator,
  Ratchet,
  type TopicSecret,
} from "./message_keys.ts";
import type { OpenNode } from "./node.ts";
import { type OldKey, readOldKeys, writeOldKeys } from "./old_keys.ts";
import { parseNodeConfig } from "./node_files.ts";
import { decode } from "@msgpack/msgpack";

/** Suffix of the topic that carries key requests. */
export const REQUESTS_SUFFIX = ".reqs";
/** Suffix of the topic that carries key replies. */
export const KEYS_SUFFIX = ".keys";
/** Suffix of the topic controllers read requests from. */
export const SUBSCRIPTIONS_SUFFIX = ".subs";
/** How often a missing key is asked for again (KafkaCrypto: every 60 s). */
const REQUEST_AGAIN_MS = 5_000;
/**
 * When a reply to a fresh request is sent again (ms after the first): a
 * KafkaCrypto reader starts reading `ROOT.keys` at the topic's end, fixed a
 * second or two after its request went out, so a reply sent sooner is never
 * read and the reader asks again only a minute later (its
 * `crypto_sub_interval`). The copies are ignored once it has the key.
 */
const ANSWER_AGAIN_MS = [2_000, 5_000, 10_000, 20_000];
/** Requests older than this (by Kafka timestamp) are answered only once. */
const FRESH_REQUEST_MS = 30_000;

/** A Kafka key or a Kafka value. */
export type MessagePart = "key" | "value";

/**
 * The topic root: the name up to its first dot (keys are per root).
 *
 * @example
 * ```ts
 * topicRoot("lecroy_files.raw"); // "lecroy_files"
 * ```
 */
export function topicRoot(topic: string): string {
  return topic.split(".", 1)[0];
}

/** What {@linkcode CryptoNode.start} may be told. */
export interface CryptoNodeOptions {
  /**
   * The node's config file: its kept producing keys (`oldkeys`) are read
   * from it and each run's new ones written to it, as KafkaCrypto keeps
   * them, so any later run of the node answers requests for them. Unset:
   * nothing is kept.
   */
  configPath?: string;
}

/** The generators for one received key index. */
interface ReadingKeys {
  keys: MessageKeyGenerator;
  values: MessageKeyGenerator;
}

/**
 * A node on Kafka: encrypts, decrypts and exchanges keys.
 *
 * @example
 * ```ts
 * declare const node: CryptoNode;
 * await node.decrypt("lecroy_files", new Uint8Array([1]), "value", 5_000);
 * ```
 */
export class CryptoNode {
  readonly #node: OpenNode;
  readonly #kafka: KafkaClient;
  readonly #settings: KafkaSettings;
  readonly #ratchet: Ratchet;
  readonly #producer: Producer<Buffer, Buffer, Buffer, Buffer>;
  readonly #requester: KeyRequester;
  readonly #producing = new Map<string, TopicSecret>();
  readonly #starting = new Map<string, Promise<TopicSecret>>();
  readonly #kept: OldKey[];
  readonly #configPath?: string;
  #keeping: Promise<void> = Promise.resolve();
  readonly #reading = new Map<string, Map<string, ReadingKeys>>();
  readonly #streams: MessagesStream<Buffer, Buffer, Buffer, Buffer>[] = [];
  readonly #consumers: Consumer<Buffer, Buffer, Buffer, Buffer>[] = [];
  readonly #listening = new Set<string>();
  readonly #topicsInPlace = new Set<string>();
  readonly #lastRequest = new Map<string, number>();
  readonly #waiters = new Set<() => void>();
  readonly #answersAgain = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;

  private constructor(
    node: OpenNode,
    kafka: KafkaClient,
    settings: KafkaSettings,
    ratchet: Ratchet,
    options: CryptoNodeOptions,
    kept: OldKey[],
  ) {
    this.#configPath = options.configPath;
    this.#kept = kept;
    this.#node = node;
    this.#kafka = kafka;
    this.#settings = settings;
    this.#ratchet = ratchet;
    this.#requester = new KeyRequester(node);
    this.#producer = new Producer({
      ...KafkaClient.options(kafka),
      autocreateTopics: false,
    });
  }

  /**
   * Starts the node: moves its ratchet on (a fresh key index per run).
   *
   * @example
   * ```ts
   * import type { OpenNode } from "./node.ts";
   * import type { KafkaClient } from "../kafka/client.ts";
   * import type { KafkaSettings } from "../kafka/config.ts";
   * declare const open: OpenNode;
   * declare const kafka: KafkaClient;
   * declare const settings: KafkaSettings;
   * const node = await CryptoNode.start(open, kafka, settings);
   * ```
   */
  static async start(
    node: OpenNode,
    kafka: KafkaClient,
    settings: KafkaSettings,
    options: CryptoNodeOptions = {},
  ): Promise<CryptoNode> {
    const kept = options.configPath ? await readOldKeys(node) : [];
    return new CryptoNode(
      node,
      kafka,
      settings,
      await Ratchet.open(node.seedPath),
      options,
      kept,
    );
  }

  /**
   * Starts answering the key requests of `topic`'s root (on `ROOT.reqs`)
   * with the keys this node produced to it, this run's and the kept ones.
   *
   * @example
   * ```ts
   * declare const node: CryptoNode;
   * await node.answerRequests("lecroy_files");
   * ```
   */
  async answerRequests(topic: string): Promise<void> {
    const root = topicRoot(topic);
    // Readers (KafkaCrypto's among them) find both exchange topics in place.
    await this.#ensureTopic(root + KEYS_SUFFIX);
    await this.#listen(
      root + REQUESTS_SUFFIX,
      (key, value, sentMs) => this.#answer(root, key, value, sentMs),
    );
  }

  /**
   * Encrypts a key or value for `topic` (KafkaCrypto's format); the first
   * time for a topic root, the node starts answering its key requests.
   *
   * @example
   * ```ts
   * declare const node: CryptoNode;
   * await node.encrypt("lecroy_files", new TextEncoder().encode("data"), "value");
   * ```
   */
  async encrypt(
    topic: string,
    plaintext: Uint8Array,
    part: MessagePart,
  ): Promise<Uint8Array> {
    const root = topicRoot(topic);
    const secret = this.#producing.get(root) ??
      await this.#startProducing(root);
    return await encryptMessage(
      part === "key" ? secret.keys : secret.values,
      secret.keyIndex,
      plaintext,
    );
  }

  /**
   * Decrypts a key or value of `topic`: the plaintext, or undefined when
   * no key came within `waitMs` (or what it says for the message's key
   * index; `waiting` is called once, with the index, before the key is
   * asked for) (the caller keeps the message; a later call
   * may succeed) or the bytes do not open. Bytes that are not KafkaCrypto's
   * format are returned as they are, with `encrypted: false`.
   *
   * @example
   * ```ts
   * declare const node: CryptoNode; declare const bytes: Uint8Array;
   * const result = await node.decrypt("lecroy_files", bytes, "value", 60_000);
   * ```
   */
  async decrypt(
    topic: string,
    bytes: Uint8Array,
    part: MessagePart,
    waitMs: number | ((keyIndex: string) => number),
    waiting?: (keyIndex: string) => void,
  ): Promise<
    { plaintext?: Uint8Array; encrypted: boolean; keyIndex?: string }
  > {
    const envelope = readEnvelope(bytes);
    if (!envelope) return { plaintext: bytes, encrypted: false };
    const root = topicRoot(topic);
    const index = keyIndexText(envelope.keyIndex);
    const deadline = Date.now() +
      (typeof waitMs === "number" ? waitMs : waitMs(index));
    while (true) {
      const keys = this.#reading.get(root)?.get(index) ??
        this.#ownKeys(root, index) ?? await this.#keptKeys(root, index);
      if (keys) {
        const plaintext = await decryptMessage(
          part === "key" ? keys.keys : keys.values,
          envelope,
        );
        return { plaintext, encrypted: true, keyIndex: index };
      }
      if (Date.now() >= deadline) return { encrypted: true, keyIndex: index };
      waiting?.(index);
      waiting = undefined;
      await this.#askFor(root, envelope.keyIndex);
      await this.#waitForKeys(Math.min(1_000, deadline - Date.now()));
    }
  }

  /**
   * Stops every client of the node.
   *
   * @example
   * ```ts
   * declare const node: CryptoNode;
   * await node.close();
   * ```
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#answersAgain) clearTimeout(timer);
    this.#answersAgain.clear();
    for (const wake of this.#waiters) wake();
    await Promise.allSettled(this.#streams.map((stream) => stream.close()));
    await Promise.allSettled(
      this.#consumers.map((consumer) => consumer.close(true)),
    );
    await this.#producer.close().catch(() => {});
  }

  /**
   * This run's secret for `root` (once, however many encrypt at once): kept
   * in the node's config before anything is sent with it, then answered for.
   */
  #startProducing(root: string): Promise<TopicSecret> {
    let starting = this.#starting.get(root);
    if (!starting) {
      starting = (async () => {
        const secret = await this.#ratchet.topicSecret(
          root,
          this.#node.signingPublicKey,
        );
        await this.#keep({
          root,
          keyIndex: secret.keyIndex,
          secret: secret.secret,
          birthSeconds: Math.floor(Date.now() / 1000),
        });
        this.#producing.set(root, secret);
        await this.answerRequests(root);
        return secret;
      })();
      this.#starting.set(root, starting);
      starting.catch(() => this.#starting.delete(root));
    }
    return starting;
  }

  /** Adds `key` to the kept keys and writes them (one write at a time). */
  #keep(key: OldKey): Promise<void> {
    const path = this.#configPath;
    if (!path) return Promise.resolve();
    this.#kept.push(key);
    const write = this.#keeping.then(async () => {
      // Keys another run of the node kept meanwhile stay kept too.
      const config = parseNodeConfig(await Deno.readTextFile(path));
      const known = new Set(this.#kept.map(keptName));
      for (const other of await readOldKeys({ ...this.#node, config })) {
        if (!known.has(keptName(other))) this.#kept.push(other);
      }
      await writeOldKeys(path, this.#node, this.#kept);
    });
    this.#keeping = write.catch(() => {});
    return write;
  }

  /** The node's own producing keys, when it reads what it wrote itself. */
  #ownKeys(root: string, index: string): ReadingKeys | undefined {
    const own = this.#producing.get(root);
    return own && keyIndexText(own.keyIndex) === index ? own : undefined;
  }

  /**
   * A key this node produced in an earlier run (kept in its config): it
   * reads what it wrote without asking anyone.
   */
  async #keptKeys(
    root: string,
    index: string,
  ): Promise<ReadingKeys | undefined> {
    const kept = this.#kept.find((key) =>
      key.root === root && keyIndexText(key.keyIndex) === index
    );
    if (!kept) return undefined;
    const keys = {
      keys: await MessageKeyGenerator.forKeys(kept.secret),
      values: await MessageKeyGenerator.forValues(kept.secret),
    };
    const known = this.#reading.get(root) ?? new Map<string, ReadingKeys>();
    known.set(index, keys);
    this.#reading.set(root, known);
    return keys;
  }

  /** Sends a request for `keyIndex` of `root` (each at most every few seconds). */
  async #askFor(root: string, keyIndex: Uint8Array | number): Promise<void> {
    await this.#ensureTopic(root + REQUESTS_SUFFIX);
    await this.#listen(
      root + KEYS_SUFFIX,
      (_key, value) => this.#receive(root, value),
    );
    // Per key index: a second producer's key is asked for at once.
    const asking = `${root}/${keyIndexText(keyIndex)}`;
    const last = this.#lastRequest.get(asking) ?? 0;
    if (Date.now() - last < REQUEST_AGAIN_MS) return;
    this.#lastRequest.set(asking, Date.now());
    const request = await this.#requester.request(root, [keyIndex]);
    await this.#send(root + REQUESTS_SUFFIX, request.key, request.value);
    await this.#send(root + SUBSCRIPTIONS_SUFFIX, request.key, request.value);
  }

  /**
   * Answers one request with the secrets of `root` it asks for (its key
   * lists the key indexes, as KafkaCrypto's): this run's and the kept ones.
   * A request sent less than {@linkcode FRESH_REQUEST_MS} ago (`sentMs`, its
   * Kafka timestamp) gets the same reply again later (see
   * {@linkcode ANSWER_AGAIN_MS}).
   */
  async #answer(
    root: string,
    key: Uint8Array,
    value: Uint8Array,
    sentMs: number,
  ): Promise<void> {
    const asked = requestedIndexes(key);
    const known: ExchangedSecret[] = this.#kept.filter((kept) =>
      kept.root === root
    );
    const current = this.#producing.get(root);
    if (current) known.push(current);
    const seen = new Set<string>();
    const shared = known.filter(({ keyIndex }) => {
      const text = keyIndexText(keyIndex);
      if (!asked.has(text) || seen.has(text)) return false;
      seen.add(text);
      return true;
    }).map(({ keyIndex, secret }) => ({ keyIndex, secret }));
    if (shared.length === 0) return;
    const reply = await answerKeyRequest(this.#node, root, value, shared);
    if (!reply) return;
    await this.#send(root + KEYS_SUFFIX, reply.key, reply.value);
    if (Date.now() - sentMs < FRESH_REQUEST_MS) {
      this.#answerAgain(root + KEYS_SUFFIX, reply.key, reply.value);
    }
  }

  /**
   * Sends a reply again at each of {@linkcode ANSWER_AGAIN_MS} (until the
   * node closes), for a reader that was not yet reading `ROOT.keys`.
   */
  #answerAgain(topic: string, key: Uint8Array, value: Uint8Array): void {
    for (const delay of ANSWER_AGAIN_MS) {
      const timer = setTimeout(() => {
        this.#answersAgain.delete(timer);
        if (this.#closed) return;
        this.#send(topic, key, value).catch(() => {});
      }, delay);
      this.#answersAgain.add(timer);
    }
  }

  /** Stores the secrets of a reply meant for us. */
  async #receive(root: string, value: Uint8Array): Promise<void> {
    const secrets = await this.#requester.readReply(root, value);
    if (!secrets) return;
    const known = this.#reading.get(root) ?? new Map<string, ReadingKeys>();
    for (const { keyIndex, secret } of secrets) {
      known.set(keyIndexText(keyIndex), {
        keys: await MessageKeyGenerator.forKeys(secret),
        values: await MessageKeyGenerator.forValues(secret),
      });
    }
    this.#reading.set(root, known);
    for (const wake of this.#waiters) wake();
  }

  /** Waits until a reply arrives or `ms` pass. */
  #waitForKeys(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#waiters.add(done);
    });
  }

  /** Produces one exchange message. */
  async #send(
    topic: string,
    key: Uint8Array,
    value: Uint8Array,
  ): Promise<void> {
    await this.#ensureTopic(topic);
    await this.#producer.send({
      messages: [{
        topic,
        key: Buffer.from(key),
        value: Buffer.from(value),
        partition: 0,
      }],
      acks: -1,
    });
  }

  /** Creates an exchange topic (one partition) when it is missing. */
  async #ensureTopic(topic: string): Promise<void> {
    if (this.#topicsInPlace.has(topic)) return;
    const admin = await connectAdmin(this.#kafka, this.#settings);
    try {
      await ensureTopic(admin, topic, 1);
      this.#topicsInPlace.add(topic);
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Reads `topic` from its beginning, handing each message (and its Kafka
   * timestamp, ms) to `handle`.
   */
  async #listen(
    topic: string,
    handle: (
      key: Uint8Array,
      value: Uint8Array,
      sentMs: number,
    ) => Promise<void>,
  ): Promise<void> {
    if (this.#listening.has(topic)) return;
    this.#listening.add(topic);
    await this.#ensureTopic(topic);
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...KafkaClient.options(this.#kafka),
      groupId: `${this.#node.nodeId}.kafkacrypto.${
        crypto.randomUUID().slice(0, 8)
      }`,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    this.#consumers.push(consumer);
    const stream = await consumer.consume({
      topics: [topic],
      mode: "earliest",
      autocommit: false,
    });
    this.#streams.push(stream);
    (async () => {
      for await (const message of stream) {
        if (message.value) {
          await handle(
            message.key ?? new Uint8Array(0),
            message.value,
            Number(message.timestamp),
          ).catch(() => {});
        }
      }
    })().catch(() => {});
  }
}

/** The key indexes a request's Kafka key lists (none if it is no list). */
function requestedIndexes(key: Uint8Array): Set<string> {
  try {
    const list = decode(key);
    if (!Array.isArray(list)) return new Set();
    return new Set(
      list.filter((item) =>
        item instanceof Uint8Array || typeof item === "number"
      ).map((item) => keyIndexText(item)),
    );
  } catch {
    return new Set();
  }
}

/** A kept key's root and index, to tell kept keys apart. */
function keptName(key: OldKey): string {
  return `${key.root}/${keyIndexText(key.keyIndex)}`;
}
