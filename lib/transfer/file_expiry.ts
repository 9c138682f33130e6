/**
 * Files that never complete are given up after a bound, so they cannot hold
 * a partition's committed offset back for ever.
 *
 * A reconstructor commits a partition only up to the first chunk of its
 * oldest unfinished file (see partition_files.ts). A file that never
 * completes (a sender that died mid-file, or a hostile message declaring
 * 60 GiB and sending one chunk) would keep that commit, and the group's lag,
 * where it is, and every restart would read it again. So a file that got no
 * chunk for `--expire_seconds` (default {@linkcode DEFAULT_EXPIRE_SECONDS},
 * 10 minutes) while Kafka answered is given up: its partial copy is removed,
 * a warning names it, and the partition's commit moves past it at once.
 *
 * Why 10 minutes: the chunks of one file follow each other within seconds;
 * a sender waits for Kafka at most its delivery timeout (upload_data_file's
 * `--retry_seconds` 60; librdkafka's, under OpenMSIStream, 5 minutes) and
 * then gives up. Time while Kafka is away does not count. A file given up
 * whose missing chunks come later cannot be completed from them: upload it
 * again.
 *
 * @example
 * ```ts
 * import { startExpiry } from "./file_expiry.ts";
 * import type { ConsumerGroup } from "../kafka/consumer_group.ts";
 * import type { GroupMember } from "./group_member.ts";
import { printableName } from "../common/printable.ts";
 * declare const member: GroupMember, group: ConsumerGroup;
 *
 * const stop = startExpiry(member, group, 600, (line) => console.warn(line));
 * stop();
 * ```
 *
 * @module
 */
import type { ConsumerGroup } from "../kafka/consumer_group.ts";
import type { GroupMember } from "./group_member.ts";
import { printableName } from "../common/printable.ts";

/** A file with no chunk for this many seconds is given up, unless told otherwise. */
export const DEFAULT_EXPIRE_SECONDS = 600;

/** The reconstructor's `--expire_seconds` flag. */
export const EXPIRE_FLAG = {
  type: "number",
  default: DEFAULT_EXPIRE_SECONDS,
  min: 1,
  description:
    "give up an unfinished file that got no chunk for this many seconds (its commit moves on)",
} as const;

/** How often to look for silent files, at most (seconds). */
const LOOK_EVERY_MAX_MS = 10_000;

/**
 * Looks every few seconds for unfinished files that got no chunk for
 * `expireSeconds`, gives them up (warning once each through `warn`) and
 * commits past them (and commits again where an earlier commit of a quiet
 * partition was refused); returns the function that stops looking.
 *
 * @example
 * ```ts
 * import type { ConsumerGroup } from "../kafka/consumer_group.ts";
 * import type { GroupMember } from "./group_member.ts";
import { printableName } from "../common/printable.ts";
 * declare const member: GroupMember, group: ConsumerGroup;
 *
 * const stop = startExpiry(member, group, 600, console.warn);
 * ```
 */
export function startExpiry(
  member: GroupMember,
  group: ConsumerGroup,
  expireSeconds: number,
  warn: (line: string) => void,
): () => void {
  const idleMs = expireSeconds * 1000;
  const every = Math.max(250, Math.min(idleMs / 4, LOOK_EVERY_MAX_MS));
  let looking = false;
  const kafkaAnswers = async () => (await group.status()).lag !== undefined;
  const timer = setInterval(async () => {
    if (looking) return;
    looking = true;
    try {
      const given = await member.expireIdle(idleMs, kafkaAnswers);
      for (const file of given) warn(expiryWarning(file, expireSeconds));
      // Also makes good a commit Kafka refused on a partition gone quiet.
      group.recommit();
    } finally {
      looking = false;
    }
  }, every);
  return () => clearInterval(timer);
}

/**
 * The warning for a file given up.
 *
 * @example
 * ```ts
 * expiryWarning({ relativePath: "a.trc" }, 600);
 * // "gave up a.trc: no chunk for 600 s; partial copy removed, ..."
 * ```
 */
export function expiryWarning(
  file: { relativePath: string },
  expireSeconds: number,
): string {
  return `gave up ${
    printableName(file.relativePath)
  }: no chunk for ${expireSeconds} s; partial copy removed, its partition's commit moves past it (upload it again to rebuild it)`;
}
