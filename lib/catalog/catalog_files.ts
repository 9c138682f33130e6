/**
 * Which files a catalog run describes: the paths named on the command line,
 * folders walked recursively (leaving out what the uploaders leave out, see
 * upload_filter.ts).
 *
 * Unlike an upload, a catalog run goes on past a folder it may not read (a
 * `chmod 000` subfolder, `lost+found`): the folder is reported through
 * `warn` and counted, and every other file is still catalogued. A path on
 * the command line that does not exist, or that is a loop of symbolic links,
 * is a {@linkcode UserError} before any work starts.
 *
 * @example
 * ```ts
 * import { collectCatalogTargets } from "./catalog_files.ts";
 *
 * const { targets, unreadableFolders } = await collectCatalogTargets(
 *   ["../shared/data/lecroy"],
 *   (line) => console.warn(line),
 * );
 * targets[0]; // { path: "../shared/data/lecroy/LICENSE-lecroy-scope.txt", subdir: "" }
 * unreadableFolders; // 0
 * ```
 *
 * @module
 */
import { join, relative, sep } from "node:path";
import { describeError, UserError } from "../common/cli.ts";
import { subdirOf, type UploadTarget } from "../transfer/upload.ts";
import { isUnwanted } from "../transfer/upload_filter.ts";

export type { UploadTarget } from "../transfer/upload.ts";

/** The files found, and how many folders could not be read. */
export interface CatalogTargets {
  /** Every file to catalog, in path order within each argument. */
  targets: UploadTarget[];
  /** Folders skipped because they could not be listed. */
  unreadableFolders: number;
}

/**
 * The files under `paths`; a folder that cannot be listed is warned about
 * (one line through `warn`) and skipped.
 *
 * @throws {UserError} for a path that does not exist or loops.
 *
 * @example
 * ```ts
 * const found = await collectCatalogTargets(["runs/"], console.warn);
 * ```
 */
export async function collectCatalogTargets(
  paths: string[],
  warn: (line: string) => void,
): Promise<CatalogTargets> {
  const found: CatalogTargets = { targets: [], unreadableFolders: 0 };
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new UserError(`${path} not found`);
      }
      if (error instanceof Deno.errors.FilesystemLoop) {
        throw new UserError(`${path} is a loop of symbolic links`);
      }
      throw error;
    }
    if (info.isFile) found.targets.push({ path, subdir: "" });
    else if (info.isDirectory) await walk(path, path, found, warn);
  }
  return found;
}

/** Adds the files under `folder` to `found`, warning about unreadable folders. */
async function walk(
  root: string,
  folder: string,
  found: CatalogTargets,
  warn: (line: string) => void,
): Promise<void> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) entries.push(entry);
  } catch (error) {
    if (
      !(error instanceof Deno.errors.PermissionDenied ||
        error instanceof Deno.errors.NotFound)
    ) throw error;
    warn(
      `${folder}: folder skipped, it cannot be read (${describeError(error)})`,
    );
    found.unreadableFolders++;
    return;
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = join(folder, entry.name);
    if (isUnwanted(relative(root, path).split(sep).join("/"))) continue;
    if (entry.isDirectory) await walk(root, path, found, warn);
    else if (entry.isFile) {
      found.targets.push({ path, subdir: subdirOf(root, path) });
    }
  }
}
