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
