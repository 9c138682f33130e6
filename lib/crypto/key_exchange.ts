/**
 * KafkaCrypto's key exchange messages, without the Kafka part: a reader
 * asks for a topic root's secrets on `ROOT.reqs` with a signed request that
 * carries a fresh X25519 public key and a random value; a producer answers
 * on `ROOT.keys` with the secrets sealed under a key that only the two of
 * them can compute: `SHA-256(root || random0 || random1 || X25519)`. Each
 * side checks the other's chain to the root of trust first. Formats in
 * docs/kafkacrypto-wire.md.
 *
 * @example
 * ```ts
 * import { KeyRequester, answerKeyRequest } from "./key_exchange.ts";
 * // reader:   const request = await requester.request("lecroy_files", [keyIndex]);
 * // producer: const reply = await answerKeyRequest(node, "lecroy_files", request.value, secrets);
 * // reader:   const secrets = await requester.readReply("lecroy_files", reply.value);
 * ```
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import { ChainError, signChainEntries, verifyChainLeaf } from "./chain.ts";
import type { NodeFiles } from "./node_files.ts";
import { loadSodium, type Sodium } from "./sodium.ts";

/** How long a request or reply stays valid, as KafkaCrypto: one day. */
export const EXCHANGE_MAX_AGE_SECONDS = 86_400;
const RANDOM_BYTES = 32;

/** A Kafka message to send: its key and value bytes. */
export interface ExchangeMessage {
  /** msgpack(list of key indexes). */
  key: Uint8Array;
  /** The sender's chain plus the signed request or reply. */
  value: Uint8Array;
}

/** A topic secret and its key index, as exchanged. */
export interface ExchangedSecret {
  /** The key index (32 bytes in the long form, else an integer). */
  keyIndex: Uint8Array | number;
  /** The topic secret (32 bytes). */
  secret: Uint8Array;
}

/** The node's own parts the exchange needs. */
export type ExchangeNode = Pick<
  NodeFiles,
  "signingSecretKey" | "chains" | "allowlist"
>;

/** The node's chain0 as a list of signed entries, with `signed` appended. */
function extendChain(node: ExchangeNode, signed: Uint8Array): Uint8Array {
  const entries = decode(node.chains[0]) as Uint8Array[];
  return signChainEntries([...entries, signed]);
}

/** msgpack of `[["topics", [root]], ["usages", usages]]`. */
function exchangePoison(root: string, usages: string[]): Uint8Array {
  return encode([["topics", [root]], ["usages", usages]]);
}

/** An X25519 key pair: a random secret scalar and its public point. */
function ephemeralKeyPair(
  sodium: Sodium,
): { secret: Uint8Array; publicKey: Uint8Array } {
  const secret = sodium.randombytes_buf(32);
  return { secret, publicKey: sodium.crypto_scalarmult_base(secret) };
}

/** The shared sealing key of one exchange. */
function sharedKey(
  sodium: Sodium,
  root: string,
  random0: Uint8Array,
  random1: Uint8Array,
  agreed: Uint8Array,
): Uint8Array {
  const rootBytes = new TextEncoder().encode(root);
  const joined = new Uint8Array(
    rootBytes.length + random0.length + random1.length + agreed.length,
  );
  joined.set(rootBytes);
  joined.set(random0, rootBytes.length);
  joined.set(random1, rootBytes.length + random0.length);
  joined.set(agreed, rootBytes.length + random0.length + random1.length);
  return sodium.crypto_hash_sha256(joined).slice(
    0,
    sodium.crypto_secretbox_KEYBYTES,
  );
}

/**
 * The reading side: makes requests and opens the replies to them. It keeps
 * the ephemeral secret and random value of each open request in memory only.
 *
 * @example
 * ```ts
 * import { KeyRequester } from "./key_exchange.ts";
 * declare const node: import("./key_exchange.ts").ExchangeNode;
 * const requester = new KeyRequester(node);
 * const request = await requester.request("lecroy_files", [0]);
 * request.value.length > 0; // true
 * ```
 */
export class KeyRequester {
  readonly #node: ExchangeNode;
  readonly #open = new Map<
    string,
    { secret: Uint8Array; random0: Uint8Array }[]
  >();

  /** A requester for `node`. */
  constructor(node: ExchangeNode) {
    this.#node = node;
  }

  /**
   * A request for `keyIndexes` of topic root `root` (send it to
   * `root.reqs`, and to `root.subs` for controllers).
   *
   * @example
   * ```ts
   * declare const requester: KeyRequester;
   * const { key, value } = await requester.request("lecroy_files", [0]);
   * ```
   */
  async request(
    root: string,
    keyIndexes: (Uint8Array | number)[],
  ): Promise<ExchangeMessage> {
    const sodium = await loadSodium();
    const ephemeral = ephemeralKeyPair(sodium);
    const random0 = sodium.randombytes_buf(RANDOM_BYTES);
    const entry = encode([
      Math.floor(Date.now() / 1000) + EXCHANGE_MAX_AGE_SECONDS,
      exchangePoison(root, ["key-encrypt-request", "key-encrypt-subscribe"]),
      [ephemeral.publicKey],
      random0,
    ]);
    const signed = sodium.crypto_sign(entry, this.#node.signingSecretKey);
    const open = this.#open.get(root) ?? [];
    open.push({ secret: ephemeral.secret, random0 });
    this.#open.set(root, open);
    return { key: encode(keyIndexes), value: extendChain(this.#node, signed) };
  }

  /**
   * Opens a reply from `root.keys`: the secrets it carries, or undefined
   * when it is not for one of our open requests, its chain is not allowed
   * to send keys for `root`, or it does not open.
   *
   * @example
   * ```ts
   * declare const requester: KeyRequester;
   * declare const reply: Uint8Array;
   * const secrets = await requester.readReply("lecroy_files", reply);
   * ```
   */
  async readReply(
    root: string,
    value: Uint8Array,
  ): Promise<ExchangedSecret[] | undefined> {
    const sodium = await loadSodium();
    let items: unknown[];
    try {
      items = (await verifyChainLeaf(value, this.#node.allowlist, {
        topic: root,
        usage: "key-encrypt",
      })).items;
    } catch (error) {
      if (error instanceof ChainError) return undefined;
      throw error;
    }
    const [, , theirKeys, randoms, sealed] = items;
    if (
      !Array.isArray(theirKeys) || !Array.isArray(randoms) ||
      randoms.length < 2 ||
      !(randoms[0] instanceof Uint8Array) ||
      !(randoms[1] instanceof Uint8Array) ||
      !(sealed instanceof Uint8Array) ||
      sealed.length < sodium.crypto_secretbox_NONCEBYTES
    ) return undefined;
    const open = this.#open.get(root) ?? [];
    const request = open.find((candidate) =>
      sodium.memcmp(candidate.random0, randoms[0])
    );
    if (!request) return undefined;
    const nonce = sealed.slice(0, sodium.crypto_secretbox_NONCEBYTES);
    const box = sealed.slice(sodium.crypto_secretbox_NONCEBYTES);
    for (const theirKey of theirKeys) {
      if (!(theirKey instanceof Uint8Array) || theirKey.length !== 32) continue;
      const agreed = sodium.crypto_scalarmult(request.secret, theirKey);
      const key = sharedKey(sodium, root, randoms[0], randoms[1], agreed);
      let plain: Uint8Array;
      try {
        plain = sodium.crypto_secretbox_open_easy(box, nonce, key);
      } catch {
        continue;
      }
      const pairs = decode(plain);
      if (!Array.isArray(pairs) || pairs.length < 2 || pairs.length % 2 !== 0) {
        continue;
      }
      const secrets: ExchangedSecret[] = [];
      for (let index = 0; index < pairs.length; index += 2) {
        const [keyIndex, secret] = [pairs[index], pairs[index + 1]];
        if (
          (keyIndex instanceof Uint8Array || typeof keyIndex === "number") &&
          secret instanceof Uint8Array
        ) {
          secrets.push({ keyIndex, secret });
        }
      }
      open.splice(open.indexOf(request), 1);
      return secrets;
    }
    return undefined;
  }
}

/**
 * The producing side: answers a request from `root.reqs` with `secrets`
 * (send the reply to `root.keys`), or returns undefined when the requester's
 * chain may not ask for keys of `root`.
 *
 * @example
 * ```ts
 * declare const node: ExchangeNode;
 * declare const request: Uint8Array;
 * declare const secret: ExchangedSecret;
 * const reply = await answerKeyRequest(node, "lecroy_files", request, [secret]);
 * ```
 */
export async function answerKeyRequest(
  node: ExchangeNode,
  root: string,
  request: Uint8Array,
  secrets: ExchangedSecret[],
): Promise<ExchangeMessage | undefined> {
  const sodium = await loadSodium();
  let items: unknown[];
  try {
    items = (await verifyChainLeaf(request, node.allowlist, {
      topic: root,
      usage: "key-encrypt-request",
    })).items;
  } catch (error) {
    if (error instanceof ChainError) return undefined;
    throw error;
  }
  const [, , theirKeys, random0] = items;
  const theirKey = Array.isArray(theirKeys)
    ? theirKeys.find((key) => key instanceof Uint8Array && key.length === 32)
    : theirKeys instanceof Uint8Array && theirKeys.length === 32
    ? theirKeys
    : undefined;
  if (!(theirKey instanceof Uint8Array) || !(random0 instanceof Uint8Array)) {
    return undefined;
  }
  const ephemeral = ephemeralKeyPair(sodium);
  const random1 = sodium.randombytes_buf(RANDOM_BYTES);
  const key = sharedKey(
    sodium,
    root,
    random0,
    random1,
    sodium.crypto_scalarmult(ephemeral.secret, theirKey),
  );
  sodium.memzero(ephemeral.secret);
  const nonce = sodium.randombytes_buf(sodium.crypto_secretbox_NONCEBYTES);
  const pairs = secrets.flatMap(({ keyIndex, secret }) => [keyIndex, secret]);
  const box = sodium.crypto_secretbox_easy(encode(pairs), nonce, key);
  const sealed = new Uint8Array(nonce.length + box.length);
  sealed.set(nonce);
  sealed.set(box, nonce.length);
  const entry = encode([
    Math.floor(Date.now() / 1000) + EXCHANGE_MAX_AGE_SECONDS,
    exchangePoison(root, ["key-encrypt"]),
    [ephemeral.publicKey],
    [random0, random1],
    sealed,
  ]);
  const signed = sodium.crypto_sign(entry, node.signingSecretKey);
  return {
    key: encode(secrets.map((secret) => secret.keyIndex)),
    value: extendChain(node, signed),
  };
}
