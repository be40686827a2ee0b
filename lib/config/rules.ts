/**
 * The rules a container's settings must follow, written once. The three
 * readers (`run` flags, YAML specs, OCI config.json) and the check of the
 * normalized config all ask these, so `-p 80/TCP` and `ports: ["80/TCP"]`
 * get the same answer. A rule returns the problem as one sentence, or
 * undefined when the value is fine; a parser throws that sentence.
 * @module
 */

/** docker's restart policies: no, on-failure[:N], always, unless-stopped. */
export interface RestartPolicy {
  readonly name: "no" | "on-failure" | "always" | "unless-stopped";
  /** on-failure: the most restarts (0: no limit). */
  readonly maxRetries: number;
}

/** Parses a restart policy (`--restart`, `restart:`); throws what is wrong. */
export function parseRestartPolicy(v: string): RestartPolicy {
  const m = v.match(/^(no|always|unless-stopped|on-failure)(?::(\d+))?$/);
  if (!m || (m[2] !== undefined && m[1] !== "on-failure")) {
    throw new Error(
      `invalid restart policy ${
        JSON.stringify(v)
      }: expected no, always, unless-stopped or on-failure[:N]`,
    );
  }
  return { name: m[1] as RestartPolicy["name"], maxRetries: m[2] ? Number(m[2]) : 0 };
}

const HOSTNAME = /^[a-zA-Z0-9][a-zA-Z0-9.-]{0,62}$/;
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** The longest network name. */
export const NETWORK_NAME_MAX = 64;

/** A hostname (and domainname): what sethostname takes and docker allows. */
export function hostnameProblem(name: string): string | undefined {
  if (HOSTNAME.test(name)) return undefined;
  return `invalid hostname ${JSON.stringify(name)}: at most 64 letters, digits, dots and dashes`;
}

/** A container's name: docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`. */
export function containerNameProblem(name: string): string | undefined {
  if (NAME.test(name)) return undefined;
  return `invalid container name ${JSON.stringify(name)}: ` +
    "letters, digits, '_', '.' and '-', starting with a letter or digit";
}

/** A network's name (the bridge is named after it, so it stays short). */
export function networkNameProblem(name: string): string | undefined {
  if (NAME.test(name) && name.length <= NETWORK_NAME_MAX) return undefined;
  return `invalid network name ${JSON.stringify(name)}: at most ${NETWORK_NAME_MAX} ` +
    "letters, digits, '_', '.' and '-', starting with a letter or digit";
}

/** What a container may not mount on: its root, or a path that climbs out with "..". */
export function destinationProblem(dst: string): string | undefined {
  if (!dst.startsWith("/")) return `invalid mount destination ${JSON.stringify(dst)}: not absolute`;
  if (dst === "/" || dst.split("/").includes("..")) {
    return `invalid mount destination ${JSON.stringify(dst)}`;
  }
  return undefined;
}

/** An environment entry `NAME=value` (or `NAME`, taken from ctr's own environment). */
export function envProblem(entry: string): string | undefined {
  const eq = entry.indexOf("=");
  const key = eq < 0 ? entry : entry.slice(0, eq);
  if (key === "") return `invalid environment variable ${JSON.stringify(entry)}: no name`;
  if (/\s/.test(key)) return `invalid environment variable name ${JSON.stringify(key)}`;
  return undefined;
}

/** A label `KEY=value` (or `KEY`). */
export function labelProblem(entry: string): string | undefined {
  return entry === "" || entry.startsWith("=")
    ? `invalid label ${JSON.stringify(entry)}`
    : undefined;
}

/** `--label` values (`KEY=value` or `KEY`) as a record; throws on a label without a key. */
export function parseLabels(list: readonly string[] | undefined): Record<string, string> {
  for (const l of list ?? []) {
    const problem = labelProblem(l);
    if (problem) throw new Error(`${problem}: expected KEY=VALUE`);
  }
  return keyValues(list ?? []);
}

/** `-o KEY=VALUE` driver options (repeatable) as a record; throws on an item without `=`. */
export function keyValueOptions(items: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new Error(`Invalid option ${JSON.stringify(item)}: KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** Splits `KEY=value` entries into a record (`KEY` alone: an empty value). */
export function keyValues(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const eq = e.indexOf("=");
    if (eq < 0) out[e] = "";
    else out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** A volume is a directory: its name cannot be longer than a file name. */
export const VOLUME_NAME_MAX = 255;

/** A named volume's name: docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. */
export function isVolumeName(s: string): boolean {
  return s.length <= VOLUME_NAME_MAX && VOLUME_NAME.test(s);
}

/** A `-v` / `volumes:` entry, parsed. */
export interface VolumeSpec {
  /** A host path (absolute), a volume name, or undefined for an anonymous volume. */
  readonly source?: string;
  /** Whether the source names a volume rather than a host path. */
  readonly named: boolean;
  readonly destination: string;
  readonly readonly: boolean;
}

/**
 * Parses docker's `[SRC:]DST[:MODE]`: SRC an absolute host path or a volume
 * name (or, in a YAML spec, a path relative to the file: `relativeSources`),
 * DST absolute, MODE a comma list of ro, rw, z, Z. `/data` alone is an
 * anonymous volume. Throws what is wrong.
 */
export function parseVolumeSpec(
  spec: string,
  opts: { relativeSources?: boolean } = {},
): VolumeSpec {
  const bad = (why: string) => new Error(`invalid volume ${JSON.stringify(spec)}: ${why}`);
  const parts = spec.split(":");
  if (parts.length === 1 && spec.startsWith("/")) {
    const problem = destinationProblem(spec);
    if (problem) throw new Error(problem);
    return { named: true, destination: spec, readonly: false };
  }
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
    throw bad("expected HOST-PATH:CONTAINER[:ro] or NAME:CONTAINER[:ro]");
  }
  const [src, dst, mode = "rw"] = parts;
  if (!dst.startsWith("/")) throw bad("the container path must be absolute");
  const modes = mode.split(",");
  for (const f of modes) {
    if (!["ro", "rw", "z", "Z"].includes(f)) {
      throw new Error(`invalid volume mode ${JSON.stringify(mode)}: expected ro or rw`);
    }
  }
  const relative = src === "." || src === ".." || /^\.\.?\//.test(src);
  const named = !src.startsWith("/") && !(opts.relativeSources && relative);
  if (named && !isVolumeName(src)) {
    throw bad(
      `${JSON.stringify(src)} is no volume name (letters, digits, '_', '.' and '-', ` +
        `at least 2) and no path (absolute${opts.relativeSources ? ", or starting with ./" : ""})`,
    );
  }
  const problem = destinationProblem(dst);
  if (problem) throw new Error(problem);
  return { source: src, named, destination: dst, readonly: modes.includes("ro") };
}

/** A `--tmpfs` / `tmpfs:` entry `PATH[:OPTIONS]`, parsed; throws what is wrong. */
export function parseTmpfsSpec(spec: string): { destination: string; options: string } {
  const [dst, ...rest] = spec.split(":");
  if (!dst.startsWith("/")) {
    throw new Error(`invalid tmpfs ${JSON.stringify(spec)}: the path must be absolute`);
  }
  const problem = destinationProblem(dst);
  if (problem) throw new Error(problem);
  return { destination: dst, options: rest.join(":") };
}

/** A path that must be absolute (a working directory, a namespace file). */
export function absoluteProblem(path: string, what: string): string | undefined {
  return path.startsWith("/")
    ? undefined
    : `invalid ${what} ${JSON.stringify(path)}: must be an absolute path`;
}

/** The problem a parser throws, or undefined: turns a parser into a rule. */
export function problemOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** docker's `--security-opt` values, read. */
export interface SecurityOpts {
  readonly noNewPrivileges: boolean;
  /** ctr's default filter, none, or a profile file's path. */
  readonly seccomp: "default" | "unconfined" | { readonly file: string };
  /** An AppArmor profile (applied where AppArmor is enabled, else ignored, as docker does). */
  readonly apparmor?: string;
  /** SELinux label parts (`user:U`, `role:R`, `type:T`, `level:L`) or `disable`. */
  readonly label: readonly string[];
  /** `systempaths=unconfined`: no masked or read-only paths under /proc and /sys. */
  readonly systemPathsUnconfined: boolean;
}

/**
 * Reads `--security-opt` values with docker's spellings: `KEY=VALUE` or the
 * older `KEY:VALUE`; no-new-privileges[=true|false], seccomp=unconfined|FILE,
 * apparmor=PROFILE, label=user:U|role:R|type:T|level:L|disable,
 * systempaths=unconfined. Throws what is wrong.
 */
export function parseSecurityOpts(values: readonly string[]): SecurityOpts {
  let noNewPrivileges = false;
  let seccomp: SecurityOpts["seccomp"] = "default";
  let apparmor: string | undefined;
  let systemPathsUnconfined = false;
  const label: string[] = [];
  for (const o of values) {
    const m = o.match(/^([a-z-]+)(?:[=:](.*))?$/s);
    const [key, value] = m ? [m[1], m[2]] : ["", undefined];
    const bad = (why: string) => new Error(`invalid --security-opt ${JSON.stringify(o)}: ${why}`);
    switch (key) {
      case "no-new-privileges":
        if (value !== undefined && value !== "true" && value !== "false") {
          throw bad("expected no-new-privileges[=true|false]");
        }
        noNewPrivileges = value !== "false";
        break;
      case "seccomp":
        if (!value) throw bad("expected seccomp=unconfined or seccomp=PROFILE.json");
        seccomp = value === "unconfined" ? "unconfined" : { file: value };
        break;
      case "apparmor":
        if (!value) throw bad("expected apparmor=PROFILE");
        apparmor = value;
        break;
      case "label":
        if (!value || !/^((user|role|type|level):.+|disable|nested)$/.test(value)) {
          throw bad("expected label=user:USER, role:ROLE, type:TYPE, level:LEVEL or disable");
        }
        label.push(value);
        break;
      case "systempaths":
        if (value !== "unconfined") throw bad("expected systempaths=unconfined");
        systemPathsUnconfined = true;
        break;
      default:
        throw bad(
          "supported: no-new-privileges, seccomp, apparmor, label, systempaths",
        );
    }
  }
  return { noNewPrivileges, seccomp, apparmor, label, systemPathsUnconfined };
}

/**
 * Which namespace makes a sysctl the container's own (runc's and docker's
 * list); others would change the host, and both refuse them.
 */
export function sysctlNamespace(key: string): "net" | "ipc" | "uts" | undefined {
  if (key.startsWith("net.")) return "net";
  if (
    /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\.)/.test(
      key,
    )
  ) {
    return "ipc";
  }
  if (key === "kernel.hostname" || key === "kernel.domainname") return "uts";
  return undefined;
}

/** Parses `--sysctl KEY=VALUE`; the key must name a namespaced sysctl. Throws what is wrong. */
export function parseSysctl(entry: string): [string, string] {
  const eq = entry.indexOf("=");
  if (eq <= 0) throw new Error(`invalid argument ${JSON.stringify(entry)}: expected KEY=VALUE`);
  const key = entry.slice(0, eq);
  if (!/^[a-z0-9_]+(\.[a-zA-Z0-9_.:@*+-]+)+$/.test(key) || key.includes("..")) {
    throw new Error(`invalid sysctl name ${JSON.stringify(key)}`);
  }
  if (sysctlNamespace(key) === undefined) {
    throw new Error(
      `sysctl '${key}' is not allowed: only namespaced sysctls (net.*, the IPC ones, ` +
        `kernel.hostname and kernel.domainname) belong to a container`,
    );
  }
  return [key, entry.slice(eq + 1)];
}

/** An IPv4 address in dotted-quad form, or an IPv6 address; the problem, or undefined. */
export function ipAddressProblem(text: string): string | undefined {
  const ok = isIPv4(text) || isIPv6(text);
  return ok ? undefined : `IP address is not correctly formatted: ${text}`;
}

/** Whether `s` is a dotted-quad IPv4 address. */
export function isIPv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255 && !(p.length > 1 && p[0] === "0"));
}

/** Whether `s` is an IPv6 address (with `::`, and an IPv4 tail). */
export function isIPv6(s: string): boolean {
  if (!s.includes(":")) return false;
  let text = s;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    // An IPv4 tail stands for the last two groups.
    if (!isIPv4(text.slice(lastColon + 1))) return false;
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const parts = halves.flatMap(groups);
  if (!parts.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? parts.length < 8 : parts.length === 8;
}

/** The name that maps to the address of the host's gateway in `--add-host NAME:host-gateway`. */
export const HOST_GATEWAY = "host-gateway";

/** Parses `--add-host NAME:IP` (split at the first colon, so IPv6 works); IP may be host-gateway. */
export function parseExtraHost(value: string): { name: string; ip: string } {
  const colon = value.indexOf(":");
  if (colon <= 0) throw new Error(`bad format for add-host: ${JSON.stringify(value)}`);
  const name = value.slice(0, colon);
  const ip = value.slice(colon + 1);
  if (ip !== HOST_GATEWAY && ipAddressProblem(ip)) {
    throw new Error(`invalid IP address in add-host: ${JSON.stringify(ip)}`);
  }
  return { name, ip };
}

/** One `--network` value: a name, or docker's `name=NET,alias=A,ip=ADDR` form. */
export interface NetworkArg {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly ip?: string;
}

/** Reads a `--network` value (docker's plain or advanced form); throws on a bad key or address. */
export function parseNetworkArg(value: string): NetworkArg {
  if (!value.includes("=")) return { name: value, aliases: [] };
  let name: string | undefined;
  let ip: string | undefined;
  const aliases: string[] = [];
  for (const field of value.split(",")) {
    const eq = field.indexOf("=");
    const [k, v] = eq < 0 ? [field, ""] : [field.slice(0, eq), field.slice(eq + 1)];
    if (k === "name") name = v;
    else if (k === "alias") aliases.push(v);
    else if (k === "ip") {
      const problem = ipAddressProblem(v);
      if (problem || !isIPv4(v)) {
        throw new Error(`invalid --network ${value}: ip=${v} is no IPv4 address`);
      }
      ip = v;
    } else if (["ip6", "mac-address", "link-local-ip", "driver-opt", "gw-priority"].includes(k)) {
      throw new Error(
        `--network ${k}= is not supported: ctr endpoints take a name, aliases and an IPv4 address`,
      );
    } else {
      throw new Error(
        `invalid --network ${value}: unknown key ${JSON.stringify(k)} (name, alias, ip)`,
      );
    }
  }
  if (!name) throw new Error(`invalid --network ${value}: no name=`);
  return { name, aliases, ...(ip !== undefined && { ip }) };
}

/** A `--dns-search` domain: docker's rule (a domain name of at most 255 characters, or "."). */
export function dnsSearchProblem(domain: string): string | undefined {
  if (domain === ".") return undefined;
  const d = domain.replace(/\.$/, "");
  const label = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
  if (d.length > 255 || d === "" || !d.split(".").every((l) => label.test(l))) {
    return `${domain} is not a valid domain`;
  }
  return undefined;
}

/** A `--mac-address`: six octets separated by `:` or `-`, unicast; the problem, or undefined. */
export function macProblem(mac: string): string | undefined {
  const m = /^([0-9a-fA-F]{2})([:-])[0-9a-fA-F]{2}(\2[0-9a-fA-F]{2}){4}$/.exec(mac);
  if (!m) return `${mac} is not a valid mac address`;
  if (Number.parseInt(m[1], 16) & 1) {
    return `${mac} is not a valid mac address: a multicast address cannot name an interface`;
  }
  return undefined;
}

/**
 * Parses `--expose PORT[/PROTO]` or `START-END[/PROTO]` into the ports it
 * names (`80/tcp`); throws docker's words.
 */
export function parseExpose(value: string): string[] {
  if (value.includes(":")) throw new Error(`invalid port format for --expose: ${value}`);
  const slash = value.indexOf("/");
  const port = slash < 0 ? value : value.slice(0, slash);
  const proto = slash < 0 ? "tcp" : value.slice(slash + 1).toLowerCase();
  const m = /^(\d+)(?:-(\d+))?$/.exec(port);
  const start = m ? Number(m[1]) : NaN;
  const end = m?.[2] !== undefined ? Number(m[2]) : start;
  if (!m || !(start >= 0 && start <= 65535) || !(end >= start && end <= 65535)) {
    throw new Error(`invalid range format for --expose: ${value}, error: invalid port range`);
  }
  if (!["tcp", "udp", "sctp"].includes(proto)) {
    throw new Error(`invalid proto ${JSON.stringify(proto)} for --expose: ${value}`);
  }
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

/** Parses `--link NAME[:ALIAS]` (the alias defaults to the name). */
export function parseLink(value: string): { container: string; alias: string } {
  const parts = value.split(":");
  if (parts.length > 2 || parts.some((p) => p === "")) {
    throw new Error(`invalid link format ${JSON.stringify(value)}: expected NAME[:ALIAS]`);
  }
  const container = parts[0].replace(/^\//, "");
  return { container, alias: parts[1] ?? container };
}

/** Parses `--volumes-from CONTAINER[:ro|:rw]`. */
export function parseVolumesFrom(value: string): { container: string; mode?: "ro" | "rw" } {
  const [container, mode, ...rest] = value.split(":");
  if (!container || rest.length || (mode !== undefined && mode !== "ro" && mode !== "rw")) {
    throw new Error(`invalid --volumes-from ${JSON.stringify(value)}: expected CONTAINER[:ro|rw]`);
  }
  return { container, mode: mode as "ro" | "rw" | undefined };
}

/** The streams of `--attach` (case-insensitive stdin, stdout, stderr). */
export function parseAttachStreams(
  values: readonly string[],
): { stdin: boolean; stdout: boolean; stderr: boolean } {
  const out = { stdin: false, stdout: false, stderr: false };
  for (const v of values) {
    const s = v.toLowerCase();
    if (s !== "stdin" && s !== "stdout" && s !== "stderr") {
      throw new Error("valid streams are STDIN, STDOUT and STDERR");
    }
    out[s] = true;
  }
  return out;
}

/** docker's default detach keys. */
export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

/**
 * The bytes of a detach key sequence as docker spells it: comma-separated
 * `ctrl-X` (X a letter, `@`, `[`, `\`, `]`, `^`, `_`) or single characters.
 */
export function parseDetachKeys(keys: string): Uint8Array {
  const out: number[] = [];
  for (const k of keys.split(",")) {
    if (k.length === 1) {
      out.push(k.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-([a-z@[\\\]^_])$/i.exec(k);
    if (!m) throw new Error(`Invalid detach keys (${keys}) provided: ${JSON.stringify(k)}`);
    const c = m[1].toLowerCase();
    out.push(c >= "a" && c <= "z" ? c.charCodeAt(0) - 96 : c.charCodeAt(0) - 64);
  }
  return new Uint8Array(out);
}
