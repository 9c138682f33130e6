/**
 * Which files in an uploaded folder a user would not mean to send.
 *
 * Both uploaders walk whole folders, where editors, the operating system and
 * the tools themselves leave files that are not data: hidden files and folders
 * (`.DS_Store`, vim's `.name.swp`, `.git/`), backup copies (`name~`), emacs'
 * auto-saves (`#name#`), swap files and log files (`*.log`, such as an
 * uploader's own log). They are skipped unless the user asks for everything
 * (`--include_all`).
 *
 * @example
 * ```ts
 * import { isUnwanted } from "./upload_filter.ts";
 *
 * isUnwanted("day1/.DS_Store"); // true
 * isUnwanted("day1/C1--trace--00001.trc"); // false
 * ```
 *
 * @module
 */

/** Swap and lock files of editors, by suffix. */
const UNWANTED_SUFFIXES = [".log", ".swp", ".swo", ".swx", "~"];

/** The rule in one sentence, for `--help` and the README. */
export const UNWANTED_FILES_TEXT =
  "hidden files and folders (.DS_Store, .name.swp), name~ backups, #name# auto-saves, *.swp and *.log files";

/** The `--include_all` flag both uploaders take. */
export const INCLUDE_ALL_FLAG = {
  type: "boolean",
  description:
    `send every file; by default folders skip ${UNWANTED_FILES_TEXT}`,
} as const;

/**
 * Whether a file under an uploaded folder is skipped by default: any hidden
 * part of its path, or a backup, auto-save, swap or log file.
 *
 * @example
 * ```ts
 * isUnwanted("day1/.cache/x.bin"); // true
 * isUnwanted("day1/run.LOG"); // true
 * isUnwanted("day1/notes.txt~"); // true
 * isUnwanted("day1/run.bin"); // false
 * ```
 */
export function isUnwanted(relativePath: string): boolean {
  const parts = relativePath.split("/");
  const name = parts.at(-1) ?? "";
  const lower = name.toLowerCase();
  return parts.some((part) => part.startsWith(".")) ||
    (name.startsWith("#") && name.endsWith("#")) ||
    UNWANTED_SUFFIXES.some((suffix) => lower.endsWith(suffix));
}
