/**
 * Where KafkaCrypto's data keys come from: a ratchet secret on disk (the
 * node's seed file), a secret per topic root derived from it, and a fresh
 * key and nonce per message derived from that. Every step is BLAKE2b with a
 * key, a salt and a personalisation (libsodium's
 * `crypto_generichash_blake2b_salt_personal`); see docs/kafkacrypto-wire.md.
 *
 * @example
 * ```ts
 * import { MessageKeyGenerator } from "./message_keys.ts";
 *
 * const values = await MessageKeyGenerator.forValues(new Uint8Array(32));
 * const first = values.next(); // salt 0, then 1, ...
 * values.at(first.salt).key; // the same key again, from the salt alone
 * ```
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import { readFull } from "../common/read_full.ts";
import { loadSodium, type Sodium } from "./sodium.ts";

const SECRET_BYTES = 32;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const NONCE_BYTES = 24;

/** A personalisation: the text, padded with zero bytes to 16. */
function personal(text: string): Uint8Array {
  const bytes = new Uint8Array(16);
  bytes.set(new TextEncoder().encode(text));
  return bytes;
}

/** One message's key and nonce, and the salt that derives them. */
export interface MessageKey {
  /** The 16-byte salt (a little-endian counter) sent with the message. */
  salt: Uint8Array;
  /** The secretbox key (32 bytes). */
  key: Uint8Array;
  /** The secretbox nonce (24 bytes). */
  nonce: Uint8Array;
}

/**
 * KafkaCrypto's KeyGenerator for message keys: from a topic secret, key and
 * nonce number `n` are `BLAKE2b(key=secret, salt=n, personal)`, 56 bytes.
 *
 * @example
 * ```ts
 * const keys = await MessageKeyGenerator.forKeys(new Uint8Array(32));
 * keys.next().nonce.length; // 24
 * ```
 */
export class MessageKeyGenerator {
  readonly #sodium: Sodium;
  readonly #secret: Uint8Array;
  readonly #personal: Uint8Array;
  readonly #counter = new Uint8Array(SALT_BYTES);

  private constructor(
    sodium: Sodium,
    secret: Uint8Array,
    personalText: string,
  ) {
    if (secret.length !== SECRET_BYTES) {
      throw new Error("a topic secret has 32 bytes");
    }
    this.#sodium = sodium;
    this.#secret = secret;
    this.#personal = personal(personalText);
  }

  /**
   * The generator for Kafka message keys of a topic secret.
   *
   * @example
   * ```ts
   * (await MessageKeyGenerator.forKeys(new Uint8Array(32))).next().key.length; // 32
   * ```
   */
  static async forKeys(secret: Uint8Array): Promise<MessageKeyGenerator> {
    return new MessageKeyGenerator(await loadSodium(), secret, "key");
  }

  /**
   * The generator for Kafka message values of a topic secret.
   *
   * @example
   * ```ts
   * (await MessageKeyGenerator.forValues(new Uint8Array(32))).next().salt[0]; // 0
   * ```
   */
  static async forValues(secret: Uint8Array): Promise<MessageKeyGenerator> {
    return new MessageKeyGenerator(await loadSodium(), secret, "value");
  }

  /**
   * The next key and nonce, with the salt to send (the counter moves on).
   *
   * @example
   * ```ts
   * const gen = await MessageKeyGenerator.forValues(new Uint8Array(32));
   * gen.next(); gen.next().salt[0]; // 1
   * ```
   */
  next(): MessageKey {
    const salt = this.#counter.slice();
    const derived = this.at(salt);
    for (let index = 0; index < SALT_BYTES; index++) {
      this.#counter[index] = (this.#counter[index] + 1) & 0xff;
      if (this.#counter[index] !== 0) break;
    }
    return derived;
  }

  /**
   * The key and nonce for a received salt.
   *
   * @example
   * ```ts
   * const gen = await MessageKeyGenerator.forValues(new Uint8Array(32));
   * gen.at(new Uint8Array(16)).key.length; // 32
   * ```
   */
  at(salt: Uint8Array): MessageKey {
    if (salt.length !== SALT_BYTES) {
      throw new Error("a message salt has 16 bytes");
    }
    const both = this.#sodium.crypto_generichash_blake2b_salt_personal(
      KEY_BYTES + NONCE_BYTES,
      this.#secret,
      salt,
      this.#personal,
    );
    return {
      salt,
      key: both.slice(0, KEY_BYTES),
      nonce: both.slice(KEY_BYTES),
    };
  }
}

/** A topic root's producing secret: its key index and generators. */
export interface TopicSecret {
  /** The key index sent in every message (32 bytes, or an integer). */
  keyIndex: Uint8Array | number;
  /** The topic secret (32 bytes); sent only through the key exchange. */
  secret: Uint8Array;
  /** The generator for Kafka keys. */
  keys: MessageKeyGenerator;
  /** The generator for Kafka values. */
  values: MessageKeyGenerator;
}

/**
 * The node's ratchet (its seed file): opening it moves the file on to the
 * next secret, so every run produces under a fresh key index, as KafkaCrypto.
 *
 * @example
 * ```ts
 * import { Ratchet } from "./message_keys.ts";
 *
 * const ratchet = await Ratchet.open(".kafkacrypto/lab_pc_1/lab_pc_1.seed");
 * const topic = await ratchet.topicSecret("lecroy_files", new Uint8Array(32));
 * topic.values.next();
 * ```
 */
export class Ratchet {
  readonly #sodium: Sodium;
  readonly #secret: Uint8Array;
  readonly #keyIndex: number;

  private constructor(sodium: Sodium, secret: Uint8Array, keyIndex: number) {
    this.#sodium = sodium;
    this.#secret = secret;
    this.#keyIndex = keyIndex;
  }

  /**
   * Reads the seed file, writes the next secret into it (in place, as
   * KafkaCrypto: no temporary copy of a secret is left behind) and returns
   * the ratchet at the secret that was read.
   *
   * @example
   * ```ts
   * const ratchet = await Ratchet.open(".kafkacrypto/lab_pc_1/lab_pc_1.seed");
   * ratchet.keyIndex; // e.g. 0
   * ```
   */
  static async open(seedPath: string): Promise<Ratchet> {
    const sodium = await loadSodium();
    // Read, move on and write back under an exclusive lock: two programs of
    // one node starting at the same moment would otherwise read the same
    // secret and seal with the same keys and nonces (KafkaCrypto takes no
    // lock; the OS drops ours however the process ends).
    const file = await Deno.open(seedPath, { read: true, write: true });
    try {
      await file.lock(true);
      const buffer = new Uint8Array((await file.stat()).size);
      const contents = decode(
        buffer.subarray(0, await readFull(file, buffer)),
      );
      if (
        !Array.isArray(contents) || typeof contents[0] !== "number" ||
        !(contents[1] instanceof Uint8Array) ||
        contents[1].length !== SECRET_BYTES
      ) {
        throw new Error(`${seedPath} is not a KafkaCrypto seed file`);
      }
      const [keyIndex, secret] = contents as [number, Uint8Array];
      const next = sodium.crypto_generichash_blake2b_salt_personal(
        SECRET_BYTES,
        secret,
        new Uint8Array(SALT_BYTES),
        personal("ratchet"),
      );
      const bytes = encode([keyIndex + 1, next]);
      await file.seek(0, Deno.SeekMode.Start);
      let written = 0;
      while (written < bytes.length) {
        written += await file.write(bytes.subarray(written));
      }
      await file.truncate(bytes.length);
      await file.syncData();
      return new Ratchet(sodium, secret, keyIndex);
    } finally {
      file.close();
    }
  }

  /**
   * The ratchet's key index for this run.
   *
   * @example
   * ```ts
   * const ratchet = await Ratchet.open(".kafkacrypto/lab_pc_1/lab_pc_1.seed");
   * ratchet.keyIndex >= 0; // true
   * ```
   */
  get keyIndex(): number {
    return this.#keyIndex;
  }

  /**
   * The producing secret of topic root `root`: `SHA-256(root)` gives salt
   * and personalisation of the BLAKE2b step; the key index is the long form
   * (a hash of the node's signing key and the ratchet index) when
   * `nodeSigningKeys` is given, else the plain index.
   *
   * @example
   * ```ts
   * const ratchet = await Ratchet.open(".kafkacrypto/lab_pc_1/lab_pc_1.seed");
   * const topic = await ratchet.topicSecret("lecroy_files", new Uint8Array(32));
   * (topic.keyIndex as Uint8Array).length; // 32
   * ```
   */
  async topicSecret(
    root: string,
    nodeSigningKeys?: Uint8Array,
  ): Promise<TopicSecret> {
    const hash = this.#sodium.crypto_hash_sha256(
      new TextEncoder().encode(root),
    );
    const secret = this.#sodium.crypto_generichash_blake2b_salt_personal(
      SECRET_BYTES,
      this.#secret,
      hash.slice(0, SALT_BYTES),
      hash.slice(SALT_BYTES),
    );
    let keyIndex: Uint8Array | number = this.#keyIndex;
    if (nodeSigningKeys) {
      const index = new Uint8Array(16);
      new DataView(index.buffer).setBigUint64(8, BigInt(this.#keyIndex));
      const joined = new Uint8Array(nodeSigningKeys.length + 16);
      joined.set(nodeSigningKeys);
      joined.set(index, nodeSigningKeys.length);
      keyIndex = this.#sodium.crypto_generichash(32, joined, null);
    }
    return {
      keyIndex,
      secret,
      keys: await MessageKeyGenerator.forKeys(secret),
      values: await MessageKeyGenerator.forValues(secret),
    };
  }
}
