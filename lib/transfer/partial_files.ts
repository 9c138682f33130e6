/**
 * The partial files of a rebuild: one per file in progress, written at each
 * chunk's offset through a handle kept open while its chunks arrive (at most
 * a few dozen at once), and hashed as a stream when read back.
 *
 * @example
 * ```ts
 * import { hashFile, PartialFiles } from "./partial_files.ts";
 *
 * await Deno.mkdir("out/partial", { recursive: true });
 * const partials = new PartialFiles("out/partial");
 * await partials.writeAt("k1", 0, new TextEncoder().encode("hello"));
 * partials.close("k1");
 * console.log(await hashFile(partials.path("k1")));
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeAll, writeAllSync } from "../common/write_all.ts";

/** A partial file's open handle, and where its next write would land. */
interface OpenPartial {
  handle: Deno.FsFile;
  /** The handle's position, -1 when unknown (a write failed midway). */
  position: number;
}

/** Open partial files kept at once; older ones are closed and reopened later. */
const MAX_OPEN_FILES = 32;

/** Chunks up to this size are written synchronously (see writeAt). */
const SYNC_WRITE_BYTES = 64 * 1024;

/** Partial files in one folder, `<key>.part`, with their open handles. */
export class PartialFiles {
  readonly #folder: string;
  readonly #open = new Map<string, OpenPartial>();

  /** Partial files go in `folder` (which must exist). */
  constructor(folder: string) {
    this.#folder = folder;
  }

  /** The partial file of the file version `key`. */
  path(key: string): string {
    return join(this.#folder, `${key}.part`);
  }

  /** Writes bytes at an offset of a partial file (seeking only when needed). */
  async writeAt(key: string, offset: number, data: Uint8Array): Promise<void> {
    let open = this.#open.get(key);
    if (!open) {
      if (this.#open.size >= MAX_OPEN_FILES) {
        const [oldestKey, oldest] = this.#open.entries().next().value!;
        oldest.handle.close();
        this.#open.delete(oldestKey);
      }
      // One quick call, once per file: cheaper than a trip through the I/O
      // threads (a rebuild of many small files opens one per chunk).
      const handle = Deno.openSync(this.path(key), {
        write: true,
        create: true,
      });
      open = { handle, position: 0 };
      this.#open.set(key, open);
    }
    const seek = open.position !== offset;
    open.position = -1; // Unknown until the seek and the write succeed.
    if (data.length <= SYNC_WRITE_BYTES) {
      // A small chunk is copied into the page cache faster than an async
      // write's round trip through the I/O threads (at 16 KiB the rebuild
      // sat idle 60% of the time waiting on them).
      if (seek) open.handle.seekSync(offset, Deno.SeekMode.Start);
      writeAllSync(open.handle, data);
    } else {
      if (seek) await open.handle.seek(offset, Deno.SeekMode.Start);
      await writeAll(open.handle, data);
    }
    open.position = offset + data.length;
  }

  /** Closes the handle of `key`'s partial file, if open. */
  close(key: string): void {
    this.#open.get(key)?.handle.close();
    this.#open.delete(key);
  }

  /** Closes every open handle. */
  closeAll(): void {
    for (const open of this.#open.values()) open.handle.close();
    this.#open.clear();
  }
}

/**
 * SHA-512 of a file, read 1 MiB at a time.
 *
 * @example
 * ```ts
 * const hash = await hashFile("deno.json"); // 64 bytes
 * ```
 */
export async function hashFile(path: string): Promise<Uint8Array> {
  const hash = createHash("sha512");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1024 * 1024);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return new Uint8Array(hash.digest());
}
