/**
 * Kafka client settings from an INI config file, as the Python tools read them.
 *
 * A config file has up to three sections:
 *
 * ```ini
 * [cluster]                      ; also accepted: [broker]
 * bootstrap.servers = 127.0.0.1:9092
 * [producer]
 * compression.type = lz4
 * [consumer]
 * group.id = new                 ; "new" or "create_new": a fresh random id
 * auto.offset.reset = earliest
 * [topic]                        ; for topics the tools create
 * replication.factor = 3         ; default min(3, brokers)
 * min.insync.replicas = 2        ; default 2 when the factor is 3 or more
 * [heartbeat]                    ; optional, as OpenMSIStream: another broker
 * bootstrap.servers = monitor:9092 ; for heartbeats (then its login here too)
 * [log]                          ; the same for log messages
 * [kafkacrypto]                  ; optional, as OpenMSIStream: end-to-end
 * node_id = lab_pc_1             ; encryption with this node (or config_file =)
 * ```
 *
 * Values are taken literally (a `%`, `;` or `#` in a password is part of the
 * password). A value that starts with `$` is read from that environment
 * variable, so credentials never live in the file. The librdkafka-style keys are
 * mapped onto this project's own settings types (client.ts hands them to the
 * client library); a key with no effect gets one warning.
 *
 * @example
 * ```ts
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const config = await loadKafkaConfig("local", (w) => console.warn(w));
 * config.client.brokers; // ["127.0.0.1:9092"]
 * ```
 *
 * @module
 */
import parseIni from "ini-simple-parser";
import { describeError, UserError } from "../common/cli.ts";

/**
 * Producer settings: acks and the codec go to the client library; the
 * batching (`batch.size`, `linger.ms`) and the retries this project applies
 * itself.
 */
export interface ProducerSettings {
  /** -1 = all in-sync replicas (the default), 1 = leader only, 0 = none. */
  acks: -1 | 0 | 1;
  /** The codec of produced batches (`compression.type`). */
  compression: "none" | "gzip" | "lz4" | "snappy" | "zstd";
  /** Bytes collected into one produce request. */
  batchBytes: number;
  /** How long a partly filled batch may wait for more chunks. */
  lingerMs: number;
  /** Retries of a retriable failure before a chunk counts as not delivered. */
  retries: number;
}

/** Consumer settings, in this project's names (consumer_group.ts hands them to the client library). */
export interface ConsumerSettings {
  /** `undefined` means: make a fresh random group id. */
  groupId: string | undefined;
  /** Read a new group's topic from its start (`auto.offset.reset = earliest`). */
  fromBeginning: boolean;
  /** `fetch.min.bytes`: bytes a fetch waits for. */
  minBytes?: number;
  /** `fetch.max.bytes`: the most bytes one fetch returns. */
  maxBytes?: number;
  /** `max.partition.fetch.bytes`: the most bytes per partition per fetch. */
  maxBytesPerPartition?: number;
  /** `fetch.wait.max.ms`: how long a fetch waits for `minBytes`. */
  maxWaitTimeInMs?: number;
  /** `session.timeout.ms`: silence after which a member is dropped. */
  sessionTimeout?: number;
  /** `heartbeat.interval.ms`: how often a member says it is alive. */
  heartbeatInterval?: number;
}

/** How a topic the tools create is replicated; unset = chosen from the cluster. */
export interface TopicSettings {
  /** Copies of each partition; default min(3, brokers in the cluster). */
  replicationFactor?: number;
  /** Copies that must have a message before it is acknowledged (with acks=all). */
  minInSyncReplicas?: number;
}

/** TLS on, optionally with a CA, a client certificate and its key (PEM text). */
export interface TlsFiles {
  /** The CA that signed the brokers' certificates (`ssl.ca.location`). */
  ca?: string;
  /** This client's certificate (`ssl.certificate.location`). */
  cert?: string;
  /** This client's private key (`ssl.key.location`). */
  key?: string;
}

/** The SASL mechanisms the client speaks, in lower case. */
export type SaslMechanism = "plain" | "scram-sha-256" | "scram-sha-512";

/** A SASL login with one mechanism. */
export interface SaslLogin<Mechanism extends SaslMechanism = SaslMechanism> {
  /** The mechanism. */
  mechanism: Mechanism;
  /** `sasl.username`. */
  username: string;
  /** `sasl.password` (never printed). */
  password: string;
}

/** A SASL login, whichever its mechanism. */
export type AnySaslLogin =
  | SaslLogin<"plain">
  | SaslLogin<"scram-sha-256">
  | SaslLogin<"scram-sha-512">;

/** Where the brokers are and how to log in (`[cluster]`). */
export interface ClientSettings {
  /** `host:port` of each bootstrap server. */
  brokers: string[];
  /** `client.id`, as the brokers log it. */
  clientId: string;
  /** TLS: `true` for the system's CAs, or the files named in the config; unset = no TLS. */
  ssl?: true | TlsFiles;
  /** The SASL login; unset = none. */
  sasl?: AnySaslLogin;
  /** `socket.connection.setup.timeout.ms`. */
  connectionTimeout?: number;
  /** `request.timeout.ms`. */
  requestTimeout?: number;
}

/** Everything a config file says, in this project's own types. */
export interface KafkaSettings {
  /** Where the settings came from (a path), for messages. */
  source: string;
  /** Brokers, TLS and SASL. */
  client: ClientSettings;
  /** What the producers do. */
  producer: ProducerSettings;
  /** What the consumers do. */
  consumer: ConsumerSettings;
  /** How new topics are replicated (`[topic]`). */
  topic: TopicSettings;
  /** Where heartbeat messages go (`[heartbeat]`); unset = the `[cluster]`. */
  heartbeat?: SideChannelSettings;
  /** Where log messages go (`[log]`); unset = the `[cluster]`. */
  log?: SideChannelSettings;
  /** End-to-end encryption (`[kafkacrypto]`); unset = plaintext. */
  kafkacrypto?: KafkaCryptoSettings;
}

/**
 * A `[kafkacrypto]` section: which node's files encrypt. The first of
 * `nodeConfigCandidates` that exists is the node's config (lib/crypto).
 */
export interface KafkaCryptoSettings {
  /** `node_id`, when the section named the node. */
  nodeId?: string;
  /** `config_file`, when the section named the node's config file. */
  configFile?: string;
  /**
   * Where the node's config is looked for, in order: `config_file` alone,
   * or for `node_id = NAME` as OpenMSIStream looks (`config/NAME/NAME.config`,
   * `NAME/NAME.config` beside the config file and in the current folder),
   * then provision_node's default `.kafkacrypto/NAME/NAME.config`.
   */
  nodeConfigCandidates: string[];
}

/**
 * An optional `[heartbeat]` or `[log]` section: its own broker (when it names
 * `bootstrap.servers`, with its own login, as OpenMSIStream reads it) and
 * producer settings.
 */
export interface SideChannelSettings {
  /** The section's broker; unset = the `[cluster]` one. */
  client?: ClientSettings;
  /** The section's producer keys over the defaults. */
  producer: ProducerSettings;
  /**
   * `prefer.separate.producer` given (any value, as OpenMSIStream reads
   * it): OpenMSIStream then sends these messages with a plain producer of
   * their own, so with `[kafkacrypto]` they are not encrypted.
   */
  separateProducer: boolean;
}

/** The largest value of Kafka's 32-bit settings (sizes, timeouts). */
const MAX_INT32 = 2 ** 31 - 1;

/** The config folder that `--config NAME` looks in. */
const CONFIG_DIR = "config";

/**
 * Finds the file for `--config`: `config/NAME.config` for a bare name, else
 * the path as given.
 *
 * @example
 * ```ts
 * configPath("local"); // "config/local.config"
 * configPath("./my.config"); // "./my.config"
 * ```
 */
export function configPath(nameOrPath: string): string {
  const isBareName = !nameOrPath.includes("/") && !nameOrPath.includes("\\") &&
    !nameOrPath.endsWith(".config");
  return isBareName ? `${CONFIG_DIR}/${nameOrPath}.config` : nameOrPath;
}

/**
 * Reads and maps a config file. `warn` receives one line per key that has no
 * effect. Throws {@linkcode UserError} for a missing file or variable.
 *
 * @example
 * ```ts
 * const settings = await loadKafkaConfig("config/local.config");
 * ```
 */
export async function loadKafkaConfig(
  nameOrPath: string,
  warn: (message: string) => void = () => {},
): Promise<KafkaSettings> {
  const path = configPath(nameOrPath);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(`config file ${path} not found`);
    }
    throw error;
  }
  return parseKafkaConfig(text, path, (name) => Deno.env.get(name), warn);
}

/**
 * Maps the text of a config file onto the project's settings. `getEnv` resolves
 * `$NAME` values.
 *
 * @example
 * ```ts
 * const s = parseKafkaConfig("[cluster]\nbootstrap.servers = h:9092\n", "x", () => undefined);
 * s.client.brokers; // ["h:9092"]
 * ```
 */
export function parseKafkaConfig(
  text: string,
  source: string,
  getEnv: (name: string) => string | undefined,
  warn: (message: string) => void = () => {},
): KafkaSettings {
  const sections = readSections(text, source, getEnv);
  const cluster = new SectionReader(
    sections.cluster ?? sections.broker ?? {},
    "cluster",
    source,
    warn,
  );
  const producer = new SectionReader(
    sections.producer ?? {},
    "producer",
    source,
    warn,
  );
  const consumer = new SectionReader(
    sections.consumer ?? {},
    "consumer",
    source,
    warn,
  );
  const topic = new SectionReader(sections.topic ?? {}, "topic", source, warn);
  const kafkacrypto = sections.kafkacrypto
    ? new SectionReader(sections.kafkacrypto, "kafkacrypto", source, warn)
    : undefined;
  const sides = (["heartbeat", "log"] as const).filter((name) => sections[name])
    .map((name) => new SectionReader(sections[name], name, source, warn));
  const settings: KafkaSettings = {
    source,
    client: mapCluster(cluster, source),
    producer: mapProducer(producer),
    consumer: mapConsumer(consumer),
    topic: mapTopic(topic),
  };
  for (const side of sides) {
    settings[side.section as "heartbeat" | "log"] = mapSideChannel(side);
  }
  if (kafkacrypto) settings.kafkacrypto = mapKafkaCrypto(kafkacrypto);
  for (const section of [cluster, producer, consumer, topic, ...sides]) {
    section.warnUnused();
  }
  kafkacrypto?.warnUnused();
  return settings;
}

/**
 * `[kafkacrypto]`: where the node's config is (see
 * {@linkcode KafkaCryptoSettings}); neither key is an error, as a section
 * meant to encrypt must never end in plaintext.
 */
function mapKafkaCrypto(section: SectionReader): KafkaCryptoSettings {
  const configFile = section.text("config_file")?.replace(/^file#/, "");
  const nodeId = section.text("node_id");
  if (configFile) return { configFile, nodeConfigCandidates: [configFile] };
  if (!nodeId || /[\\/]|^\.\.?$/.test(nodeId)) {
    throw new UserError(
      `${section.source}: [kafkacrypto] needs node_id = NAME (a plain name) or config_file = PATH; nothing was sent`,
    );
  }
  const beside = section.source.includes("/")
    ? section.source.slice(0, section.source.lastIndexOf("/"))
    : ".";
  const node = `${nodeId}/${nodeId}.config`;
  const candidates = [
    `${CONFIG_DIR}/${node}`,
    `${beside}/${node}`,
    node,
    `.kafkacrypto/${node}`,
  ];
  return { nodeId, nodeConfigCandidates: [...new Set(candidates)] };
}

/** `[heartbeat]` / `[log]`: a broker of its own if it names one, producer keys. */
function mapSideChannel(section: SectionReader): SideChannelSettings {
  // OpenMSIStream's keys for its log handler: no effect here.
  section.accept("max.logs.per.message", "log.level");
  // Python's truth of a text value: any non-empty one.
  const separate = section.text("prefer.separate.producer");
  return {
    separateProducer: separate !== undefined && separate !== "",
    client: section.text("bootstrap.servers") === undefined
      ? undefined
      : mapCluster(section, section.source),
    producer: mapProducer(section),
  };
}

/** Parses the INI text and resolves `$NAME` values. */
function readSections(
  text: string,
  source: string,
  getEnv: (name: string) => string | undefined,
): Record<string, Record<string, string>> {
  let parsed: Record<string, unknown>;
  try {
    parsed = parseIni(text) as Record<string, unknown>;
  } catch (error) {
    // e.g. "Unexpected unclosed section": a typo in the file, not a bug.
    throw new UserError(
      `${source} is not a valid config file: ${describeError(error)}`,
    );
  }
  const sections: Record<string, Record<string, string>> = {};
  for (const [name, body] of Object.entries(parsed)) {
    if (typeof body !== "object" || body === null) {
      throw new UserError(`${source}: "${name}" is outside any [section]`);
    }
    const values: Record<string, string> = {};
    for (const [key, raw] of Object.entries(body as Record<string, string>)) {
      values[key] = resolveVariable(String(raw), key, source, getEnv);
    }
    sections[name.toLowerCase()] = values;
  }
  return sections;
}

/** `$NAME` -> the variable's value; an unset variable is an error that names it. */
function resolveVariable(
  value: string,
  key: string,
  source: string,
  getEnv: (name: string) => string | undefined,
): string {
  if (!value.startsWith("$")) return value;
  const name = value.slice(1).replace(/^\{(.*)\}$/, "$1");
  const resolved = getEnv(name);
  if (resolved === undefined) {
    throw new UserError(
      `${source}: ${key} needs the environment variable ${name}, which is not set`,
    );
  }
  return resolved;
}

/** Hands out a section's values and remembers which keys were used. */
class SectionReader {
  #used = new Set<string>();
  constructor(
    readonly values: Record<string, string>,
    readonly section: string,
    readonly source: string,
    readonly warn: (message: string) => void,
  ) {}

  /** The first of `keys` that is set (aliases allowed). */
  text(...keys: string[]): string | undefined {
    for (const key of keys) {
      if (key in this.values) {
        this.#used.add(key);
        return this.values[key].trim();
      }
    }
    return undefined;
  }

  /**
   * A whole number from `range.min` (default 1) to `range.max` (default
   * Kafka's largest, 2^31 - 1), or an error naming the key.
   */
  integer(
    keys: string | string[],
    range: { min?: number; max?: number } = {},
  ): number | undefined {
    const names = typeof keys === "string" ? [keys] : keys;
    const value = this.text(...names);
    if (value === undefined) return undefined;
    const min = range.min ?? 1;
    const max = range.max ?? MAX_INT32;
    const number = /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
    if (!(number >= min && number <= max)) {
      throw new UserError(
        `${this.source}: [${this.section}] ${
          names[0]
        } must be a whole number from ${min} to ${max}, not "${value}"`,
      );
    }
    return number;
  }

  /** Marks keys that are understood but need no mapping. */
  accept(...keys: string[]): void {
    for (const key of keys) this.#used.add(key);
  }

  /** One warning per key nothing read. */
  warnUnused(): void {
    for (const key of Object.keys(this.values)) {
      if (!this.#used.has(key)) {
        this.warn(
          `${this.source}: [${this.section}] ${key} has no effect here; ignored`,
        );
      }
    }
  }
}

/** `[cluster]`: where the brokers are and how to log in. */
function mapCluster(cluster: SectionReader, source: string): ClientSettings {
  const servers = cluster.text("bootstrap.servers", "metadata.broker.list");
  if (!servers) {
    throw new UserError(
      `${source}: [${cluster.section}] needs bootstrap.servers`,
    );
  }
  const protocol = (cluster.text("security.protocol") ?? "PLAINTEXT")
    .toUpperCase();
  if (!["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].includes(protocol)) {
    throw new UserError(
      `${source}: security.protocol ${protocol} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL`,
    );
  }
  const client: ClientSettings = {
    brokers: parseBrokers(servers, source),
    clientId: cluster.text("client.id") ?? "streaming-kafka-files",
    ssl: protocol.endsWith("SSL") ? mapSsl(cluster, source) : undefined,
    sasl: protocol.startsWith("SASL") ? mapSasl(cluster, source) : undefined,
  };
  const connectionTimeout = cluster.integer(
    "socket.connection.setup.timeout.ms",
  );
  if (connectionTimeout !== undefined) {
    client.connectionTimeout = connectionTimeout;
  }
  const requestTimeout = cluster.integer("request.timeout.ms");
  if (requestTimeout !== undefined) client.requestTimeout = requestTimeout;
  return client;
}

/**
 * `host:port,host:port` (IPv6 as `[::1]:9092`) to a list; a port that is not
 * 1 to 65535 is a one-line error naming it (the client would retry it for
 * ever), without a `user:password@` someone put in front.
 */
function parseBrokers(servers: string, source: string): string[] {
  const brokers = servers.split(",").map((s) => s.trim()).filter(Boolean);
  for (const broker of brokers) {
    const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):(\d{1,5})$/.exec(broker);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) {
      throw new UserError(
        `${source}: [cluster] bootstrap.servers entry "${
          broker.replace(/^.*@/, "...@")
        }" is not host:port with a port from 1 to 65535`,
      );
    }
  }
  return brokers;
}

/**
 * Whether `id` is a consumer group id the client takes: one or more
 * characters, none of them white space.
 *
 * @example
 * ```ts
 * isGroupId("lab-pc-1"); // true
 * isGroupId("lab pc"); // false
 * ```
 */
export function isGroupId(id: string): boolean {
  return /^\S+$/.test(id);
}

/** TLS: on, with an optional CA, client certificate and key from PEM files. */
function mapSsl(cluster: SectionReader, source: string): true | TlsFiles {
  const ssl: TlsFiles = {};
  for (
    const [key, field] of [
      ["ssl.ca.location", "ca"],
      ["ssl.certificate.location", "cert"],
      ["ssl.key.location", "key"],
    ] as const
  ) {
    const path = cluster.text(key);
    if (path) ssl[field] = readPemFile(path, key, source);
  }
  return Object.keys(ssl).length === 0 ? true : ssl;
}

/** A PEM file named by the config; a missing or unreadable one is one line. */
function readPemFile(path: string, key: string, source: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    throw new UserError(
      `${source}: ${key} ${path} cannot be read (${describeError(error)})`,
    );
  }
}

/** SASL PLAIN and SCRAM-SHA-256/512, the mechanisms the tools speak. */
function mapSasl(cluster: SectionReader, source: string): AnySaslLogin {
  const mechanism = (cluster.text("sasl.mechanism", "sasl.mechanisms") ??
    "PLAIN").toUpperCase();
  const username = cluster.text("sasl.username") ?? "";
  const password = cluster.text("sasl.password") ?? "";
  if (mechanism === "PLAIN") return { mechanism: "plain", username, password };
  if (mechanism === "SCRAM-SHA-256") {
    return { mechanism: "scram-sha-256", username, password };
  }
  if (mechanism === "SCRAM-SHA-512") {
    return { mechanism: "scram-sha-512", username, password };
  }
  throw new UserError(
    `${source}: sasl.mechanism ${mechanism} is not supported (use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)`,
  );
}

/** `[producer]`: acks, compression and the batching this project does itself. */
function mapProducer(producer: SectionReader): ProducerSettings {
  const acksText = (producer.text("acks", "request.required.acks") ?? "all")
    .toLowerCase();
  const acks = acksText === "all" || acksText === "-1"
    ? -1
    : acksText === "1"
    ? 1
    : acksText === "0"
    ? 0
    : undefined;
  if (acks === undefined) {
    throw new UserError(`acks must be all, -1, 1 or 0, not "${acksText}"`);
  }
  const compression = (producer.text("compression.type", "compression.codec") ??
    "none").toLowerCase();
  if (!["none", "gzip", "lz4", "snappy", "zstd"].includes(compression)) {
    throw new UserError(
      `compression.type ${compression} is not supported here (use none, gzip, lz4, snappy or zstd)`,
    );
  }
  // librdkafka's key/value serializers have no meaning for raw bytes.
  producer.accept("key.serializer", "value.serializer");
  return {
    acks,
    compression: compression as ProducerSettings["compression"],
    batchBytes: producer.integer("batch.size") ?? 1_000_000,
    lingerMs: producer.integer(["linger.ms", "queue.buffering.max.ms"], {
      min: 0,
    }) ?? 50,
    retries: producer.integer(["retries", "message.send.max.retries"], {
      min: 0,
    }) ?? 8,
  };
}

/** `[consumer]`: the group, where to start, and fetch sizes. */
function mapConsumer(consumer: SectionReader): ConsumerSettings {
  const groupId = consumer.text("group.id");
  if (groupId !== undefined && !isGroupId(groupId)) {
    throw new UserError(
      `${consumer.source}: [consumer] group.id ${
        JSON.stringify(groupId)
      } must be one or more characters without spaces`,
    );
  }
  const reset = (consumer.text("auto.offset.reset") ?? "earliest")
    .toLowerCase();
  // Offsets are always committed by hand, after a chunk is on disk.
  consumer.accept(
    "enable.auto.commit",
    "key.deserializer",
    "value.deserializer",
  );
  return {
    groupId: groupId === "new" || groupId === "create_new"
      ? undefined
      : groupId,
    fromBeginning: reset === "earliest" || reset === "smallest" ||
      reset === "beginning",
    minBytes: consumer.integer("fetch.min.bytes"),
    maxBytes: consumer.integer("fetch.max.bytes"),
    maxBytesPerPartition: consumer.integer("max.partition.fetch.bytes"),
    maxWaitTimeInMs: consumer.integer([
      "fetch.wait.max.ms",
      "fetch.max.wait.ms",
    ], {
      min: 0,
    }),
    sessionTimeout: consumer.integer("session.timeout.ms"),
    heartbeatInterval: consumer.integer("heartbeat.interval.ms"),
  };
}

/** `[topic]`: replication of the topics the tools create. */
function mapTopic(topic: SectionReader): TopicSettings {
  return {
    replicationFactor: topic.integer("replication.factor"),
    minInSyncReplicas: topic.integer("min.insync.replicas"),
  };
}

/**
 * A one-line description of the settings with no secret in it.
 *
 * @example
 * ```ts
 * import { describeSettings, loadKafkaConfig } from "./config.ts";
 *
 * const settings = await loadKafkaConfig("local");
 * describeSettings(settings); // "127.0.0.1:9092 from config/local.config"
 * ```
 */
export function describeSettings(settings: KafkaSettings): string {
  const brokers = settings.client.brokers.join(",");
  const sasl = settings.client.sasl
    ? ` SASL ${settings.client.sasl.mechanism.toUpperCase()}`
    : "";
  const tls = settings.client.ssl ? " TLS" : "";
  return `${brokers}${tls}${sasl} from ${settings.source}`;
}
