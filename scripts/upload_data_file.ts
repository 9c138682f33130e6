/**
 * # Upload data files to Kafka, chunk by chunk
 *
 * ```sh
 * deno task kafka start                          # a local broker, once
 * deno task upload_data_file data/batchfile_0_farenheit.csv
 * deno task upload_data_file --chunk_size 524288 --n_threads 2 big.bin runs/
 * ```
 *
 * Permissions: `--allow-read` (the files to upload and the config),
 * `--allow-net` (the brokers named in the config, which may be anywhere),
 * `--allow-env` (`$VARIABLES` in the config; the Kafka client's `debug`
 * module reads it), `--allow-write=out` (only for `--catalog[=DB]`, which records each file
 * sent in the lab catalog, see metadata_uploader), `--allow-run=stat` (GNU
 * stat reads a file's modification time to the microsecond, as OpenMSIStream
 * sends it; Deno reads milliseconds), `--allow-sys=hostname` (the catalog's
 * history names the sending host).
 *
 * A file is too big for one Kafka message, so it is cut into chunks of
 * `--chunk_size` bytes. Each chunk travels as one message that carries
 * everything needed to put it back: the file's name and folder, the chunk's
 * place, and SHA-512 hashes of the chunk and of the whole file (see
 * lib/transfer/chunk.ts). `--n_threads` producers send in parallel; small
 * files go several at once. The run says `Done!` only when Kafka has
 * acknowledged every chunk.
 *
 * Try: upload the same file with `--chunk_size 1024` and `--chunk_size 524288`
 * and compare the MB/s; rebuild it with `deno task reconstruct_data_files`.
 *
 * @module
 */
import {
  describeError,
  runMain,
  UsageError,
  UserError,
} from "../lib/common/cli.ts";
import type { ChunkProducer } from "../lib/kafka/chunk_producer.ts";
import { Logger } from "../lib/common/log.ts";
import { printableName } from "../lib/common/printable.ts";
import { ProgressBoard } from "../lib/common/progress.ts";
import {
  listenForShutdown,
  type ShutdownSignal,
  unlessStopped,
} from "../lib/common/shutdown.ts";
import {
  collectUploadTargets,
  forEachFile,
  planAhead,
  type UploadTarget,
  uploadWithProgress,
} from "../lib/transfer/upload.ts";
import type { ChunkPlan } from "../lib/transfer/file_chunks.ts";
import { TransferCatalog } from "../lib/catalog/transfer_catalog.ts";
import {
  checkUploadFlags,
  parseUploadFlags,
} from "../lib/catalog/upload_flags.ts";
import type { PositionSummary } from "../lib/kafka/chunk_positions.ts";
import { UNWANTED_FILES_TEXT } from "../lib/transfer/upload_filter.ts";

/** Files sent side by side at most (small files share produce requests). */
const FILES_AT_ONCE = 64;
/** Bytes of the files sent side by side at most: big files go one by one. */
const BYTES_AT_ONCE = 64 * 1024 * 1024;

/** How a Ctrl-C while connecting ends the sentence "stopped by SIGINT ...". */
const NOTHING_SENT = "while connecting to Kafka; nothing was sent";

const log = new Logger({ style: "bracket", program: "upload_data_file" });

/** Reads the command line; the flags shared with the watcher are in lib/catalog/upload_flags.ts. */
function readCommandLine() {
  const { flags, positionals, tags } = parseUploadFlags(Deno.args, {
    program: "upload_data_file",
    summary:
      "Upload files (or folders) to a Kafka topic as SHA-512-checked chunks.",
    positionals: "FILEPATH...",
    threads: "parallel producers",
  });
  if (positionals.length === 0) {
    throw new UsageError("name at least one FILEPATH");
  }
  checkUploadFlags(flags, positionals, "FILEPATH");
  return { ...flags, paths: positionals, tags };
}

/** What went wrong in a run: chunks not acknowledged, files that changed. */
interface Shortfall {
  missing: number;
  changed: number;
  /** Files there were to send. */
  files: number;
}

/** Uploads one file with a progress bar (its first pass maybe already under way in `plan`), adds what went wrong to `shortfall`, returns its chunks and their place in Kafka if all went. */
async function uploadOne(
  target: UploadTarget,
  producer: ChunkProducer,
  chunkSize: number,
  board: ProgressBoard,
  signal: AbortSignal,
  shortfall: Shortfall,
  plan?: Promise<ChunkPlan>,
): Promise<{ chunks: number; positions?: PositionSummary } | undefined> {
  let acknowledged = 0;
  let total = 1;
  let changed = false;
  // A file that changes or vanishes mid-upload fails alone; the others go on.
  const result = await uploadWithProgress(target, producer, {
    chunkSize,
    plan,
    signal,
    board,
    planned: (totalChunks) => total = totalChunks,
    acknowledged: () => acknowledged++,
  }).catch((error) => {
    if (!(error instanceof UserError)) throw error;
    log.error(error.message);
    changed = true;
    shortfall.changed++;
    return { failed: total - acknowledged, notSent: 0, error: undefined };
  });
  if (result.error) {
    log.error(`${printableName(target.path)}: ${describeError(result.error)}`);
  }
  shortfall.missing += result.failed + result.notSent;
  // Its number of chunks when all of them were acknowledged.
  const complete = result.failed + result.notSent === 0 && !result.error;
  return complete && !changed
    ? {
      chunks: total,
      positions: "positions" in result
        ? result.positions?.summary()
        : undefined,
    }
    : undefined;
}

/** Uploads every file; returns what did not go as planned. */
async function uploadAll(
  options: ReturnType<typeof readCommandLine>,
  shutdown: ShutdownSignal,
): Promise<Shortfall> {
  const targets = await collectUploadTargets(
    options.paths,
    options.include_all,
  );
  if (targets.length === 0) {
    // An empty folder is no error, but "Uploading 0 file(s)" hid it.
    log.warn(
      `Nothing to send: no files in ${
        options.paths.join(", ")
      } (left out by default: ${UNWANTED_FILES_TEXT}; --include_all sends them)`,
    );
    return { missing: 0, changed: 0, files: 0 };
  }
  // Hashing the first file needs no broker, so it starts now (a big file's
  // chunks on a worker, the whole file here between the loading steps) while
  // the Kafka client loads (about 0.4 s: it compiles its schema validators as
  // it is imported) and connects.
  const firstPlan = planAhead(targets[0], options.chunk_size);
  const { openUploadTopic } = await import("../lib/transfer/upload_topic.ts");
  const catalog = await TransferCatalog.open(
    options.catalog,
    (line) => log.warn(line),
    options.tags,
  );
  // A Ctrl-C while Kafka is slow to answer ends the run at once.
  const { connect, close } = await unlessStopped(
    openUploadTopic(
      { ...options, queue_max_size: 3000 },
      log,
      (where) =>
        log.info(
          `Uploading ${targets.length} file(s) to topic ${options.topic_name} on ${where}`,
        ),
    ),
    shutdown,
    NOTHING_SENT,
  );
  const producer = await unlessStopped(connect(), shutdown, NOTHING_SENT);
  const board = new ProgressBoard({ print: (line) => log.info(line) });
  const shortfall: Shortfall = {
    missing: 0,
    changed: 0,
    files: targets.length,
  };
  try {
    // One file at a time, a folder of small files waited linger.ms and an
    // acknowledgement per file (56 ms each); side by side, their chunks
    // share produce requests.
    const limits = { files: FILES_AT_ONCE, bytes: BYTES_AT_ONCE };
    await forEachFile(targets, limits, async (target) => {
      const sent = await uploadOne(
        target,
        producer,
        options.chunk_size,
        board,
        shutdown.signal,
        shortfall,
        target === targets[0] ? firstPlan : undefined,
      );
      if (sent !== undefined) {
        await catalog?.fileSent(target.path, target.subdir, {
          topic: options.topic_name,
          nChunks: sent.chunks,
          chunkSize: options.chunk_size,
          positions: sent.positions,
        });
      }
    });
  } finally {
    await producer.close();
    await close(); // with [kafkacrypto]: its key stays kept in the node's config
    await catalog?.close();
    board.stop();
  }
  return shortfall;
}

if (import.meta.main) {
  await runMain("upload_data_file", async () => {
    // Ctrl-C is handled from the first moment, before anything is awaited.
    const shutdown = listenForShutdown();
    const options = readCommandLine();
    const { missing, changed, files } = await uploadAll(options, shutdown);
    shutdown.dispose();
    if (changed > 0) {
      throw new UserError(`${changed} file(s) changed during the upload`);
    }
    if (missing > 0) {
      const why = shutdown.reason ? ` (stopped by ${shutdown.reason})` : "";
      throw new UserError(
        `${missing} chunk(s) were not acknowledged by Kafka${why}`,
      );
    }
    if (files > 0) log.info("Done!");
  });
}

// A run prints (the bar replaces the plain lines on a terminal):
//
//   [upload_data_file at 2026-11-22 00:30:00] Uploading 1 file(s) to topic lecroy_files on 127.0.0.1:9092 from config/local.config
//   [upload_data_file] uploading big.bin chunk 1000 (out of 4096)
//   ...
//   [upload_data_file] uploading big.bin chunk 4096 (out of 4096)
//   [upload_data_file at 2026-11-22 00:30:04] Done!
