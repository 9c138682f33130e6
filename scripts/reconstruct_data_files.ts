/**
 * # Rebuild files from the chunks on a Kafka topic
 *
 * ```sh
 * deno task reconstruct_data_files out/rebuilt
 * deno task reconstruct_data_files --consumer_group_ID lab-pc-1 out/rebuilt
 * ```
 *
 * Permissions: `--allow-read` and `--allow-write` (WORKINGDIR is yours to
 * choose, so it cannot be named in deno.json; the script itself refuses any
 * path outside it), `--allow-net` (the brokers in the config), `--allow-env`
 * (`$VARIABLES` in the config; the Kafka client's `debug` module reads it),
 * `--allow-sys=hostname,statfs,setPriority` (catalog rows name the host that
 * rebuilt a file; a file too big for the free space is refused before it is
 * written; the thread that hashes big files gives way to the main thread).
 * With `--catalog[=DB]` each rebuilt file gets its row in the lab catalog
 * (see metadata_uploader), with source 'kafka'.
 *
 * `--n_threads` consumers in one consumer group read the chunk messages
 * that upload_data_file sent (see lib/transfer/chunk.ts). Each chunk is
 * checked against its SHA-512 and written at its offset; when a file has all
 * its chunks, its whole SHA-512 is checked and only then is it moved into
 * WORKINGDIR. Chunks may come in any order, twice, or mixed with junk: junk
 * is logged and skipped. Stopped or killed, it continues where it was when
 * restarted with the same `--consumer_group_ID`.
 *
 * Several reconstructors with one `--consumer_group_ID` (on one machine or
 * many, each with its own WORKINGDIR) share the topic file by file: the
 * uploaders put all chunks of a file on one partition; chunks a sender spread
 * over partitions (OpenMSIStream) are forwarded to a repartition topic keyed
 * by file, which the same members read in a second group. A partition's
 * offset is committed only up to the first chunk of its oldest unfinished
 * file. A member that dies leaves its unfinished files to the next owner of
 * their partitions, which reads them again from their first chunk; a file
 * that never completes is given up after `--expire_seconds`.
 *
 * While it runs, type `check` (or `c`) for progress and `quit` (or `q`) to
 * stop; Ctrl-C stops it too.
 *
 * Try: start it, upload a file in another terminal, type `check`; kill it
 * with `kill -9` in the middle of a big file and start it again; start a
 * second one with the same `--consumer_group_ID` and another WORKINGDIR and
 * watch `check` show the partitions move.
 *
 * @module
 */
import { runMain, UsageError } from "../lib/common/cli.ts";
import { checkPathArguments, parseFlags } from "../lib/common/flags.ts";
import { describeSettings } from "../lib/kafka/config.ts";
import { Logger } from "../lib/common/log.ts";
import {
  claimOutputDir,
  openWorkingDir,
  RECONSTRUCT_FLAGS,
  ReconstructReport,
} from "../lib/transfer/reconstructor.ts";
import {
  checkRebuildRunFlags,
  connectRebuildRun,
  REBUILD_RUN_FLAGS,
  runRebuildGroup,
  stoppedByError,
} from "../lib/transfer/rebuild_run.ts";
import {
  listenForShutdown,
  type ShutdownSignal,
} from "../lib/common/shutdown.ts";
import {
  CATALOG_FLAG,
  openRebuiltCatalog,
  withCatalogValue,
} from "../lib/catalog/transfer_catalog.ts";
import { TAG_FLAG, takeTagFlags } from "../lib/catalog/tags.ts";

const log = new Logger({
  style: "bracket",
  program: "reconstruct_data_files",
  console: "stdout",
});

/** Counts for `check` and the summary, and the lines that print them. */
const progress = new ReconstructReport(log);

/** Reads the command line. */
function readCommandLine() {
  // --tag may come several times: taken out before the flags are parsed.
  const catalogArgs = takeTagFlags(withCatalogValue(Deno.args));
  const { flags, positionals } = parseFlags(catalogArgs.args, {
    program: "reconstruct_data_files",
    summary:
      "Rebuild files from the chunk messages on a Kafka topic into WORKINGDIR.",
    positionals: "WORKINGDIR",
    flags: {
      ...REBUILD_RUN_FLAGS,
      catalog: CATALOG_FLAG,
      tag: TAG_FLAG,
      max_file_size: RECONSTRUCT_FLAGS.max_file_size,
    },
  });
  if (positionals.length !== 1) {
    throw new UsageError("name exactly one WORKINGDIR");
  }
  checkPathArguments(positionals, "WORKINGDIR");
  checkRebuildRunFlags(flags);
  return { ...flags, workingDir: positionals[0], tags: catalogArgs.tags };
}

/** Runs until quit, Ctrl-C or SIGTERM. */
async function reconstruct(
  options: ReturnType<typeof readCommandLine>,
  shutdown: ShutdownSignal,
): Promise<void> {
  const startedAt = new Date();
  // Refused while reproduce_undecryptable_messages works in WORKINGDIR.
  await claimOutputDir(options.workingDir, "rebuild");
  // A Ctrl-C while Kafka is slow to answer ends the run at once.
  const connection = await connectRebuildRun(
    "reconstruct_data_files",
    options,
    shutdown,
    log,
  );
  // Stray partials removed, files complete but not in place finished.
  const assembler = await openWorkingDir(
    options.workingDir,
    options.max_file_size,
    log,
    progress,
  );
  // With --catalog: rows a crash kept out written now, then one per file.
  const rows = await openRebuiltCatalog(options.catalog, options.workingDir, {
    topic: options.topic_name,
    consumerGroup: connection.groupId,
    warn: (line) => log.warn(line),
    tags: options.tags,
  });
  // The group (lib/transfer/rebuild_run.ts) checks and writes each chunk;
  // with --catalog, where each chunk was read, and a row once a file is whole.
  const fatal = await runRebuildGroup({
    program: "reconstruct_data_files",
    flags: options,
    connection,
    assembler,
    shutdown,
    log,
    report: progress,
    outputDir: options.workingDir,
    hooks: {
      chunkRead: rows.chunkRead,
      finished: rows.rebuilt &&
        ((relativePath) => rows.rebuilt!(relativePath)),
    },
    startLine:
      `Reading topic ${options.topic_name} (group ${connection.groupId}) from ${
        describeSettings(connection.settings)
      } into ${options.workingDir}. Type "check" or "quit".`,
    filesProcessed: () => progress.reconstructed.length,
  });
  assembler.close();
  await rows.catalog?.close();
  shutdown.dispose();
  progress.printSummary(startedAt);
  if (fatal) throw stoppedByError(fatal, connection.groupId);
}

if (import.meta.main) {
  // Ctrl-C is handled from the first moment: nothing is awaited before.
  await runMain(
    "reconstruct_data_files",
    () => reconstruct(readCommandLine(), listenForShutdown()),
  );
}

// A run that receives one file, then `quit`, prints:
//
//   [reconstruct_data_files at 2026-11-22 00:40:00] Reading topic lecroy_files (group reconstruct_data_files-5f1c...) from 127.0.0.1:9092 from config/local.config into out/rebuilt. Type "check" or "quit".
//   [reconstruct_data_files at 2026-11-22 00:40:07] File big.bin successfully reconstructed locally from stream
//   quit
//   [reconstruct_data_files at 2026-11-22 00:40:12] Stopped. 4096 messages read, 0 skipped; between 2026-11-22 00:40:00 and 2026-11-22 00:40:12 these files were reconstructed:
//   [reconstruct_data_files at 2026-11-22 00:40:12]   big.bin (started 2026-11-22 00:40:05, finished 2026-11-22 00:40:07)
