/**
 * Watching a group of reconstructors (a scale-out fleet) from a test: what
 * each member says it owns when typed `check`, when the members share the
 * partitions, and which files landed in which member's folder.
 */
import type { Reconstructor } from "./kafka.ts";
import { ROOT } from "./run_task.ts";

/** Types `check` and returns the share line it printed (fails after 20 s). */
export async function shareLine(task: Reconstructor): Promise<string> {
  const before = task.stdout.text.length;
  await task.type("check");
  const pattern = /owns partition\(s\) [^\n]*group lag (\d+|unknown) message/;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !task.exited) {
    const found = task.stdout.text.slice(before).match(pattern);
    if (found) return found[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer to check:\n${task.stdout.text}`);
}

/**
 * Waits until the members together own all `partitions`, each at least one
 * (a member that does not answer `check` in time counts as owning none).
 */
export async function waitUntilShared(
  members: Reconstructor[],
  partitions: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const owned = await Promise.all(members.map(async (member) => {
      const line = await shareLine(member).catch(() => "");
      return line.match(/owns partition\(s\) ([\d,]+|none);/)?.[1] ?? "none";
    }));
    const all = new Set(owned.flatMap((o) => o.split(",")));
    all.delete("none");
    if (all.size === partitions && owned.every((o) => o !== "none")) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("the members never shared the partitions");
}

/** The rebuilt files in a WORKINGDIR (state folder left out; none before it exists). */
export async function rebuiltIn(workingDir: string): Promise<string[]> {
  const names: string[] = [];
  const folder = `${ROOT}${workingDir}`;
  if (!await Deno.stat(folder).then(() => true, () => false)) return names;
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isFile) names.push(entry.name);
  }
  return names.sort();
}

/**
 * Waits until every file of `names` is in one of `dirs`: a guard against a
 * hang, not a speed check (a killed member holds its partitions until Kafka
 * drops it, and a loaded machine is slow).
 */
export async function waitForRebuilt(
  names: string[],
  dirs: string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = new Set((await Promise.all(dirs.map(rebuiltIn))).flat());
    if (names.every((name) => found.has(name))) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  const found = await Promise.all(dirs.map(rebuiltIn));
  throw new Error(`not every file was rebuilt in time: ${found.join(" | ")}`);
}
