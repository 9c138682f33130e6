/**
 * # Benchmark: upload and rebuild big files through Kafka
 *
 * ```sh
 * deno task kafka start
 * deno task bench                                  # 256 MiB and 1 GiB, chunks of 16 KiB and 512 KiB
 * deno task bench --sizes_mb 64 --chunk_sizes 16384
 * ```
 *
 * Permissions: `--allow-run` (it starts upload_data_file and
 * reconstruct_data_files as separate processes, so each is measured alone),
 * `--allow-read` and `--allow-write=out` (test files and results go to
 * out/bench), `--allow-net` and `--allow-env` (to delete its topics after).
 *
 * For every file size and chunk size it generates a file, uploads it, rebuilds
 * it, checks that the SHA-512 matches, and prints the throughput (MB/s) and the
 * peak resident memory of each side. Memory that stays flat from 256 MiB to
 * 1 GiB shows that neither side holds the file in memory. Results are also
 * saved to out/bench/results.json. Timings are numbers to read, not to assert.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { runMain } from "../lib/common/cli.ts";
import { writeRandomFile } from "../lib/bench/random_file.ts";
import { parseFlags } from "../lib/common/flags.ts";
import { CONFIG_FLAG } from "../lib/kafka/kafka_flags.ts";
import { connectAdmin, createKafka } from "../lib/kafka/client.ts";
import { loadKafkaConfig } from "../lib/kafka/config.ts";
import {
  finishMeasured,
  spawnMeasuredTask,
} from "../lib/bench/process_stats.ts";

/** Where generated files, rebuilt files and results go. */
const BENCH_DIR = "out/bench";
const MIB = 1024 * 1024;

/** One measured side of one transfer. */
interface SideResult {
  seconds: number;
  mbPerSecond: number;
  peakRssMb: number;
}

/** SHA-512 of a file, streamed. */
async function sha512Hex(path: string): Promise<string> {
  const hash = createHash("sha512");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Throughput of `bytes` bytes in `seconds`, and the peak memory. */
function sideResult(
  bytes: number,
  seconds: number,
  peakRssMb: number,
): SideResult {
  return {
    seconds: Number(seconds.toFixed(1)),
    mbPerSecond: Number((bytes / 1e6 / seconds).toFixed(1)),
    peakRssMb,
  };
}

/** Uploads and rebuilds one file; returns both sides' numbers. */
async function transfer(
  source: string,
  sizeMb: number,
  chunkSize: number,
  config: string,
) {
  const topic = `bench_${chunkSize}_${sizeMb}_${Date.now()}`;
  const rebuiltDir = `${BENCH_DIR}/rebuilt_${topic}`;
  const bytes = sizeMb * MIB;

  const upStarted = performance.now();
  const up = await spawnMeasuredTask("upload_data_file", [
    "--config",
    config,
    "--topic_name",
    topic,
    "--chunk_size",
    String(chunkSize),
    source,
  ]);
  const upPeakMb = await finishMeasured(up);
  const upload = sideResult(
    bytes,
    (performance.now() - upStarted) / 1000,
    upPeakMb,
  );

  // The rebuild counts from start-up (joining the group) until the file is in place.
  const downStarted = performance.now();
  const down = await spawnMeasuredTask("reconstruct_data_files", [
    "--config",
    config,
    "--topic_name",
    topic,
    "--update_seconds",
    "-1",
    rebuiltDir,
  ]);
  const rebuilt = `${rebuiltDir}/${source.split("/").at(-1)}`;
  while ((await Deno.stat(rebuilt).catch(() => undefined))?.size !== bytes) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const rebuildSeconds = (performance.now() - downStarted) / 1000;
  const reconstruct = sideResult(
    bytes,
    rebuildSeconds,
    await finishMeasured(down, { quit: true }),
  );

  const identical = await sha512Hex(rebuilt) === await sha512Hex(source);
  await Deno.remove(rebuiltDir, { recursive: true });
  return { topic, upload, reconstruct, identical };
}

if (import.meta.main) {
  await runMain("bench", async () => {
    const { flags } = parseFlags(Deno.args, {
      program: "bench",
      summary:
        "Measure upload and rebuild throughput and peak memory against a running broker.",
      flags: {
        config: CONFIG_FLAG,
        sizes_mb: {
          type: "string",
          default: "256,1024",
          description: "file sizes in MiB, comma-separated",
        },
        chunk_sizes: {
          type: "string",
          default: "16384,524288",
          description: "chunk sizes in bytes, comma-separated",
        },
      },
    });
    await Deno.mkdir(BENCH_DIR, { recursive: true });
    const results = [];
    for (const sizeMb of flags.sizes_mb.split(",").map(Number)) {
      const source = `${BENCH_DIR}/data_${sizeMb}MiB.bin`;
      await writeRandomFile(source, sizeMb * MIB, { reuse: true });
      for (const chunkSize of flags.chunk_sizes.split(",").map(Number)) {
        const result = await transfer(source, sizeMb, chunkSize, flags.config);
        results.push({ sizeMb, chunkSize, ...result });
        console.log(
          `${sizeMb} MiB, chunks of ${chunkSize} B: upload ${result.upload.mbPerSecond} MB/s (peak RSS ${result.upload.peakRssMb} MB), ` +
            `rebuild ${result.reconstruct.mbPerSecond} MB/s (peak RSS ${result.reconstruct.peakRssMb} MB), SHA-512 ${
              result.identical ? "identical" : "DIFFERENT"
            }`,
        );
      }
    }
    await Deno.writeTextFile(
      `${BENCH_DIR}/results.json`,
      JSON.stringify(results, null, 2) + "\n",
    );
    // The benchmark topics hold gigabytes; give the space back.
    const settings = await loadKafkaConfig(flags.config);
    const admin = await connectAdmin(createKafka(settings), settings);
    await admin.deleteTopics({ topics: results.map((r) => r.topic) });
    await admin.disconnect();
    return results.every((r) => r.identical) ? 0 : 1;
  });
}

// A run prints one line per transfer, for example:
//
//   256 MiB, chunks of 16384 B: upload 40.1 MB/s (peak RSS 150 MB), rebuild 35.2 MB/s (peak RSS 140 MB), SHA-512 identical
