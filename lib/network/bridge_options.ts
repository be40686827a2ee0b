/**
 * The bridge driver's options (`network create -o KEY=VALUE`, the Engine
 * API's `Options`, compose's `driver_opts`), in docker's keys. Each is
 * checked when the network is created; the network keeps them as given
 * (its inspect shows them) and every attach reads them from there.
 * Keys docker's bridge driver does not know are kept and ignored, as docker
 * does; a known key with a value ctr cannot honour is refused.
 * @module
 */

import { ipv4ToInt } from "./ipam.ts";

/** docker's option keys of the bridge driver. */
export const BRIDGE_OPTION = {
  name: "com.docker.network.bridge.name",
  mtu: "com.docker.network.driver.mtu",
  masquerade: "com.docker.network.bridge.enable_ip_masquerade",
  icc: "com.docker.network.bridge.enable_icc",
  hostBinding: "com.docker.network.bridge.host_binding_ipv4",
  ifacePrefix: "com.docker.network.container_iface_prefix",
  defaultBridge: "com.docker.network.bridge.default_bridge",
} as const;

/** What the options of a network change in its bridge and its containers. */
export interface BridgeOptions {
  /** The bridge's name (checked by the network store: it must start with "ctr"). */
  readonly bridge?: string;
  /** The MTU of the containers' veth pairs. */
  readonly mtu?: number;
  /** Whether containers' outbound traffic is masqueraded (default true). */
  readonly masquerade: boolean;
  /** The host address ports are published on when `-p` names none. */
  readonly hostBinding?: string;
  /** The name of the container's interface, before its number (default "eth"). */
  readonly ifacePrefix: string;
}

function bool(key: string, v: string): boolean {
  // Go's strconv.ParseBool, which docker uses.
  if (["1", "t", "T", "true", "TRUE", "True"].includes(v)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(v)) return false;
  throw new Error(`Invalid value ${JSON.stringify(v)} for option ${key}: true or false`);
}

/** Checks a network's options and says what they mean; throws naming the option. */
export function parseBridgeOptions(opts: Readonly<Record<string, string>> = {}): BridgeOptions {
  const get = (k: string) => Object.hasOwn(opts, k) ? opts[k] : undefined;
  const name = get(BRIDGE_OPTION.name); // checked with the network's other bridge names
  let mtu: number | undefined;
  const m = get(BRIDGE_OPTION.mtu);
  if (m !== undefined) {
    mtu = /^\d{1,5}$/.test(m) ? Number(m) : NaN;
    // 68: the least IPv4 allows; 65535: the most a veth takes.
    if (!(mtu >= 68 && mtu <= 65535)) {
      throw new Error(
        `Invalid value ${JSON.stringify(m)} for option ${BRIDGE_OPTION.mtu}: 68-65535`,
      );
    }
  }
  const icc = get(BRIDGE_OPTION.icc);
  if (icc !== undefined && !bool(BRIDGE_OPTION.icc, icc)) {
    throw new Error(
      `Option ${BRIDGE_OPTION.icc}=false is not supported: ctr does not filter traffic ` +
        "between the ports of one bridge (use separate networks to keep containers apart)",
    );
  }
  const def = get(BRIDGE_OPTION.defaultBridge);
  if (def !== undefined && bool(BRIDGE_OPTION.defaultBridge, def)) {
    throw new Error(
      `Option ${BRIDGE_OPTION.defaultBridge}=true is not supported: ctr's default network is ` +
        "built in",
    );
  }
  const host = get(BRIDGE_OPTION.hostBinding);
  if (host !== undefined) {
    try {
      ipv4ToInt(host);
    } catch {
      throw new Error(
        `Invalid value ${JSON.stringify(host)} for option ${BRIDGE_OPTION.hostBinding}: ` +
          "an IPv4 address",
      );
    }
  }
  const prefix = get(BRIDGE_OPTION.ifacePrefix);
  if (prefix !== undefined && !/^[a-zA-Z][a-zA-Z0-9_-]{0,9}$/.test(prefix)) {
    throw new Error(
      `Invalid value ${JSON.stringify(prefix)} for option ${BRIDGE_OPTION.ifacePrefix}: ` +
        "a letter, then at most 9 letters, digits, '_' or '-'",
    );
  }
  const masq = get(BRIDGE_OPTION.masquerade);
  return {
    ...(name !== undefined && { bridge: name }),
    ...(mtu !== undefined && { mtu }),
    masquerade: masq === undefined ? true : bool(BRIDGE_OPTION.masquerade, masq),
    ...(host !== undefined && host !== "0.0.0.0" && { hostBinding: host }),
    ifacePrefix: prefix ?? "eth",
  };
}
