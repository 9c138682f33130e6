/**
 * Heartbeat and log messages in OpenMSIStream's format, so that a program on
 * a lab PC can be watched from afar (`deno task status`, or OpenMSIStream's
 * own example consumer).
 *
 * A heartbeat has the key `PROGRAMID_heartbeat` and a JSON value with an ISO
 * `timestamp` (UTC) and the counts since the previous heartbeat, under
 * OpenMSIStream's names: `n_messages_produced` and `n_bytes_produced` for an
 * uploader; `n_messages_read`, `n_messages_processed`, `n_bytes_read` and
 * `n_bytes_processed` for a consumer. This project adds `program` and `host`
 * and the files finished (`n_files_produced` / `n_files_processed`), and
 * `group_lag` where a tool knows it; readers that do not know them
 * ignore them. A log message has the key `PROGRAMID_log` and the value
 * `{"timestamp": <Unix seconds>, "messages": [<the log lines since the last>]}`.
 *
 * They go to the `[cluster]` of the config, or to the broker of an optional
 * `[heartbeat]` / `[log]` section (config.ts). Sending is best effort, as in
 * OpenMSIStream: a broker that does not answer costs a warning, never the
 * tool's work. A last heartbeat and the last log lines go out at stop.
 *
 * With a `[kafkacrypto]` node, OpenMSIStream sends both through the
 * KafkaCrypto producer its data goes through (its heartbeat and log
 * producers are made from the same producer group): their keys and values
 * are encrypted for the heartbeat (log) topic's root. A tool here does the
 * same when given the node as `sealer`; a `[heartbeat]` (`[log]`) section
 * with `prefer.separate.producer` (any value, as OpenMSIStream reads it)
 * asks for OpenMSIStream's own plain producer instead: those messages go
 * in plaintext. A reader given an `opener` ({@linkcode followHeartbeats})
 * decrypts them.
 *
 * @example
 * ```ts
 * import { HeartbeatSender } from "./heartbeats.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * let sent = 0, bytes = 0; // the tool's running totals
 * const heartbeats = HeartbeatSender.start({
 *   program: "my_tool",
 *   flags: { heartbeat_topic_name: "heartbeats", heartbeat_interval_secs: 5 },
 *   settings: await loadKafkaConfig("local"),
 *   counts: () => ({ n_messages_produced: sent, n_bytes_produced: bytes }),
 *   warn: (line) => console.warn(line),
 * });
 * // ... the tool works, adding to sent and bytes ...
 * await heartbeats.stop();
 * ```
 *
 * @module
 */
import { Consumer, MessagesStreamModes, Producer } from "@platformatic/kafka";
import { Buffer } from "node:buffer";
import { describeError } from "../common/cli.ts";
import type { Logger } from "../common/log.ts";
import { checkTopicName } from "./kafka_flags.ts";
import {
  connectAdmin,
  createKafka,
  ensureTopic,
  platformaticOptions,
  withReachableBroker,
} from "./client.ts";
import type {
  ClientSettings,
  KafkaSettings,
  ProducerSettings,
} from "./config.ts";

/** OpenMSIStream's default heartbeat interval: 15 minutes. */
export const DEFAULT_HEARTBEAT_SECONDS = 15 * 60;
/** OpenMSIStream's default log interval: 1 minute. */
export const DEFAULT_LOG_SECONDS = 60;
/** Log lines kept for the next log message at most (older ones are dropped). */
const MAX_LOG_LINES = 65536;
/** How long the last heartbeat and log at stop may take. */
const FINAL_SEND_MS = 5000;

/**
 * OpenMSIStream's six flags of every long-running program, for
 * `parseFlags` (common/flags.ts).
 */
export const HEARTBEAT_FLAGS = {
  heartbeat_topic_name: {
    type: "string",
    description: "send heartbeat messages to this topic (none without it)",
  },
  heartbeat_program_id: {
    type: "string",
    description: "the ID in heartbeat keys (default: host-program-pid)",
  },
  heartbeat_interval_secs: {
    type: "number",
    default: DEFAULT_HEARTBEAT_SECONDS,
    min: 0.1,
    description: "seconds between heartbeat messages",
  },
  log_topic_name: {
    type: "string",
    description: "send the log lines to this topic (none without it)",
  },
  log_program_id: {
    type: "string",
    description: "the ID in log keys (default: host-program-pid)",
  },
  log_interval_secs: {
    type: "number",
    default: DEFAULT_LOG_SECONDS,
    min: 0.1,
    description: "seconds between log messages",
  },
} as const;

/** The values of {@linkcode HEARTBEAT_FLAGS}; unset topics mean none sent. */
export interface HeartbeatFlagValues {
  /** `--heartbeat_topic_name`. */
  heartbeat_topic_name?: string;
  /** `--heartbeat_program_id`. */
  heartbeat_program_id?: string;
  /** `--heartbeat_interval_secs`. */
  heartbeat_interval_secs?: number;
  /** `--log_topic_name`. */
  log_topic_name?: string;
  /** `--log_program_id`. */
  log_program_id?: string;
  /** `--log_interval_secs`. */
  log_interval_secs?: number;
}

/**
 * Throws a `UsageError` naming the flag if `--heartbeat_topic_name` or
 * `--log_topic_name` is not a name Kafka takes; call it with the other
 * checks of the command line, before anything is done.
 *
 * @example
 * ```ts
 * checkHeartbeatFlags({ heartbeat_topic_name: "heartbeats" }); // fine
 * checkHeartbeatFlags({ log_topic_name: "my logs" }); // UsageError
 * ```
 */
export function checkHeartbeatFlags(flags: HeartbeatFlagValues): void {
  for (const kind of ["heartbeat", "log"] as const) {
    const topic = flags[`${kind}_topic_name`];
    if (topic !== undefined) checkTopicName(topic, `--${kind}_topic_name`);
  }
}

/** Running totals under OpenMSIStream's field names (`n_messages_read`, ...). */
export type HeartbeatCounts = Record<string, number>;

/**
 * Encrypts a message's key and value for a topic end to end (the tool's
 * `[kafkacrypto]` node: transfer_crypto.ts's `TransferCrypto`).
 */
export interface MessageSealer {
  /** The encrypted key and value of a message to `topic`. */
  seal(
    topic: string,
    key: string,
    value: Uint8Array,
  ): Promise<{ key: Uint8Array; value: Uint8Array }>;
}

/**
 * Decrypts a message read from a topic (the reader's `[kafkacrypto]` node);
 * plaintext comes back as it is, undefined when it cannot be opened (its
 * key did not come).
 */
export interface MessageOpener {
  /** The plaintext key and value of a message of `topic`, or undefined. */
  unseal(
    topic: string,
    key: Uint8Array | null,
    value: Uint8Array,
  ): Promise<{ key?: string; value: Uint8Array } | undefined>;
}

/** What a tool gives {@linkcode HeartbeatSender.start}. */
export interface HeartbeatOptions {
  /** The tool's name: the `program` field and part of the default ID. */
  program: string;
  /** The six flags as parsed. */
  flags: HeartbeatFlagValues;
  /** The config: its `[cluster]`, `[heartbeat]` and `[log]`. */
  settings: KafkaSettings;
  /** The tool's running totals; each heartbeat carries what grew since the last. */
  counts: () => HeartbeatCounts;
  /** More fields for a heartbeat, e.g. `group_lag`; undefined ones are left out. */
  extra?: () => Promise<Record<string, number | string | undefined>>;
  /** The tool's logger: its lines become the log messages. */
  log?: Logger;
  /** Where a failed send is reported (once until sends work again). */
  warn: (line: string) => void;
  /**
   * The `[kafkacrypto]` node, when the config has one: messages are sealed
   * with it unless their section has `prefer.separate.producer`.
   */
  sealer?: MessageSealer;
}

/**
 * The key of a heartbeat message.
 *
 * @example
 * ```ts
 * heartbeatKey("scope-pc"); // "scope-pc_heartbeat"
 * ```
 */
export function heartbeatKey(programId: string): string {
  return `${programId}_heartbeat`;
}

/**
 * The key of a log message.
 *
 * @example
 * ```ts
 * logKey("scope-pc"); // "scope-pc_log"
 * ```
 */
export function logKey(programId: string): string {
  return `${programId}_log`;
}

/**
 * The JSON value of a heartbeat: an ISO timestamp (UTC, `+00:00` as Python
 * writes it) and the fields given.
 *
 * @example
 * ```ts
 * heartbeatValue({ n_messages_produced: 3 }, new Date(0));
 * // '{"timestamp":"1970-01-01T00:00:00.000+00:00","n_messages_produced":3}'
 * ```
 */
export function heartbeatValue(
  fields: Record<string, number | string | undefined>,
  now: Date = new Date(),
): string {
  const timestamp = now.toISOString().replace(/Z$/, "+00:00");
  return JSON.stringify({ timestamp, ...fields });
}

/**
 * The JSON value of a log message: Unix seconds and the lines.
 *
 * @example
 * ```ts
 * logValue(["started"], new Date(1000)); // '{"timestamp":1,"messages":["started"]}'
 * ```
 */
export function logValue(lines: string[], now: Date = new Date()): string {
  return JSON.stringify({ timestamp: now.getTime() / 1000, messages: lines });
}

/** What grew from `before` to `now`, field by field. */
function growth(
  now: HeartbeatCounts,
  before: HeartbeatCounts,
): HeartbeatCounts {
  const since: HeartbeatCounts = {};
  for (const [name, value] of Object.entries(now)) {
    since[name] = value - (before[name] ?? 0);
  }
  return since;
}

/** This machine's name, or "unknown" without `--allow-sys=hostname`. */
function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** One kind of message (heartbeat or log) on its way to its topic. */
class Channel {
  #failing = false;
  #sending: Promise<void> | undefined;

  constructor(
    readonly topic: string,
    readonly producer: Producer<Buffer, Buffer, Buffer, Buffer>,
    readonly warn: (line: string) => void,
    readonly sealer?: MessageSealer,
  ) {}

  /** Sends one message unless the previous one is still on its way. */
  send(key: string, value: () => Promise<string> | string): void {
    if (this.#sending) return;
    this.#sending = this.#deliver(key, value).finally(() =>
      this.#sending = undefined
    );
  }

  /** Waits for a send on its way, then sends the last message (bounded wait). */
  async last(
    key: string,
    value: () => Promise<string> | string,
  ): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, FINAL_SEND_MS);
    });
    const sendLast = async () => {
      await this.#sending;
      await this.#deliver(key, value);
    };
    await Promise.race([sendLast(), timeout]);
    clearTimeout(timer);
  }

  async #deliver(
    key: string,
    value: () => Promise<string> | string,
  ): Promise<void> {
    try {
      const plain = new TextEncoder().encode(await value());
      const sealed = this.sealer
        ? await this.sealer.seal(this.topic, key, plain)
        : { key: new TextEncoder().encode(key), value: plain };
      await this.producer.send({
        messages: [{
          topic: this.topic,
          key: Buffer.from(sealed.key),
          value: Buffer.from(sealed.value),
        }],
      });
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) {
        this.warn(
          `messages to topic ${this.topic} could not be sent (${
            describeError(error)
          }); trying again at the next interval`,
        );
      }
      this.#failing = true;
    }
  }
}

/** A producer for one destination, with the few retries a heartbeat is worth. */
function openProducer(
  client: ClientSettings,
  producer: ProducerSettings,
): Producer<Buffer, Buffer, Buffer, Buffer> {
  return new Producer({
    ...platformaticOptions(client),
    acks: producer.acks,
    retries: 2,
    retryDelay: 1000,
    // OpenMSIStream leaves it to the broker to create the topic.
    autocreateTopics: true,
  });
}

/**
 * Sends a tool's heartbeats and log lines while it runs (see the module
 * doc); made by {@linkcode HeartbeatSender.start}.
 */
export class HeartbeatSender {
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #producers: Producer<Buffer, Buffer, Buffer, Buffer>[] = [];
  readonly #lines: string[] = [];
  #stopListening: () => void = () => {};
  #heartbeat?: { channel: Channel; key: string; value: () => Promise<string> };
  #log?: { channel: Channel; key: string; value: () => string };

  private constructor() {}

  /**
   * Starts the timers the flags ask for; with neither topic named it does
   * nothing (and costs nothing). Connections are made at the first send. A
   * topic name Kafka would refuse is a `UsageError` naming its flag.
   *
   * @example
   * ```ts
   * import { HeartbeatSender } from "./heartbeats.ts";
   * import { loadKafkaConfig } from "./config.ts";
   *
   * const sender = HeartbeatSender.start({
   *   program: "reconstruct_data_files",
   *   flags: { heartbeat_topic_name: "heartbeats" },
   *   settings: await loadKafkaConfig("local"),
   *   counts: () => ({ n_messages_read: 0, n_messages_processed: 0 }),
   *   warn: console.warn,
   * });
   * await sender.stop();
   * ```
   */
  static start(options: HeartbeatOptions): HeartbeatSender {
    const { flags, settings } = options;
    checkHeartbeatFlags(flags);
    const sender = new HeartbeatSender();
    const host = hostName();
    const defaultId = `${host}-${options.program}-${Deno.pid}`;
    if (flags.heartbeat_topic_name) {
      let before: HeartbeatCounts = {};
      const value = async () => {
        const now = options.counts();
        const since = growth(now, before);
        before = now;
        const extra = await options.extra?.().catch(() => ({})) ?? {};
        return heartbeatValue({
          ...since,
          program: options.program,
          host,
          ...extra,
        });
      };
      const channel = sender.#channel(
        flags.heartbeat_topic_name,
        // The broker status reads them from (one place decides).
        heartbeatSettings(settings).client,
        settings.heartbeat?.producer ?? settings.producer,
        options.warn,
        settings.heartbeat?.separateProducer ? undefined : options.sealer,
      );
      sender.#heartbeat = {
        channel,
        key: heartbeatKey(flags.heartbeat_program_id ?? defaultId),
        value,
      };
      sender.#every(
        flags.heartbeat_interval_secs ?? DEFAULT_HEARTBEAT_SECONDS,
        () => channel.send(sender.#heartbeat!.key, value),
      );
    }
    if (flags.log_topic_name) {
      const channel = sender.#channel(
        flags.log_topic_name,
        settings.log?.client ?? settings.client,
        settings.log?.producer ?? settings.producer,
        options.warn,
        settings.log?.separateProducer ? undefined : options.sealer,
      );
      const value = () => logValue(sender.#lines.splice(0));
      sender.#log = {
        channel,
        key: logKey(flags.log_program_id ?? defaultId),
        value,
      };
      sender.#stopListening = options.log?.onLine((line) => {
        if (line.trim() === "" || line === ".") return; // the still-alive dots
        sender.#lines.push(line);
        if (sender.#lines.length > MAX_LOG_LINES) sender.#lines.shift();
      }) ?? (() => {});
      sender.#every(
        flags.log_interval_secs ?? DEFAULT_LOG_SECONDS,
        () => {
          if (sender.#lines.length > 0) channel.send(sender.#log!.key, value);
        },
      );
    }
    return sender;
  }

  /** A channel to `topic`, its producer kept for {@linkcode stop}. */
  #channel(
    topic: string,
    client: ClientSettings,
    producer: ProducerSettings,
    warn: (line: string) => void,
    sealer: MessageSealer | undefined,
  ): Channel {
    const opened = openProducer(client, producer);
    this.#producers.push(opened);
    return new Channel(topic, opened, warn, sealer);
  }

  /** Runs `action` every `seconds`. */
  #every(seconds: number, action: () => void): void {
    this.#timers.push(setInterval(action, seconds * 1000));
  }

  /**
   * Stops the timers, sends a last heartbeat and the last log lines (waiting
   * a few seconds at most), and closes the connections.
   *
   * @example
   * ```ts
   * import type { HeartbeatSender } from "./heartbeats.ts";
   * declare const sender: HeartbeatSender;
   *
   * await sender.stop();
   * ```
   */
  async stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#stopListening();
    const last: Promise<void>[] = [];
    if (this.#heartbeat) {
      const { channel, key, value } = this.#heartbeat;
      last.push(channel.last(key, value));
    }
    if (this.#log && this.#lines.length > 0) {
      const { channel, key, value } = this.#log;
      last.push(channel.last(key, value));
    }
    await Promise.all(last);
    await Promise.allSettled(this.#producers.map((p) => p.close(true)));
  }
}

/** A heartbeat as read from its topic. */
export interface Heartbeat {
  /** The program ID (the key without `_heartbeat`). */
  programId: string;
  /** Its `timestamp`. */
  at: Date;
  /** The other fields of its value. */
  fields: Record<string, unknown>;
}

/**
 * A heartbeat message read back; `undefined` for anything else on the topic
 * (another key, a value that is not JSON with an ISO `timestamp`).
 *
 * @example
 * ```ts
 * parseHeartbeat("pc1_heartbeat", '{"timestamp":"2026-01-01T00:00:00+00:00"}')?.programId; // "pc1"
 * ```
 */
export function parseHeartbeat(
  key: string | undefined,
  value: string | undefined,
): Heartbeat | undefined {
  const suffix = "_heartbeat";
  if (!key?.endsWith(suffix) || value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { timestamp, ...fields } = parsed as Record<string, unknown>;
  const at = new Date(typeof timestamp === "string" ? timestamp : NaN);
  if (Number.isNaN(at.getTime())) return undefined;
  return { programId: key.slice(0, -suffix.length), at, fields };
}

/**
 * The settings heartbeats are read with: the `[cluster]`'s, but with the
 * broker `[heartbeat]` names when it names one (where the programs send
 * them).
 *
 * @example
 * ```ts
 * import { heartbeatSettings } from "./heartbeats.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const settings = heartbeatSettings(await loadKafkaConfig("local"));
 * console.log(settings.client.brokers); // [ "127.0.0.1:9092" ]
 * ```
 */
export function heartbeatSettings(settings: KafkaSettings): KafkaSettings {
  return { ...settings, client: settings.heartbeat?.client ?? settings.client };
}

/**
 * Reads a heartbeat topic from its start and goes on reading (a group of its
 * own, nothing committed), calling `seen` for each heartbeat, from the
 * broker {@linkcode heartbeatSettings} says; the topic is
 * created if it is missing. With an `opener` (the reader's `[kafkacrypto]`
 * node) encrypted heartbeats are decrypted, one message after the other;
 * one that cannot be opened is left out. Resolves to the function that
 * stops reading.
 *
 * @example
 * ```ts
 * import { followHeartbeats } from "./heartbeats.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const stop = await followHeartbeats(
 *   await loadKafkaConfig("local"),
 *   "heartbeats",
 *   (beat) => console.log(beat.programId, beat.at),
 * );
 * await stop();
 * ```
 */
export async function followHeartbeats(
  settings: KafkaSettings,
  topic: string,
  seen: (heartbeat: Heartbeat) => void,
  opener?: MessageOpener,
): Promise<() => Promise<void>> {
  settings = heartbeatSettings(settings);
  const kafka = createKafka(settings);
  const admin = await connectAdmin(kafka, settings);
  try {
    await ensureTopic(admin, topic, 1);
  } finally {
    await admin.disconnect();
  }
  const consumer = new Consumer({
    ...platformaticOptions(settings.client),
    groupId: `status-${crypto.randomUUID()}`,
    autocommit: false,
  });
  const stream = await withReachableBroker(
    settings,
    () =>
      consumer.consume({
        topics: [topic],
        mode: MessagesStreamModes.EARLIEST,
        autocommit: false,
        maxWaitTime: 500,
      }),
  );
  const text = new TextDecoder();
  // In order, one at a time: a decryption may wait for its key.
  let previous: Promise<void> = Promise.resolve();
  stream.on("data", (message) => {
    const key: Buffer | null = message.key?.length ? message.key : null;
    const value: Buffer | null = message.value ?? null;
    if (!value) return;
    previous = previous.then(async () => {
      const plain = opener
        ? await opener.unseal(topic, key, value).catch(() => undefined)
        : { key: key ? text.decode(key) : undefined, value };
      if (!plain) return;
      const heartbeat = parseHeartbeat(plain.key, text.decode(plain.value));
      if (heartbeat) seen(heartbeat);
    });
  });
  stream.on("error", () => {}); // a lost broker: the library reconnects
  return async () => {
    await stream.close().catch(() => {});
    await consumer.close(true).catch(() => {});
  };
}
