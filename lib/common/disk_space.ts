/**
 * How much a folder holds and how much its disk has left: the two numbers
 * that say whether a program that writes (a broker, a rebuild) is about to
 * run out of space.
 *
 * @example
 * ```ts
 * import { folderBytes, freeBytes } from "./disk_space.ts";
 *
 * console.log(`${await folderBytes(".kafka/9092")} bytes used, ${freeBytes(".kafka")} free`);
 * ```
 *
 * @module
 */
import { statfsSync } from "node:fs";

/**
 * Bytes free for an unprivileged user on the disk of `path`. Needs
 * `--allow-sys=statfs` and read access to `path`; without them this throws
 * (a free space read as unlimited let a full disk stop a run).
 *
 * @example
 * ```ts
 * const gb = freeBytes("out") / 1e9;
 * ```
 */
export function freeBytes(path: string): number {
  const stats = statfsSync(path);
  return Number(stats.bavail) * Number(stats.bsize);
}

/**
 * Bytes in the files under `dir`, all levels down (links are not followed,
 * so nothing is counted twice or outside `dir`).
 *
 * @example
 * ```ts
 * const mb = await folderBytes(".kafka/9092") / 1e6;
 * ```
 */
export async function folderBytes(dir: string): Promise<number> {
  let bytes = 0;
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) bytes += await folderBytes(path);
    else if (entry.isFile) bytes += (await Deno.lstat(path)).size;
  }
  return bytes;
}
