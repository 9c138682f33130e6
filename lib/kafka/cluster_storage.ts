/**
 * What a local cluster's folder was made as (`cluster.json`: nodes, security,
 * cluster id), and formatting its nodes' storage once, with that id and, for
 * a secure cluster, its SCRAM users.
 *
 * @example
 * ```ts
 * import { describeShape, readClusterRecord } from "./cluster_storage.ts";
 *
 * const record = await readClusterRecord(".kafka/9092");
 * if (record) console.log(describeShape(record));
 * ```
 *
 * @module
 */
import {
  BROKER_USER,
  chooseUserCredentials,
  type LocalSecrets,
  randomSecret,
  scramArgument,
} from "./local_security.ts";
import { runJava } from "./maven_classpath.ts";

/** What a cluster folder was made as (`cluster.json`); fixed once formatted. */
export interface ClusterRecord {
  /** How many nodes. */
  nodes: number;
  /** Whether the client listeners speak SASL_SSL. */
  secure: boolean;
  /** The id all nodes' storage was formatted with. */
  clusterId: string;
}

/** What {@linkcode formatStorage} formats, and with what. */
export interface StorageOptions {
  /** The cluster's folder (`.kafka/<port>`), where `cluster.json` goes. */
  dir: string;
  /** Every node's folder, node 0 first. */
  nodeDirs: string[];
  /** Whether the cluster speaks SASL_SSL. */
  secure: boolean;
  /** What the folder was made as so far, if anything. */
  record: ClusterRecord | undefined;
  /** The Kafka jars, for Kafka's StorageTool. */
  classpath: string;
  /** The cluster's secrets, for a secure cluster. */
  secrets?: LocalSecrets;
  /** Told about each node formatted. */
  onProgress: (line: string) => void;
}

/**
 * Formats each node's storage the first time only, all with one cluster id;
 * a secure cluster gets its SCRAM users then. Writes and returns the new
 * `cluster.json` record; undefined when every node was formatted already.
 *
 * @example
 * ```ts
 * const made = await formatStorage({
 *   dir: ".kafka/9092",
 *   nodeDirs: [".kafka/9092"],
 *   secure: false,
 *   record: undefined,
 *   classpath: "/opt/kafka/libs/*",
 *   onProgress: console.log,
 * });
 * ```
 */
export async function formatStorage(
  options: StorageOptions,
): Promise<ClusterRecord | undefined> {
  const { dir, nodeDirs, secure, record, classpath, secrets, onProgress } =
    options;
  const unformatted: string[] = [];
  for (const nodeDir of nodeDirs) {
    const formatted = await Deno.stat(
      `${nodeDir}/data/meta.properties`,
    ).then(() => true, () => false);
    if (!formatted) unformatted.push(nodeDir);
  }
  if (unformatted.length === 0) return undefined;
  const fresh = unformatted.length === nodeDirs.length;
  const clusterId = (!fresh && record?.clusterId) ||
    (await runJava(classpath, ["kafka.tools.StorageTool", "random-uuid"]))
      .trim().split("\n").at(-1)!;
  const scram: string[] = [];
  if (secrets && fresh) {
    // The users live in the metadata log: added once, when it is created.
    const user = await chooseUserCredentials(
      dir,
      (name) => Deno.env.get(name),
    );
    for (
      const [name, password] of [
        [user.username, user.password],
        [BROKER_USER, secrets.brokerPassword],
      ]
    ) {
      scram.push("--add-scram", await scramArgument(name, password));
    }
  }
  for (const nodeDir of unformatted) {
    onProgress(`Formatting storage in ${nodeDir}/data ...`);
    await runJava(classpath, [
      "kafka.tools.StorageTool",
      "format",
      "-t",
      clusterId,
      "-c",
      `${nodeDir}/server.properties`,
      "--ignore-formatted",
      ...scram,
    ]);
  }
  const made = { nodes: nodeDirs.length, secure, clusterId };
  await Deno.writeTextFile(
    `${dir}/cluster.json`,
    JSON.stringify(made) + "\n",
  );
  return made;
}

/**
 * `cluster.json` of a cluster folder; a folder from before clusters is one
 * plain node; undefined when there is no cluster there yet.
 *
 * @example
 * ```ts
 * console.log(await readClusterRecord(".kafka/9092"));
 * ```
 */
export async function readClusterRecord(
  dir: string,
): Promise<ClusterRecord | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/cluster.json`));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    const meta = await Deno.readTextFile(`${dir}/data/meta.properties`);
    const clusterId = meta.match(/^cluster\.id=(.*)$/m)?.[1] ?? randomSecret();
    return { nodes: 1, secure: false, clusterId };
  } catch {
    return undefined;
  }
}

/**
 * "3-node SASL_SSL" and the like.
 *
 * @example
 * ```ts
 * describeShape({ nodes: 3, secure: true }); // "3-node SASL_SSL"
 * ```
 */
export function describeShape(
  shape: { nodes: number; secure: boolean },
): string {
  return `${shape.nodes}-node ${shape.secure ? "SASL_SSL" : "PLAINTEXT"}`;
}

/**
 * Free space below which `deno task kafka` warns: a broker whose disk fills
 * up stops, and the tools then wait out their retries.
 */
export const LOW_FREE_BYTES = 2_000_000_000;

/**
 * What `deno task kafka status` says about a cluster folder's disk: what the
 * folder holds and what its disk has left, and a warning when that is below
 * {@linkcode LOW_FREE_BYTES}.
 *
 * @example
 * ```ts
 * describeDiskUse(".kafka/9092", 73.1e9, 0.4e9);
 * // [".kafka/9092 holds 73100.0 MB; 0.4 GB free on its disk.",
 * //  "warning: only 400 MB free: a broker stops when its disk is full (deno task kafka wipe gives back every topic's space)"]
 * ```
 */
export function describeDiskUse(
  dir: string,
  usedBytes: number,
  freeBytes: number,
): string[] {
  const warning = lowSpaceWarning(freeBytes);
  return [
    `${dir} holds ${(usedBytes / 1e6).toFixed(1)} MB; ${
      (freeBytes / 1e9).toFixed(1)
    } GB free on its disk.`,
    ...warning ? [warning] : [],
  ];
}

/**
 * The warning `deno task kafka` gives when `freeBytes` is below
 * {@linkcode LOW_FREE_BYTES}; undefined otherwise.
 *
 * @example
 * ```ts
 * lowSpaceWarning(80e9); // undefined
 * ```
 */
export function lowSpaceWarning(freeBytes: number): string | undefined {
  if (freeBytes >= LOW_FREE_BYTES) return undefined;
  return `warning: only ${
    (freeBytes / 1e6).toFixed(0)
  } MB free: a broker stops when its disk is full (deno task kafka wipe gives back every topic's space)`;
}
