/**
 * The name files a container gets: /etc/hosts, /etc/resolv.conf and
 * /etc/hostname, made as docker makes them and written into the container's
 * directory on the host (`<dir>/hosts`, `<dir>/resolv.conf`, `<dir>/hostname`)
 * for the runtime to bind-mount. The contents are pure functions.
 *
 * Files are rewritten in place (truncate and write, never rename): a bind
 * mount holds the inode, so a container sees a rewritten hosts file when a
 * peer joins or leaves its network.
 * @module
 */

import { parseIp } from "./link.ts";

/** A name → address line of a hosts file. */
export interface HostEntry {
  readonly ip: string;
  readonly names: readonly string[];
}

/** What a container's /etc/hosts holds. */
export interface HostsOptions {
  /** The container's own address; without one (no network) only the fixed lines are written. */
  readonly ip?: string;
  readonly hostname?: string;
  /** Its NIS domain name: the address gets `hostname.domainname` first, as docker writes it. */
  readonly domainname?: string;
  /** The container's name, and its aliases on its network. */
  readonly name?: string;
  readonly aliases?: readonly string[];
  /** Other containers of a user-defined network. */
  readonly peers?: readonly HostEntry[];
  /** `--add-host` entries. */
  readonly extra?: readonly HostEntry[];
}

/** The lines every hosts file starts with (docker's). */
export const HOSTS_HEADER = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "ff00::0\tip6-mcastprefix",
  "ff02::1\tip6-allnodes",
  "ff02::2\tip6-allrouters",
] as const;

function uniqueNames(names: readonly (string | undefined)[]): string[] {
  return [...new Set(names.filter((n): n is string => !!n && /^[^\s#]+$/.test(n)))];
}

/** The text of a container's /etc/hosts. */
export function hostsContent(o: HostsOptions): string {
  const lines: string[] = [...HOSTS_HEADER];
  const line = (ip: string, names: readonly (string | undefined)[]) => {
    const n = uniqueNames(names);
    if (n.length > 0) lines.push(`${ip}\t${n.join(" ")}`);
  };
  for (const e of o.extra ?? []) line(e.ip, e.names);
  const fqdn = o.hostname && o.domainname ? `${o.hostname}.${o.domainname}` : undefined;
  if (o.ip !== undefined) line(o.ip, [fqdn, o.hostname, o.name, ...(o.aliases ?? [])]);
  for (const p of o.peers ?? []) if (p.ip !== o.ip) line(p.ip, p.names);
  return lines.join("\n") + "\n";
}

/** The public resolvers a container gets when the host has only local ones (docker's). */
export const FALLBACK_NAMESERVERS = ["8.8.8.8", "8.8.4.4"] as const;

/** The parts of a resolv.conf that matter here. */
export interface ResolvConf {
  readonly nameservers: string[];
  readonly search: string[];
  readonly options: string[];
}

/** Reads resolv.conf text: nameserver, search (or domain) and options lines. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split("\n")) {
    const [key, ...values] = raw.replace(/[#;].*$/, "").trim().split(/\s+/);
    if (key === "nameserver" && values[0]) out.nameservers.push(values[0]);
    else if (key === "search" || key === "domain") {
      out.search.splice(0, out.search.length, ...values);
    } else if (key === "options") out.options.push(...values);
  }
  return out;
}

/** Whether a nameserver is on the host's loopback (unreachable from a container's network). */
export function isLocalNameserver(ip: string): boolean {
  try {
    const { bytes } = parseIp(ip);
    if (bytes.length === 4) return bytes[0] === 127;
    return bytes.every((b, i) => b === (i === 15 ? 1 : 0));
  } catch {
    return false; // not an address: left to the resolver to refuse
  }
}

/** What a container's /etc/resolv.conf holds. */
export interface ResolvOptions {
  /** `--dns`: replaces the host's nameservers. */
  readonly dns?: readonly string[];
  readonly dnsSearch?: readonly string[];
  readonly dnsOptions?: readonly string[];
  /** Keep IPv6 nameservers (the container has IPv6); default false. */
  readonly ipv6?: boolean;
}

/** Whether `--dns`, `--dns-search` or `--dns-option` was given. */
function dnsFlagsGiven(o: ResolvOptions): boolean {
  return !!(o.dns?.length || o.dnsSearch?.length || o.dnsOptions?.length);
}

/**
 * A container's /etc/resolv.conf from the host's: the host's search and
 * options, its nameservers but those on loopback (127.0.0.0/8, ::1) and, as
 * the container has no IPv6, the IPv6 ones; 8.8.8.8 and 8.8.4.4 when none is
 * left. `--dns`, `--dns-search`, `--dns-option` override, and the file is
 * then laid out as docker builds it (search, nameservers, options).
 */
export function resolvConfContent(hostText: string, o: ResolvOptions = {}): string {
  const host = parseResolvConf(hostText);
  let servers = o.dns?.length
    ? [...o.dns]
    : host.nameservers.filter((ns) => !isLocalNameserver(ns) && (o.ipv6 || !ns.includes(":")));
  if (servers.length === 0) servers = [...FALLBACK_NAMESERVERS];
  // `--dns-search .` means no search domains at all (docker's).
  const search = o.dnsSearch?.length ? o.dnsSearch.filter((d) => d !== ".") : host.search;
  const options = o.dnsOptions?.length ? o.dnsOptions : host.options;
  // docker builds the file anew when a flag is given: search first. Otherwise it keeps the
  // host's (nameservers first).
  const given = dnsFlagsGiven(o);
  const lines = servers.map((s) => `nameserver ${s}`);
  if (search.length > 0) {
    if (given) lines.unshift(`search ${search.join(" ")}`);
    else lines.push(`search ${search.join(" ")}`);
  }
  if (options.length > 0) lines.push(`options ${options.join(" ")}`);
  return lines.join("\n") + "\n";
}

/** The text of /etc/hostname. */
export function hostnameContent(hostname: string): string {
  return `${hostname}\n`;
}

/**
 * The host's resolv.conf to start from: /etc/resolv.conf, unless it names
 * only systemd-resolved's stub (127.0.0.53), then the real upstream list
 * systemd-resolved keeps.
 */
export function hostResolvConfPath(): string {
  const main = "/etc/resolv.conf";
  const upstream = "/run/systemd/resolve/resolv.conf";
  try {
    const ns = parseResolvConf(Deno.readTextFileSync(main)).nameservers;
    if (ns.length > 0 && ns.every((s) => s === "127.0.0.53")) {
      Deno.statSync(upstream);
      return upstream;
    }
  } catch { /* fall back to /etc/resolv.conf */ }
  return main;
}

function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/**
 * The hosts file of a container on the host's network, as docker writes it:
 * a copy of the host's; with `--add-host` entries, docker's fixed lines and
 * those entries instead.
 */
export function hostNetworkHosts(hostText: string, extra: readonly HostEntry[]): string {
  if (extra.length > 0) return hostsContent({ extra });
  return hostText === "" ? hostsContent({}) : hostText.replace(/\n?$/, "\n");
}

/** The three files in a container's directory. */
export interface NetworkFiles {
  readonly hosts: string;
  readonly resolvConf: string;
  readonly hostname: string;
}

/** Where the files of a container directory are. */
export function networkFilePaths(dir: string): NetworkFiles {
  return { hosts: `${dir}/hosts`, resolvConf: `${dir}/resolv.conf`, hostname: `${dir}/hostname` };
}

/** Writes a file in place (the inode stays: bind mounts of it see the new text). */
export function writeInPlace(path: string, text: string): void {
  Deno.writeTextFileSync(path, text, { mode: 0o644 });
}

/** Everything writeNetworkFiles needs. */
export interface NetworkFilesOptions extends HostsOptions, ResolvOptions {
  /** On the host's network (`--net=host`): the host's hosts and resolv.conf, as docker gives them. */
  readonly hostNetwork?: boolean;
  readonly hostname: string;
  /** The host's resolv.conf text; read from hostResolvConfPath() when left out. */
  readonly hostResolvConf?: string;
}

/** Writes hosts, resolv.conf and hostname into `dir` (created when missing); returns their paths. */
export function writeNetworkFiles(dir: string, o: NetworkFilesOptions): NetworkFiles {
  Deno.mkdirSync(dir, { recursive: true });
  const paths = networkFilePaths(dir);
  if (o.hostNetwork) {
    writeInPlace(paths.hosts, hostNetworkHosts(readOr("/etc/hosts"), o.extra ?? []));
    // Its nameservers are the host's, on the host's loopback too: the file as it is, unless
    // the flags say otherwise (then built as for any container, loopback servers kept).
    const hostResolv = o.hostResolvConf ?? readOr("/etc/resolv.conf");
    writeInPlace(
      paths.resolvConf,
      dnsFlagsGiven(o) ? resolvConfContent(hostResolv, { ...o, ipv6: true }) : hostResolv,
    );
    writeInPlace(paths.hostname, hostnameContent(o.hostname));
    return paths;
  }
  const hostText = o.hostResolvConf ?? readOr(hostResolvConfPath());
  writeInPlace(paths.hosts, hostsContent(o));
  writeInPlace(paths.resolvConf, resolvConfContent(hostText, o));
  writeInPlace(paths.hostname, hostnameContent(o.hostname));
  return paths;
}
