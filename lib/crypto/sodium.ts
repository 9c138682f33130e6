/**
 * The one place that loads libsodium (npm `libsodium-wrappers-sumo`, the
 * WebAssembly build of the C library): every cryptographic primitive of
 * lib/crypto/ comes from it, none is written by hand.
 *
 * {@linkcode loadSecretbox} calls libsodium's own `crypto_secretbox_easy`
 * and `crypto_secretbox_open_easy` on the module's memory directly: the
 * wrappers would allocate and copy each 512 KiB chunk twice more (measured:
 * a quarter of the time of a seal).
 *
 * @example
 * ```ts
 * import { loadSodium } from "./sodium.ts";
 *
 * const sodium = await loadSodium();
 * sodium.crypto_hash_sha256(new Uint8Array(0)).length; // 32
 * ```
 *
 * @module
 */
import type * as SodiumApi from "libsodium-wrappers-sumo";

/** The loaded library: the functions of libsodium's C API, by their C names. */
export type Sodium = Omit<typeof SodiumApi, "default">;

/** Bytes of a secretbox's authentication tag (its first bytes). */
export const SECRETBOX_MAC_BYTES = 16;
/** Bytes of a secretbox key. */
export const SECRETBOX_KEY_BYTES = 32;
/** Bytes of a secretbox nonce. */
export const SECRETBOX_NONCE_BYTES = 24;

/**
 * XSalsa20-Poly1305 (libsodium's secretbox), with no copy beyond the one
 * into and the one out of the WebAssembly memory.
 */
export interface Secretbox {
  /**
   * Seals `plaintext` into `target` (exactly
   * `plaintext.length + SECRETBOX_MAC_BYTES` bytes): the tag, then the
   * ciphertext, the bytes of libsodium's `crypto_secretbox_easy`.
   */
  sealInto(
    target: Uint8Array,
    plaintext: Uint8Array,
    nonce: Uint8Array,
    key: Uint8Array,
  ): void;
  /** The plaintext of `box`, or undefined when it does not open. */
  open(
    box: Uint8Array,
    nonce: Uint8Array,
    key: Uint8Array,
  ): Uint8Array | undefined;
}

/** What the wrappers expose of the Emscripten module (`sodium.libsodium`). */
interface SodiumModule {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(address: number): void;
  // (c, m, mlen low 32 bits, mlen high 32 bits, n, k): 0 when done
  _crypto_secretbox_easy(
    c: number,
    m: number,
    mlenLow: number,
    mlenHigh: number,
    n: number,
    k: number,
  ): number;
  // (m, c, clen low 32 bits, clen high 32 bits, n, k): 0 when it opens
  _crypto_secretbox_open_easy(
    m: number,
    c: number,
    clenLow: number,
    clenHigh: number,
    n: number,
    k: number,
  ): number;
}

/**
 * Waits until the WebAssembly module is ready and returns it (once loaded,
 * later calls return at once).
 *
 * @example
 * ```ts
 * const sodium = await loadSodium();
 * sodium.crypto_sign_PUBLICKEYBYTES; // 32
 * ```
 */
export async function loadSodium(): Promise<Sodium> {
  const sodiumModule = await importSodium();
  await sodiumModule.ready;
  return sodiumModule;
}

/**
 * The wrappers' module, imported on first use: a transfer without
 * encryption never loads libsodium's WebAssembly (a one-chunk rebuild's
 * peak RSS 87 MB instead of 89).
 */
async function importSodium(): Promise<typeof SodiumApi.default> {
  return (await import("libsodium-wrappers-sumo")).default;
}

let secretbox: Secretbox | undefined;

/**
 * libsodium's secretbox over the module's memory (loaded once).
 *
 * @example
 * ```ts
 * const box = await loadSecretbox();
 * const key = new Uint8Array(32), nonce = new Uint8Array(24);
 * const sealed = new Uint8Array(3 + 16);
 * box.sealInto(sealed, new Uint8Array([1, 2, 3]), nonce, key);
 * box.open(sealed, nonce, key); // Uint8Array [1, 2, 3]
 * ```
 */
export async function loadSecretbox(): Promise<Secretbox> {
  if (secretbox) return secretbox;
  const sodiumModule = await loadSodium();
  const raw = (sodiumModule as unknown as { libsodium?: SodiumModule })
    .libsodium;
  if (
    typeof raw?._crypto_secretbox_easy !== "function" ||
    typeof raw._crypto_secretbox_open_easy !== "function" ||
    typeof raw._malloc !== "function"
  ) {
    throw new Error("libsodium-wrappers-sumo no longer exposes its module");
  }
  secretbox = moduleSecretbox(raw);
  return secretbox;
}

/** Checks a key and nonce's lengths, as the wrappers do. */
function checkKeyAndNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== SECRETBOX_KEY_BYTES) throw new Error("invalid key length");
  if (nonce.length !== SECRETBOX_NONCE_BYTES) {
    throw new Error("invalid nonce length");
  }
}

/**
 * Seal and open in place in one allocation of the module's memory: key and
 * nonce, then the box (the plaintext written just after where the tag
 * goes, so libsodium moves nothing). The key is wiped before it is freed.
 */
function moduleSecretbox(raw: SodiumModule): Secretbox {
  const KEY_AT = 0, NONCE_AT = SECRETBOX_KEY_BYTES;
  const BOX_AT = SECRETBOX_KEY_BYTES + SECRETBOX_NONCE_BYTES;
  /** Runs `use` on a region of `boxBytes` plus key and nonce; frees it. */
  function withRegion<T>(
    key: Uint8Array,
    nonce: Uint8Array,
    boxBytes: number,
    use: (at: number) => T,
  ): T {
    checkKeyAndNonce(key, nonce);
    const at = raw._malloc(BOX_AT + boxBytes);
    if (at === 0) throw new Error("libsodium could not allocate memory");
    try {
      raw.HEAPU8.set(key, at + KEY_AT);
      raw.HEAPU8.set(nonce, at + NONCE_AT);
      return use(at);
    } finally {
      raw.HEAPU8.fill(0, at + KEY_AT, at + BOX_AT);
      raw._free(at);
    }
  }
  return {
    sealInto(target, plaintext, nonce, key) {
      const boxBytes = plaintext.length + SECRETBOX_MAC_BYTES;
      if (target.length !== boxBytes) {
        throw new Error(
          `the box takes ${boxBytes} bytes, not ${target.length}`,
        );
      }
      withRegion(key, nonce, boxBytes, (at) => {
        const box = at + BOX_AT;
        raw.HEAPU8.set(plaintext, box + SECRETBOX_MAC_BYTES);
        const status = raw._crypto_secretbox_easy(
          box,
          box + SECRETBOX_MAC_BYTES,
          plaintext.length,
          0,
          at + NONCE_AT,
          at + KEY_AT,
        );
        if (status !== 0) throw new Error("crypto_secretbox_easy failed");
        target.set(raw.HEAPU8.subarray(box, box + boxBytes));
      });
    },
    open(sealed, nonce, key) {
      if (sealed.length < SECRETBOX_MAC_BYTES) return undefined;
      return withRegion(key, nonce, sealed.length, (at) => {
        const box = at + BOX_AT;
        raw.HEAPU8.set(sealed, box);
        const status = raw._crypto_secretbox_open_easy(
          box + SECRETBOX_MAC_BYTES,
          box,
          sealed.length,
          0,
          at + NONCE_AT,
          at + KEY_AT,
        );
        if (status !== 0) return undefined;
        return raw.HEAPU8.slice(box + SECRETBOX_MAC_BYTES, box + sealed.length);
      });
    },
  };
}
