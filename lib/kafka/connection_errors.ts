/**
 * Why a connection to Kafka failed, in one line a user can act on.
 *
 * kafkajs reports a refused port, an untrusted certificate, a TLS client at a
 * plaintext port (and the reverse), a wrong password and SASL against a broker
 * without SASL as different error classes, often wrapped in a "retries
 * exceeded" error. This module looks through the wrapping and names the
 * setting to check. It never puts a password in a message; the user name is
 * shown, as any login prompt would.
 *
 * @example
 * ```ts
 * import { explainConnectionError } from "./connection_errors.ts";
 * import { parseKafkaConfig } from "./config.ts";
 *
 * const settings = parseKafkaConfig("[cluster]\nbootstrap.servers = h:9092\n", "x", () => undefined);
 * const error = Object.assign(new Error("Closed connection"), { name: "KafkaJSConnectionClosedError" });
 * explainConnectionError(error, settings);
 * // "h:9092 closed the connection: ..."
 * ```
 *
 * @module
 */
import { describeError } from "../common/cli.ts";

/** What a message needs from the settings (a `KafkaSettings` has it all). */
export interface ConnectionSettings {
  /** Where the settings came from (a config path), to name in the message. */
  source: string;
  /** The client options: the brokers, whether TLS is on, the SASL login. */
  client: {
    brokers?: unknown;
    ssl?: unknown;
    sasl?: { mechanism: string; username?: string };
  };
}

/** Error names that mean "could not get through to a broker". */
const UNREACHABLE = new Set([
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSNumberOfRetriesExceeded",
  "KafkaJSNonRetriableError",
  "KafkaJSBrokerNotFound",
  "KafkaJSRequestTimeoutError",
]);
/** What Node's TLS layer says about a certificate it does not trust. */
const UNTRUSTED_CERTIFICATE =
  /certificate|self[- ]signed|unable to verify|CERT_|altnames/i;
/** Kafka's answers to a SASL handshake it did not expect. */
const SASL_REFUSED = new Set([
  "ILLEGAL_SASL_STATE",
  "UNSUPPORTED_SASL_MECHANISM",
]);

/** The error and the ones it wraps, outermost first. */
function errorChain(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 5) {
    chain.push(current);
    const wrapped = current as Error & { originalError?: unknown };
    current = wrapped.cause ?? wrapped.originalError;
  }
  return chain;
}

/**
 * One line that says why connecting or logging in failed, or `undefined` when
 * `error` is something else (a bug, which should keep its stack).
 *
 * @example
 * ```ts
 * import { UserError } from "../common/cli.ts";
 * import { explainConnectionError } from "./connection_errors.ts";
 *
 * const settings = { source: "local", client: { brokers: ["127.0.0.1:9092"] } };
 * try {
 *   throw Object.assign(new Error("connect ECONNREFUSED"), { name: "KafkaJSConnectionError" });
 * } catch (error) {
 *   const why = explainConnectionError(error, settings);
 *   if (why) throw new UserError(why);
 *   throw error;
 * }
 * ```
 */
export function explainConnectionError(
  error: unknown,
  settings: ConnectionSettings,
): string | undefined {
  const chain = errorChain(error);
  if (chain.length === 0) return undefined;
  const brokers = Array.isArray(settings.client.brokers)
    ? settings.client.brokers.join(",")
    : "the brokers";
  const source = settings.source;
  const sasl = settings.client.sasl;
  const tls = Boolean(settings.client.ssl);
  const names = chain.map((e) => e.name);
  const deepest = chain.at(-1)!;
  const reason = describeError(deepest);

  if (names.includes("KafkaJSSASLAuthenticationError")) {
    const user = sasl?.username ?? "?";
    const mechanism = sasl?.mechanism.toUpperCase() ?? "SASL";
    return `authentication failed for user ${user} at ${brokers} (${mechanism}): check sasl.username and sasl.password in ${source}`;
  }
  const protocolError = chain.find((e) => e.name === "KafkaJSProtocolError") as
    | (Error & { type?: string })
    | undefined;
  if (protocolError && SASL_REFUSED.has(protocolError.type ?? "")) {
    return `${brokers} refused the SASL login (${protocolError.type}): that listener may not use SASL; check security.protocol in ${source}`;
  }
  if (!names.some((name) => UNREACHABLE.has(name))) return undefined;
  if (tls && UNTRUSTED_CERTIFICATE.test(reason)) {
    return `TLS: the certificate of ${brokers} is not trusted (${reason}); check ssl.ca.location in ${source}`;
  }
  if (tls && /TLS|SSL|secure/i.test(reason)) {
    return `TLS: no secure connection to ${brokers} (${reason}); is it a TLS listener? Check security.protocol in ${source}`;
  }
  if (!tls && names.includes("KafkaJSConnectionClosedError")) {
    return `${brokers} closed the connection (${reason}); it may expect TLS or SASL: check security.protocol in ${source}`;
  }
  return `cannot reach Kafka at ${brokers} (${reason}); is it running? Try: deno task kafka start`;
}
