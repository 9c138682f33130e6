/**
 * # A stream processor: each file's metadata, as JSON, to another topic
 *
 * ```sh
 * deno task process_data_files --processor scripts/processors/metadata_reproducer.ts --processor_options output_topic_name=lecroy_metadata
 * ```
 *
 * OpenMSIStream's MetadataJSONReproducer, for this project's files: for each
 * complete file, a dictionary of metadata (name, folder, size, SHA-512,
 * modification time, where it was read; for a LeCroy `.trc` file, every
 * WAVEDESC field too) is produced as one JSON message to
 * `output_topic_name`, keyed `<subfolder with / as _>_<name>_processing_result`
 * as OpenMSIStream keys it. The file counts as processed only once Kafka
 * acknowledged its message; a file whose `.trc` header cannot be read, or
 * whose message Kafka refused, fails.
 *
 * Options (`--processor_options key=value,...`): `output_topic_name`
 * (default `metadata_json`). The brokers are the run's `--config`. With a
 * `[kafkacrypto]` section there, the JSON (key and value: names, hashes,
 * instrument settings) is encrypted end to end as the config's node, as
 * OpenMSIStream's reproducers do, and the node answers key requests for
 * the output topic while the run lasts (it must be allowed that topic).
 *
 * @module
 */
import { parseWavedesc } from "../../lib/catalog/lecroy.ts";
import { openTopic } from "../../lib/kafka/client.ts";
import { ChunkProducer } from "../../lib/kafka/chunk_producer.ts";
import type {
  DataFile,
  ProcessorContext,
} from "../../lib/transfer/processor_api.ts";
import {
  checkNodeFiles,
  TransferCrypto,
} from "../../lib/transfer/transfer_crypto.ts";

/** The topic the JSON goes to unless `output_topic_name` says otherwise. */
const OUTPUT_TOPIC = "metadata_json";
/** How much of a `.trc` file its header is read from. */
const HEADER_BYTES = 64 * 1024;

/** The producer, connected once by `setup`. */
let producer: ChunkProducer;
/** The config's `[kafkacrypto]` node, if it has one. */
let node: TransferCrypto | undefined;

/** Opens (creating if needed) the output topic and connects a producer. */
export async function setup(context: ProcessorContext): Promise<void> {
  const topic = context.options.output_topic_name ?? OUTPUT_TOPIC;
  const { kafka, settings } = await openTopic(
    context.config,
    topic,
    console,
    (settings) => checkNodeFiles(settings, topic),
  );
  node = await TransferCrypto.open(settings, kafka, topic);
  await node?.answerRequests(topic);
  const sealer = node;
  producer = await ChunkProducer.start(kafka, settings, {
    seal: sealer && ((key, value) => sealer.seal(topic, key, value)),
    topic,
    workers: 1,
    maxQueuedChunks: 100,
    retrySeconds: 60,
  });
}

/** The first bytes of the file: from memory, or read from disk. */
async function readHeader(file: DataFile): Promise<Uint8Array> {
  if (file.bytes) return file.bytes.subarray(0, HEADER_BYTES);
  using handle = await Deno.open(file.path);
  const head = new Uint8Array(Math.min(HEADER_BYTES, file.size));
  const read = await handle.read(head) ?? 0;
  return head.subarray(0, read);
}

/** The metadata dictionary of one file. */
async function metadataOf(file: DataFile): Promise<Record<string, unknown>> {
  const metadata: Record<string, unknown> = {
    filename: file.name,
    subfolder: file.subfolder,
    size: file.size,
    sha512: file.sha512,
    mtime: file.mtimeMs === undefined ? null : file.mtimeMs / 1000,
    kafka: file.kafka ?? null,
  };
  if (file.name.toLowerCase().endsWith(".trc")) {
    const waveform = parseWavedesc(await readHeader(file), file.size);
    Object.assign(metadata, waveform.fields, { usertext: waveform.usertext });
  }
  return metadata;
}

/** Produces one file's metadata and waits until Kafka acknowledged it. */
export async function processFile(file: DataFile): Promise<void> {
  const key = `${
    file.subfolder.replaceAll("/", "_")
  }_${file.name}_processing_result`;
  const value = new TextEncoder().encode(
    JSON.stringify(await metadataOf(file)),
  );
  await new Promise<void>((resolve, failed) =>
    void producer.send({ key, value, delivered: () => resolve(), failed })
      .catch(failed)
  );
}

/** Sends what is queued and disconnects. */
export async function teardown(): Promise<void> {
  await producer?.close();
  await node?.close();
}
