/**
 * Where a file's chunks are in Kafka: for each partition the lowest and
 * highest offset, and the earliest and latest timestamp. The uploader notes
 * each chunk Kafka acknowledged (its partition and offset from the answer,
 * the time of the answer); the reconstructor each chunk it reads (partition,
 * offset and the message's timestamp). A few numbers per file, whatever its
 * size.
 *
 * @example
 * ```ts
 * import { ChunkPositions } from "./chunk_positions.ts";
 *
 * const positions = new ChunkPositions();
 * positions.note(0, 41, 1764720000000);
 * positions.note(0, 40, 1764720000500);
 * positions.summary().offsets; // "0:40-41"
 * ```
 *
 * @module
 */

/** A file's place in Kafka, as the catalog stores it. */
export interface PositionSummary {
  /** The partition, when every chunk is in one. */
  partition?: number;
  /** The lowest offset in that partition. */
  firstOffset?: number;
  /** The highest offset in that partition. */
  lastOffset?: number;
  /** Every partition, `partition:first-last`, comma-separated ('' for none). */
  offsets: string;
  /** ISO 8601: the earliest timestamp noted. */
  firstKafkaTime?: string;
  /** ISO 8601: the latest timestamp noted. */
  lastKafkaTime?: string;
}

/** The offsets and times of one file's chunks, noted one chunk at a time. */
export class ChunkPositions {
  readonly #ranges = new Map<number, [number, number]>();
  #firstMs = Infinity;
  #lastMs = -Infinity;

  /**
   * Notes one chunk at `offset` of `partition`, stamped `timestampMs`.
   *
   * @example
   * ```ts
   * new ChunkPositions().note(2, 17, Date.now());
   * ```
   */
  note(partition: number, offset: number, timestampMs?: number): void {
    const range = this.#ranges.get(partition);
    if (!range) this.#ranges.set(partition, [offset, offset]);
    else {
      range[0] = Math.min(range[0], offset);
      range[1] = Math.max(range[1], offset);
    }
    if (timestampMs !== undefined && Number.isFinite(timestampMs)) {
      this.#firstMs = Math.min(this.#firstMs, timestampMs);
      this.#lastMs = Math.max(this.#lastMs, timestampMs);
    }
  }

  /**
   * What was noted, for the catalog's transfer row.
   *
   * @example
   * ```ts
   * const positions = new ChunkPositions();
   * positions.note(1, 5);
   * positions.summary(); // { partition: 1, firstOffset: 5, lastOffset: 5, offsets: "1:5-5", ... }
   * ```
   */
  summary(): PositionSummary {
    const partitions = [...this.#ranges.keys()].sort((a, b) => a - b);
    const summary: PositionSummary = {
      offsets: partitions.map((p) => {
        const [first, last] = this.#ranges.get(p)!;
        return `${p}:${first}-${last}`;
      }).join(","),
    };
    if (partitions.length === 1) {
      const [first, last] = this.#ranges.get(partitions[0])!;
      Object.assign(summary, {
        partition: partitions[0],
        firstOffset: first,
        lastOffset: last,
      });
    }
    if (Number.isFinite(this.#firstMs)) {
      summary.firstKafkaTime = new Date(this.#firstMs).toISOString();
      summary.lastKafkaTime = new Date(this.#lastMs).toISOString();
    }
    return summary;
  }
}
