/**
 * Messages that could not be decrypted, kept on disk until their keys can
 * arrive: `OUTPUT_DIR/ENCRYPTED_MESSAGES/`, one pair of files per message,
 * named as OpenMSIStream names them, so that either tool finds the other's:
 *
 * ```text
 * encrypted_message_from_TOPIC_produced_on_Dec_03_2026_at_06_20_00_123000[_partition_P_offset_O]_key.bin
 * encrypted_message_from_TOPIC_produced_on_Dec_03_2026_at_06_20_00_123000[_partition_P_offset_O]_value.bin
 * ```
 *
 * The time is the message's Kafka timestamp in local time (`consumed_on_`
 * and the time it was read when the message had none). OpenMSIStream stops
 * there; Kafka's timestamps only have milliseconds, so two chunks sent in
 * the same millisecond would get one name and the second would overwrite
 * the first: we add `_partition_P_offset_O`, which OpenMSIStream's own
 * reproduce_undecryptable_messages still reads (it takes the topic from
 * before `_produced_` and pairs `_key.bin` with `_value.bin`).
 *
 * Each file is written to a hidden temporary name, flushed to disk and
 * renamed: the value first, then the key. A pair counts once its key file
 * exists, so a crash never leaves half a message that looks whole.
 *
 * @example
 * ```ts
 * import { forgetKeptMessage, keepEncryptedMessage, listKeptMessages, readKeptMessage } from "./encrypted_messages.ts";
 *
 * await keepEncryptedMessage("out/rebuilt", { topic: "lecroy_files", partition: 0, offset: "17", timestamp: "1764742800123" },
 *   new Uint8Array([1]), new Uint8Array([1, 2]));
 * for (const kept of await listKeptMessages("out/rebuilt")) {
 *   const { value } = await readKeptMessage(kept);
 *   // ... decrypt value, write its chunk ...
 *   await forgetKeptMessage(kept);
 * }
 * ```
 *
 * @module
 */
import { join } from "node:path";

/** The folder inside OUTPUT_DIR, as OpenMSIStream names it. */
export const ENCRYPTED_MESSAGES_FOLDER = "ENCRYPTED_MESSAGES";

const NAME_START = "encrypted_message_from_";
const KEY_END = "_key.bin";
const VALUE_END = "_value.bin";
const TEMPORARY_START = ".writing-";
const WHEN_WORDS = ["_produced_", "_received_", "_consumed_"] as const;
const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

/** Where a message was read (a `MessagePosition` fits). */
export interface KeptPosition {
  /** The topic it came from. */
  topic: string;
  /** Its partition. */
  partition: number;
  /** Its offset. */
  offset: string;
  /** Its Kafka timestamp, ms since 1970, when the client gave one. */
  timestamp?: string;
}

/** One kept message: where its two files are. */
export interface KeptMessage {
  /** The name both files share, before `_key.bin` / `_value.bin`. */
  stem: string;
  /** The topic it came from (read back from the name). */
  topic: string;
  /** The file of the Kafka key. */
  keyPath: string;
  /** The file of the Kafka value. */
  valuePath: string;
}

/** Two digits. */
function two(n: number): string {
  return String(n).padStart(2, "0");
}

/**
 * A time as OpenMSIStream writes it into the names, in local time:
 * `Dec_03_2026_at_06_20_00_123000` (microseconds last).
 *
 * @example
 * ```ts
 * nameTime(new Date(2026, 11, 3, 6, 20, 0, 123)); // "Dec_03_2026_at_06_20_00_123000"
 * ```
 */
export function nameTime(date: Date): string {
  return `${MONTHS[date.getMonth()]}_${
    two(date.getDate())
  }_${date.getFullYear()}` +
    `_at_${two(date.getHours())}_${two(date.getMinutes())}_${
      two(date.getSeconds())
    }_${String(date.getMilliseconds() * 1000).padStart(6, "0")}`;
}

/**
 * The name both files of a message share (see the module's text).
 *
 * @example
 * ```ts
 * keptMessageStem({ topic: "t", partition: 2, offset: "9" }, new Date(2026, 0, 5));
 * // "encrypted_message_from_t_consumed_on_Jan_05_2026_at_00_00_00_000000_partition_2_offset_9"
 * ```
 */
export function keptMessageStem(where: KeptPosition, now = new Date()): string {
  const stamp = where.timestamp !== undefined && Number(where.timestamp) > 0
    ? `produced_on_${nameTime(new Date(Number(where.timestamp)))}`
    : `consumed_on_${nameTime(now)}`;
  return `${NAME_START}${where.topic}_${stamp}_partition_${where.partition}_offset_${where.offset}`;
}

/** Writes `bytes` to `path` through a hidden temporary file, synced, then renamed. */
async function writeWhole(
  folder: string,
  name: string,
  bytes: Uint8Array,
): Promise<void> {
  const temporary = join(
    folder,
    `${TEMPORARY_START}${crypto.randomUUID().slice(0, 8)}-${name}`,
  );
  try {
    const file = await Deno.open(temporary, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    try {
      let written = 0;
      while (written < bytes.length) {
        written += await file.write(bytes.subarray(written));
      }
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, join(folder, name));
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/**
 * Keeps one message that could not be decrypted under
 * `outputDir/ENCRYPTED_MESSAGES/` (a null key or value as an empty file);
 * resolves to the stem of its two files. Keeping the same message twice (read
 * again after a restart) writes the same two files again.
 *
 * @example
 * ```ts
 * await keepEncryptedMessage("out/rebuilt", { topic: "lecroy_files", partition: 0, offset: "3" }, null, new Uint8Array([1]));
 * ```
 */
export async function keepEncryptedMessage(
  outputDir: string,
  where: KeptPosition,
  key: Uint8Array | null,
  value: Uint8Array | null,
): Promise<string> {
  const folder = join(outputDir, ENCRYPTED_MESSAGES_FOLDER);
  await Deno.mkdir(folder, { recursive: true });
  const stem = keptMessageStem(where);
  // The value first: a key file means its value is whole.
  await writeWhole(folder, stem + VALUE_END, value ?? new Uint8Array(0));
  await writeWhole(folder, stem + KEY_END, key ?? new Uint8Array(0));
  return stem;
}

/**
 * The topic in a kept message's name, as OpenMSIStream reads it back:
 * what comes before `_produced_`, `_received_` or `_consumed_`.
 *
 * @example
 * ```ts
 * topicOfStem("encrypted_message_from_lecroy_files_produced_on_Jan_05_2026_at_00_00_00_000000"); // "lecroy_files"
 * ```
 */
export function topicOfStem(stem: string): string | undefined {
  if (!stem.startsWith(NAME_START)) return undefined;
  const rest = stem.slice(NAME_START.length);
  for (const word of WHEN_WORDS) {
    const at = rest.indexOf(word);
    if (at > 0) return rest.slice(0, at);
  }
  return undefined;
}

/**
 * The messages kept in `outputDir` (none when there is no folder), in name
 * order; pairs without their value file and temporary files are left out.
 *
 * @example
 * ```ts
 * (await listKeptMessages("out/rebuilt")).length;
 * ```
 */
export async function listKeptMessages(
  outputDir: string,
): Promise<KeptMessage[]> {
  const folder = join(outputDir, ENCRYPTED_MESSAGES_FOLDER);
  const names = new Set<string>();
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (entry.isFile) names.add(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const kept: KeptMessage[] = [];
  for (const name of names) {
    if (!name.endsWith(KEY_END)) continue;
    const stem = name.slice(0, -KEY_END.length);
    const topic = topicOfStem(stem);
    if (topic === undefined || !names.has(stem + VALUE_END)) continue;
    kept.push({
      stem,
      topic,
      keyPath: join(folder, stem + KEY_END),
      valuePath: join(folder, stem + VALUE_END),
    });
  }
  return kept.sort((a, b) => a.stem < b.stem ? -1 : a.stem > b.stem ? 1 : 0);
}

/**
 * Reads a kept message's key and value bytes.
 *
 * @example
 * ```ts
 * declare const kept: KeptMessage;
 * const { key, value } = await readKeptMessage(kept);
 * ```
 */
export async function readKeptMessage(
  kept: KeptMessage,
): Promise<{ key: Uint8Array; value: Uint8Array }> {
  return {
    key: await Deno.readFile(kept.keyPath),
    value: await Deno.readFile(kept.valuePath),
  };
}

/**
 * Removes a kept message (its key file first, so that a crash in between
 * leaves no pair that looks whole; the value file left alone is harmless).
 *
 * @example
 * ```ts
 * declare const kept: KeptMessage;
 * await forgetKeptMessage(kept);
 * ```
 */
export async function forgetKeptMessage(kept: KeptMessage): Promise<void> {
  await Deno.remove(kept.keyPath).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  await Deno.remove(kept.valuePath).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}
