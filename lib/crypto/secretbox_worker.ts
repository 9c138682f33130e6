/**
 * The worker behind {@linkcode SecretboxWorker} (secretbox_pool.ts): it
 * seals message bodies with libsodium's secretbox on a second core, so an
 * uploader reads, hashes and encodes the next chunk meanwhile.
 *
 * Messages in: `{ id, plaintext, nonce, key }`; out: `{ id, box }` (the
 * box's buffer transferred) or `{ id, error }`. Started by secretbox_pool.ts;
 * nothing else talks to it. The key never leaves the process.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { loadSodium } from "./sodium.ts";

/** One body to seal. */
interface SealRequest {
  id: number;
  plaintext: Uint8Array;
  nonce: Uint8Array;
  key: Uint8Array;
}

// Set at once (no top-level await first): no message may come unheard.
self.onmessage = async (event: MessageEvent<SealRequest>) => {
  const { id, plaintext, nonce, key } = event.data;
  try {
    const sodium = await loadSodium();
    const box = sodium.crypto_secretbox_easy(plaintext, nonce, key);
    // Transferred only when it owns its whole buffer (never WASM memory).
    const owned = box.byteOffset === 0 &&
      box.byteLength === box.buffer.byteLength &&
      box.buffer instanceof ArrayBuffer;
    self.postMessage(
      { id, box },
      owned ? [box.buffer as ArrayBuffer] : [],
    );
  } catch (error) {
    self.postMessage({ id, error: String(error) });
  }
};
