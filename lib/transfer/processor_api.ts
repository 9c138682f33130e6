/**
 * What a stream processor module is given and must export: the contract
 * between process_data_files and the code a user runs on each file.
 *
 * A processor is a TypeScript module that exports
 * `processFile(file, context)`; it may also export `setup(context)` (run once
 * before the first file: open a producer, make a folder) and `teardown()`
 * (run once at the end). It runs in a Worker (see processor_runner.ts), so
 * it gets plain data: the file's bytes when the file is small (up to
 * `--max_file_mb`), else only its path, to read as a stream. Throwing fails
 * that file only.
 *
 * @example
 * ```ts
 * import type { DataFile, ProcessorContext } from "./processor_api.ts";
 *
 * export function processFile(file: DataFile, context: ProcessorContext): void {
 *   console.log(`${file.relativePath}: ${file.size} bytes`, context.options);
 * }
 * ```
 *
 * @module
 */

/** Where the chunk that completed a file was read. */
export interface KafkaProvenance {
  /** The topic (the repartition topic, for a file a sender spread). */
  topic: string;
  /** Its partition. */
  partition: number;
  /** The offset of the chunk that completed the file. */
  offset: string;
  /** The consumer group that read it. */
  groupId: string;
}

/** One file version, complete and checked, as a processor gets it. */
export interface DataFile {
  /** The file's name, e.g. `C1--run--00001.trc`. */
  name: string;
  /** Its folder as the sender named it (`a/b`), or "" at the top. */
  subfolder: string;
  /** `subfolder/name`, with `/`. */
  relativePath: string;
  /** Where the complete file is on disk (read it as a stream when `bytes` is undefined). */
  path: string;
  /** The whole file, when it is no bigger than `--max_file_mb`. */
  bytes?: Uint8Array;
  /** Its SHA-512, as 128 hex digits (checked against the sender's). */
  sha512: string;
  /** Its size in bytes. */
  size: number;
  /** The sender's modification time, in ms since 1970 (undefined if not sent). */
  mtimeMs?: number;
  /** Where it was read; undefined for a file finished after a restart. */
  kafka?: KafkaProvenance;
}

/** What a processor gets besides the file. */
export interface ProcessorContext {
  /** `--option key=value` pairs of the command line. */
  options: Record<string, string>;
  /** The `--config` the run uses (a processor may produce with it). */
  config: string;
}

/** The exports of a processor module. */
export interface ProcessorModule {
  /** Runs on each file version once; throwing fails that file only. */
  processFile(file: DataFile, context: ProcessorContext): unknown;
  /** Runs once before the first file. */
  setup?(context: ProcessorContext): unknown;
  /** Runs once at the end. */
  teardown?(): unknown;
}
