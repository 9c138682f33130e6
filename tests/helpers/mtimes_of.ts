/**
 * Run by tests/file_times_test.ts as its own process: asks
 * `mtimeSeconds` for every file of the folder given, all at once (as an
 * upload of many small files does), and prints `{ name: seconds }` as JSON.
 *
 * @module
 */
import { mtimeSeconds } from "../../lib/transfer/file_times.ts";

const folder = Deno.args[0];
const names = [...Deno.readDirSync(folder)].map((entry) => entry.name);
names.push("gone.bin"); // never there: Deno's milliseconds come back
const seconds = await Promise.all(
  names.map((name) =>
    mtimeSeconds(
      `${folder}/${name}`,
      name === "gone.bin"
        ? 1_234_567
        : Deno.statSync(`${folder}/${name}`).mtime!.getTime(),
    )
  ),
);
console.log(
  JSON.stringify(Object.fromEntries(names.map((n, i) => [n, seconds[i]]))),
);
