/**
 * # How fast does process_data_files run a processor, and in how much memory?
 *
 * ```sh
 * deno task kafka start
 * deno task bench_process                      # 1,000 files of 10 KiB, then one 1 GiB file
 * deno task bench_process --files 200 --big_mb 256
 * ```
 *
 * Permissions: those of `bench` (it runs the tasks it measures, under GNU
 * time, and writes only in `out/`).
 *
 * Two cases, each uploaded to a fresh topic and processed by
 * process_data_files with the sha512_check processor (it hashes every file
 * again, so every byte is read): many small files, handed over in memory
 * (files per second, counted from the first file done to the last), and one
 * big file above `--max_file_mb`, handed over as a path and read as a
 * stream (its peak resident memory, which should not grow with the file).
 *
 * @module
 */
import { runMain } from "../lib/common/cli.ts";
import { parseFlags } from "../lib/common/flags.ts";
import {
  benchProcessor,
  type ProcessorRun,
} from "../lib/bench/processor_runs.ts";

/** Where the files and working folders go. */
const OUT_DIR = "out/bench/process";

/** Reads the command line. */
function readCommandLine() {
  return parseFlags(Deno.args, {
    program: "bench_process",
    summary: "Measure process_data_files: many small files, then one big file.",
    flags: {
      config: { type: "string", default: "local", description: "Kafka config" },
      files: {
        type: "number",
        default: 1000,
        integer: true,
        min: 0,
        description: "small files (0: none)",
      },
      small_kb: {
        type: "number",
        default: 10,
        min: 1,
        max: 16,
        description: "KiB per small file",
      },
      big_mb: {
        type: "number",
        default: 1024,
        integer: true,
        min: 0,
        description: "MiB of the big file (0: none)",
      },
      max_file_mb: {
        type: "number",
        default: 64,
        min: 0,
        description: "process_data_files --max_file_mb",
      },
    },
  }).flags;
}

/** One result line: small files per second, or a big file's MB/s. */
function describe(what: string, run: ProcessorRun): string {
  const pace = run.files > 1
    ? `${run.filesPerSecond.toFixed(1)} files/s, ${
      run.mbPerSecond.toFixed(1)
    } MB/s (${run.processingSeconds.toFixed(1)} s first to last file, ${
      run.wallSeconds.toFixed(1)
    } s with start-up)`
    : `${run.mbPerSecond.toFixed(1)} MB/s (${
      run.wallSeconds.toFixed(1)
    } s with start-up: rebuilt on disk, then hashed again)`;
  return `${what}: ${pace}, peak RSS ${run.peakRssMb} MB`;
}

if (import.meta.main) {
  await runMain("bench_process", async () => {
    const flags = readCommandLine();
    const say = (line: string) => console.log(`  ${line}`);
    const plan = {
      config: flags.config,
      workDir: OUT_DIR,
      maxFileMb: flags.max_file_mb,
    };
    if (flags.files > 0) {
      const fileBytes = flags.small_kb * 1024;
      const run = await benchProcessor({
        ...plan,
        files: flags.files,
        fileBytes,
      }, say);
      console.log(
        describe(`${flags.files} files of ${flags.small_kb} KiB`, run),
      );
    }
    if (flags.big_mb > 0) {
      const fileBytes = flags.big_mb * 1024 * 1024;
      const run = await benchProcessor({ ...plan, files: 1, fileBytes }, say);
      console.log(describe(`1 file of ${flags.big_mb} MiB`, run));
    }
  });
}
