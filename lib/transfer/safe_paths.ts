/**
 * Where a received file may be written: inside the working folder, nowhere else.
 *
 * A chunk message names its file (`filename`, `subdir_str`,
 * `filename_append`). Anyone who can write to the topic chooses those strings,
 * so they are checked before they become a path: no absolute paths, no `..`,
 * no NUL, no backslash, no drive letter, and the resolved path must still lie
 * inside the working folder. The project's own state folder is off limits too.
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

/** The hidden folder inside the working folder that holds the reconstructor's state. */
export const STATE_FOLDER = ".reconstruct_data_files";

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
  if (filename.includes("/")) {
    throw new UnsafePathError("filename contains a directory separator");
  }
  checkSegment(filename, "filename");
  if (filenameAppend.includes("/")) {
    throw new UnsafePathError("filename_append contains a directory separator");
  }
  if (filenameAppend) checkSegment(filenameAppend, "filename_append");
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
  return path;
}

/**
 * Checks, after the folders exist, that no symbolic link leads out of the
 * working folder. Throws {@linkcode UnsafePathError}.
 *
 * @example
 * ```ts
 * await assertRealPathInside("out/rebuilt", "out/rebuilt/day1");
 * ```
 */
export async function assertRealPathInside(
  workingDir: string,
  folder: string,
): Promise<void> {
  const root = await Deno.realPath(workingDir);
  // The folder may not exist yet: check the deepest part of it that does.
  let existing = folder;
  while (!await Deno.stat(existing).then(() => true, () => false)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  const real = await Deno.realPath(existing);
  if (real !== root && !real.startsWith(root + sep)) {
    throw new UnsafePathError(`${folder} leads outside the working folder`);
  }
}
