/**
 * The one place that loads libsodium (npm `libsodium-wrappers-sumo`, the
 * WebAssembly build of the C library): every cryptographic primitive of
 * lib/crypto/ comes from it, none is written by hand.
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
import sodiumModule from "libsodium-wrappers-sumo";
import type * as SodiumApi from "libsodium-wrappers-sumo";

/** The loaded library: the functions of libsodium's C API, by their C names. */
export type Sodium = Omit<typeof SodiumApi, "default">;

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
  await sodiumModule.ready;
  return sodiumModule;
}
