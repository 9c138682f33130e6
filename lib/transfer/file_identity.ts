/**
 * Which file version a chunk belongs to: its key, the same for every chunk of
 * it in every working folder (from its path under WORKINGDIR and its
 * whole-file hash), and where in WORKINGDIR the rebuilt file goes.
 *
 * @example
 * ```ts
 * import { FileIdentities } from "./file_identity.ts";
 * import type { FileChunk } from "./chunk.ts";
 * declare const chunk: FileChunk; // from decodeChunk()
 *
 * const { key, path } = new FileIdentities("/data/rebuilt").identify(chunk);
 * ```
 *
 * @module
 */
import { relative, sep } from "node:path";
import { type FileChunk, sameBytes, sha512, toHex } from "./chunk.ts";
import { targetPath } from "./safe_paths.ts";

/** Identities computed already, by the fields that make them (see `identify`). */
const IDENTITIES_KEPT = 1024;

/** Which file version a chunk belongs to. */
export interface FileIdentity {
  /** The version's key: the same for every chunk of it, in every WORKINGDIR. */
  key: string;
  /** Path under WORKINGDIR, POSIX style. */
  relativePath: string;
  /** Where the rebuilt file goes. */
  path: string;
}

/** The fields naming the last chunk's file, and its identity. */
interface LastChunk {
  filename: string;
  subdir: string;
  filenameAppend: string;
  fileHash: Uint8Array;
  identity: FileIdentity;
}

/** File identities in one working folder, the recent ones kept. */
export class FileIdentities {
  readonly #root: string;
  readonly #known = new Map<string, FileIdentity>();
  /** The last chunk's naming fields and identity. */
  #last?: LastChunk;

  /** Identities of files rebuilt in `root` (a real path). */
  constructor(root: string) {
    this.#root = root;
  }

  /**
   * The file version a chunk belongs to: its key (the same in every working
   * folder: path under WORKINGDIR and whole-file hash) and its path. Throws
   * `UnsafePathError` for a path outside WORKINGDIR.
   */
  identify(chunk: FileChunk): FileIdentity {
    // Most often the same file as the chunk before: no key to build.
    const last = this.#last;
    if (
      last && last.filename === chunk.filename &&
      last.subdir === chunk.subdir &&
      last.filenameAppend === chunk.filenameAppend &&
      sameBytes(last.fileHash, chunk.fileHash)
    ) return last.identity;
    const identity = this.#identify(chunk);
    // The hash is its own bytes (decodeChunk copies it out of the message).
    const { filename, subdir, filenameAppend, fileHash } = chunk;
    this.#last = { filename, subdir, filenameAppend, fileHash, identity };
    return identity;
  }

  /** {@linkcode identify} without the last chunk's shortcut. */
  #identify(chunk: FileChunk): FileIdentity {
    // Computed once per file: the chunks of one file repeat these fields.
    const cacheKey = [
      chunk.subdir,
      chunk.filename,
      chunk.filenameAppend,
      String.fromCharCode(...chunk.fileHash),
    ].join("\0");
    const known = this.#known.get(cacheKey);
    if (known) return known;
    const path = targetPath(
      this.#root,
      chunk.subdir,
      chunk.filename,
      chunk.filenameAppend,
    );
    const relativePath = relative(this.#root, path).split(sep).join("/");
    const key = toHex(sha512(new TextEncoder().encode(
      [relativePath, toHex(chunk.fileHash)].join("\0"),
    ))).slice(0, 40);
    if (this.#known.size >= IDENTITIES_KEPT) this.#known.clear();
    const identity = { key, relativePath, path };
    this.#known.set(cacheKey, identity);
    return identity;
  }
}
