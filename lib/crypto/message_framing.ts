/**
 * KafkaCrypto's message format, the same for Kafka keys and values:
 * `0x01 || msgpack([keyIndex, salt, secretbox(plaintext, nonce, key)])`.
 * The key index tells a reader which topic secret to use, the salt which
 * key and nonce (lib/crypto/message_keys.ts); the secretbox (XSalsa20 and
 * Poly1305) both hides and authenticates the bytes.
 *
 * @example
 * ```ts
 * import { decryptMessage, encryptMessage, readEnvelope } from "./message_framing.ts";
 * import { MessageKeyGenerator } from "./message_keys.ts";
 *
 * const values = await MessageKeyGenerator.forValues(new Uint8Array(32));
 * const sealed = await encryptMessage(values, 7, new TextEncoder().encode("hi"));
 * const envelope = readEnvelope(sealed)!;
 * await decryptMessage(values, envelope); // the bytes of "hi"
 * ```
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import type { MessageKeyGenerator } from "./message_keys.ts";
import { loadSecretbox, SECRETBOX_MAC_BYTES } from "./sodium.ts";

/** The first byte of every KafkaCrypto message. */
export const KAFKACRYPTO_MAGIC = 0x01;

/** A message's parts, before decryption. */
export interface Envelope {
  /** Which topic secret (32 bytes in the long form, else an integer). */
  keyIndex: Uint8Array | number;
  /** The 16-byte salt that derives key and nonce. */
  salt: Uint8Array;
  /** The secretbox: 16-byte tag, then the ciphertext. */
  box: Uint8Array;
}

/**
 * Encrypts `plaintext` with the generator's next key.
 *
 * @example
 * ```ts
 * import { MessageKeyGenerator } from "./message_keys.ts";
 * const keys = await MessageKeyGenerator.forKeys(new Uint8Array(32));
 * (await encryptMessage(keys, 0, new Uint8Array(3)))[0]; // 1
 * ```
 */
export async function encryptMessage(
  generator: MessageKeyGenerator,
  keyIndex: Uint8Array | number,
  plaintext: Uint8Array,
): Promise<Uint8Array> {
  const secretbox = await loadSecretbox();
  const { salt, key, nonce } = generator.next();
  // msgpack's own bytes for [keyIndex, salt, box], written once into the
  // message, the box sealed straight into its place: encode() would grow its
  // buffer (and copy a big box) many times.
  const head = encode(keyIndex);
  const saltBytes = encode(salt);
  const boxLength = plaintext.length + SECRETBOX_MAC_BYTES;
  const binHeader = boxLength < 0x100
    ? [0xc4, boxLength]
    : boxLength < 0x10000
    ? [0xc5, boxLength >> 8, boxLength & 0xff]
    : [
      0xc6,
      boxLength >>> 24,
      (boxLength >> 16) & 0xff,
      (boxLength >> 8) & 0xff,
      boxLength & 0xff,
    ];
  const boxAt = 2 + head.length + saltBytes.length + binHeader.length;
  const message = new Uint8Array(boxAt + boxLength);
  message[0] = KAFKACRYPTO_MAGIC;
  message[1] = 0x93; // a msgpack array of 3
  let at = 2;
  for (const part of [head, saltBytes, binHeader]) {
    message.set(part, at);
    at += part.length;
  }
  secretbox.sealInto(message.subarray(boxAt), plaintext, nonce, key);
  return message;
}

/**
 * The parts of a KafkaCrypto message, or undefined when the bytes are not
 * one (plain data, or another format).
 *
 * @example
 * ```ts
 * readEnvelope(new TextEncoder().encode("plain")); // undefined
 * ```
 */
export function readEnvelope(message: Uint8Array): Envelope | undefined {
  if (message.length < 2 || message[0] !== KAFKACRYPTO_MAGIC) return undefined;
  let parts: unknown;
  try {
    parts = decode(message.subarray(1));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parts) || parts.length !== 3) return undefined;
  const [keyIndex, salt, box] = parts;
  if (!(keyIndex instanceof Uint8Array) && typeof keyIndex !== "number") {
    return undefined;
  }
  if (!(salt instanceof Uint8Array) || salt.length !== 16) return undefined;
  if (!(box instanceof Uint8Array)) return undefined;
  return { keyIndex, salt, box };
}

/**
 * Decrypts an envelope with the generator of its topic secret; undefined
 * when the box does not open (wrong secret, or altered bytes).
 *
 * @example
 * ```ts
 * import { MessageKeyGenerator } from "./message_keys.ts";
 * const values = await MessageKeyGenerator.forValues(new Uint8Array(32));
 * const envelope = readEnvelope(await encryptMessage(values, 0, new Uint8Array([5])))!;
 * (await decryptMessage(values, envelope))?.[0]; // 5
 * ```
 */
export async function decryptMessage(
  generator: MessageKeyGenerator,
  envelope: Envelope,
): Promise<Uint8Array | undefined> {
  const secretbox = await loadSecretbox();
  const { key, nonce } = generator.at(envelope.salt);
  return secretbox.open(envelope.box, nonce, key);
}

/**
 * A key index as text, for maps and messages (hex; it is not secret).
 *
 * @example
 * ```ts
 * keyIndexText(3); // "3"
 * ```
 */
export function keyIndexText(keyIndex: Uint8Array | number): string {
  if (typeof keyIndex === "number") return String(keyIndex);
  return Array.from(keyIndex, (byte) => byte.toString(16).padStart(2, "0"))
    .join("");
}
