/**
 * Published ports: `-p [IP:][HOSTPORT:]CTRPORT[/tcp|/udp]` parsed and checked,
 * without I/O. Docker's forms:
 *
 *     -p 8080:80            every host address, port 8080 → the container's 80/tcp
 *     -p 127.0.0.1:8080:80  one host address
 *     -p 127.0.0.1::80      one host address, a free port chosen at start
 *     -p 80                 every host address, a free port
 *     -p 5353:53/udp        UDP
 * @module
 */

import { parseIp } from "./link.ts";

export type { PortMapping, PortProtocol } from "../config/container.ts";
import type { PortMapping, PortProtocol } from "../config/container.ts";

function parsePort(text: string, spec: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new Error(
      `invalid port spec ${JSON.stringify(spec)}: ${what} ${
        JSON.stringify(text)
      } is not a port (1-65535)`,
    );
  }
  return Number(text);
}

/** Parses one `-p` value; throws an error that quotes it and says what is wrong. */
export function parsePortSpec(spec: string): PortMapping {
  const bad = (why: string) => new Error(`invalid port spec ${JSON.stringify(spec)}: ${why}`);
  if (typeof spec !== "string" || spec.trim() === "") throw bad("empty");
  const slash = spec.lastIndexOf("/");
  let body = spec;
  let protocol: PortProtocol = "tcp";
  if (slash >= 0) {
    const p = spec.slice(slash + 1).toLowerCase();
    if (p !== "tcp" && p !== "udp") {
      throw bad(`protocol ${JSON.stringify(spec.slice(slash + 1))} is not tcp or udp`);
    }
    protocol = p;
    body = spec.slice(0, slash);
  }
  if (body.startsWith("[")) throw bad("IPv6 host addresses are not supported");
  const parts = body.split(":");
  if (parts.length > 3) throw bad("expected [IP:][HOSTPORT:]CTRPORT[/tcp|udp]");
  const containerPort = parsePort(parts[parts.length - 1], spec, "container port");
  let hostPort = 0;
  let hostIp: string | undefined;
  if (parts.length >= 2 && parts[parts.length - 2] !== "") {
    hostPort = parsePort(parts[parts.length - 2], spec, "host port");
  } else if (parts.length === 2) {
    throw bad("the host port is empty");
  }
  if (parts.length === 3) {
    const ip = parts[0];
    if (ip === "") throw bad("the host address is empty");
    let family: number;
    try {
      family = parseIp(ip).bytes.length;
    } catch {
      throw bad(`${JSON.stringify(ip)} is not an IPv4 address`);
    }
    if (family !== 4) throw bad("IPv6 host addresses are not supported");
    if (ip !== "0.0.0.0") hostIp = ip;
  }
  return { ...(hostIp === undefined ? {} : { hostIp }), hostPort, containerPort, protocol };
}

/** Parses every `-p` value and refuses two that claim the same host address, port and protocol. */
export function parsePortSpecs(specs: readonly string[]): PortMapping[] {
  const ports = specs.map(parsePortSpec);
  checkPortClashes(ports);
  return ports;
}

/** Throws when two mappings listen on the same host port and protocol on overlapping addresses. */
export function checkPortClashes(ports: readonly PortMapping[]): void {
  for (let i = 0; i < ports.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = ports[i], b = ports[j];
      if (a.hostPort === 0 || a.hostPort !== b.hostPort || a.protocol !== b.protocol) continue;
      if (a.hostIp === undefined || b.hostIp === undefined || a.hostIp === b.hostIp) {
        throw new Error(`Port ${formatPort(a)} is published twice (also as ${formatPort(b)})`);
      }
    }
  }
}

/** `IP:HOSTPORT:CTRPORT/PROTO`, as docker prints it. */
export function formatPort(p: PortMapping): string {
  return `${p.hostIp ?? "0.0.0.0"}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}

/** Whether a host address is on the loopback network (reached only through the proxy). */
export function isLoopback(ip: string | undefined): boolean {
  return ip !== undefined && /^127\./.test(ip);
}
