/**
 * The command line both uploaders share (upload_data_file and
 * upload_data_files_added_to_directory): their common flags in `--help`
 * order, `--tag` and `--catalog` taken out before parsing, and the checks
 * of paths, chunk size and topic. What each tool adds stays in the script.
 *
 * @example
 * ```ts
 * import { parseUploadFlags, checkUploadFlags } from "./upload_flags.ts";
 *
 * const { flags, positionals, tags } = parseUploadFlags(
 *   ["--tag", "run=7", "data/a.bin"],
 *   { program: "demo", summary: "demo", positionals: "FILEPATH...", threads: "producers" },
 * );
 * checkUploadFlags(flags, positionals, "FILEPATH");
 * tags; // { run: "7" }
 * ```
 *
 * @module
 */
import {
  checkPathArguments,
  type FlagDef,
  type FlagsSpec,
  type FlagValues,
  parseFlags,
} from "../common/flags.ts";
import {
  checkChunkSize,
  checkTopicName,
  CHUNK_SIZE_FLAG,
  CONFIG_FLAG,
  RETRY_SECONDS_FLAG,
  threadsFlag,
  TOPIC_FLAG,
} from "../kafka/kafka_flags.ts";
import { INCLUDE_ALL_FLAG } from "../transfer/upload_filter.ts";
import { TAG_FLAG, takeTagFlags } from "./tags.ts";
import { CATALOG_FLAG, withCatalogValue } from "./transfer_catalog.ts";

/** The flags both uploaders take before a tool's own ones. */
export interface UploadFlagsFirst {
  /** `--config`. */
  config: typeof CONFIG_FLAG;
  /** `--topic_name`. */
  topic_name: typeof TOPIC_FLAG;
  /** `--n_threads`. */
  n_threads: ReturnType<typeof threadsFlag>;
  /** `--chunk_size`. */
  chunk_size: typeof CHUNK_SIZE_FLAG;
  /** `--catalog`. */
  catalog: typeof CATALOG_FLAG;
  /** `--tag` (taken out before parsing; listed for `--help`). */
  tag: typeof TAG_FLAG;
}

/** The flags both uploaders take after a tool's own ones. */
export interface UploadFlagsLast {
  /** `--include_all`. */
  include_all: typeof INCLUDE_ALL_FLAG;
  /** `--retry_seconds`. */
  retry_seconds: typeof RETRY_SECONDS_FLAG;
}

/** What {@linkcode parseUploadFlags} needs besides the arguments. */
export interface UploadFlagsSpec<
  E extends Record<string, FlagDef>,
  A extends Record<string, FlagDef>,
> extends Omit<FlagsSpec<Record<string, FlagDef>>, "flags"> {
  /** What `--n_threads` counts, for `--help`. */
  threads: string;
  /** The tool's own flags, listed between `--tag` and `--include_all`. */
  own?: E;
  /** The tool's flags listed last, after `--retry_seconds`. */
  after?: A;
}

/**
 * Parses the arguments with the uploaders' flags and the tool's own.
 * `--tag` may come several times: it is taken out first, and its values
 * are `tags`.
 *
 * @example
 * ```ts
 * const { flags } = parseUploadFlags(["--chunk_size", "1024", "a.bin"], {
 *   program: "demo", summary: "demo", positionals: "FILEPATH...",
 *   threads: "parallel producers",
 *   own: { use_polling: { type: "boolean", description: "walk the folder" } },
 * });
 * flags.chunk_size; // 1024
 * ```
 */
export function parseUploadFlags<
  E extends Record<string, FlagDef> = Record<never, never>,
  A extends Record<string, FlagDef> = Record<never, never>,
>(
  args: string[],
  spec: UploadFlagsSpec<E, A>,
): {
  flags: FlagValues<UploadFlagsFirst & E & UploadFlagsLast & A>;
  positionals: string[];
  tags: Record<string, string>;
} {
  const { threads, own, after, ...help } = spec;
  const catalogArgs = takeTagFlags(withCatalogValue(args));
  const { flags, positionals } = parseFlags(catalogArgs.args, {
    ...help,
    flags: {
      config: CONFIG_FLAG,
      topic_name: TOPIC_FLAG,
      n_threads: threadsFlag(threads),
      chunk_size: CHUNK_SIZE_FLAG,
      catalog: CATALOG_FLAG,
      tag: TAG_FLAG,
      ...own,
      include_all: INCLUDE_ALL_FLAG,
      retry_seconds: RETRY_SECONDS_FLAG,
      ...after,
    } as UploadFlagsFirst & E & UploadFlagsLast & A,
  });
  return { flags, positionals, tags: catalogArgs.tags };
}

/**
 * Throws a `UsageError` for a path argument that looks like a flag (`what`
 * names it), a chunk size out of range or a topic name Kafka refuses.
 *
 * @example
 * ```ts
 * checkUploadFlags(
 *   { chunk_size: 16384, topic_name: "bad name" }, ["a.bin"], "FILEPATH",
 * ); // UsageError
 * ```
 */
export function checkUploadFlags(
  flags: { chunk_size: number; topic_name: string },
  positionals: string[],
  what: string,
): void {
  checkPathArguments(positionals, what);
  checkChunkSize(flags.chunk_size);
  checkTopicName(flags.topic_name);
}
