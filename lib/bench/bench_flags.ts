/**
 * The command line of `deno task bench`: its flags, their defaults, and the
 * comma-separated lists read into numbers (a bad one is a usage error).
 *
 * @example
 * ```ts
 * import { readBenchFlags } from "./bench_flags.ts";
 *
 * const { flags, sizes, chunkSizes } = readBenchFlags(["--sizes_mb", "256,4096"]);
 * console.log(sizes, chunkSizes, flags.small_files); // [256, 4096] [16384, 524288] 10000
 * ```
 *
 * @module
 */
import { UsageError } from "../common/cli.ts";
import { numberFlag, parseFlags } from "../common/flags.ts";
import { CONFIG_FLAG } from "../kafka/kafka_flags.ts";

/** Where generated files, rebuilt files and results go. */
const BENCH_DIR = "out/bench";
const SIZES_MB = "256,1024";
/** With --peers every figure is taken several times: a smaller default file. */
const PEERS_SIZES_MB = "256";
const ROUNDS = 2;
/** The "many small files": 10,000 files of 10 KiB. */
const SMALL_FILES = 10_000;
/** Small files fit in one chunk of the tools' default 16 KiB. */
const SMALL_KB = 10;
const IDLE_SECONDS = 30;
/**
 * Sent and read untimed first: the first runs on a freshly started broker
 * were up to twice as slow as the next ones, whichever tool ran them.
 */
const WARMUP_MB = 64;

/** bench's flags, as read. */
export interface BenchFlags {
  /** `--config`: the project's Kafka config (name or path). */
  config: string;
  /** `--peers`: also run Kafka's Java perf tools and kcat. */
  peers?: boolean;
  /** `--client`: also run the Kafka client alone (bench_client.ts). */
  client?: boolean;
  /** `--encrypted_config`: also upload and rebuild with this `[kafkacrypto]` config. */
  encrypted_config?: string;
  /** `--sizes_mb` as given (see {@linkcode BenchCommandLine.sizes}). */
  sizes_mb?: string;
  /** `--chunk_sizes` as given. */
  chunk_sizes: string;
  /** `--out_dir`: where files and results go. */
  out_dir: string;
  /** `--rounds`: runs of every figure. */
  rounds: number;
  /** `--members` as given. */
  members?: string;
  /** `--small_files`: how many small files go up and back (0: none). */
  small_files: number;
  /** `--small_kb`: KiB per small file. */
  small_kb: number;
  /** `--idle_seconds`: how long the watcher is left idle (0: not measured). */
  idle_seconds: number;
  /** `--warmup_mb`: MiB sent and read untimed before the measured runs (0: none). */
  warmup_mb: number;
}

/** bench's command line with its lists read. */
export interface BenchCommandLine {
  /** The flags. */
  flags: BenchFlags;
  /** File sizes, MiB (`--sizes_mb`, or its default). */
  sizes: number[];
  /** Chunk (record) sizes, bytes. */
  chunkSizes: number[];
  /** Consumer group sizes for `--members`, when given. */
  members?: number[];
}

/**
 * Reads bench's command line; `--help` prints the flags and exits.
 *
 * @example
 * ```ts
 * import { readBenchFlags } from "./bench_flags.ts";
 *
 * const { members } = readBenchFlags(["--members", "1,2,3"]); // [1, 2, 3]
 * ```
 */
export function readBenchFlags(args: string[]): BenchCommandLine {
  const { flags } = parseFlags(args, {
    program: "bench",
    summary:
      "Measure upload and rebuild throughput, peak memory and CPU against a running broker, " +
      "with --peers beside Kafka's Java perf tools and kcat.",
    flags: {
      config: CONFIG_FLAG,
      peers: {
        type: "boolean",
        description:
          "also run ProducerPerformance, ConsumerPerformance and kcat",
      },
      client: {
        type: "boolean",
        description:
          "also send and read the same records with the Kafka client alone (deno task bench_client): the floor under the tools",
      },
      encrypted_config: {
        type: "string",
        description:
          "also upload and rebuild with this config, which has a [kafkacrypto] section (encryption's cost)",
      },
      sizes_mb: {
        type: "string",
        description:
          `file sizes in MiB, comma-separated (default ${SIZES_MB}; ${PEERS_SIZES_MB} with --peers)`,
      },
      chunk_sizes: {
        type: "string",
        default: "16384,524288",
        description: "chunk (record) sizes in bytes, comma-separated",
      },
      out_dir: {
        type: "string",
        default: BENCH_DIR,
        description: "where test files and results go (inside out/)",
      },
      rounds: {
        type: "number",
        default: ROUNDS,
        description: "runs of every figure",
      },
      members: {
        type: "string",
        description:
          "measure rebuilding by consumer groups of these sizes instead, e.g. 1,2,3",
      },
      small_files: numberFlag(
        SMALL_FILES,
        "small files to upload and rebuild once (0: none)",
        { integer: true, min: 0 },
      ),
      small_kb: numberFlag(SMALL_KB, "KiB per small file", {
        integer: true,
        min: 1,
        max: 16,
      }),
      idle_seconds: numberFlag(
        IDLE_SECONDS,
        "seconds the folder watcher is left idle (0: not measured)",
        { min: 0 },
      ),
      warmup_mb: numberFlag(
        WARMUP_MB,
        "MiB uploaded and rebuilt untimed at each chunk size before the measured runs (0: none)",
        { integer: true, min: 0 },
      ),
    },
  });
  const sizes = (flags.sizes_mb ?? (flags.peers ? PEERS_SIZES_MB : SIZES_MB))
    .split(",").map(Number);
  const chunkSizes = flags.chunk_sizes.split(",").map(Number);
  if (
    [...sizes, ...chunkSizes, flags.rounds].some((n) =>
      !Number.isInteger(n) || n < 1
    )
  ) {
    throw new UsageError(
      "--sizes_mb, --chunk_sizes and --rounds take positive whole numbers",
    );
  }
  const members = flags.members?.split(",").map(Number);
  if (members?.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new UsageError("--members takes positive whole numbers");
  }
  return { flags, sizes, chunkSizes, members };
}
