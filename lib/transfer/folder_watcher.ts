/**
 * Watching a folder tree for files that are complete: added or changed, then
 * left alone long enough.
 *
 * The 2021 uploader asked the folder "anything new?" in a busy loop and took
 * a file the moment it appeared, so a file still being written went out
 * truncated. This watcher instead:
 *
 * - listens to the operating system's file events ({@linkcode Deno.watchFs},
 *   recursive), so an idle folder costs no CPU at all; or, with `usePolling`
 *   (network drives send no events), walks the tree every few seconds.
 * - takes a file only once it has *settled*: its size and modification time
 *   stayed the same for `settleSeconds` (checked with `stat`, not only by
 *   trusting events);
 * - reports each settled version of a file once: a file changed later
 *   settles again and is reported again;
 * - skips the files {@linkcode isUnwanted} names (hidden ones, editor swap
 *   and backup files, `*.log`) unless `includeAll` is set;
 * - reports a file deleted before it settled, and never fails because of it.
 *
 * @example
 * ```ts
 * import { FolderWatcher } from "./folder_watcher.ts";
 *
 * const watcher = await FolderWatcher.start("data/incoming", {
 *   settleSeconds: 3,
 *   settled: (file) => console.log(`${file.relativePath} is ready (${file.size} bytes)`),
 *   vanished: (relativePath) => console.warn(`${relativePath} was deleted`),
 * });
 * // later:
 * watcher.close();
 * ```
 *
 * @module
 */
import { join, relative, resolve, sep } from "node:path";
import { UserError } from "../common/cli.ts";
import { printableName } from "../common/printable.ts";
import { isUnwanted } from "./upload_filter.ts";

/** A file that has settled: one version of it, ready to upload. */
export interface SettledFile {
  /** Absolute path. */
  path: string;
  /** POSIX path under the watched folder, e.g. `day1/a.bin`. */
  relativePath: string;
  /** Bytes. */
  size: number;
  /** Modification time in ms since the epoch. */
  mtimeMs: number;
}

/** How a {@linkcode FolderWatcher} watches and whom it tells. */
export interface FolderWatcherOptions {
  /** A file is settled once unchanged for this long. */
  settleSeconds: number;
  /** Walk the tree every `pollSeconds` instead of listening to events. */
  usePolling?: boolean;
  /** Seconds between walks when polling; default 5. */
  pollSeconds?: number;
  /**
   * Whether a file already in the folder at the start is taken; default:
   * all are. Files not taken are taken once they change.
   */
  takeExisting?: (relativePath: string) => boolean;
  /** Called once for each settled version of a file. */
  settled: (file: SettledFile) => void;
  /** Called when a file disappears before it settled. */
  vanished?: (relativePath: string) => void;
  /** Takes every file, also those {@linkcode isUnwanted} names. */
  includeAll?: boolean;
}

/** A file seen changing, not settled yet. */
interface Candidate {
  path: string;
  signature: string;
  /** When the signature was first seen as it is now. */
  unchangedSinceMs: number;
}

/** Size and mtime in one comparable string. */
function signatureOf(info: Deno.FileInfo): string {
  return `${info.size}:${info.mtime?.getTime() ?? 0}`;
}

/** Watches one folder tree; see the module documentation. */
export class FolderWatcher {
  readonly #root: string;
  readonly #options: FolderWatcherOptions;
  readonly #settleMs: number;
  /** Files changing now, by relative path. */
  readonly #candidates = new Map<string, Candidate>();
  /** The signature last reported (or, for skipped files, seen) per path. */
  readonly #reported = new Map<string, string>();
  #fsWatcher: Deno.FsWatcher | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  private constructor(root: string, options: FolderWatcherOptions) {
    this.#root = resolve(root);
    this.#options = options;
    this.#settleMs = options.settleSeconds * 1000;
  }

  /**
   * Starts watching `root` (which must be a folder) and looks at the files
   * already there.
   *
   * @example
   * ```ts
   * const watcher = await FolderWatcher.start("data/incoming", { settleSeconds: 3, settled: console.log });
   * ```
   */
  static async start(
    root: string,
    options: FolderWatcherOptions,
  ): Promise<FolderWatcher> {
    const watcher = new FolderWatcher(root, options);
    // Listen first, then look: a file added in between is seen either way.
    if (!options.usePolling) {
      watcher.#fsWatcher = Deno.watchFs(watcher.#root, { recursive: true });
      watcher.#listen(watcher.#fsWatcher);
    }
    await watcher.#walk(watcher.#root, options.takeExisting ?? (() => true));
    if (options.usePolling) watcher.#pollLater();
    return watcher;
  }

  /** How many files are changing now (not settled yet). */
  get settling(): number {
    return this.#candidates.size;
  }

  /** Whether a path is left out (see {@linkcode isUnwanted}). */
  #skips(relativePath: string): boolean {
    return !this.#options.includeAll && isUnwanted(relativePath);
  }

  /** Stops watching; nothing is reported afterwards. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#pollTimer);
    this.#fsWatcher?.close();
  }

  /** Event mode: every event is a hint to look at that path. */
  async #listen(events: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of events) {
        if (event.kind === "access") continue;
        for (const path of event.paths) {
          await this.#look(
            path,
            event.kind === "create" || event.kind === "rename",
          );
        }
      }
    } catch {
      // The events stopped (e.g. the folder was unmounted): keep watching by
      // walking the folder instead, as with --use_polling.
      if (!this.#closed) this.#pollLater();
    }
  }

  /** Polling mode: walk the tree again in a little while. */
  #pollLater(): void {
    if (this.#closed) return;
    const pollMs = (this.#options.pollSeconds ?? 5) * 1000;
    this.#pollTimer = setTimeout(async () => {
      const seen = new Set<string>();
      await this.#walk(this.#root, () => true, seen);
      // Files that are gone will be reported again if they come back.
      for (const relativePath of this.#reported.keys()) {
        if (!seen.has(relativePath)) this.#reported.delete(relativePath);
      }
      this.#pollLater();
    }, pollMs);
  }

  /**
   * Looks at one path: a file becomes a candidate if it is new or changed;
   * a new folder (`isNewFolder` events) is walked, because files created in
   * it before it was watched sent no event.
   */
  async #look(path: string, isNewFolder: boolean): Promise<void> {
    const relativePath = this.#relativePath(path);
    if (relativePath === "" || this.#skips(relativePath)) return;
    // A file already settling is checked by the timer; events add nothing.
    if (this.#candidates.has(relativePath)) return;
    const info = await Deno.stat(path).catch(() => undefined);
    if (info === undefined) {
      this.#reported.delete(relativePath);
      return;
    }
    if (info.isDirectory && isNewFolder) {
      await this.#walk(path, () => true);
    } else if (info.isFile) {
      this.#consider(path, relativePath, info);
    }
  }

  /**
   * Looks at every file under `folder`; `take` decides about each one, and
   * `seen` collects their paths.
   */
  async #walk(
    folder: string,
    take: (relativePath: string) => boolean,
    seen = new Set<string>(),
  ): Promise<void> {
    const entries: Deno.DirEntry[] = [];
    try {
      for await (const entry of Deno.readDir(folder)) entries.push(entry);
    } catch {
      return; // deleted meanwhile, or not ours to read
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      const relativePath = this.#relativePath(path);
      if (this.#skips(relativePath)) continue;
      // Symbolic links to folders are not followed: they could loop.
      if (entry.isDirectory) {
        await this.#walk(path, take, seen);
        continue;
      }
      const info = await Deno.stat(path).catch(() => undefined);
      if (!info?.isFile) continue;
      seen.add(relativePath);
      if (take(relativePath)) this.#consider(path, relativePath, info);
      else this.#reported.set(relativePath, signatureOf(info));
    }
  }

  /** A file whose version was not reported yet becomes a candidate. */
  #consider(path: string, relativePath: string, info: Deno.FileInfo): void {
    const signature = signatureOf(info);
    if (this.#candidates.has(relativePath)) return;
    if (this.#reported.get(relativePath) === signature) return;
    this.#candidates.set(relativePath, {
      path,
      signature,
      unchangedSinceMs: Date.now(),
    });
    this.#checkLater();
  }

  /** Arms the settle timer, if it is not armed: it runs only while files change. */
  #checkLater(): void {
    if (this.#timer !== undefined || this.#closed) return;
    if (this.#candidates.size === 0) return;
    // Check a few times per settle period, so that a file is taken soon
    // after it settled, and never sooner.
    const everyMs = Math.min(1000, Math.max(100, this.#settleMs / 3));
    this.#timer = setTimeout(async () => {
      await this.#checkCandidates();
      this.#timer = undefined;
      this.#checkLater();
    }, everyMs);
  }

  /** Stats every candidate: changed, gone, or settled. */
  async #checkCandidates(): Promise<void> {
    for (const [relativePath, candidate] of [...this.#candidates]) {
      if (this.#closed) return;
      const info = await Deno.stat(candidate.path).catch(() => undefined);
      const now = Date.now();
      if (!info?.isFile) {
        this.#candidates.delete(relativePath);
        this.#reported.delete(relativePath);
        this.#options.vanished?.(relativePath);
        continue;
      }
      const signature = signatureOf(info);
      if (signature !== candidate.signature) {
        candidate.signature = signature;
        candidate.unchangedSinceMs = now;
      } else if (now - candidate.unchangedSinceMs >= this.#settleMs) {
        this.#candidates.delete(relativePath);
        if (this.#reported.get(relativePath) === signature) continue;
        this.#reported.set(relativePath, signature);
        this.#options.settled({
          path: candidate.path,
          relativePath,
          size: info.size,
          mtimeMs: info.mtime?.getTime() ?? 0,
        });
      }
    }
  }

  /** `path` relative to the watched folder, with `/` separators. */
  #relativePath(path: string): string {
    return relative(this.#root, path).split(sep).join("/");
  }
}

/**
 * Throws a one-line {@linkcode UserError} unless `path` is a folder.
 *
 * @example
 * ```ts
 * await requireFolder("data/incoming");
 * ```
 */
export async function requireFolder(path: string): Promise<void> {
  const info = await Deno.stat(path).catch(() => undefined);
  if (!info) throw new UserError(`${path} not found`);
  if (!info.isDirectory) throw new UserError(`${path} is not a folder`);
}

/**
 * The watcher's own flags: `--new_files_only`, `--settle_seconds` (default
 * `settleSeconds`) and `--use_polling`, in `--help` order.
 *
 * @example
 * ```ts
 * import { parseFlags } from "../common/flags.ts";
 * const { flags } = parseFlags(["--use_polling"], {
 *   program: "demo", summary: "demo", flags: watchFlags(3),
 * });
 * flags.settle_seconds; // 3
 * ```
 */
export function watchFlags(settleSeconds: number): {
  new_files_only: { type: "boolean"; description: string };
  settle_seconds: {
    type: "number";
    default: number;
    min: number;
    description: string;
  };
  use_polling: { type: "boolean"; description: string };
} {
  return {
    new_files_only: {
      type: "boolean",
      description: "leave the files already in DIRECTORY alone",
    },
    settle_seconds: {
      type: "number",
      default: settleSeconds,
      min: 0,
      description: "take a file once unchanged this long",
    },
    use_polling: {
      type: "boolean",
      description: "walk the folder every few seconds (network drives)",
    },
  };
}

/**
 * The warning for a file that disappeared before it settled.
 *
 * @example
 * ```ts
 * vanishedLine("day1/a.bin");
 * // "day1/a.bin disappeared before it was complete; not uploaded"
 * ```
 */
export function vanishedLine(relativePath: string): string {
  return `${
    printableName(relativePath)
  } disappeared before it was complete; not uploaded`;
}
