/**
 * KafkaCrypto's trust model: a root of trust derived from a password, and
 * signed chains that lead from it to a node's signing key.
 *
 * A chain entry is `msgpack([maxAge, poison, publicKey])`: `maxAge` is the
 * Unix time after which the entry is void (0 = never), `poison` is a msgpack
 * list of limits (`["topics", [...]]`, `["usages", [...]]`,
 * `["pathlen", n]`). The root's entry is not signed; every later one is
 * signed (Ed25519, signature followed by the message) by the key of the entry
 * before it. Limits only ever narrow down the chain. See
 * docs/kafkacrypto-wire.md for the exact rules.
 *
 * @example
 * ```ts
 * import {
 *   deriveRootOfTrust,
 *   signChainEntries,
 *   signChainEntry,
 *   verifyChain,
 * } from "./chain.ts";
 * import { loadSodium } from "./sodium.ts";
 *
 * const sodium = await loadSodium();
 * const root = await deriveRootOfTrust("a long root password");
 * const node = sodium.crypto_sign_keypair();
 * const chain = signChainEntries([
 *   await signChainEntry(root.secretKey, {
 *     maxAge: 0,
 *     topics: ["lecroy"],
 *     usages: ["key-encrypt"],
 *     publicKey: node.publicKey,
 *   }),
 * ]);
 * (await verifyChain(chain, [root.allowlistEntry], { topic: "lecroy" })).topics; // ["lecroy"]
 * ```
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import { loadSodium } from "./sodium.ts";

/** The usages a node that produces and consumes gets (KafkaCrypto's `prodcon`). */
export const PRODCON_USAGES: readonly string[] = [
  "key-encrypt",
  "key-encrypt-request",
  "key-encrypt-subscribe",
];

/** A root of trust: its key pair and its allowlist entry (what nodes store). */
export interface RootOfTrust {
  /** The Ed25519 public key (32 bytes). */
  publicKey: Uint8Array;
  /** The Ed25519 secret key (64 bytes); never printed, never stored. */
  secretKey: Uint8Array;
  /** `msgpack([0, msgpack([]), publicKey])`, as in a node's `allowlist` section. */
  allowlistEntry: Uint8Array;
}

/** What one chain entry grants (the limits after every entry is applied). */
export interface ChainGrant {
  /** Unix seconds after which the grant is void; 0 = never. */
  maxAge: number;
  /** Root topics allowed (literal or `^regex$`), or undefined = no limit given. */
  topics?: string[];
  /** Usages allowed, or undefined = no limit given. */
  usages?: string[];
  /** How many more entries may follow, or undefined = no limit. */
  pathlen?: number;
  /** The public key the grant is for. */
  publicKey: Uint8Array;
}

/** A chain that does not lead from an allowed root to a usable key. */
export class ChainError extends Error {
  /** `message` says why the chain was refused (no key material in it). */
  constructor(message: string) {
    super(message);
    this.name = "ChainError";
  }
}

const encoder = new TextEncoder();

/**
 * Derives the root of trust from its password as KafkaCrypto's
 * `PasswordROT` does (Ed25519 key type): scrypt (libsodium's
 * scryptsalsa208sha256, interactive limits) with the salt
 * `SHA-256("Root of Trust" + password)`, then an Ed25519 key pair from
 * that seed.
 *
 * @example
 * ```ts
 * const root = await deriveRootOfTrust("a long root password");
 * root.publicKey.length; // 32
 * ```
 */
export async function deriveRootOfTrust(
  password: string,
): Promise<RootOfTrust> {
  const sodium = await loadSodium();
  const passwordBytes = encoder.encode(password);
  const salt = sodium.crypto_hash_sha256(
    concatBytes(encoder.encode("Root of Trust"), passwordBytes),
  ).slice(0, sodium.crypto_pwhash_scryptsalsa208sha256_SALTBYTES);
  const seed = sodium.crypto_pwhash_scryptsalsa208sha256(
    sodium.crypto_sign_SEEDBYTES,
    passwordBytes,
    salt,
    sodium.crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_INTERACTIVE,
    sodium.crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_INTERACTIVE,
  );
  const pair = sodium.crypto_sign_seed_keypair(seed);
  sodium.memzero(seed);
  return {
    publicKey: pair.publicKey,
    secretKey: pair.privateKey,
    allowlistEntry: encode([0, encode([]), pair.publicKey]),
  };
}

/**
 * Signs one chain entry with `signerSecretKey` (Ed25519, combined mode:
 * signature then message, as `crypto_sign`).
 *
 * @example
 * ```ts
 * const root = await deriveRootOfTrust("a long root password");
 * const signed = await signChainEntry(root.secretKey, {
 *   maxAge: 0,
 *   publicKey: root.publicKey,
 * });
 * signed.length > 64; // true
 * ```
 */
export async function signChainEntry(
  signerSecretKey: Uint8Array,
  grant: ChainGrant,
): Promise<Uint8Array> {
  const sodium = await loadSodium();
  const entry = encode([grant.maxAge, encodePoison(grant), grant.publicKey]);
  return sodium.crypto_sign(entry, signerSecretKey);
}

/**
 * A chain as stored and sent: `msgpack([signedEntry, ...])`.
 *
 * @example
 * ```ts
 * signChainEntries([]).length; // 1 (an empty msgpack list)
 * ```
 */
export function signChainEntries(signedEntries: Uint8Array[]): Uint8Array {
  return encode(signedEntries);
}

/** What a chain is checked for: a topic and a usage it must allow. */
export interface ChainCheck {
  /** A topic (its root, before the first dot) the chain must allow. */
  topic?: string;
  /** A usage (e.g. `key-encrypt`) the chain must allow. */
  usage?: string;
  /** The time to check expiry against, Unix seconds (default: now). */
  nowSeconds?: number;
}

/**
 * Checks `chain` against the allowlisted roots (each an allowlist entry) and
 * returns what it grants; throws {@linkcode ChainError} when no root leads to
 * a valid grant for `check`. The denylist of KafkaCrypto is not consulted.
 *
 * @example
 * ```ts
 * const root = await deriveRootOfTrust("a long root password");
 * const chain = signChainEntries([
 *   await signChainEntry(root.secretKey, { maxAge: 0, publicKey: root.publicKey }),
 * ]);
 * (await verifyChain(chain, [root.allowlistEntry])).maxAge; // 0
 * ```
 */
export async function verifyChain(
  chain: Uint8Array,
  allowlist: Uint8Array[],
  check: ChainCheck = {},
): Promise<ChainGrant> {
  const sodium = await loadSodium();
  if (allowlist.length === 0) {
    throw new ChainError("no root of trust is allowed");
  }
  let entries: Uint8Array[];
  try {
    entries = asBytesList(decode(chain));
  } catch {
    throw new ChainError("the chain is not a msgpack list of signed entries");
  }
  if (entries.length < 1) throw new ChainError("the chain is empty");
  let lastReason = "no root of trust signed it";
  for (const rootEntry of allowlist) {
    let grant = decodeEntry(rootEntry);
    try {
      for (const signed of entries) {
        let opened: Uint8Array;
        try {
          opened = sodium.crypto_sign_open(signed, grant.publicKey);
        } catch {
          throw new ChainError("a signature does not verify");
        }
        grant = intersectGrants(grant, decodeEntry(opened));
      }
      checkGrant(grant, check);
      return grant;
    } catch (error) {
      if (!(error instanceof ChainError)) throw error;
      lastReason = error.message;
    }
  }
  throw new ChainError(lastReason);
}

/** What a chain ending in a message grants, and the message's own items. */
export interface ChainLeaf {
  /** The limits after every entry (its `publicKey` is left empty). */
  grant: ChainGrant;
  /** The last entry's items: `[maxAge, poison, keys, ...extra]`, decoded. */
  items: unknown[];
}

/**
 * Like {@linkcode verifyChain}, for a chain whose last entry is a message
 * rather than a key (a key request or a key reply): every entry but the last
 * must carry an Ed25519 key; the last one's items are returned as decoded.
 *
 * @example
 * ```ts
 * const root = await deriveRootOfTrust("a long root password");
 * const chain = signChainEntries([
 *   await signChainEntry(root.secretKey, { maxAge: 0, publicKey: root.publicKey }),
 * ]);
 * (await verifyChainLeaf(chain, [root.allowlistEntry])).items.length; // 3
 * ```
 */
export async function verifyChainLeaf(
  chain: Uint8Array,
  allowlist: Uint8Array[],
  check: ChainCheck = {},
): Promise<ChainLeaf> {
  const sodium = await loadSodium();
  let entries: Uint8Array[];
  try {
    entries = asBytesList(decode(chain));
  } catch {
    throw new ChainError("the chain is not a msgpack list of signed entries");
  }
  if (entries.length < 2) {
    throw new ChainError("the chain is too short to carry a message");
  }
  const keyChain = signChainEntries(entries.slice(0, -1));
  const signer = await verifyChain(keyChain, allowlist);
  let opened: Uint8Array;
  try {
    opened = sodium.crypto_sign_open(
      entries[entries.length - 1],
      signer.publicKey,
    );
  } catch {
    throw new ChainError("a signature does not verify");
  }
  const items = decode(opened);
  if (
    !Array.isArray(items) || items.length < 3 || typeof items[0] !== "number" ||
    !(items[1] instanceof Uint8Array)
  ) {
    throw new ChainError("a chain entry is malformed");
  }
  const grant = intersectGrants(signer, {
    maxAge: items[0],
    publicKey: new Uint8Array(0),
    ...decodePoison(items[1]),
  });
  checkGrant(grant, check);
  return { grant, items };
}

/** One decoded entry: `[maxAge, poison, publicKey]`. */
function decodeEntry(bytes: Uint8Array): ChainGrant {
  const entry = decode(bytes);
  if (!Array.isArray(entry) || entry.length < 3) {
    throw new ChainError("a chain entry is malformed");
  }
  const [maxAge, poison, publicKey] = entry;
  if (
    typeof maxAge !== "number" || !(poison instanceof Uint8Array) ||
    !(publicKey instanceof Uint8Array) || publicKey.length !== 32
  ) {
    throw new ChainError(
      "a chain entry is malformed (only Ed25519 keys are supported)",
    );
  }
  return { maxAge, publicKey, ...decodePoison(poison) };
}

/** The limits of a poison list. */
function decodePoison(
  bytes: Uint8Array,
): Omit<ChainGrant, "maxAge" | "publicKey"> {
  const poison = decode(bytes);
  if (!Array.isArray(poison)) {
    throw new ChainError("a chain entry's limits are malformed");
  }
  const limits: Omit<ChainGrant, "maxAge" | "publicKey"> = {};
  for (const item of poison) {
    if (!Array.isArray(item) || item.length < 2) {
      throw new ChainError("a chain entry's limits are malformed");
    }
    const name = asText(item[0]);
    if (name === "topics") limits.topics = item[1].map(asText);
    else if (name === "usages") limits.usages = item[1].map(asText);
    else if (name === "pathlen") limits.pathlen = Number(item[1]);
    else {throw new ChainError(
        `a chain entry has an unknown limit ${JSON.stringify(name)}`,
      );}
  }
  return limits;
}

/** The poison list of a grant, in KafkaCrypto's order of keys. */
function encodePoison(grant: ChainGrant): Uint8Array {
  const poison: unknown[] = [];
  if (grant.usages) poison.push(["usages", grant.usages]);
  if (grant.topics) poison.push(["topics", grant.topics]);
  if (grant.pathlen !== undefined) poison.push(["pathlen", grant.pathlen]);
  return encode(poison);
}

/**
 * The grant after `child` (signed by `parent`'s key): the earlier expiry,
 * the topics and usages both allow, and a path length one shorter than the
 * parent's. A `key-allowlist`/`key-denylist` usage implies path length 0.
 */
function intersectGrants(parent: ChainGrant, child: ChainGrant): ChainGrant {
  const maxAge =
    child.maxAge > 0 && (child.maxAge < parent.maxAge || parent.maxAge === 0)
      ? child.maxAge
      : parent.maxAge;
  let pathlen: number | undefined;
  for (const [offset, limits] of [[-1, parent], [0, child]] as const) {
    let ownPathlen = limits.pathlen;
    if (
      ownPathlen === undefined && limits.usages &&
      (multimatch("key-allowlist", limits.usages) ||
        multimatch("key-denylist", limits.usages))
    ) ownPathlen = 0;
    if (
      ownPathlen !== undefined &&
      (pathlen === undefined || ownPathlen + offset < pathlen)
    ) {
      pathlen = ownPathlen + offset;
    }
  }
  return {
    maxAge,
    topics: intersectMatches(parent.topics, child.topics),
    usages: intersectMatches(parent.usages, child.usages),
    pathlen,
    publicKey: child.publicKey,
  };
}

/** Throws unless the final grant is unexpired and allows `check`. */
function checkGrant(grant: ChainGrant, check: ChainCheck): void {
  const now = check.nowSeconds ?? Date.now() / 1000;
  if (grant.maxAge !== 0 && grant.maxAge < now) {
    throw new ChainError("the chain has expired");
  }
  if (check.topic !== undefined && !multimatch(check.topic, grant.topics)) {
    throw new ChainError(
      `the chain does not allow topic ${JSON.stringify(check.topic)}`,
    );
  }
  if (check.usage !== undefined && !multimatch(check.usage, grant.usages)) {
    throw new ChainError(
      `the chain does not allow usage ${JSON.stringify(check.usage)}`,
    );
  }
  if (grant.pathlen !== undefined && grant.pathlen < 0) {
    throw new ChainError("the chain is longer than its path length allows");
  }
}

/** The items of `wanted` that `allowed` matches (undefined = no limit). */
function intersectMatches(
  allowed: string[] | undefined,
  wanted: string[] | undefined,
): string[] | undefined {
  if (allowed === undefined) return wanted;
  if (wanted === undefined) return allowed;
  return wanted.filter((item) => multimatch(item, allowed));
}

/**
 * KafkaCrypto's match rule: `^.*$` allows everything; a literal matches an
 * equal literal or a `^regex`; a regex only matches the same regex.
 */
function multimatch(wanted: string, choices: string[] | undefined): boolean {
  if (choices === undefined) return false;
  for (const choice of choices) {
    if (choice === "^.*$") return true;
    if (!wanted.startsWith("^")) {
      if (choice.startsWith("^")) {
        if (matchesAtStart(choice, wanted)) return true;
      } else if (wanted === choice) return true;
    } else if (wanted === choice) return true;
  }
  return false;
}

/** Python's `re.match`: the pattern must match at the start of the text. */
function matchesAtStart(pattern: string, text: string): boolean {
  try {
    return new RegExp(pattern).exec(text)?.index === 0;
  } catch {
    return false;
  }
}

/** A msgpack str or bin as text. */
function asText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  throw new ChainError("a chain entry's limits are malformed");
}

/** A decoded msgpack list of bin items. */
function asBytesList(value: unknown): Uint8Array[] {
  if (
    !Array.isArray(value) || !value.every((item) => item instanceof Uint8Array)
  ) {
    throw new ChainError("the chain is not a msgpack list of signed entries");
  }
  return value;
}

/** `a` followed by `b`. */
function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}
