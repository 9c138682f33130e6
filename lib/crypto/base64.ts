/**
 * Standard base64 (with padding) for bytes, as Python's `b64encode` writes it.
 *
 * @example
 * ```ts
 * import { decodeBase64, encodeBase64 } from "./base64.ts";
 *
 * encodeBase64(decodeBase64("AQI=")); // "AQI="
 * ```
 *
 * @module
 */

/**
 * Bytes to base64 text.
 *
 * @example
 * ```ts
 * encodeBase64(new Uint8Array([255])); // "/w=="
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * Base64 text to bytes; throws on anything that is not base64.
 *
 * @example
 * ```ts
 * decodeBase64("/w==")[0]; // 255
 * ```
 */
export function decodeBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new Error("not base64");
  }
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}
