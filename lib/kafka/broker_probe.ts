/**
 * Whether a Kafka broker answers: a metadata request, or a group lookup at
 * the coordinator, by a short-lived admin client of no patience.
 *
 * @example
 * ```ts
 * import { answersMetadata } from "./broker_probe.ts";
 *
 * console.log(await answersMetadata("127.0.0.1:9092"));
 * ```
 *
 * @module
 */
import { Admin } from "@platformatic/kafka";
import { platformaticOptions } from "./client.ts";
import { BROKER_USER, loadOrCreateSecrets } from "./local_security.ts";

/** How a probe logs in to a secure broker: its CA, and a SCRAM user. */
export interface ProbeLogin {
  /** TLS with this CA (PEM text). */
  ssl?: { ca: string };
  /** SCRAM-SHA-512 with this user. */
  sasl?: { mechanism: "scram-sha-512"; username: string; password: string };
}

/** Runs `ask` with a short-lived admin of no patience; false if anything fails. */
async function probe(
  brokers: string[],
  login: ProbeLogin,
  ask: (admin: Admin) => Promise<unknown>,
): Promise<boolean> {
  const admin = new Admin({
    ...platformaticOptions({
      ...login,
      brokers,
      clientId: "kafka_local-probe",
      connectionTimeout: 1000,
      requestTimeout: 2000,
    }),
    timeout: 2000,
    retries: 0,
  });
  try {
    await ask(admin);
    return true;
  } catch {
    return false;
  } finally {
    await admin.close().catch(() => {});
  }
}

/**
 * Whether the cluster's group coordinator answers (a group lookup works).
 *
 * @example
 * ```ts
 * if (!await coordinatorAnswers("127.0.0.1:9092", {})) console.log("not yet");
 * ```
 */
export function coordinatorAnswers(
  bootstrapServers: string,
  login: ProbeLogin,
): Promise<boolean> {
  return probe(
    bootstrapServers.split(","),
    login,
    // Finds the group's coordinator first, and asks it.
    (admin) => admin.describeGroups({ groups: ["kafka_local-probe"] }),
  );
}

/**
 * Whether a Kafka broker at `bootstrapServer` answers a metadata request
 * (`login`: TLS and SASL settings for a secure broker).
 *
 * @example
 * ```ts
 * if (!await answersMetadata("127.0.0.1:9092")) console.log("no broker");
 * ```
 */
export function answersMetadata(
  bootstrapServer: string,
  login: ProbeLogin = {},
): Promise<boolean> {
  return probe(
    [bootstrapServer],
    login,
    (admin) => admin.metadata({ topics: [], forceUpdate: true }),
  );
}

/**
 * What a probe of the cluster in `dir` needs to log in: nothing, or (when
 * `secure`) the cluster's CA and the brokers' own SCRAM user.
 *
 * @example
 * ```ts
 * const login = await probeLogin(".kafka/9092", false); // {}
 * ```
 */
export async function probeLogin(
  dir: string,
  secure: boolean,
): Promise<ProbeLogin> {
  if (!secure) return {};
  const secrets = await loadOrCreateSecrets(dir);
  return {
    ssl: { ca: await Deno.readTextFile(`${dir}/tls/ca.pem`) },
    sasl: {
      mechanism: "scram-sha-512",
      username: BROKER_USER,
      password: secrets.brokerPassword,
    },
  };
}
