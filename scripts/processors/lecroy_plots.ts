/**
 * # A stream processor: one plot per LeCroy waveform, as files arrive
 *
 * ```sh
 * deno task process_data_files --processor scripts/processors/lecroy_plots.ts --processor_options plots_dir=out/plots
 * ```
 *
 * process_data_files calls `processFile(file)` once per complete `.trc`
 * file that arrives on the topic (and once for any other file, which this
 * processor leaves alone). It reads the waveform's header (WAVEDESC) with
 * the catalog's reader, draws its samples into `plots_dir/NAME.svg` (min/max
 * per column, read from disk as a stream, so a big capture needs little
 * memory), and rewrites `plots_dir/index.html`, a table of every waveform
 * drawn so far. A file that is not a LeCroy waveform throws: that file is
 * recorded as failed, and the run goes on.
 *
 * Options (`--processor_options key=value,...`): `plots_dir` (default
 * `out/plots`).
 *
 * @module
 */
import { parseWavedesc } from "../../lib/catalog/lecroy.ts";
import { ThumbnailGallery } from "../../lib/catalog/thumbnails.ts";
import type {
  DataFile,
  ProcessorContext,
} from "../../lib/transfer/processor_api.ts";

/** Where the plots go unless `plots_dir` says otherwise. */
const PLOTS_DIR = "out/plots";
/** How much of a file its header is read from (WAVEDESC and USERTEXT). */
const HEADER_BYTES = 64 * 1024;

/** The gallery of this run's plots, opened once by `setup`. */
let gallery: ThumbnailGallery;

/** Opens the plots folder before the first file. */
export async function setup(context: ProcessorContext): Promise<void> {
  gallery = await ThumbnailGallery.open(context.options.plots_dir ?? PLOTS_DIR);
}

/** The first bytes of the file: from memory, or read from disk. */
async function readHeader(file: DataFile): Promise<Uint8Array> {
  if (file.bytes) return file.bytes;
  using handle = await Deno.open(file.path);
  const head = new Uint8Array(Math.min(HEADER_BYTES, file.size));
  let filled = 0;
  while (filled < head.length) {
    const read = await handle.read(head.subarray(filled));
    if (read === null) break;
    filled += read;
  }
  return head.subarray(0, filled);
}

/** Draws one waveform, and says where its plot went. */
export async function processFile(file: DataFile): Promise<void> {
  if (!file.name.toLowerCase().endsWith(".trc")) return;
  const waveform = parseWavedesc(await readHeader(file), file.size);
  const { svg, problem } = await gallery.add(file.path, waveform);
  if (problem) throw new Error(`no plot for ${file.name}: ${problem}`);
  await gallery.writeIndex();
  console.log(`  plot of ${file.relativePath}: ${svg ?? "(no samples)"}`);
}
