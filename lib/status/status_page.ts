/**
 * The status page: one HTML document with its CSS and a little plain
 * JavaScript, no framework. The script opens `/events` (server-sent events),
 * and each event (a {@linkcode BoardView} as JSON) redraws the table: one row
 * per program with its host, last heartbeat (stale ones marked), group lag
 * and a small SVG bar chart of bytes per interval. Everything from the
 * heartbeats is put in with `textContent`, never as HTML.
 *
 * @example
 * ```ts
 * import { statusPageHtml } from "./status_page.ts";
 *
 * const html = statusPageHtml("heartbeats");
 * html.startsWith("<!doctype html>"); // true
 * ```
 *
 * @module
 */
import type { BoardView } from "./program_board.ts";

/** The path of the event stream the page listens to. */
export const EVENTS_PATH = "/events";

/** `text` safe inside HTML text and attribute values. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page's style: a plain table, stale rows greyed with a red mark. */
const CSS = `
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
#state { color: #666; margin-bottom: 1em; }
table { border-collapse: collapse; }
th, td { padding: .35em .8em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: middle; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.stale td { color: #999; }
tr.stale td.last { color: #b00; font-weight: bold; }
.badge { border-radius: 3px; padding: 0 .4em; font-size: .85em; }
.ok { background: #dfd; color: #060; }
.late { background: #fdd; color: #b00; }
svg rect { fill: #4a7bd0; }
tr.stale svg rect { fill: #bbb; }
`;

/** The page's script: listen, then redraw the table on every event. */
const SCRIPT = `
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const CHART_WIDTH = 160, CHART_HEIGHT = 28;

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function bytesText(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function ageText(seconds) {
  if (seconds < 90) return Math.round(seconds) + " s ago";
  if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
  return Math.round(seconds / 3600) + " h ago";
}

function chart(history) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", CHART_WIDTH);
  svg.setAttribute("height", CHART_HEIGHT);
  const max = Math.max(1, ...history.map((p) => p.bytes));
  const width = CHART_WIDTH / Math.max(history.length, 10);
  history.forEach((p, i) => {
    const bar = document.createElementNS(SVG, "rect");
    const height = Math.max(p.bytes > 0 ? 2 : 0.5, (p.bytes / max) * (CHART_HEIGHT - 2));
    bar.setAttribute("x", (i * width).toFixed(1));
    bar.setAttribute("y", (CHART_HEIGHT - height).toFixed(1));
    bar.setAttribute("width", Math.max(1, width - 1).toFixed(1));
    bar.setAttribute("height", height.toFixed(1));
    const title = document.createElementNS(SVG, "title");
    title.textContent = p.at + ": " + p.files + " files, " + p.messages + " messages, " + bytesText(p.bytes);
    bar.appendChild(title);
    svg.appendChild(bar);
  });
  return svg;
}

function draw(view) {
  const body = document.getElementById("programs");
  body.replaceChildren();
  document.getElementById("empty").hidden = view.programs.length > 0;
  for (const p of view.programs) {
    const row = body.insertRow();
    row.className = p.stale ? "stale" : "alive";
    row.dataset.program = p.id;
    cell(row, p.id, "id");
    cell(row, p.program);
    cell(row, p.host, "host");
    const last = cell(row, ageText(p.ageSeconds) + " ", "last");
    last.title = p.last;
    const badge = document.createElement("span");
    badge.className = "badge " + (p.stale ? "late" : "ok");
    badge.textContent = p.stale ? "stale" : "alive";
    last.appendChild(badge);
    cell(row, String(p.totals.files), "num files");
    cell(row, bytesText(p.totals.bytes), "num bytes");
    cell(row, p.groupLag === null ? "" : String(p.groupLag), "num lag");
    cell(row, "", "chart").appendChild(chart(p.history));
  }
  document.getElementById("state").textContent =
    "Updated " + new Date(view.now).toLocaleTimeString() + " - " +
    view.programs.length + " program(s), " +
    view.programs.filter((p) => p.stale).length + " stale";
}

const events = new EventSource("${EVENTS_PATH}");
events.onmessage = (event) => draw(JSON.parse(event.data));
events.onerror = () => {
  document.getElementById("state").textContent = "Connection lost; retrying...";
};
`;

/**
 * The whole page for the heartbeat topic `topic`.
 *
 * @example
 * ```ts
 * import { statusPageHtml } from "./status_page.ts";
 *
 * new Response(statusPageHtml("heartbeats"), {
 *   headers: { "content-type": "text/html; charset=utf-8" },
 * });
 * ```
 */
export function statusPageHtml(topic: string): string {
  const title = `Programs on ${escapeHtml(topic)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${title}</h1>
<div id="state">Waiting for the first update...</div>
<table>
<thead><tr><th>program ID</th><th>tool</th><th>host</th><th>last heartbeat</th>
<th>files</th><th>bytes</th><th>group lag</th><th>bytes per interval</th></tr></thead>
<tbody id="programs"></tbody>
</table>
<p id="empty">No heartbeats seen yet.</p>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/**
 * One server-sent event carrying `view`.
 *
 * @example
 * ```ts
 * import { serverSentEvent } from "./status_page.ts";
 *
 * serverSentEvent({ now: new Date(0).toISOString(), programs: [] });
 * // 'data: {"now":"1970-01-01T00:00:00.000Z","programs":[]}\n\n'
 * ```
 */
export function serverSentEvent(view: BoardView): string {
  return `data: ${JSON.stringify(view)}\n\n`;
}
