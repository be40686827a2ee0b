/**
 * docker's `--mount` syntax: one CSV record of `key=value` fields
 * (`type=bind,src=/data,dst=/data,readonly`), read as docker's CLI reads it
 * (opts.MountOpt) and checked as its daemon checks it. Pure: whether a bind
 * source exists is the caller's to ask.
 * @module
 */

import { parseSize } from "../cgroups/limits.ts";
import type { Propagation } from "./container.ts";
import { destinationProblem, isVolumeName } from "./rules.ts";

/** A `--mount`, parsed. */
export type MountSpec =
  | {
    readonly type: "bind";
    readonly source: string;
    readonly destination: string;
    readonly readonly: boolean;
    readonly propagation?: Propagation;
    readonly nonRecursive: boolean;
  }
  | {
    readonly type: "volume";
    /** A volume's name; undefined: an anonymous volume. */
    readonly source?: string;
    readonly destination: string;
    readonly readonly: boolean;
  }
  | {
    readonly type: "tmpfs";
    readonly destination: string;
    readonly readonly: boolean;
    /** Bytes; undefined: the kernel's default (half the memory). */
    readonly size?: number;
    /** The root directory's mode; undefined: 1777. */
    readonly mode?: number;
  };

/** Splits one CSV record (Go's encoding/csv: commas, `"quoted, fields"`, `""` inside quotes). */
export function csvFields(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) {
          throw new Error(`parse error: extraneous or missing " in quoted-field`);
        }
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== ",") {
        throw new Error(`parse error: extraneous or missing " in quoted-field`);
      }
    } else {
      const end = text.indexOf(",", i);
      field = end < 0 ? text.slice(i) : text.slice(i, end);
      if (field.includes('"')) throw new Error(`parse error: bare " in non-quoted-field`);
      i = end < 0 ? text.length : end;
    }
    out.push(field);
    if (i >= text.length) return out;
    i++; // the comma
  }
}

/** Go's strconv.ParseBool. */
function parseBool(key: string, v: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  throw new Error(`invalid value for ${key}: ${v}`);
}

const PROPAGATIONS: readonly Propagation[] = [
  "private",
  "rprivate",
  "shared",
  "rshared",
  "slave",
  "rslave",
];

/**
 * Parses one `--mount` value; relative sources `.` and `./x` are made
 * absolute against `cwd`. Throws docker's words for what is wrong.
 */
export function parseMountSpec(value: string, cwd = "/"): MountSpec {
  const fields = csvFields(value);
  let type = "volume";
  let source: string | undefined;
  let target: string | undefined;
  let readonly = false;
  let propagation: Propagation | undefined;
  let nonRecursive = false;
  let size: number | undefined;
  let mode: number | undefined;
  const kinds = new Set<"volume" | "bind" | "tmpfs">();
  for (const field of fields) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === "readonly" || key === "ro") {
        readonly = true;
        continue;
      }
      if (key === "volume-nocopy") {
        kinds.add("volume");
        continue;
      }
      if (key === "bind-nonrecursive") {
        kinds.add("bind");
        nonRecursive = true;
        continue;
      }
      throw new Error(`invalid field '${field}' must be a key=value pair`);
    }
    const v = field.slice(eq + 1);
    switch (key) {
      case "type":
        type = v.toLowerCase();
        break;
      case "source":
      case "src":
        source = v === "." || v.startsWith("./") ? `${cwd.replace(/\/$/, "")}/${v}` : v;
        break;
      case "target":
      case "dst":
      case "destination":
        target = v;
        break;
      case "readonly":
      case "ro":
        readonly = parseBool(key, v);
        break;
      case "consistency":
        break; // a macOS file sharing hint: nothing to do on Linux, as docker
      case "bind-propagation":
        kinds.add("bind");
        if (!PROPAGATIONS.includes(v.toLowerCase() as Propagation)) {
          throw new Error(
            `invalid propagation mode ${JSON.stringify(v)}: expected ${PROPAGATIONS.join(", ")}`,
          );
        }
        propagation = v.toLowerCase() as Propagation;
        break;
      case "bind-nonrecursive":
        kinds.add("bind");
        nonRecursive = parseBool(key, v);
        break;
      case "volume-nocopy":
        kinds.add("volume");
        parseBool("volume-nocopy", v); // ctr never copies image content into a volume
        break;
      case "volume-driver":
        kinds.add("volume");
        if (v !== "local") {
          throw new Error(`volume-driver ${JSON.stringify(v)}: ctr has only local volumes`);
        }
        break;
      case "volume-opt":
      case "volume-label":
        throw new Error(`${key}: ctr's local volumes take no driver options or labels`);
      case "tmpfs-size":
        kinds.add("tmpfs");
        try {
          size = parseSize(key, v);
        } catch {
          throw new Error(`invalid value for ${key}: ${v}`);
        }
        break;
      case "tmpfs-mode":
        kinds.add("tmpfs");
        if (!/^[0-7]{1,11}$/.test(v) || Number.parseInt(v, 8) > 0xffffffff) {
          throw new Error(`invalid value for ${key}: ${v}`);
        }
        mode = Number.parseInt(v, 8);
        break;
      default:
        throw new Error(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (type === "") throw new Error("type is required");
  if (target === undefined || target === "") throw new Error("target is required");
  for (const k of kinds) {
    if (k !== type) throw new Error(`cannot mix '${k}-*' options with mount type '${type}'`);
  }
  const bad = (why: string) => new Error(`invalid mount config for type "${type}": ${why}`);
  const dstProblem = destinationProblem(target);
  if (dstProblem) throw bad(dstProblem);
  switch (type) {
    case "bind":
      if (!source) throw bad("field Source must not be empty");
      if (!source.startsWith("/")) {
        throw bad(`invalid mount path: '${source}' mount path must be absolute`);
      }
      return { type, source, destination: target, readonly, propagation, nonRecursive };
    case "volume":
      if (source !== undefined && source !== "" && !isVolumeName(source)) {
        throw bad(`invalid volume name ${JSON.stringify(source)}`);
      }
      return { type, source: source || undefined, destination: target, readonly };
    case "tmpfs":
      if (source) throw bad("field Source must not be specified");
      return { type, destination: target, readonly, size, mode };
    case "npipe":
      throw bad("named pipes exist on Windows only");
    default:
      throw new Error(`invalid mount type ${JSON.stringify(type)}: expected bind, volume or tmpfs`);
  }
}

/** A tmpfs `--mount` as the options of a `--tmpfs` mount (docker's defaults: noexec,nosuid,nodev). */
export function tmpfsMountOptions(m: Extract<MountSpec, { type: "tmpfs" }>): string {
  const opts: string[] = [];
  if (m.readonly) opts.push("ro");
  if (m.size !== undefined) opts.push(`size=${m.size}`);
  if (m.mode !== undefined) opts.push(`mode=${m.mode.toString(8)}`);
  return opts.join(",");
}
