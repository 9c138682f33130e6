/**
 * Uploading files to Kafka as chunk messages: which files, and how one file
 * goes out.
 *
 * {@linkcode collectUploadTargets} turns the command line's paths into files
 * (a folder means all its files, recursively, each remembering its folder as
 * `subdir_str`). {@linkcode uploadFile} hashes a file, then queues each
 * chunk (read again, unchanged in size and time) on a {@linkcode ChunkProducer} and resolves once Kafka has
 * answered for every chunk, with how many were acknowledged.
 * {@linkcode uploadWithProgress} does the same with a progress bar.
 *
 * @example
 * ```ts
 * import { collectUploadTargets, uploadFile } from "./upload.ts";
 * import type { ChunkProducer } from "../kafka/chunk_producer.ts";
 * declare const producer: ChunkProducer;
 *
 * for (const target of await collectUploadTargets(["data/run1"])) {
 *   const result = await uploadFile(target, producer, { chunkSize: 16384 });
 *   console.log(target.path, result.acknowledged, "of", result.totalChunks);
 * }
 * ```
 *
 * @module
 */
import { basename, join, relative, sep } from "node:path";
import { chunkKey, encodeChunkReusing } from "./chunk.ts";
import type { ChunkProducer } from "../kafka/chunk_producer.ts";
import { ChunkPositions } from "../kafka/chunk_positions.ts";
import { UserError } from "../common/cli.ts";
import { printableName } from "../common/printable.ts";
import {
  type ChunkPlan,
  planChunks,
  readPlannedChunks,
} from "./file_chunks.ts";
import type { ProgressBoard } from "../common/progress.ts";
import { isUnwanted } from "./upload_filter.ts";

/** One file to upload, and the folder it is rebuilt into. */
export interface UploadTarget {
  /** The file's path. */
  path: string;
  /** POSIX path of its folder under the uploaded root; "" at the top. */
  subdir: string;
}

/** How one file's upload ended. */
export interface UploadResult {
  /** Chunks in the file. */
  totalChunks: number;
  /** Chunks Kafka acknowledged in this run (skipped ones not included). */
  acknowledged: number;
  /** Chunks that were not delivered after the retries. */
  failed: number;
  /** Chunks never queued because the upload was stopped. */
  notSent: number;
  /** Bytes in the file. */
  size: number;
  /** The first delivery error, if any. */
  error?: Error;
  /** Partitions, offsets and times of Kafka's acknowledgements in this run. */
  positions?: ChunkPositions;
}

/** Options for {@linkcode uploadFile}. */
export interface UploadOptions {
  /** Bytes per chunk. */
  chunkSize: number;
  /**
   * The file's first pass, already started by {@linkcode planAhead} with the
   * same chunk size (say, while connecting); by default it starts here.
   */
  plan?: Promise<ChunkPlan>;
  /** Chunk numbers already delivered in an earlier run. */
  skip?: ReadonlySet<number>;
  /**
   * Called after the first pass, when the file's hash is known: returns the
   * chunk numbers an earlier run of this very version delivered (they are
   * not sent again). Replaces `skip`.
   */
  alreadyDelivered?: (plan: ChunkPlan) => ReadonlySet<number>;
  /** Called after the first pass, before any chunk is queued. */
  planned?: (totalChunks: number, fileHash: Uint8Array, size: number) => void;
  /** Called as each chunk is queued (the originals' "uploading ..." line). */
  queued?: (chunkIndex: number, totalChunks: number) => void;
  /** Called for each acknowledged chunk (1-based number, byte count). */
  acknowledged?: (chunkIndex: number, bytes: number) => void;
  /** Stops queueing more chunks (Ctrl-C); queued ones are still answered. */
  signal?: AbortSignal;
}

/**
 * The files named on the command line; folders are walked recursively,
 * leaving out what {@linkcode isUnwanted} names unless `includeAll` (a file
 * named on the command line is always taken). Throws
 * {@linkcode UserError} for a path that does not exist.
 *
 * @example
 * ```ts
 * await collectUploadTargets(["a.bin", "runs/"]);
 * // [{ path: "a.bin", subdir: "" }, { path: "runs/day1/x.bin", subdir: "day1" }]
 * ```
 */
export async function collectUploadTargets(
  paths: string[],
  includeAll = false,
): Promise<UploadTarget[]> {
  const targets: UploadTarget[] = [];
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new UserError(`${path} not found`);
      }
      throw error;
    }
    if (info.isFile) targets.push({ path, subdir: "" });
    else if (info.isDirectory) {
      targets.push(...await walkFolder(path, path, includeAll));
    }
  }
  return targets;
}

/**
 * All files under `folder`, with their folder relative to `root`; unless
 * `includeAll`, without the files {@linkcode isUnwanted} names.
 */
async function walkFolder(
  root: string,
  folder: string,
  includeAll: boolean,
): Promise<UploadTarget[]> {
  const found: UploadTarget[] = [];
  const entries = [];
  for await (const entry of Deno.readDir(folder)) entries.push(entry);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = join(folder, entry.name);
    const relativePath = relative(root, path).split(sep).join("/");
    if (!includeAll && isUnwanted(relativePath)) continue;
    if (entry.isDirectory) {
      found.push(...await walkFolder(root, path, includeAll));
    } else if (entry.isFile) {
      found.push({ path, subdir: subdirOf(root, path) });
    }
  }
  return found;
}

/**
 * The POSIX folder of `path` relative to `root`, "" when directly inside.
 *
 * @example
 * ```ts
 * subdirOf("runs", "runs/day1/x.bin"); // "day1"
 * ```
 */
export function subdirOf(root: string, path: string): string {
  const folder = relative(root, join(path, ".."));
  return folder === "" || folder === "." ? "" : folder.split(sep).join("/");
}

/**
 * Uploads one file: hashes it, queues each chunk, and resolves when
 * Kafka answered for all of them. A file that changes or vanishes meanwhile
 * rejects with a {@linkcode FileChangedError} (after the chunks already queued
 * are answered).
 *
 * @example
 * ```ts
 * import type { ChunkProducer } from "../kafka/chunk_producer.ts";
 * declare const producer: ChunkProducer;
 * const result = await uploadFile({ path: "a.bin", subdir: "" }, producer, { chunkSize: 16384 });
 * ```
 */
export async function uploadFile(
  target: UploadTarget,
  producer: ChunkProducer,
  options: UploadOptions,
): Promise<UploadResult> {
  const plan =
    await (options.plan ?? planChunks(target.path, options.chunkSize));
  const skip = options.alreadyDelivered?.(plan) ?? options.skip;
  options.planned?.(plan.totalChunks, plan.fileHash, plan.size);
  const filename = basename(target.path);
  const result: UploadResult = {
    totalChunks: plan.totalChunks,
    acknowledged: 0,
    failed: 0,
    notSent: 0,
    size: plan.size,
    positions: new ChunkPositions(),
  };
  let answered = 0;
  let queued = 0;
  let allQueued = false;
  let finish = () => {};
  const allAnswered = new Promise<void>((resolve) => finish = resolve);
  const answer = () => {
    answered++;
    if (allQueued && answered === queued) finish();
  };

  // Message buffers Kafka has answered for, to encode later chunks into:
  // a chunk's message then costs no new memory.
  const spare: Uint8Array[] = [];
  const recycle = (value: Uint8Array) => {
    if (spare.length < MAX_SPARE_MESSAGES) spare.push(value);
  };
  let readError: unknown;
  try {
    for await (const chunk of readPlannedChunks(plan, skip)) {
      if (options.signal?.aborted) break;
      const message = {
        filename,
        fileHash: plan.fileHash,
        chunkHash: chunk.hash,
        offset: chunk.offset,
        chunkIndex: chunk.index,
        totalChunks: plan.totalChunks,
        subdir: target.subdir,
        filenameAppend: "",
        data: chunk.data,
        mtime: plan.mtimeSeconds,
      };
      options.queued?.(chunk.index, plan.totalChunks);
      // Only numbers in the callbacks: the chunk's bytes are a view of the
      // read buffer, which the next chunk overwrites.
      const { index, data: { length } } = chunk;
      const value = encodeChunkReusing(message, spare.pop());
      await producer.send({
        key: chunkKey(message),
        value,
        delivered: (at) => {
          recycle(value);
          result.acknowledged++;
          if (at) result.positions?.note(at.partition, at.offset, Date.now());
          options.acknowledged?.(index, length);
          answer();
        },
        failed: (error) => {
          recycle(value);
          result.failed++;
          result.error ??= error;
          answer();
        },
      });
      // Counted once queued: a send that throws is never answered.
      queued++;
    }
  } catch (error) {
    readError = error;
  }
  allQueued = true;
  if (answered === queued) finish();
  await allAnswered;
  if (readError) throw readError;
  result.notSent = plan.totalChunks - (skip?.size ?? 0) - queued;
  return result;
}

/**
 * Starts a file's first pass ({@linkcode planChunks}: its hashes) ahead of
 * its upload, for {@linkcode UploadOptions.plan}. Its failure (the file
 * changed or vanished) is reported where {@linkcode uploadFile} awaits it,
 * not as an unhandled rejection meanwhile.
 *
 * @example
 * ```ts
 * const plan = planAhead({ path: "big.bin", subdir: "" }, 16384);
 * // ... connect to Kafka meanwhile, then:
 * // await uploadFile(target, producer, { chunkSize: 16384, plan });
 * ```
 */
export function planAhead(
  target: UploadTarget,
  chunkSize: number,
): Promise<ChunkPlan> {
  const plan = planChunks(target.path, chunkSize);
  plan.catch(() => {});
  return plan;
}

/** Message buffers kept for reuse, at most (see {@linkcode uploadFile}). */
const MAX_SPARE_MESSAGES = 64;

/** The originals' `uploading ... chunk i (out of n)` line comes every this many chunks. */
export const LOG_EVERY_CHUNKS = 1000;

/** Options for {@linkcode uploadWithProgress}. */
export interface ProgressUploadOptions extends UploadOptions {
  /** Shows the file's bar (or plain lines) and its `uploading ...` lines. */
  board: ProgressBoard;
  /** The name on the bar and in the lines; default `target.path`. */
  label?: string;
}

/**
 * {@linkcode uploadFile} with a progress bar for the file and the originals'
 * `uploading <file> chunk <i> (out of <n>)` line every
 * {@linkcode LOG_EVERY_CHUNKS} chunks and at the last. The caller's own
 * callbacks are still called.
 *
 * @example
 * ```ts
 * import { ProgressBoard } from "../common/progress.ts";
 * import type { ChunkProducer } from "../kafka/chunk_producer.ts";
 * declare const producer: ChunkProducer;
 * const board = new ProgressBoard({ print: console.log });
 * const result = await uploadWithProgress({ path: "a.bin", subdir: "" }, producer, {
 *   chunkSize: 16384, board,
 * });
 * ```
 */
export async function uploadWithProgress(
  target: UploadTarget,
  producer: ChunkProducer,
  options: ProgressUploadOptions,
): Promise<UploadResult> {
  const { board } = options;
  const label = options.label ?? printableName(target.path);
  let bar = board.add(label, 1);
  // Chunks delivered in an earlier run count as done from the start.
  let acknowledged = options.skip?.size ?? 0;
  let bytes = 0;
  const alreadyDelivered = options.alreadyDelivered;
  try {
    return await uploadFile(target, producer, {
      ...options,
      alreadyDelivered: alreadyDelivered && ((plan) => {
        const delivered = alreadyDelivered(plan);
        acknowledged = delivered.size;
        return delivered;
      }),
      planned: (totalChunks, fileHash, size) => {
        bar.done();
        bar = board.add(label, totalChunks);
        bar.update(acknowledged, 0);
        options.planned?.(totalChunks, fileHash, size);
      },
      queued: (i, n) => {
        if (i % LOG_EVERY_CHUNKS === 0 || i === n) {
          board.log(`uploading ${label} chunk ${i} (out of ${n})`);
        }
        options.queued?.(i, n);
      },
      acknowledged: (i, size) => {
        bar.update(++acknowledged, bytes += size);
        options.acknowledged?.(i, size);
      },
    });
  } finally {
    bar.done();
  }
}

/** How many files, and how many bytes of them, {@linkcode forEachFile} sends side by side. */
export interface SideBySideLimits {
  /** Files at once at most. */
  files: number;
  /** Their sizes added up at most (a bigger file waits until it runs alone). */
  bytes: number;
}

/**
 * Runs `send` for every target, several at once within `limits`, and
 * resolves when all are done. Memory stays bounded by the producer's queue,
 * not by the number of files.
 *
 * @example
 * ```ts
 * import { forEachFile } from "./upload.ts";
 *
 * await forEachFile(
 *   [{ path: "a.bin", subdir: "" }, { path: "b.bin", subdir: "" }],
 *   { files: 64, bytes: 64 * 1024 * 1024 },
 *   async (target) => console.log(target.path),
 * );
 * ```
 */
export async function forEachFile(
  targets: UploadTarget[],
  limits: SideBySideLimits,
  send: (target: UploadTarget) => Promise<void>,
): Promise<void> {
  const running = new Set<Promise<void>>();
  let bytes = 0;
  for (const target of targets) {
    // A file gone by now is reported by `send`; it counts as empty here.
    const size = (await Deno.stat(target.path).catch(() => ({ size: 0 }))).size;
    while (
      running.size > 0 &&
      (running.size >= limits.files || bytes + size > limits.bytes)
    ) await Promise.race(running);
    bytes += size;
    const job: Promise<void> = send(target).finally(() => {
      running.delete(job);
      bytes -= size;
    });
    running.add(job);
  }
  await Promise.all(running);
}
