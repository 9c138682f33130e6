/**
 * The command-line flags the Kafka tools share, with the 2021 tools' names
 * and defaults, so that `--config`, `--topic_name`, `--n_threads`,
 * `--chunk_size` and `--update_seconds` mean the same everywhere.
 *
 * @example
 * ```ts
 * import { parseFlags } from "../common/flags.ts";
 * import { CONFIG_FLAG, TOPIC_FLAG, threadsFlag } from "./kafka_flags.ts";
 *
 * const { flags } = parseFlags(Deno.args, {
 *   program: "upload_data_file",
 *   summary: "...",
 *   flags: { config: CONFIG_FLAG, topic_name: TOPIC_FLAG, n_threads: threadsFlag("parallel producers") },
 * });
 * flags.topic_name; // "lecroy_files" unless given
 * ```
 *
 * @module
 */
import { UsageError } from "../common/cli.ts";
import type { FlagDef } from "../common/flags.ts";
import { isGroupId } from "./config.ts";

/** `--config`: a name in config/ (`local` is the local broker) or a path. */
export const CONFIG_FLAG = {
  type: "string",
  default: "local",
  description: "config name in config/ (local = 127.0.0.1:9092) or a path",
} as const satisfies FlagDef;

/** `--topic_name`: the topic the chunks travel on. */
export const TOPIC_FLAG = {
  type: "string",
  default: "lecroy_files",
  description: "Kafka topic of the file chunks",
} as const satisfies FlagDef;

/** `--chunk_size`: bytes per chunk; check it with {@linkcode checkChunkSize}. */
export const CHUNK_SIZE_FLAG = {
  type: "number",
  default: 16384,
  integer: true,
  min: 1,
  description: "bytes per chunk, a power of two",
} as const satisfies FlagDef;

/** `--update_seconds`: how often a "." shows the tool is alive. */
export const UPDATE_SECONDS_FLAG = {
  type: "number",
  default: 30,
  description: 'seconds between "." lines that show it is alive; -1 for none',
} as const satisfies FlagDef;

/** The default `--n_threads`, also the partitions of a topic the tools create. */
export const DEFAULT_THREADS = 5;

/**
 * The most `--n_threads`: each producer or consumer holds its own
 * connections and buffers, and a topic the tools create has 5 partitions.
 */
export const MAX_THREADS = 64;

/**
 * `--n_threads`: parallel producers or consumers (`what` says which), 1 to
 * {@linkcode MAX_THREADS}.
 *
 * @example
 * ```ts
 * threadsFlag("consumers in the group");
 * ```
 */
export function threadsFlag(what: string): {
  readonly type: "number";
  readonly default: number;
  readonly integer: true;
  readonly min: 1;
  readonly max: number;
  readonly description: string;
} {
  return {
    type: "number",
    default: DEFAULT_THREADS,
    integer: true,
    min: 1,
    max: MAX_THREADS,
    description: what,
  } as const satisfies FlagDef;
}

/**
 * Throws {@linkcode UsageError} unless `chunkSize` is a nonzero power of two
 * of at most {@linkcode MAX_CHUNK_SIZE}; `checkChunkFits` (topic_limits.ts) then
 * checks it against the topic itself.
 *
 * @example
 * ```ts
 * checkChunkSize(16384); // fine
 * checkChunkSize(1000); // UsageError
 * ```
 */
export function checkChunkSize(chunkSize: number): void {
  // A nonzero power of two: one bit set (the chunk sizes the tools accept).
  const isPowerOfTwo = Number.isSafeInteger(chunkSize) && chunkSize > 0 &&
    Number.isInteger(Math.log2(chunkSize));
  if (!isPowerOfTwo) {
    throw new UsageError(
      `--chunk_size must be a power of two, not ${chunkSize}`,
    );
  }
  if (chunkSize > MAX_CHUNK_SIZE) {
    throw new UsageError(
      `--chunk_size ${chunkSize} is more than any broker takes in one message; use ${MAX_CHUNK_SIZE} or less (Kafka's default limit fits 524288)`,
    );
  }
}

/**
 * Chunks larger than this are refused before anything is sent: a broker's
 * messages are 1 MiB by default, and no broker takes 2 GiB.
 */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

/**
 * Throws {@linkcode UsageError} unless `name` is a topic name Kafka accepts:
 * 1 to 249 letters, digits, `.`, `_` or `-`, and not `.` or `..`.
 *
 * @example
 * ```ts
 * checkTopicName("lecroy_files"); // fine
 * checkTopicName(""); // UsageError
 * ```
 */
export function checkTopicName(name: string, flag = "--topic_name"): void {
  if (
    !/^[A-Za-z0-9._-]{1,249}$/.test(name) || name === "." || name === ".."
  ) {
    throw new UsageError(
      `${flag} ${
        JSON.stringify(name)
      } is not a Kafka topic name (1-249 letters, digits, ".", "_" or "-")`,
    );
  }
}

/** `--retry_seconds`: how long the uploaders keep trying while Kafka is away. */
export const RETRY_SECONDS_FLAG = {
  type: "number",
  default: 60,
  min: 0,
  description:
    "seconds to keep retrying chunks Kafka did not acknowledge (broker away) before giving up",
} as const satisfies FlagDef;

/**
 * Throws {@linkcode UsageError} unless `id` (from `--consumer_group_ID`) is a
 * group id the client takes: one or more characters, no spaces.
 *
 * @example
 * ```ts
 * checkGroupId("lab-pc-1"); // fine
 * checkGroupId(""); // UsageError
 * ```
 */
export function checkGroupId(id: string | undefined): void {
  if (id !== undefined && !isGroupId(id)) {
    throw new UsageError(
      `--consumer_group_ID ${
        JSON.stringify(id)
      } must be one or more characters without spaces`,
    );
  }
}
