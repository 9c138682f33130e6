/**
 * Where a rebuilt file ends up: moved into place with one atomic rename (a
 * reader never sees half a file), only inside WORKINGDIR; or, when it must
 * not go there, kept aside in `rejected/` for inspection, the oldest pruned.
 *
 * @example
 * ```ts
 * import { keepRejected, moveIntoPlace } from "./file_placement.ts";
 *
 * moveIntoPlace("/data/rebuilt", "/data/rebuilt/.p/k1.part", "/data/rebuilt/a.trc");
 * await keepRejected("/data/rebuilt/.r", "b/c.trc", "k2", "/data/rebuilt/.p/k2.part");
 * ```
 *
 * @module
 */
import { dirname, join } from "node:path";
import { assertRealPathInside } from "./safe_paths.ts";
import { setMtimeSeconds } from "./file_times.ts";

/**
 * Files kept in `rejected/` for inspection; the oldest beyond this are
 * deleted, so hostile or broken senders cannot fill the disk with them.
 */
export const REJECTED_KEPT = 100;

/**
 * Renames `partial` to `path` under `root` (a real path: no link in it),
 * after making its folder (never through a link out of `root`), with the
 * sender's modification time (`mtime`, seconds, kept to the microsecond)
 * when given. Throws when it cannot: e.g. a folder where the file should go,
 * or a file where a folder should. Synchronous: a few quick calls, each
 * cheaper than a trip through the I/O threads (a rebuild of many small files
 * moves one per file).
 *
 * @example
 * ```ts
 * moveIntoPlace("/data/rebuilt", "/tmp/k1.part", "/data/rebuilt/a/b.trc", 1700000000);
 * ```
 */
export function moveIntoPlace(
  root: string,
  partial: string,
  path: string,
  mtime?: number,
): void {
  const folder = dirname(path);
  // WORKINGDIR itself (`root`, a real path) exists and is inside: only a
  // subfolder needs making and checking.
  if (folder !== root) {
    assertRealPathInside(root, folder);
    Deno.mkdirSync(folder, { recursive: true });
    assertRealPathInside(root, folder);
  }
  if (mtime !== undefined) {
    // Set before the rename, so the file appears with its time at once.
    setMtimeSeconds(partial, mtime);
  }
  Deno.renameSync(partial, path);
}

/** Bytes of a kept file's name taken from its path (a name may have 255). */
const KEPT_NAME_BYTES = 200;

/**
 * Keeps a file that must not go into place in the `rejected` folder, named
 * after its path (cut short) and key, and prunes that folder to
 * {@linkcode REJECTED_KEPT} files; returns where it is kept. Throws when it
 * cannot be kept; the caller then removes it.
 *
 * @example
 * ```ts
 * const keptAt = await keepRejected("/data/.r", "a/b.trc", "9f3c0a12", "/tmp/k.part");
 * ```
 */
export async function keepRejected(
  rejected: string,
  relativePath: string,
  key: string,
  partial: string,
): Promise<string> {
  const keptAt = join(
    rejected,
    `${leadingBytes(relativePath.replaceAll("/", "_"), KEPT_NAME_BYTES)}.${
      key.slice(0, 8)
    }`,
  );
  await Deno.rename(partial, keptAt);
  await pruneOldest(dirname(keptAt), REJECTED_KEPT);
  return keptAt;
}

/** The longest start of `text` that fits in `maxBytes` of UTF-8, whole characters only. */
function leadingBytes(text: string, maxBytes: number): string {
  const encoder = new TextEncoder();
  let bytes = 0;
  let end = 0;
  for (const character of text) {
    bytes += encoder.encode(character).length;
    if (bytes > maxBytes) break;
    end += character.length;
  }
  return text.slice(0, end);
}

/** Deletes the oldest files of `folder` beyond the newest `keep`. */
async function pruneOldest(folder: string, keep: number): Promise<void> {
  const files: { path: string; mtime: number }[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (!entry.isFile) continue;
    const path = join(folder, entry.name);
    const info = await Deno.stat(path).catch(() => undefined);
    if (info) files.push({ path, mtime: info.mtime?.getTime() ?? 0 });
  }
  files.sort((a, b) => b.mtime - a.mtime);
  for (const old of files.slice(keep)) {
    await Deno.remove(old.path).catch(() => {});
  }
}

/**
 * Whether a file exists.
 *
 * @example
 * ```ts
 * console.log(await exists("deno.json")); // true
 * ```
 */
export function exists(path: string): Promise<boolean> {
  return Deno.stat(path).then(() => true, () => false);
}

/**
 * Whether a file exists, asked synchronously (one quick system call, where
 * a rebuild of many small files asks once per file).
 *
 * @example
 * ```ts
 * console.log(existsSync("deno.json")); // true
 * ```
 */
export function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
