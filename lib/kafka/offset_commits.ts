/**
 * A consumer's commit with metadata: one OffsetCommit request, sent through
 * @platformatic/kafka's own connections.
 *
 * The reconstructor stores beside each commit which files of the partition
 * are unfinished (see `commitPoint` in consumer_loop.ts), but
 * @platformatic/kafka's own `commit` sends no metadata. So the OffsetCommit
 * request goes out here, through the library's internal `kGetConnection` and
 * `kGetApi`, as the consumer's member of its current generation (Kafka refuses
 * it from a member of an older one).
 *
 * @example
 * ```ts
 * import type { Consumer } from "@platformatic/kafka";
 * import { commitWithMetadata } from "./offset_commits.ts";
 * declare const consumer: Consumer;
 *
 * await commitWithMetadata(consumer, "lecroy_files", 0, {
 *   offset: "42",
 *   metadata: null,
 * });
 * ```
 *
 * @module
 */
import {
  type Callback,
  type Connection,
  type Consumer,
  kGetApi,
  kGetConnection,
  type offsetCommitV8,
} from "@platformatic/kafka";
import type { CommitPoint } from "./consumer_loop.ts";

/** The @platformatic/kafka consumer that commits; lib/kafka only. */
export type CommittingConsumer = Consumer;

/** One topic's commits in an OffsetCommit request. */
type OffsetCommitRequestTopic = offsetCommitV8.OffsetCommitRequestTopic;

/**
 * Commits `point` on `partition` of `topic` with its metadata, as
 * `consumer`'s member of the current generation. Does nothing while the
 * consumer is in no group; rejects when Kafka refuses the commit (e.g. during
 * a rebalance) or cannot be reached.
 *
 * @example
 * ```ts
 * import type { Consumer } from "@platformatic/kafka";
 * import { commitWithMetadata } from "./offset_commits.ts";
 * declare const consumer: Consumer;
 *
 * await commitWithMetadata(consumer, "lecroy_files", 3, {
 *   offset: "1200",
 *   metadata: "unfinished files",
 * });
 * ```
 */
export async function commitWithMetadata(
  consumer: CommittingConsumer,
  topicName: string,
  partition: number,
  point: CommitPoint,
): Promise<void> {
  if (!consumer.memberId) return;
  const topic: OffsetCommitRequestTopic = {
    name: topicName,
    partitions: [{
      partitionIndex: partition,
      committedOffset: BigInt(point.offset),
      committedLeaderEpoch: -1,
      committedMetadata: point.metadata,
    }],
  };
  const coordinator = await consumer.findGroupCoordinator();
  const metadata = await consumer.metadata({ topics: [topicName] });
  const broker = metadata.brokers.get(coordinator);
  if (!broker) throw new Error(`no broker ${coordinator} in metadata`);
  const connection = await callbackPromise<Connection>((done) =>
    consumer[kGetConnection](broker, done)
  );
  const api = await callbackPromise<OffsetCommitApi>((done) =>
    consumer[kGetApi]("OffsetCommit", done)
  );
  await api.async(
    connection,
    consumer.groupId,
    consumer.generationId,
    consumer.memberId,
    null,
    [topic],
  );
}

/** The OffsetCommit API as @platformatic/kafka hands it out. */
interface OffsetCommitApi {
  async(
    connection: Connection,
    groupId: string,
    generationId: number,
    memberId: string,
    groupInstanceId: string | null,
    topics: OffsetCommitRequestTopic[],
  ): Promise<unknown>;
}

/** Calls a callback-style function and waits for its result. */
function callbackPromise<T>(call: (done: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    call((error, value) => error ? reject(error) : resolve(value as T))
  );
}
