/**
 * # Decrypt the messages a reconstructor had to keep, and rebuild their files
 *
 * ```sh
 * deno task reproduce_undecryptable_messages out/rebuilt
 * deno task reproduce_undecryptable_messages --config lab --wait_seconds 120 out/rebuilt
 * ```
 *
 * Permissions: `--allow-read` and `--allow-write` (OUTPUT_DIR is yours to
 * choose; the node's folder is found from the config), `--allow-net` (the
 * brokers: keys are asked for on Kafka), `--allow-env` (`$VARIABLES` in the
 * config), `--allow-sys=hostname,statfs` (the file assembler checks free
 * space).
 *
 * With end-to-end encryption, a reconstructor can only decrypt a chunk once
 * the node that sent it answers its request for the key. When no answer
 * comes in time (the sender was switched off right after sending, say), the
 * reconstructor keeps the message still encrypted in
 * `OUTPUT_DIR/ENCRYPTED_MESSAGES/`, as OpenMSIStream does (file names in
 * lib/transfer/encrypted_messages.ts), and goes on. Once the sender runs
 * again (it keeps its keys for a week), run this script: it asks for the
 * keys again with the node named in the config's `[kafkacrypto]` section,
 * decrypts each kept message, feeds its chunk to the same file assembler
 * the reconstructor uses, so the files appear in OUTPUT_DIR complete and
 * SHA-512-checked, and only then deletes the kept message. It works alone
 * in OUTPUT_DIR: started while a reconstructor (or process_data_files)
 * works there, it says so in one line and exits 1 without touching
 * anything, and they refuse to start while it runs (a lock in the state
 * folder, lib/transfer/reconstructor.ts's claimOutputDir).
 *
 * (OpenMSIStream's tool of the same name sends the kept messages back to
 * their topic for its downloader to read again; this one decrypts them in
 * place, so nothing goes through the broker twice.)
 *
 * Exit code: 0 when every kept message was decrypted (or none was kept),
 * 3 when some stay encrypted (one line says how many and why), 1 for an
 * error, 2 for a usage error.
 *
 * Try: stop the sender, upload, let the reconstructor keep the messages;
 * run this script (the messages stay, and it says why); start the sender
 * again and run it once more.
 *
 * @module
 */
import { join } from "node:path";
import { runMain, UsageError } from "../lib/common/cli.ts";
import {
  checkPathArguments,
  numberFlag,
  parseFlags,
} from "../lib/common/flags.ts";
import { Logger } from "../lib/common/log.ts";
import { CryptoNode } from "../lib/crypto/crypto_node.ts";
import { createKafka } from "../lib/kafka/client.ts";
import { loadKafkaConfig } from "../lib/kafka/config.ts";
import { CONFIG_FLAG } from "../lib/kafka/kafka_flags.ts";
import { decodeChunk } from "../lib/transfer/chunk.ts";
import {
  ENCRYPTED_MESSAGES_FOLDER,
  forgetKeptMessage,
  type KeptMessage,
  listKeptMessages,
  readKeptMessage,
} from "../lib/transfer/encrypted_messages.ts";
import { DEFAULT_MAX_FILE_SIZE } from "../lib/transfer/file_assembler.ts";
import {
  claimOutputDir,
  openWorkingDir,
  ReconstructReport,
} from "../lib/transfer/reconstructor.ts";
import { openReadingNode } from "../lib/transfer/transfer_crypto.ts";

/** How long to wait for a key index nobody has answered for yet. */
const DEFAULT_WAIT_SECONDS = 30;
/** Decrypted messages are deleted in batches, after the chunk records are saved. */
const FORGET_EVERY = 64;
/** A progress line every this many messages. */
const PROGRESS_EVERY = 100;
/** The exit code when some messages stay encrypted. */
const EXIT_STILL_ENCRYPTED = 3;

const log = new Logger({
  style: "bracket",
  program: "reproduce_undecryptable_messages",
  console: "stdout",
});

/** Reads the command line. */
function readCommandLine() {
  const { flags, positionals } = parseFlags(Deno.args, {
    program: "reproduce_undecryptable_messages",
    summary:
      "Decrypt the messages kept in OUTPUT_DIR/ENCRYPTED_MESSAGES with the config's [kafkacrypto] node " +
      "and rebuild their files in OUTPUT_DIR. Exit 3 when some stay encrypted.",
    positionals: "OUTPUT_DIR",
    flags: {
      config: CONFIG_FLAG,
      wait_seconds: numberFlag(
        DEFAULT_WAIT_SECONDS,
        "seconds to wait for the key of each key index",
        { min: 0 },
      ),
    },
  });
  if (positionals.length !== 1) {
    throw new UsageError("name exactly one OUTPUT_DIR");
  }
  checkPathArguments(positionals, "OUTPUT_DIR");
  return { ...flags, outputDir: positionals[0] };
}

/** Decrypts and rebuilds every kept message; returns why the rest stay. */
async function retryKeptMessages(
  options: ReturnType<typeof readCommandLine>,
  kept: KeptMessage[],
): Promise<Map<string, number>> {
  const settings = await loadKafkaConfig(
    options.config,
    (line) => log.warn(line),
  );
  const { nodeId, opened, refusals } = await openReadingNode(
    settings,
    new Set(kept.map((message) => message.topic)),
  );
  log.info(
    `${kept.length} kept message(s) in ${
      join(options.outputDir, ENCRYPTED_MESSAGES_FOLDER)
    }; asking for their keys as node ${nodeId}`,
  );
  const report = new ReconstructReport(log);
  const assembler = await openWorkingDir(
    options.outputDir,
    DEFAULT_MAX_FILE_SIZE,
    log,
    report,
  );
  const node = await CryptoNode.start(opened, createKafka(settings), settings);
  const why = new Map<string, number>();
  const stays = (reason: string) => why.set(reason, (why.get(reason) ?? 0) + 1);
  const unanswered = new Set<string>();
  let done: KeptMessage[] = [];
  // Deleted only once the chunks' records are saved: a crash retries them.
  const forgetDone = async () => {
    assembler.flush();
    for (const message of done) await forgetKeptMessage(message);
    done = [];
  };
  try {
    for (const [i, message] of kept.entries()) {
      if (i > 0 && i % PROGRESS_EVERY === 0) {
        log.info(`${i} of ${kept.length} kept messages tried`);
      }
      const refused = refusals.get(message.topic);
      if (refused) {
        stays(
          `node ${nodeId} may not read topic ${message.topic} (${refused})`,
        );
        continue;
      }
      const { value } = await readKeptMessage(message);
      const first = await node.decrypt(message.topic, value, "value", 0);
      const waitMs = unanswered.has(first.keyIndex ?? "")
        ? 0
        : options.wait_seconds * 1000;
      const result = first.plaintext
        ? first
        : await node.decrypt(message.topic, value, "value", waitMs);
      if (!result.plaintext) {
        unanswered.add(result.keyIndex ?? "");
        stays(
          `no key that opens it came within ${options.wait_seconds} s (is the node that sent them running?)`,
        );
        continue;
      }
      let chunk;
      try {
        chunk = decodeChunk(result.plaintext);
      } catch (error) {
        stays(`decrypted, but not a file chunk (${(error as Error).message})`);
        continue;
      }
      report.reportOutcome(
        await assembler.accept(chunk, () => Promise.resolve()),
      );
      done.push(message);
      if (done.length >= FORGET_EVERY) await forgetDone();
    }
    await forgetDone();
  } finally {
    assembler.close();
    await node.close();
  }
  log.info(
    `${
      kept.length - [...why.values()].reduce((a, b) => a + b, 0)
    } of ${kept.length} kept message(s) decrypted; ${report.reconstructed.length} file(s) rebuilt`,
  );
  return why;
}

/** Runs once over the kept messages; the exit code says whether some stay. */
async function main(): Promise<number> {
  const options = readCommandLine();
  const kept = await listKeptMessages(options.outputDir);
  if (kept.length === 0) {
    log.info(
      `No messages kept in ${
        join(options.outputDir, ENCRYPTED_MESSAGES_FOLDER)
      }; nothing to do`,
    );
    return 0;
  }
  // Alone in OUTPUT_DIR: a reconstructor there is one line, nothing changed.
  const lock = await claimOutputDir(
    options.outputDir,
    "reproduce",
    "OUTPUT_DIR",
  );
  const why = await retryKeptMessages(options, kept).finally(() =>
    lock.release()
  );
  if (why.size === 0) return 0;
  const total = [...why.values()].reduce((a, b) => a + b, 0);
  const reasons = [...why].map(([reason, n]) => `${n}: ${reason}`).join("; ");
  log.warn(
    `${total} message(s) stay encrypted in ${
      join(options.outputDir, ENCRYPTED_MESSAGES_FOLDER)
    }: ${reasons}`,
  );
  return EXIT_STILL_ENCRYPTED;
}

if (import.meta.main) {
  await runMain("reproduce_undecryptable_messages", main);
}

// A run while the sender's node is still off, then one once it runs again:
//
//   [reproduce_undecryptable_messages at 2026-12-03 07:00:00] 4 kept message(s) in out/rebuilt/ENCRYPTED_MESSAGES; asking for their keys as node lab_pc_2
//   [reproduce_undecryptable_messages at 2026-12-03 07:00:30] 0 of 4 kept message(s) decrypted; 0 file(s) rebuilt
//   [reproduce_undecryptable_messages at 2026-12-03 07:00:30] WARNING: 4 message(s) stay encrypted in out/rebuilt/ENCRYPTED_MESSAGES: 4: no key that opens it came within 30 s (is the node that sent them running?)
//   (exit code 3)
//
//   [reproduce_undecryptable_messages at 2026-12-03 08:00:00] 4 kept message(s) in out/rebuilt/ENCRYPTED_MESSAGES; asking for their keys as node lab_pc_2
//   [reproduce_undecryptable_messages at 2026-12-03 08:00:01] File story.bin successfully reconstructed locally from stream
//   [reproduce_undecryptable_messages at 2026-12-03 08:00:01] 4 of 4 kept message(s) decrypted; 1 file(s) rebuilt
