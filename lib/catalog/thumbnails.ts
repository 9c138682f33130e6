/**
 * Pictures of LeCroy waveforms: one SVG plot per capture (volts against
 * seconds, axes labelled with SI units, each segment of a sequence capture
 * drawn as its own trace) and an `index.html` that lists every waveform with
 * its key fields beside its picture.
 *
 * A capture may hold millions of samples; a plot keeps at most
 * {@linkcode MAX_PLOT_POINTS}: each pixel column keeps the lowest and the
 * highest sample that fall in it (min/max decimation), so that narrow
 * spikes stay visible. The samples are read as a stream (see
 * waveform_points.ts): a file of any size costs a few MiB.
 *
 * Every text from a file's header (instrument, units, ...) is escaped: a
 * header is untrusted input, and the SVG and index.html are opened in a
 * browser. Each axis is named by its unit (`time (ns)`, `frequency (MHz)`,
 * `voltage (mV)`, or the unit alone when it is none of those).
 *
 * @example
 * ```ts
 * import { ThumbnailGallery } from "./thumbnails.ts";
 * import { parseWavedesc } from "./lecroy.ts";
 *
 * const path = "../shared/data/lecroy/pulse.trc";
 * const gallery = await ThumbnailGallery.open("out/thumbnails");
 * await gallery.add(path, parseWavedesc(await Deno.readFile(path)));
 * await gallery.writeIndex(); // out/thumbnails/index.html
 * ```
 *
 * @module
 */
import { basename, join } from "node:path";
import { describeError, UserError } from "../common/cli.ts";
import { LecroyFormatError, type LecroyWaveform } from "./lecroy.ts";
import { plotPoints, type Trace } from "./waveform_points.ts";

export type { FieldValue, LecroyWaveform } from "./lecroy.ts";

/** The most points one plot draws, over all its segments. */
export const MAX_PLOT_POINTS = 3000;

const WIDTH = 640;
const HEIGHT = 360;
const MARGIN = { left: 72, right: 16, top: 30, bottom: 48 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;
/** Trace colours, cycled over the segments of a sequence. */
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];

/** One waveform in the gallery. */
interface GalleryItem {
  name: string;
  waveform: LecroyWaveform;
  /** The SVG file name, or undefined when the samples are not in the file. */
  svg?: string;
}

/** A folder of thumbnails and its index page. */
export class ThumbnailGallery {
  readonly #folder: string;
  readonly #items: GalleryItem[] = [];
  readonly #names = new Set<string>();

  private constructor(folder: string) {
    this.#folder = folder;
  }

  /**
   * Creates `folder` if needed.
   *
   * @example
   * ```ts
   * const gallery = await ThumbnailGallery.open("out/thumbnails");
   * ```
   */
  static async open(folder: string): Promise<ThumbnailGallery> {
    try {
      await Deno.mkdir(folder, { recursive: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) {
        throw new UserError(
          `this task may not write ${folder}; use a folder in out/`,
        );
      }
      throw new UserError(`cannot create ${folder}: ${describeError(error)}`);
    }
    return new ThumbnailGallery(folder);
  }

  /**
   * Draws the waveform of the `.trc` file at `path` into its own SVG (none
   * when its samples are not all in the file) and lists it in the index.
   * Returns the SVG's path, or why there is none (samples that turn out to be
   * cut off, a file that cannot be read) for one warning line; for a
   * waveform known to be incomplete, neither (its catalog row said why).
   *
   * @example
   * ```ts
   * import { parseWavedesc } from "./lecroy.ts";
   *
   * const path = "../shared/data/lecroy/pulse.trc";
   * const waveform = parseWavedesc(await Deno.readFile(path));
   * const gallery = await ThumbnailGallery.open("out/thumbnails");
   * const { svg } = await gallery.add(path, waveform); // "out/thumbnails/pulse.trc.svg"
   * ```
   */
  async add(
    path: string,
    waveform: LecroyWaveform,
  ): Promise<{ svg?: string; problem?: string }> {
    const name = basename(path);
    const item: GalleryItem = { name, waveform };
    this.#items.push(item);
    if (!waveform.complete) return {};
    let traces: Trace[];
    try {
      traces = await plotPoints(path, waveform, MAX_PLOT_POINTS);
    } catch (error) {
      if (
        !(error instanceof LecroyFormatError ||
          error instanceof Deno.errors.NotFound ||
          error instanceof Deno.errors.PermissionDenied)
      ) throw error;
      return { problem: describeError(error) };
    }
    item.svg = this.#uniqueName(`${name}.svg`);
    const svgPath = join(this.#folder, item.svg);
    await Deno.writeTextFile(svgPath, plotSvg(name, waveform, traces));
    return { svg: svgPath };
  }

  /** `wanted`, or `wanted` with a number, if two files share a name. */
  #uniqueName(wanted: string): string {
    let name = wanted;
    for (let n = 2; this.#names.has(name); n++) {
      name = wanted.replace(/\.svg$/, `-${n}.svg`);
    }
    this.#names.add(name);
    return name;
  }

  /**
   * Writes `index.html`: one row per waveform added, with its key fields and
   * its picture. Returns its path.
   *
   * @example
   * ```ts
   * const gallery = await ThumbnailGallery.open("out/thumbnails");
   * await gallery.writeIndex(); // "out/thumbnails/index.html"
   * ```
   */
  async writeIndex(): Promise<string> {
    const rows = this.#items.map((item) => {
      const f = item.waveform.fields;
      const picture = item.svg
        ? `<a href="${escapeXml(item.svg)}"><img src="${
          escapeXml(item.svg)
        }" width="320" alt="${escapeXml(item.name)}"></a>`
        : "(no samples in the file)";
      const cells = [
        item.name,
        f.instrument_name,
        f.wave_source,
        f.trigger_time,
        f.timebase,
        f.fixed_vert_gain,
        f.vert_coupling,
        `${f.wave_array_count} (${f.subarray_count} segment${
          f.subarray_count === 1 ? "" : "s"
        })`,
        `${formatSi(Number(f.horiz_interval), "s")}`,
      ].map((cell) => `<td>${escapeXml(String(cell))}</td>`);
      return `<tr>${cells.join("")}<td>${picture}</td></tr>`;
    });
    const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>LeCroy waveforms</title>
<style>
body { font-family: sans-serif; margin: 1em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: middle; }
th { background: #f0f0f0; }
</style></head><body>
<h1>LeCroy waveforms (${this.#items.length})</h1>
<table>
<tr><th>file</th><th>instrument</th><th>source</th><th>trigger time</th><th>timebase</th><th>vertical gain</th><th>coupling</th><th>points</th><th>sample interval</th><th>plot</th></tr>
${rows.join("\n")}
</table></body></html>
`;
    const path = join(this.#folder, "index.html");
    await Deno.writeTextFile(path, html);
    return path;
  }
}

/** SI prefixes for axis labels. */
const PREFIXES: [number, string][] = [
  [1e-12, "p"],
  [1e-9, "n"],
  [1e-6, "µ"],
  [1e-3, "m"],
  [1, ""],
  [1e3, "k"],
];

/** The prefix that suits values up to `magnitude`, e.g. [1e-9, "n"]. */
function prefixFor(magnitude: number): [number, string] {
  let chosen = PREFIXES[4];
  for (const prefix of PREFIXES) {
    if (magnitude >= prefix[0]) chosen = prefix;
  }
  return chosen;
}

/** A value with an SI prefix, e.g. `1 ns`. */
function formatSi(value: number, unit: string): string {
  // Rounded first, so that 9.9999997e-10 s reads "1 ns", not "1000 ps".
  const rounded = Number(value.toPrecision(4));
  const [scale, prefix] = prefixFor(Math.abs(rounded) || 1);
  return `${Number((rounded / scale).toPrecision(4))} ${prefix}${unit}`;
}

/** About six round tick values between `lo` and `hi` (1-2-5 steps). */
function ticks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ??
    10 * power;
  const first = Math.ceil(lo / step) * step;
  const values: number[] = [];
  for (let v = first; v <= hi + step * 1e-9; v += step) values.push(v);
  return values;
}

/** What an axis in a unit shows, for its label; by the unit, lower case. */
const QUANTITIES: Record<string, string> = {
  s: "time",
  hz: "frequency",
  v: "voltage",
  a: "current",
  w: "power",
  db: "level",
  ohm: "resistance",
};

/** An axis label: `time (ns)`, or the prefixed unit alone for an unknown one. */
function axisLabel(unit: string, prefix: string): string {
  // LeCroy writes seconds as "S"; SI writes "s" (and "S" is siemens).
  const shown = unit === "S" ? "s" : unit;
  const quantity = QUANTITIES[unit.toLowerCase()];
  const scaled = `${prefix}${shown}`;
  return escapeXml(quantity ? `${quantity} (${scaled})` : scaled);
}

/** The SVG plot of one waveform, its segments already decimated. */
function plotSvg(
  name: string,
  waveform: LecroyWaveform,
  traces: Trace[],
): string {
  const all = traces.flat();
  let [tMin, tMax] = extent(all.map((p) => p[0]));
  let [vMin, vMax] = extent(all.map((p) => p[1]));
  if (tMax === tMin) tMax = tMin + 1e-9;
  if (vMax === vMin) [vMin, vMax] = [vMin - 0.5, vMax + 0.5];
  const pad = (vMax - vMin) * 0.05;
  [vMin, vMax] = [vMin - pad, vMax + pad];
  const x = (t: number) => MARGIN.left + ((t - tMin) / (tMax - tMin)) * PLOT_W;
  const y = (v: number) =>
    MARGIN.top + (1 - (v - vMin) / (vMax - vMin)) * PLOT_H;
  const [tScale, tPrefix] = prefixFor(Math.max(Math.abs(tMin), Math.abs(tMax)));
  const [vScale, vPrefix] = prefixFor(Math.max(Math.abs(vMin), Math.abs(vMax)));
  const label = (v: number, scale: number) =>
    String(Number((v / scale).toPrecision(3)));
  const f = waveform.fields;
  const vUnit = String(f.vertunit || "V");
  const hUnit = String(f.horunit || "S");

  const parts: string[] = [];
  for (const t of ticks(tMin, tMax)) {
    parts.push(
      `<line x1="${x(t)}" y1="${MARGIN.top}" x2="${x(t)}" y2="${
        MARGIN.top + PLOT_H
      }" class="grid"/>`,
      `<text x="${x(t)}" y="${MARGIN.top + PLOT_H + 16}" text-anchor="middle">${
        label(t, tScale)
      }</text>`,
    );
  }
  for (const v of ticks(vMin, vMax)) {
    parts.push(
      `<line x1="${MARGIN.left}" y1="${y(v)}" x2="${
        MARGIN.left + PLOT_W
      }" y2="${y(v)}" class="grid"/>`,
      `<text x="${MARGIN.left - 6}" y="${y(v) + 4}" text-anchor="end">${
        label(v, vScale)
      }</text>`,
    );
  }
  traces.forEach((points, i) => {
    const d = points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`)
      .join(" ");
    parts.push(
      `<polyline points="${d}" fill="none" stroke="${
        COLOURS[i % COLOURS.length]
      }" stroke-width="1" stroke-opacity="${traces.length > 1 ? 0.6 : 1}"/>`,
    );
  });
  const sequence = traces.length > 1
    ? `, ${traces.length} segments overlaid`
    : "";
  const title =
    `${name}: ${f.instrument_name} ${f.wave_source}, ${f.trigger_time}${sequence}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">
<style>.grid { stroke: #e4e4e4; stroke-width: 1; } text { fill: #333; }</style>
<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>
<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="12">${
    escapeXml(title)
  }</text>
${parts.join("\n")}
<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#333"/>
<text x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 10}" text-anchor="middle">${
    axisLabel(hUnit, tPrefix)
  }</text>
<text transform="translate(16 ${
    MARGIN.top + PLOT_H / 2
  }) rotate(-90)" text-anchor="middle">${axisLabel(vUnit, vPrefix)}</text>
</svg>
`;
}

/** The lowest and highest of `values`. */
function extent(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * Text safe inside HTML and SVG, as element text or a quoted attribute:
 * markup characters escaped, and control characters (which XML does not
 * allow at all) shown as U+FFFD.
 */
function escapeXml(text: string): string {
  const escaped = text.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;").replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
  // deno-lint-ignore no-control-regex
  return escaped.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "\ufffd");
}
