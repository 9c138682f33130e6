/**
 * # Run your own code on each file as it arrives through Kafka
 *
 * ```sh
 * deno task process_data_files --processor scripts/processors/lecroy_plots.ts --topic_name lecroy_files --consumer_group_ID plots-1
 * deno task process_data_files --processor scripts/processors/metadata_reproducer.ts --processor_options output_topic_name=lecroy_metadata
 * ```
 *
 * Permissions: the same as reconstruct_data_files (`--allow-read`,
 * `--allow-write`, `--allow-net`, `--allow-env`, `--allow-sys=hostname,statfs`),
 * because the processor runs with them too: it may read its file, write
 * plots anywhere you tell it, or produce to Kafka.
 *
 * This is OpenMSIStream's DataFileStreamProcessor: the consumer group of
 * reconstruct_data_files rebuilds each file from its chunks (every chunk and
 * the whole file checked against their SHA-512) into
 * `--working_dir`/files, and each complete file version is handed once to
 * `processFile(file)`, exported by the module `--processor` names (see
 * lib/transfer/processor_api.ts for what `file` holds). A file up to
 * `--max_file_mb` comes with its bytes in memory; a bigger one only with its
 * path, to be read as a stream, so memory stays bounded.
 *
 * Each outcome goes into a registry (`--working_dir`/registry.db, SQLite)
 * before the file's copy is removed: killed at any moment, a restart runs
 * every file version once, never twice and never skipping one. A processor
 * that throws, or does not finish within `--processor_timeout` seconds, fails
 * that file only, in one line; the file stays in the working folder and
 * `--retry_failed` runs it again at the next start, without reading the
 * topic again. Several runs with one `--consumer_group_ID` (each with its
 * own `--working_dir`) share the files, as reconstructors do.
 *
 * A processor gets its settings from `--processor_options k=v,k2=v2`
 * (`context.options`), and the run's `--config` (`context.config`).
 *
 * Try: upload LeCroy files, run the plot processor, open the SVGs; write a
 * processor that throws for one name, then fix it and run `--retry_failed`.
 *
 * @module
 */
import { join } from "node:path";
import { toHex } from "../lib/transfer/chunk.ts";
import { runMain, UserError } from "../lib/common/cli.ts";
import { parseFlags } from "../lib/common/flags.ts";
import { describeSettings } from "../lib/kafka/config.ts";
import { Logger } from "../lib/common/log.ts";
import { printableName } from "../lib/common/printable.ts";
import { hashFile } from "../lib/transfer/partial_files.ts";
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
  describeDataFile,
  filesWaiting,
  ProcessRegistry,
} from "../lib/transfer/process_registry.ts";
import {
  parseProcessorOptions,
  processorFlags,
  processorLimitFlags,
  ProcessorRunner,
} from "../lib/transfer/processor_runner.ts";
import type {
  DataFile,
  KafkaProvenance,
} from "../lib/transfer/processor_api.ts";
import {
  listenForShutdown,
  type ShutdownSignal,
} from "../lib/common/shutdown.ts";

/** Where the files, their chunks' state and the registry live. */
const WORKING_DIR = "out/process_data_files";
/** Files up to this size (MiB) are handed over in memory, bigger ones as a path. */
const MAX_FILE_MB = 64;
/** A processor that takes longer on one file (seconds) fails it. */
const PROCESSOR_TIMEOUT_SECONDS = 300;

const log = new Logger({
  style: "bracket",
  program: "process_data_files",
  console: "stdout",
});

/** Counts for `check` and the summary (messages, files rebuilt). */
const progress = new ReconstructReport(log);
/** Files processed and failed in this run. */
const outcomes = { processed: 0, failed: 0 };

/** Reads the command line. */
function readCommandLine() {
  // An argument that is not a flag is refused by parseFlags (no positionals).
  const { flags } = parseFlags(Deno.args, {
    program: "process_data_files",
    summary:
      "Run a processor module's processFile(file) on each file rebuilt from a Kafka topic.",
    flags: {
      ...processorFlags(WORKING_DIR),
      ...REBUILD_RUN_FLAGS,
      ...processorLimitFlags(MAX_FILE_MB, PROCESSOR_TIMEOUT_SECONDS),
    },
  });
  if (!flags.processor) throw new UserError("name a --processor module");
  checkRebuildRunFlags(flags);
  return { ...flags, processor: flags.processor };
}

/**
 * The lesson: one file version, complete and checked, is run once. The
 * registry is asked first (a version processed before a crash is only
 * tidied away), the outcome is recorded before the file's copy goes, and a
 * failure keeps the copy for `--retry_failed`.
 */
async function processOnce(
  file: DataFile,
  runner: ProcessorRunner,
  registry: ProcessRegistry,
  retryFailed: boolean,
): Promise<void> {
  const name = printableName(file.relativePath);
  const before = registry.outcome(file.relativePath, file.sha512);
  if (before === "processed") {
    // Read again (another group, or killed after the record): not run twice.
    await Deno.remove(file.path);
    log.info(`Skipped ${name}: processed before`);
    return;
  }
  if (before === "failed" && !retryFailed) return;
  const result = await runner.process(file);
  if (result.ok) {
    registry.record(file, "processed");
    outcomes.processed++;
    await Deno.remove(file.path);
    log.info(`Processed ${name}`);
  } else {
    registry.record(file, "failed", result.reason);
    outcomes.failed++;
    log.error(`Processing ${name} failed: ${result.reason}`);
  }
}

/** Runs until quit, Ctrl-C or SIGTERM. */
async function processDataFiles(
  options: ReturnType<typeof readCommandLine>,
  shutdown: ShutdownSignal,
): Promise<void> {
  const startedAt = new Date();
  const maxBytes = options.max_file_mb * 1024 * 1024;
  // Refused while reproduce_undecryptable_messages works there.
  await claimOutputDir(options.working_dir, "rebuild", "--working_dir");
  // The processor is loaded first: a broken one stops before Kafka is asked.
  const runner = await ProcessorRunner.start(options.processor, {
    context: {
      options: parseProcessorOptions(options.processor_options),
      config: options.config,
    },
    timeoutSeconds: options.processor_timeout,
  });
  const root = join(options.working_dir, "files");
  const assembler = await openWorkingDir(
    root,
    RECONSTRUCT_FLAGS.max_file_size.default,
    log,
    progress,
  );
  const registry = ProcessRegistry.open(
    join(options.working_dir, "registry.db"),
  );
  const arrived = async (
    relativePath: string,
    sha512: string,
    kafka?: KafkaProvenance,
  ) =>
    await processOnce(
      await describeDataFile(root, relativePath, sha512, maxBytes, kafka),
      runner,
      registry,
      options.retry_failed,
    );
  // Files a crash left waiting (and, with --retry_failed, those that failed).
  for (const relativePath of await Array.fromAsync(filesWaiting(root))) {
    const path = join(root, ...relativePath.split("/"));
    await arrived(relativePath, toHex(await hashFile(path)));
  }
  const connection = await connectRebuildRun(
    "process_data_files",
    options,
    shutdown,
    log,
  );
  // Each chunk checked and written as reconstruct_data_files does it; a
  // file complete is processed before the commit passes it.
  const fatal = await runRebuildGroup({
    program: "process_data_files",
    flags: options,
    connection,
    assembler,
    shutdown,
    log,
    report: progress,
    outputDir: options.working_dir,
    hooks: {
      finished: (relativePath, chunk, { topic, partition, offset }) =>
        arrived(relativePath, toHex(chunk.fileHash), {
          topic,
          partition,
          offset,
          groupId: connection.groupId,
        }),
    },
    startLine:
      `Processing files of topic ${options.topic_name} (group ${connection.groupId}) from ${
        describeSettings(connection.settings)
      } with ${options.processor}. Type "check" or "quit".`,
    filesProcessed: () => outcomes.processed,
  });
  await runner.close();
  assembler.close();
  const failedSoFar = registry.failed().length;
  registry.close();
  shutdown.dispose();
  progress.printSummary(startedAt);
  log.info(
    `${outcomes.processed} file(s) processed, ${outcomes.failed} failed in this run; ${failedSoFar} failed file(s) wait for --retry_failed`,
  );
  if (fatal) throw stoppedByError(fatal, connection.groupId);
}

if (import.meta.main) {
  await runMain(
    "process_data_files",
    () => processDataFiles(readCommandLine(), listenForShutdown()),
  );
}

// A run that receives one LeCroy file with the plot processor prints:
//
//   [process_data_files at 2026-12-03 01:00:00] Processing files of topic lecroy_files (group plots-1) from 127.0.0.1:9092 from config/local.config with scripts/processors/lecroy_plots.ts. Type "check" or "quit".
//   [process_data_files at 2026-12-03 01:00:02] File C1--run--00001.trc successfully reconstructed locally from stream
//   [process_data_files at 2026-12-03 01:00:02] Processed C1--run--00001.trc
