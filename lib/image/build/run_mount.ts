/**
 * `RUN --mount=...` values, with BuildKit's rules: CSV fields of
 * `key=value` (`type`, `target`, `source`, `from`, `id`, `sharing`, `mode`,
 * `uid`, `gid`, `size`, `env`, `ro`/`rw`, `required`), per-type checks, and
 * docker's defaults (read-only but for cache and tmpfs). Pure.
 * @module
 */

import { closest } from "../../suggest.ts";
import { InstructionError } from "./_words.ts";

/** A `RUN --mount` after substitution. */
export interface RunMount {
  readonly type: "bind" | "cache" | "tmpfs" | "secret" | "ssh";
  /** A stage name or index, or an image, for bind and cache mounts. */
  readonly from?: string;
  readonly source?: string;
  readonly target?: string;
  readonly readOnly: boolean;
  /** tmpfs size in bytes. */
  readonly size?: number;
  /** Cache or secret id. */
  readonly id?: string;
  readonly sharing?: "shared" | "private" | "locked";
  readonly required: boolean;
  /** Secret: the environment variable to expose it as. */
  readonly env?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

const MOUNT_KEYS = [
  "type",
  "from",
  "source",
  "src",
  "target",
  "dst",
  "destination",
  "readonly",
  "ro",
  "readwrite",
  "rw",
  "required",
  "size",
  "id",
  "sharing",
  "mode",
  "uid",
  "gid",
  "env",
];

/** A CSV record (Go's encoding/csv, one line): fields, quotes doubled inside quotes. */
function csvFields(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) {
          throw new InstructionError(
            `failed to parse csv mounts: extraneous or missing " in quoted-field`,
          );
        }
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ",") {
        throw new InstructionError(
          `failed to parse csv mounts: extraneous or missing " in quoted-field`,
        );
      }
    } else {
      while (i < s.length && s[i] !== ",") field += s[i++];
    }
    out.push(field);
    if (i >= s.length) return out;
    i++; // the comma
  }
}

function parseBool(key: string, v: string): boolean {
  const t = ["1", "t", "T", "TRUE", "true", "True"];
  const f = ["0", "f", "F", "FALSE", "false", "False"];
  if (t.includes(v)) return true;
  if (f.includes(v)) return false;
  throw new InstructionError(`invalid value for ${key}: ${v}`);
}

function parseUint(v: string, radix: number, what: string): number {
  const ok = radix === 8 ? /^[0-7]+$/ : /^\d+$/;
  const n = ok.test(v) ? parseInt(v, radix) : NaN;
  if (!(n >= 0 && n <= 0xffffffff)) throw new InstructionError(`invalid value ${v} for ${what}`);
  return n;
}

/** docker's RAMInBytes: `64m`, `1g`, `512k`, `100` (binary units). */
function ramBytes(v: string): number {
  const m = v.match(/^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i);
  if (!m) throw new InstructionError(`invalid value for size: ${v}`);
  const exp = " kmgtp".indexOf(m[2].toLowerCase() || " ");
  return Math.floor(Number(m[1]) * 1024 ** exp);
}

/**
 * Parses one `--mount` value (CSV of `key=value`, BuildKit's rules), with
 * `expand` applied to each value (docker substitutes per value). Throws
 * InstructionError-derived errors as plain Errors with docker's wording.
 */
export function parseRunMount(spec: string, expandValue?: (v: string) => string): RunMount {
  const fields = csvFields(spec);
  let type: RunMount["type"] = "bind";
  const m: {
    -readonly [K in keyof RunMount]?: RunMount[K];
  } = {};
  let readOnly: boolean | undefined;
  let required = false;
  for (const field of fields) {
    const eq = field.indexOf("=");
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    if (eq === -1) {
      if (key === "readonly" || key === "ro") readOnly = true;
      else if (key === "readwrite" || key === "rw") readOnly = false;
      else if (key === "required") {
        if (type !== "secret" && type !== "ssh") {
          throw new InstructionError(`unexpected key '${key}' for mount type '${type}'`);
        }
        required = true;
      } else throw new InstructionError(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    const value = expandValue ? expandValue(field.slice(eq + 1)) : field.slice(eq + 1);
    switch (key) {
      case "type": {
        const t = value.toLowerCase();
        if (!["bind", "cache", "tmpfs", "secret", "ssh"].includes(t)) {
          throw new InstructionError(`unsupported mount type ${JSON.stringify(value)}`);
        }
        type = t as RunMount["type"];
        break;
      }
      case "from":
        m.from = value;
        break;
      case "source":
      case "src":
        m.source = value;
        break;
      case "target":
      case "dst":
      case "destination":
        m.target = value;
        break;
      case "readonly":
      case "ro":
        readOnly = parseBool(key, value);
        break;
      case "readwrite":
      case "rw":
        readOnly = !parseBool(key, value);
        break;
      case "required":
        if (type !== "secret" && type !== "ssh") {
          throw new InstructionError(`unexpected key '${key}' for mount type '${type}'`);
        }
        required = parseBool(key, value);
        break;
      case "size":
        if (type !== "tmpfs") {
          throw new InstructionError(`unexpected key '${key}' for mount type '${type}'`);
        }
        m.size = ramBytes(value);
        break;
      case "id":
        m.id = value;
        break;
      case "sharing": {
        const s = value.toLowerCase();
        if (!["shared", "private", "locked"].includes(s)) {
          throw new InstructionError(`unsupported sharing value ${JSON.stringify(value)}`);
        }
        m.sharing = s as RunMount["sharing"];
        break;
      }
      case "mode":
        m.mode = parseUint(value, 8, "mode");
        break;
      case "uid":
        m.uid = parseUint(value, 10, "uid");
        break;
      case "gid":
        m.gid = parseUint(value, 10, "gid");
        break;
      case "env":
        m.env = value;
        break;
      default: {
        const near = closest(key, MOUNT_KEYS);
        throw new InstructionError(
          `unexpected key '${key}' in '${field}'${near ? ` (did you mean ${near}?)` : ""}`,
        );
      }
    }
  }
  const fileInfo = type === "secret" || type === "ssh" || type === "cache";
  if (!fileInfo) {
    for (const k of ["mode", "uid", "gid"] as const) {
      if (m[k] !== undefined) {
        throw new InstructionError(`${k} not allowed for "${type}" type mounts`);
      }
    }
  }
  if (type === "secret") {
    if (m.from !== undefined) throw new InstructionError("secret mount should not have a from");
    if (m.sharing !== undefined) {
      throw new InstructionError("secret mount should not define sharing");
    }
    if (!m.source && !m.target && !m.id) {
      throw new InstructionError("invalid secret mount. one of source, target required");
    }
    if (m.source && m.id) throw new InstructionError("both source and id can't be set");
  }
  if (m.sharing !== undefined && type !== "cache") {
    throw new InstructionError(`invalid cache sharing set for ${type} mount`);
  }
  return {
    type,
    ...m,
    readOnly: readOnly ?? !(type === "cache" || type === "tmpfs"),
    required,
  };
}
