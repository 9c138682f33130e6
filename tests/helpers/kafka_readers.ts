/**
 * Independent readers of a topic for the tests: kcat (librdkafka) and Kafka's
 * own Java consumer from the broker's jars. Each returns every message's key
 * and value bytes as the broker handed them out, decompressed by its own
 * codecs, so a test can check what went over the wire without the project's
 * consumer. {@linkcode rebuildFiles} puts the chunk messages back together.
 *
 * @module
 */
import { ok, strictEqual } from "node:assert/strict";
import { resolveClasspath } from "../../lib/kafka/maven_classpath.ts";
import { decodeChunk } from "../../lib/transfer/chunk.ts";
import { ROOT } from "./run_task.ts";

/** One message as a reader got it. */
export interface RawMessage {
  key: string;
  value: Uint8Array;
}

/**
 * Runs a command and returns its stdout; throws with its stderr if it fails.
 *
 * @example
 * ```ts
 * await commandOutput("lz4", ["-d", "-f", "a.lz4", "a"]);
 * ```
 */
export async function commandOutput(
  command: string,
  args: string[],
): Promise<Uint8Array> {
  const result = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(
      `${command} failed: ${new TextDecoder().decode(result.stderr)}`,
    );
  }
  return result.stdout;
}

/**
 * The `java` arguments that run tests/helpers/java/NAME.java with the
 * broker's jars. The class is compiled once (JDK's own compiler module, the
 * one Java's source launcher uses) into `.kafka/test-classes/<hash of the
 * source and the classpath>/` and reused by every later run: the source
 * launcher would compile it again at every start, a second of CPU each time.
 *
 * @example
 * ```ts
 * await commandOutput("java", [...await javaHelperArgs("KafkaLz4"), "decode", "a.lz4", "a"]);
 * ```
 */
export async function javaHelperArgs(name: string): Promise<string[]> {
  const classpath = await resolveClasspath();
  const source = `${ROOT}tests/helpers/java/${name}.java`;
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(
      `${classpath}\n${await Deno.readTextFile(source)}`,
    ),
  );
  const key = Array.from(
    new Uint8Array(digest).subarray(0, 8),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const classes = `${ROOT}.kafka/test-classes/${name}-${key}`;
  const compiled = await Deno.stat(`${classes}/${name}.class`).then(
    () => true,
    () => false,
  );
  if (!compiled) {
    // Compiled aside and renamed into place, so a reader never sees half.
    await Deno.mkdir(`${ROOT}.kafka/test-classes`, { recursive: true });
    const scratch = await Deno.makeTempDir({
      dir: `${ROOT}.kafka/test-classes`,
      prefix: `.${name}-`,
    });
    try {
      await commandOutput("java", [
        "-m",
        "jdk.compiler/com.sun.tools.javac.Main",
        "-cp",
        classpath,
        "-d",
        scratch,
        source,
      ]);
      await Deno.rename(scratch, classes).catch(async (error) => {
        // Another test run compiled the same source first: use its classes.
        if (!await Deno.stat(`${classes}/${name}.class`).catch(() => false)) {
          throw error;
        }
      });
    } finally {
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  }
  return ["-cp", `${classpath}:${classes}`, name];
}

/**
 * Every message of `topic`, read by kcat from the beginning to the end.
 *
 * @example
 * ```ts
 * const messages = await readWithKcat(broker.bootstrap, topic);
 * ```
 */
export async function readWithKcat(
  bootstrap: string,
  topic: string,
): Promise<RawMessage[]> {
  // "<key length> <value length>\n<key><value>" per message: binary-safe.
  const bytes = await commandOutput("kcat", [
    "-C",
    "-b",
    bootstrap,
    "-t",
    topic,
    "-e",
    "-q",
    "-o",
    "beginning",
    "-f",
    "%K %S\n%k%s",
  ]);
  const messages: RawMessage[] = [];
  let at = 0;
  while (at < bytes.length) {
    const newline = bytes.indexOf(10, at);
    const [keyLength, valueLength] = new TextDecoder()
      .decode(bytes.subarray(at, newline)).split(" ").map(Number);
    at = newline + 1;
    const key = new TextDecoder().decode(
      bytes.subarray(at, at + Math.max(0, keyLength)),
    );
    at += Math.max(0, keyLength);
    messages.push({ key, value: bytes.slice(at, at + valueLength) });
    at += valueLength;
  }
  return messages;
}

/**
 * Every message of `topic`, read by Kafka's Java consumer (kafka-clients, the
 * broker's own jars; tests/helpers/java/ConsumeAll.java).
 *
 * @example
 * ```ts
 * const messages = await readWithJavaConsumer(broker.bootstrap, topic);
 * ```
 */
export async function readWithJavaConsumer(
  bootstrap: string,
  topic: string,
): Promise<RawMessage[]> {
  const out = await Deno.makeTempFile();
  try {
    await commandOutput("java", [
      ...await javaHelperArgs("ConsumeAll"),
      bootstrap,
      topic,
      out,
    ]);
    const bytes = await Deno.readFile(out);
    const view = new DataView(bytes.buffer);
    const messages: RawMessage[] = [];
    for (let at = 0; at < bytes.length;) {
      const keyLength = view.getInt32(at);
      const key = new TextDecoder().decode(
        bytes.subarray(at + 4, at + 4 + keyLength),
      );
      at += 4 + keyLength;
      const valueLength = view.getInt32(at);
      messages.push({ key, value: bytes.slice(at + 4, at + 4 + valueLength) });
      at += 4 + valueLength;
    }
    return messages;
  } finally {
    await Deno.remove(out);
  }
}

/**
 * The files the chunk messages carry, by `subdir/filename`, each put together
 * from its chunks' offsets (every message must be a valid chunk).
 *
 * @example
 * ```ts
 * const files = rebuildFiles(await readWithKcat(broker.bootstrap, topic));
 * files.get("day1/a.bin"); // the bytes
 * ```
 */
export function rebuildFiles(messages: RawMessage[]): Map<string, Uint8Array> {
  const parts = new Map<string, Map<number, Uint8Array>>();
  for (const { value } of messages) {
    const chunk = decodeChunk(value);
    const path = chunk.subdir
      ? `${chunk.subdir}/${chunk.filename}`
      : chunk.filename;
    if (!parts.has(path)) parts.set(path, new Map());
    parts.get(path)!.set(chunk.offset, chunk.data);
  }
  const files = new Map<string, Uint8Array>();
  for (const [path, chunks] of parts) {
    const size = Math.max(0, ...[...chunks].map(([o, d]) => o + d.length));
    const bytes = new Uint8Array(size);
    for (const [offset, data] of chunks) bytes.set(data, offset);
    files.set(path, bytes);
  }
  return files;
}

/**
 * Produces each value as one message with kcat (librdkafka), compressed with
 * `codec` (none, gzip, snappy, lz4, zstd): an independent producer.
 *
 * @example
 * ```ts
 * await produceWithKcat(broker.bootstrap, topic, [encodeChunk(chunk)], "zstd");
 * ```
 */
export async function produceWithKcat(
  bootstrap: string,
  topic: string,
  values: Uint8Array[],
  codec: string,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const files: string[] = [];
    for (const [i, value] of values.entries()) {
      files.push(`${dir}/${i}.msg`);
      await Deno.writeFile(files[i], value);
    }
    // kcat -P with file arguments sends each file as one message.
    await commandOutput("kcat", [
      "-P",
      "-b",
      bootstrap,
      "-t",
      topic,
      "-z",
      codec,
      ...files,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * This machine's name as a plain heartbeat carries it (`"host":"NAME"` in its
 * JSON), to look for in what the broker holds. The bare name will not do:
 * a short one (this VM's is "vm") turns up by chance in random ciphertext.
 */
export function hostAsSent(): string {
  return `"host":"${Deno.hostname()}"`;
}

/**
 * How many raw messages of `topic` (read with kcat) hold `marker` in their
 * key or value; fails if the topic is empty or, with `encrypted`, if a
 * value is not in KafkaCrypto's format (first byte 1).
 *
 * @example
 * ```ts
 * strictEqual(await markerHits(bootstrap, topic, "PLAINTEXT-MARKER"), 0);
 * ```
 */
export async function markerHits(
  bootstrap: string,
  topic: string,
  marker: string,
  options: { encrypted?: boolean } = {},
): Promise<number> {
  const raw = await readWithKcat(bootstrap, topic);
  ok(raw.length > 0, "nothing on the topic");
  if (options.encrypted) {
    for (const message of raw) {
      strictEqual(message.value[0], 1, "not KafkaCrypto's format");
    }
  }
  return raw.filter((message) =>
    new TextDecoder("latin1").decode(message.value).includes(marker) ||
    message.key.includes(marker)
  ).length;
}
