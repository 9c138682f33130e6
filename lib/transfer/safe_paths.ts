/**
 * Where a received file may be written: inside the working folder, nowhere else.
 *
 * A chunk message names its file (`filename`, `subdir_str`,
 * `filename_append`). Anyone who can write to the topic chooses those strings,
 * so they are checked before they become a path: no absolute paths, no `..`,
 * no NUL, no backslash, no drive letter, no part longer than a file system
 * takes (255 bytes, 4096 for the whole path), and the resolved path must still
 * lie inside the working folder. The project's own state folder is off limits
 * too.
 *
 * @example
 * ```ts
 * import { UnsafePathError, targetPath } from "./safe_paths.ts";
 *
 * targetPath("/data/out", "day1/run2", "scope.trc", ""); // "/data/out/day1/run2/scope.trc"
 * targetPath("/data/out", "../etc", "passwd", "");      // throws UnsafePathError
 * ```
 *
 * @module
 */
import { dirname, extname, join, resolve, sep } from "node:path";
import { printableName } from "../common/printable.ts";

/** The hidden folder inside the working folder that holds the reconstructor's state. */
export const STATE_FOLDER = ".reconstruct_data_files";

/** Bytes of one file or folder name a file system takes (Linux NAME_MAX). */
export const NAME_MAX_BYTES = 255;
/** Bytes of a whole path a file system takes (Linux PATH_MAX). */
export const PATH_MAX_BYTES = 4096;

const encoder = new TextEncoder();

/** A name from a message that would leave the working folder. */
export class UnsafePathError extends Error {
  /** `message` names the file and what is wrong with its name. */
  constructor(message: string) {
    super(message);
    this.name = "UnsafePathError";
  }
}

/** Checks one path segment (a folder or file name). */
function checkSegment(segment: string, what: string): void {
  if (segment === "" || segment === "." || segment === "..") {
    throw new UnsafePathError(`${what} has an empty, "." or ".." part`);
  }
  if (segment.includes("\0")) throw new UnsafePathError(`${what} contains NUL`);
  if (segment.includes("\\")) {
    throw new UnsafePathError(`${what} contains a backslash`);
  }
  if (/^[A-Za-z]:/.test(segment)) {
    throw new UnsafePathError(`${what} starts with a drive letter`);
  }
  const bytes = encoder.encode(segment).length;
  if (bytes > NAME_MAX_BYTES) {
    throw new UnsafePathError(
      `${what} has a part of ${bytes} bytes (a file system takes ${NAME_MAX_BYTES})`,
    );
  }
}

/**
 * The final name: `filename_append` goes before the suffix
 * (`scope.trc` + `_v2` -> `scope_v2.trc`).
 *
 * @example
 * ```ts
 * appendToName("scope.trc", "_v2"); // "scope_v2.trc"
 * ```
 */
export function appendToName(filename: string, append: string): string {
  if (!append) return filename;
  const suffix = extname(filename);
  return filename.slice(0, filename.length - suffix.length) + append + suffix;
}

/**
 * The absolute path a received file goes to, after every check. Throws
 * {@linkcode UnsafePathError}.
 *
 * @example
 * ```ts
 * targetPath("out/rebuilt", "", "a.bin", ""); // "<cwd>/out/rebuilt/a.bin"
 * ```
 */
export function targetPath(
  workingDir: string,
  subdir: string,
  filename: string,
  filenameAppend: string,
): string {
  // First the length: a 10 MB name is refused before it is split or joined.
  const given = [subdir, filename, filenameAppend].join("/");
  if (given.length > PATH_MAX_BYTES) {
    throw new UnsafePathError(
      `the path is ${given.length} characters long (a file system takes ${PATH_MAX_BYTES} bytes)`,
    );
  }
  if (filename.includes("/")) {
    throw new UnsafePathError("filename contains a directory separator");
  }
  checkSegment(filename, "filename");
  if (filenameAppend.includes("/")) {
    throw new UnsafePathError("filename_append contains a directory separator");
  }
  if (filenameAppend) checkSegment(filenameAppend, "filename_append");
  checkSegment(appendToName(filename, filenameAppend), "the file name");
  if (subdir.startsWith("/")) {
    throw new UnsafePathError("subdir_str is absolute");
  }
  const folders = subdir === "" ? [] : subdir.split("/");
  for (const folder of folders) checkSegment(folder, "subdir_str");
  // Case-insensitive, for file systems that are (macOS, Windows).
  const top = (folders[0] ?? filename).toLowerCase();
  if (top === STATE_FOLDER) {
    throw new UnsafePathError("the path points into the state folder");
  }

  const root = resolve(workingDir);
  const path = resolve(
    join(root, ...folders, appendToName(filename, filenameAppend)),
  );
  if (!path.startsWith(root + sep)) {
    throw new UnsafePathError(
      "the path would resolve outside the working folder",
    );
  }
  const bytes = encoder.encode(path).length;
  if (bytes > PATH_MAX_BYTES) {
    throw new UnsafePathError(
      `the path is ${bytes} bytes long (a file system takes ${PATH_MAX_BYTES})`,
    );
  }
  return path;
}

/**
 * Checks, after the folders exist, that no symbolic link leads out of the
 * working folder. Throws {@linkcode UnsafePathError}. Synchronous: a few
 * quick calls, cheaper than trips through the I/O threads (a rebuild of many
 * small files checks one folder per file).
 *
 * @example
 * ```ts
 * assertRealPathInside("out/rebuilt", "out/rebuilt/day1");
 * ```
 */
export function assertRealPathInside(
  workingDir: string,
  folder: string,
): void {
  const root = Deno.realPathSync(workingDir);
  // The folder may not exist yet: check the deepest part of it that does.
  let existing = folder;
  while (!existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  const real = Deno.realPathSync(existing);
  if (real !== root && !real.startsWith(root + sep)) {
    throw new UnsafePathError(
      `${printableName(folder)} leads outside the working folder`,
    );
  }
}

/** Whether `path` exists (following links). */
function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
