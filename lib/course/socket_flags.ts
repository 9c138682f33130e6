/**
 * The `--host`, `--port` and `--protocol` flags every streaming script shares,
 * and the address they describe. A port outside 1..65535 is a usage error
 * (one line, exit code 2) before any socket is opened, and so is an address
 * the task's `--allow-net` does not grant ({@linkcode requireNetAccess}).
 *
 * @example
 * ```ts
 * import { parseFlags } from "../common/flags.ts";
 * import { requireNetAccess, socketFlags } from "./socket_flags.ts";
 *
 * const { flags } = parseFlags(Deno.args, {
 *   program: "listen",
 *   summary: "Print what arrives.",
 *   flags: socketFlags({ protocol: "udp", hostname: "127.0.0.1", port: 9999 }),
 * });
 * flags.protocol; // "udp" | "tcp"
 * requireNetAccess(flags.host, flags.port);
 * ```
 *
 * @module
 */
import { UsageError } from "../common/cli.ts";

/** The two transports the course compares. */
export type Protocol = "udp" | "tcp";

/** The transports, for a `--protocol` flag's choices. */
export const PROTOCOLS: readonly Protocol[] = ["udp", "tcp"];

/** The flag definitions {@linkcode socketFlags} returns. */
export type SocketFlagDefs = {
  /** `--host`: where the listener is. */
  host: { type: "string"; default: string; description: string };
  /** `--port`: the listener's port. */
  port: {
    type: "number";
    default: number;
    integer: true;
    min: number;
    max: number;
    description: string;
  };
  /** `--protocol`: `udp` or `tcp`. */
  protocol: {
    type: "string";
    default: string;
    choices: readonly Protocol[];
    description: string;
  };
};

/**
 * The `--host`, `--port` and `--protocol` flags every streaming script shares,
 * for `parseFlags`, with the script's constants as defaults.
 *
 * @example
 * ```ts
 * import { parseFlags } from "../common/flags.ts";
 *
 * const { flags } = parseFlags(Deno.args, {
 *   program: "listen",
 *   summary: "Print what arrives.",
 *   flags: { ...socketFlags({ protocol: "udp", hostname: "127.0.0.1", port: 9999 }) },
 * });
 * flags.port; // number
 * ```
 */
export function socketFlags(defaults: SocketAddress): SocketFlagDefs {
  return {
    host: {
      type: "string",
      default: defaults.hostname,
      description: "the listener's host name or address",
    },
    port: {
      type: "number",
      default: defaults.port,
      integer: true,
      min: 1,
      max: 65535,
      description: "the listener's port",
    },
    protocol: {
      type: "string",
      default: defaults.protocol,
      choices: PROTOCOLS,
      description: "UDP: connectionless; TCP: connected, in order",
    },
  };
}

/** Where to send to, or where to listen. */
export interface SocketAddress {
  /** Which transport to use. */
  protocol: Protocol;
  /** A host name (`localhost`) or an IPv4 address (`127.0.0.1`). */
  hostname: string;
  /** The port number; 0 lets the system pick a free one for a receiver. */
  port: number;
}

/**
 * Throws a {@linkcode UsageError} (one line, exit code 2) when this task's
 * `--allow-net` does not grant `hostname:port`: the course tasks may only
 * reach this machine. Checked before a socket is opened, because node:dgram
 * reports a refused permission later, as an error nobody catches.
 *
 * @example
 * ```ts
 * requireNetAccess("127.0.0.1", 9999); // fine under --allow-net=127.0.0.1
 * ```
 */
export function requireNetAccess(hostname: string, port: number): void {
  const status = Deno.permissions.querySync({
    name: "net",
    host: `${hostname}:${port}`,
  });
  if (status.state === "granted") return;
  throw new UsageError(
    `--host ${hostname}: this task may only use this machine (127.0.0.1 or localhost), as its --allow-net says`,
  );
}
