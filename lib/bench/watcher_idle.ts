/**
 * The folder watcher (`upload_data_files_added_to_directory`) left idle: how
 * much CPU it uses watching a folder of old files where nothing happens.
 * A tool that runs for weeks must cost nothing while nothing arrives; the
 * target is under 0.5% of one core.
 *
 * The watcher runs as its own process under GNU time (for its peak RSS); its
 * CPU time is read from /proc before and after the idle spell, so its
 * start-up (walking the old files, connecting) is not counted.
 *
 * @example
 * ```ts
 * import { idleLine, measureWatcherIdle } from "./watcher_idle.ts";
 *
 * const idle = await measureWatcherIdle({
 *   config: "local", seconds: 30, oldFiles: 1000, dir: "out/bench",
 * });
 * console.log(idleLine(idle));
 * ```
 *
 * @module
 */
import {
  childPid,
  cpuSeconds,
  finishMeasured,
  type MeasuredProcess,
  spawnMeasuredTask,
} from "./process_stats.ts";
import { connectAdmin, createKafka } from "../kafka/client.ts";
import { loadKafkaConfig } from "../kafka/config.ts";
import { recordFileFor } from "../transfer/upload_record.ts";

/** The watcher's record folder (see upload_data_files_added_to_directory.ts). */
const RECORD_FOLDER = "out/.upload_records";
/** Start-up is over (old files listed, topic made) a moment after the topic exists. */
const SETTLE_IN_MS = 2000;
/** The target for an idle watcher, percent of one core. */
export const IDLE_TARGET_PERCENT = 0.5;

/**
 * Starts the watcher on `folder` under GNU time and waits until its topic
 * exists (`listTopics`: the broker's topics) and it has settled in.
 *
 * @example
 * ```ts
 * import { startWatcher } from "./watcher_idle.ts";
 * declare const listTopics: () => Promise<string[]>;
 *
 * const watcher = await startWatcher(listTopics, "local", "bench_watch", "out/in", ["--settle_seconds", "1"]);
 * ```
 */
export async function startWatcher(
  listTopics: () => Promise<string[]>,
  config: string,
  topic: string,
  folder: string,
  extra: string[] = [],
): Promise<MeasuredProcess> {
  const args = ["--config", config, "--topic_name", topic, ...extra, folder];
  const watcher = await spawnMeasuredTask(
    "upload_data_files_added_to_directory",
    args,
  );
  while (!(await listTopics()).includes(topic)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, SETTLE_IN_MS));
  return watcher;
}

/**
 * Removes a watched folder and the watcher's record of it (with SQLite's
 * `-wal` and `-shm` files), to give the disk space back.
 *
 * @example
 * ```ts
 * import { removeWatchedFolder } from "./watcher_idle.ts";
 *
 * await removeWatchedFolder("out/bench_watch/small");
 * ```
 */
export async function removeWatchedFolder(folder: string): Promise<void> {
  const record = await recordFileFor(folder, RECORD_FOLDER);
  await Deno.remove(folder, { recursive: true });
  for (const suffix of ["", "-wal", "-shm"]) {
    await Deno.remove(record + suffix).catch(() => {});
  }
}

/** What {@linkcode measureWatcherIdle} watches and for how long. */
export interface WatcherIdleOptions {
  /** The project's `--config`. */
  config: string;
  /** How long the watcher is left idle, seconds. */
  seconds: number;
  /** Old files already in the folder (a lab folder is full of them). */
  oldFiles: number;
  /** Walk the folder every few seconds (`--use_polling`) instead of events. */
  polling?: boolean;
  /** The watched folder goes under this folder. */
  dir: string;
}

/** What an idle watcher cost. */
export interface WatcherIdle {
  /** How long it was left idle, seconds. */
  seconds: number;
  /** Old files in its folder. */
  oldFiles: number;
  /** It polled instead of waiting for file-system events. */
  polling: boolean;
  /** CPU time (user + system) it used while idle, seconds. */
  cpuSeconds: number;
  /** That CPU time over the idle spell, percent of one core. */
  cpuPercent: number;
  /** Its peak resident memory over its whole run, MB. */
  peakRssMb: number;
}

/**
 * Starts the watcher with `--new_files_only` on a folder of `oldFiles` old
 * files, reads its CPU time, leaves it idle for `seconds`, reads it again,
 * then stops it with `quit`. Its topic, folder and record are removed after.
 *
 * @example
 * ```ts
 * import { measureWatcherIdle } from "./watcher_idle.ts";
 *
 * const idle = await measureWatcherIdle({
 *   config: "local", seconds: 10, oldFiles: 100, polling: true, dir: "out/bench",
 * });
 * ```
 */
export async function measureWatcherIdle(
  options: WatcherIdleOptions,
): Promise<WatcherIdle> {
  const settings = await loadKafkaConfig(options.config);
  const admin = await connectAdmin(createKafka(settings), settings);
  try {
    return await measureIdleWith(admin, options);
  } finally {
    await admin.disconnect();
  }
}

/** {@linkcode measureWatcherIdle} with a connected admin client. */
async function measureIdleWith(
  admin: Awaited<ReturnType<typeof connectAdmin>>,
  options: WatcherIdleOptions,
): Promise<WatcherIdle> {
  const polling = options.polling ?? false;
  const folder = `${options.dir}/idle-${polling ? "polling" : "events"}`;
  await Deno.mkdir(folder, { recursive: true });
  for (let i = 0; i < options.oldFiles; i++) {
    await Deno.writeTextFile(`${folder}/old_${i}.txt`, String(i));
  }
  const topic = `bench_watch_idle_${Date.now()}`;
  const listTopics = () => admin.listTopics();
  const watcher = await startWatcher(
    listTopics,
    options.config,
    topic,
    folder,
    [
      "--new_files_only",
      ...(polling ? ["--use_polling"] : []),
    ],
  );
  const pid = await childPid(watcher.child.pid);
  const before = await cpuSeconds(pid);
  await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
  const used = await cpuSeconds(pid) - before;
  const peakRssMb = await finishMeasured(watcher, { quit: true });
  await admin.deleteTopics({ topics: [topic] });
  await removeWatchedFolder(folder);
  return {
    seconds: options.seconds,
    oldFiles: options.oldFiles,
    polling,
    cpuSeconds: Number(used.toFixed(2)),
    cpuPercent: Number((used / options.seconds * 100).toFixed(2)),
    peakRssMb,
  };
}

/**
 * One idle measurement as a line, with the target.
 *
 * @example
 * ```ts
 * import { idleLine } from "./watcher_idle.ts";
 *
 * idleLine({ seconds: 30, oldFiles: 1000, polling: false, cpuSeconds: 0.04, cpuPercent: 0.13, peakRssMb: 73 });
 * // "folder watcher idle 30 s, 1000 old files: 0.04 CPU s = 0.13% of a core (target < 0.5%: met), peak RSS 73 MB"
 * ```
 */
export function idleLine(idle: WatcherIdle): string {
  const met = idle.cpuPercent < IDLE_TARGET_PERCENT ? "met" : "MISSED";
  return `folder watcher idle ${idle.seconds} s, ${idle.oldFiles} old files${
    idle.polling ? " (polling)" : ""
  }: ${idle.cpuSeconds.toFixed(2)} CPU s = ${
    idle.cpuPercent.toFixed(2)
  }% of a core (target < ${IDLE_TARGET_PERCENT}%: ${met}), peak RSS ${idle.peakRssMb} MB`;
}

export type { MeasuredProcess, ProcessReport } from "./process_stats.ts";
