/**
 * Spec files: several containers described in YAML, as `ctr up -f FILE`,
 * `ctr down -f FILE` and `ctr run --spec FILE` read them. This module turns a
 * file into a typed {@linkcode Spec}, or into a {@linkcode SpecError} that
 * lists every problem with its line and column; it starts nothing, so a
 * caller that gets a Spec knows the whole file is valid before the first
 * container runs.
 *
 * The format, a subset of compose's:
 *
 * ```yaml
 * name: shop                  # project name (default: the file's directory name)
 * networks:                   # networks this file owns: created by up, removed by down
 *   backend:
 *     subnet: 10.201.0.0/24   # optional
 *     internal: true          # optional: no route out (docker's --internal)
 *     driver_opts: {com.docker.network.driver.mtu: "1400"}  # optional: docker's bridge options
 *     labels: {tier: data}    # optional
 * containers:                 # at least one; `services:` is accepted instead (not both)
 *   db:
 *     image: busybox          # required
 *     command: httpd -f -p 80 # a list, or a string split like a shell (quotes respected)
 *     entrypoint: [/bin/sh, -c]
 *     environment: {A: "1", B: 2, C: true, D: null}   # or ["A=1", "D"]; null/no "=": ctr's own
 *     ports: ["8080:80", "127.0.0.1:8081:81/udp", 90]  # [[IP:]HOST:]CONTAINER[/tcp|udp]
 *     volumes: ["data:/data", "./www:/www:ro"]  # SRC:DST[:ro|rw]: a volume name or a path
 *     networks: [backend, front]  # or `network: backend`; declared above, or bridge, host, none
 *     hostname: db            # default: the container's key
 *     user: "1000:1000"
 *     working_dir: /app
 *     read_only: true
 *     tmpfs: [/run]           # a string or a list
 *     cap_add: [NET_ADMIN]
 *     cap_drop: [ALL]
 *     restart: on-failure:3   # "no", on-failure[:N], always, unless-stopped
 *     mem_limit: 64m          # or `memory:`; bytes, or 512k, 64m, 1g
 *     cpus: 0.5
 *     pids_limit: 100
 *     labels: {tier: data}    # or ["tier=data"]
 *   web:
 *     image: busybox
 *     depends_on: [db]        # started after db, removed before it
 *     network: backend
 * ```
 *
 * Each container runs as `PROJECT-KEY` (`shop-db`), on the network named
 * `PROJECT-NETWORK` (`shop-backend`) with its key as network alias, so peers
 * reach it by name. Keys are checked strictly: an unknown key is an error, as
 * are compose keys that ctr does not support (`env_file`, `build`, ...).
 * Keys starting with `x-` are ignored (at the top, in a container or network)
 * so that they can hold anchors: `x-base: &base {...}`, then `<<: *base`.
 * @module
 */

import { basename, dirname, isAbsolute, resolve } from "node:path";
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from "yaml";
import * as z from "zod";
import "../zod_setup.ts";
import { capName } from "../runtime/capabilities.ts";
import { parseCpus, parsePidsLimit, parseSize } from "../cgroups/limits.ts";
import { parseReference } from "../image/reference.ts";
import { parseSubnet } from "../network/ipam.ts";
import { parseBridgeOptions } from "../network/bridge_options.ts";
import {
  containerNameProblem,
  envProblem,
  hostnameProblem,
  labelProblem,
  NETWORK_NAME_MAX,
  networkNameProblem,
  parseRestartPolicy,
  parseTmpfsSpec,
  parseVolumeSpec,
  problemOf,
} from "./rules.ts";
import { parsePortSpec } from "../network/ports.ts";
import {
  type Check,
  checked,
  describe,
  formatPath,
  type Path,
  type PathStyle,
  valueAt,
  type ValueWords,
} from "./diagnostics.ts";
import { closest } from "../suggest.ts";
import type { RunFlags, RunOptions } from "./run_options.ts";

/** A network that the file declares (and `ctr up` creates). */
export interface NetworkSpec {
  /** The key in the file; ctr knows it as {@linkcode networkName}. */
  readonly name: string;
  readonly subnet?: string;
  readonly internal?: boolean;
  /** The bridge driver's options (docker's keys, see network/bridge_options.ts). */
  readonly options?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
}

/** One container, normalized: every list present, scalars turned into strings. */
export interface ContainerSpec {
  /** The key in the file; the container is named `PROJECT-KEY`. */
  readonly name: string;
  readonly image: string;
  /** Arguments after the image; undefined: the image's CMD. */
  readonly command?: readonly string[];
  /** Undefined: the image's entrypoint; empty: none. */
  readonly entrypoint?: readonly string[];
  /** Variables in file order; null: taken from ctr's own environment. */
  readonly environment: Readonly<Record<string, string | null>>;
  readonly ports: readonly string[];
  /** `SRC:DST[:MODE]`; SRC is a volume name or an absolute path. */
  readonly volumes: readonly string[];
  /** Network keys as written (declared ones, or bridge, host, none); the first is eth0. */
  readonly networks: readonly string[];
  /** Undefined when not set and the key is no valid host name (ctr then uses the id). */
  readonly hostname?: string;
  readonly user?: string;
  readonly workingDir?: string;
  readonly readOnly: boolean;
  readonly tmpfs: readonly string[];
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly restart?: string;
  /** A size as written (`64m`, or bytes). */
  readonly memory?: string;
  readonly cpus?: string;
  readonly pidsLimit?: number;
  /** Keys of containers in the same file. */
  readonly dependsOn: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

/** A whole spec file. */
export interface Spec {
  /** The project name: prefix of container and network names. */
  readonly name: string;
  /** In file order. */
  readonly networks: readonly NetworkSpec[];
  /** In file order. */
  readonly containers: readonly ContainerSpec[];
}

/**
 * One problem, at a 1-based line and column (0 and 0 for the file as a
 * whole, such as one that cannot be read). `path` names the place in the
 * document (`containers.db.ports[0]`); empty for the top level and for
 * YAML syntax errors.
 */
export interface SpecProblem {
  readonly line: number;
  readonly column: number;
  readonly path: string;
  readonly message: string;
}

/** An invalid spec file; the message lists every problem, one a line, sorted by position. */
export class SpecError extends Error {
  readonly problems: SpecProblem[];

  constructor(readonly file: string, problems: readonly SpecProblem[]) {
    const sorted = [...problems].sort((a, b) => a.line - b.line || a.column - b.column);
    super(sorted.map((p) => formatProblem(file, p)).join("\n"));
    this.name = "SpecError";
    this.problems = sorted;
  }
}

/** `FILE:LINE:COL: PATH: MESSAGE`, leaving out what a problem lacks. */
function formatProblem(file: string, p: SpecProblem): string {
  const where = p.line > 0 ? `${file}:${p.line}:${p.column}` : file;
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** Options of {@linkcode parseSpec}. */
export interface ParseOptions {
  /** The project name when the file has no `name:` (default: from the file's directory). */
  readonly defaultName?: string;
  /** The directory that relative volume sources start from (default: the file's). */
  readonly baseDir?: string;
}

/** Network modes that ctr has without a file declaring them. */
const BUILTIN_NETWORKS = ["bridge", "host", "none"];

/** How this reader writes paths and names values. */
const YAML_PATHS: PathStyle = { word: /^[A-Za-z0-9_-]+$/, top: "" };
const YAML_WORDS: ValueWords = { object: "a mapping", null: "nothing" };
/** Project names, as compose allows them. */
const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;

const TOP_KEYS = ["name", "networks", "containers", "services"];
const NETWORK_KEYS = ["subnet", "internal", "driver_opts", "labels"];
const CONTAINER_KEYS = [
  "image",
  "command",
  "entrypoint",
  "environment",
  "ports",
  "volumes",
  "networks",
  "network",
  "hostname",
  "user",
  "working_dir",
  "read_only",
  "tmpfs",
  "cap_add",
  "cap_drop",
  "restart",
  "mem_limit",
  "memory",
  "cpus",
  "pids_limit",
  "depends_on",
  "labels",
];
/** Compose keys that people will try: named as unsupported rather than unknown. */
const UNSUPPORTED_KEYS = new Set([
  "env_file",
  "build",
  "configs",
  "secrets",
  "deploy",
  "healthcheck",
  "expose",
  "links",
  "extra_hosts",
  "dns",
  "privileged",
  "devices",
  "container_name",
  "profiles",
  "extends",
  "logging",
  "volumes_from",
  "version",
  "volumes",
]);
/** Near misses that spelling distance does not catch. */
const KEY_HINTS: Record<string, string> = {
  env: "environment",
  cmd: "command",
  workdir: "working_dir",
  publish: "ports",
  volume: "volumes",
  mem: "mem_limit",
  caps: "cap_add",
};

// ---------------------------------------------------------------------------
// Schemas. Checks of single values live in the schemas, so that zod reports
// them together with the structural problems; only checks across the file
// (cycles, clashes, keys that exclude each other) run after it.

/**
 * A mapping whose keys must pass `check`; problems point at the key itself
 * (the issue's `params.at`), not its value. zod skips this check when a value
 * is wrong, so it suits mappings of scalars; keys of containers and networks
 * are checked after zod (see {@linkcode crossChecks}).
 */
function mapping<T extends z.ZodType>(value: T, check: Check<string>, what: string) {
  return z.record(z.string(), value, { error: `expected ${what}` }).superRefine((map, ctx) => {
    for (const key of Object.keys(map)) {
      const problem = check(key);
      if (problem !== undefined) {
        ctx.addIssue({ code: "custom", message: problem, path: [key], params: { at: "key" } });
      }
    }
  });
}

const str = (what = "a string") => z.string({ error: `expected ${what}` });
const strOrNumber = (what: string) =>
  z.union([z.string(), z.number()], { error: `expected ${what}` });
const listOf = <T extends z.ZodType>(item: T, what = "a list of strings") =>
  z.array(item, { error: `expected ${what}` });
const bool = z.boolean({ error: "expected true or false" });
/** A string, or a number or boolean that the file meant as one (`A: 1`). */
const scalar = z.union([z.string(), z.number(), z.boolean()], {
  error: "expected a string, number or boolean",
});

const commandSchema = checked(
  z.union([z.string(), listOf(str())], { error: "expected a string or a list of strings" }),
  (v) => typeof v === "string" ? tryMessage(() => splitCommand(v)) : undefined,
);

const environmentSchema = z.union([
  mapping(scalar.nullable(), envKeyProblem, "a mapping or a list of K=V strings"),
  listOf(checked(str(), (e) => envKeyProblem(e.split("=")[0]))),
], { error: "expected a mapping or a list of K=V strings" });

const labelsSchema = z.union([
  mapping(scalar, labelKeyProblem, "a mapping or a list of k=v strings"),
  listOf(checked(str(), (l) => labelKeyProblem(l.split("=")[0]))),
], { error: "expected a mapping or a list of k=v strings" });

const tmpfsSchema = z.union([
  checked(z.string(), tmpfsProblem),
  listOf(checked(str(), tmpfsProblem)),
], { error: "expected a string or a list of strings" });

const sizeSchema = checked(strOrNumber("a size"), sizeProblem);

/** Every value check of a container; names from the file are needed for references. */
function containerSchema(names: { containers: Set<string>; networks: Set<string> }) {
  const network = checked(str("a network name"), (n) => networkRefProblem(n, names.networks));
  const dependency = checked(
    str("a container name"),
    (n) => containerRefProblem(n, names.containers),
  );
  return z.strictObject({
    image: checked(str("an image name"), imageProblem),
    command: commandSchema.optional(),
    entrypoint: commandSchema.optional(),
    environment: environmentSchema.optional(),
    ports: listOf(
      checked(strOrNumber("a string or a port number"), (p) => portProblem(String(p))),
      "a list of port specs",
    ).optional(),
    volumes: listOf(checked(str(), volumeProblem)).optional(),
    networks: listOf(network, "a list of network names").optional(),
    network: network.optional(),
    hostname: checked(str(), hostnameProblem).optional(),
    user: strOrNumber("a string or a number").optional(),
    working_dir: checked(str(), absoluteProblem).optional(),
    read_only: bool.optional(),
    tmpfs: tmpfsSchema.optional(),
    cap_add: listOf(checked(str(), capProblem)).optional(),
    cap_drop: listOf(checked(str(), capProblem)).optional(),
    restart: checked(str(), restartProblem).optional(),
    mem_limit: sizeSchema.optional(),
    memory: sizeSchema.optional(),
    cpus: checked(
      strOrNumber("a number of CPUs"),
      (c) => tryMessage(() => parseCpus(String(c)), "cpus"),
    ).optional(),
    pids_limit: checked(
      strOrNumber("a whole number"),
      (n) => tryMessage(() => parsePidsLimit(String(n)), "pids_limit"),
    ).optional(),
    depends_on: listOf(dependency, "a list of container names").optional(),
    labels: labelsSchema.optional(),
  }, { error: "expected a mapping" });
}

const networkSchema = z.strictObject({
  subnet: checked(str("a subnet"), (s) => tryMessage(() => parseSubnet(s))).optional(),
  internal: bool.optional(),
  driver_opts: checked(
    z.record(z.string(), scalar, { error: "expected a mapping" }),
    (m) => tryMessage(() => parseBridgeOptions(stringValues(m))),
  ).optional(),
  labels: labelsSchema.optional(),
}, { error: "expected a mapping" }).nullable();

/** A mapping's scalars as strings (docker's driver options are strings). */
function stringValues(m: Record<string, string | number | boolean>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
}

/** The whole file; `names` are the keys it declares, for checking references. */
function specSchema(names: { containers: Set<string>; networks: Set<string> }) {
  const containers = z.record(z.string(), containerSchema(names), { error: "expected a mapping" })
    .refine((m) => Object.keys(m).length > 0, { message: "at least one container is needed" });
  return z.strictObject({
    name: checked(str("a project name"), projectNameProblem).optional(),
    networks: z.record(z.string(), networkSchema, { error: "expected a mapping" }).optional(),
    containers: containers.optional(),
    services: containers.optional(),
  });
}

type RawSpec = z.output<ReturnType<typeof specSchema>>;
type RawContainer = z.output<ReturnType<typeof containerSchema>>;

// ---------------------------------------------------------------------------
// Value checks: each returns the problem as a sentence, or undefined.

/**
 * The message of what `fn` throws, or undefined. Messages of ctr's flag
 * parsers lead with the flag (`--cpus 0: ...`): `name` puts the key there.
 */
function tryMessage(fn: () => unknown, name?: string): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    const message = (e as Error).message;
    const named = name === undefined ? message : message.replace(/^--[a-z-]+ /, `${name} `);
    return named[0].toLowerCase() + named.slice(1);
  }
}

function imageProblem(image: string): string | undefined {
  const problem = tryMessage(() => parseReference(image));
  return problem?.replace(/^invalid reference/, "invalid image");
}

function envKeyProblem(key: string): string | undefined {
  return envProblem(key);
}

function labelKeyProblem(key: string): string | undefined {
  return key === "" ? "a label needs a key" : labelProblem(key);
}

function containerKeyProblem(key: string): string | undefined {
  return containerNameProblem(key);
}

function networkKeyProblem(key: string): string | undefined {
  if (BUILTIN_NETWORKS.includes(key)) {
    return `network "${key}" is built in: use it without declaring it`;
  }
  return networkNameProblem(key);
}

function projectNameProblem(name: string): string | undefined {
  if (PROJECT_NAME.test(name)) return undefined;
  return `invalid project name ${JSON.stringify(name)}: ` +
    "lowercase letters, digits, '_' and '-', starting with a letter or digit";
}

function networkRefProblem(name: string, declared: Set<string>): string | undefined {
  if (BUILTIN_NETWORKS.includes(name) || declared.has(name)) return undefined;
  const known = [...declared, ...BUILTIN_NETWORKS].join(", ");
  return `network "${name}" is not declared under networks: (known: ${known})`;
}

function containerRefProblem(name: string, known: Set<string>): string | undefined {
  if (known.has(name)) return undefined;
  return `unknown container "${name}" (containers in this file: ${[...known].join(", ")})`;
}

function absoluteProblem(path: string): string | undefined {
  return path.startsWith("/") ? undefined : `${JSON.stringify(path)} is not an absolute path`;
}

function tmpfsProblem(spec: string): string | undefined {
  return problemOf(() => parseTmpfsSpec(spec));
}

function capProblem(name: string): string | undefined {
  return tryMessage(() => capName(name))?.replace(
    /^unknown capability: (.*)$/,
    (_, c) => `unknown capability ${JSON.stringify(c)}`,
  );
}

function restartProblem(policy: string): string | undefined {
  return problemOf(() => parseRestartPolicy(policy));
}

function sizeProblem(size: string | number): string | undefined {
  const ok = typeof size === "number"
    ? Number.isSafeInteger(size) && size >= 0
    : tryMessage(() => parseSize("", size)) === undefined;
  return ok ? undefined : `invalid size ${JSON.stringify(String(size))}: ` +
    "expected a number of bytes or a size like 512k, 64m or 1g";
}

/**
 * A volume: `SRC:DST[:ro|rw]`, as `-v` takes it, except that SRC may also be
 * a path relative to the file (`./data`), made absolute when the file is read.
 */
function volumeProblem(spec: string): string | undefined {
  return problemOf(() => parseVolumeSpec(spec, { relativeSources: true }));
}

function isHostPath(src: string): boolean {
  return src.startsWith("/") || src === "." || src === ".." || /^\.\.?\//.test(src);
}

/** A published port, as far as the file tells: enough to find two that clash. */
interface PortKey {
  readonly hostIp?: string;
  readonly hostPort: number;
  readonly protocol: string;
}

function parsePort(spec: string): PortKey {
  const p = parsePortSpec(spec);
  return {
    ...(p.hostIp === undefined ? {} : { hostIp: p.hostIp }),
    hostPort: p.hostPort,
    protocol: p.protocol,
  };
}

function portProblem(spec: string): string | undefined {
  return problemOf(() => parsePort(spec));
}

/**
 * Splits a command line as a POSIX shell does words, without expansions:
 * blanks separate, '...' is literal, "..." lets a backslash escape `"`, `\`,
 * `$` and a backquote, and a backslash outside quotes escapes any character.
 * Throws on an unterminated quote or a trailing backslash.
 */
export function splitCommand(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' quote in ${JSON.stringify(text)}`);
      word = (word ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word ??= "";
      for (i++;; i++) {
        if (i >= text.length) throw new Error(`unterminated " quote in ${JSON.stringify(text)}`);
        if (text[i] === '"') break;
        if (text[i] === "\\" && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) i++;
        word += text[i];
      }
    } else if (c === "\\") {
      if (i + 1 >= text.length) throw new Error(`trailing backslash in ${JSON.stringify(text)}`);
      word = (word ?? "") + text[++i];
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

// ---------------------------------------------------------------------------
// Positions: from a path in the data back to the YAML node it came from.

/** A problem before it has a position: where it is and whether it is about the key. */
interface Finding {
  readonly path: Path;
  readonly message: string;
  /** "key": the key's position (unknown keys); else the value's. */
  readonly at?: "key";
}

/** The nodes along `path`: the deepest one found, and the key that led to it. */
function locate(doc: Document, path: Path): { node?: Node; key?: Node; complete: boolean } {
  let node = doc.contents as Node | null;
  let key: Node | undefined;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc) ?? null;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg));
      if (!pair) return { node, key, complete: false };
      key = pair.key as Node;
      node = pair.value as Node | null;
      // `db:` with nothing after it: a null scalar at the end of the line, or no node.
      if (!node || (isScalar(node) && node.source === "" && node.range?.[0] === node.range?.[1])) {
        return { node: key, key, complete: true };
      }
    } else if (isSeq(node) && typeof seg === "number" && node.items[seg]) {
      key = undefined;
      node = node.items[seg] as Node;
    } else {
      return { node: node ?? undefined, key, complete: false };
    }
  }
  return { node: node ?? undefined, key, complete: true };
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value ?? "") : String(key);
}

/** Gives findings their line and column. */
function place(doc: Document, lines: LineCounter, findings: readonly Finding[]): SpecProblem[] {
  return findings.map((f) => {
    const { node, key, complete } = locate(doc, f.path);
    const target = complete && f.at === "key" && key ? key : node;
    const { line, col } = lines.linePos(target?.range?.[0] ?? 0);
    return { line, column: col, path: formatPath(f.path, YAML_PATHS), message: f.message };
  });
}

// ---------------------------------------------------------------------------
// zod issues to findings.

/** The keys a mapping at `path` may have, for suggestions. */
function knownKeys(path: Path): string[] {
  if (path.length === 0) return TOP_KEYS;
  if (path.length === 2 && path[0] === "networks") return NETWORK_KEYS;
  if (path.length === 2) return CONTAINER_KEYS;
  return [];
}

function unknownKeyMessage(key: string, path: Path): string {
  const known = knownKeys(path);
  // `volumes:` is a container key but unsupported at the top level.
  if (UNSUPPORTED_KEYS.has(key) && !known.includes(key)) return `'${key}' is not supported`;
  const hint = KEY_HINTS[key] ?? closest(key, known);
  return hint && known.includes(hint)
    ? `unknown key '${key}' (did you mean '${hint}'?)`
    : `unknown key '${key}'`;
}

/** Turns zod's issues into findings, in the file's words. */
function issueFindings(issues: readonly z.core.$ZodIssue[], data: unknown, base: Path = []) {
  const out: Finding[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path] as (string | number)[];
    const branch = issue.code === "invalid_union" ? matchingBranch(issue.errors) : undefined;
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({ path: [...path, key], message: unknownKeyMessage(key, path), at: "key" });
      }
    } else if (branch) {
      // A list with one bad item says which item, not that no alternative matched.
      out.push(...issueFindings(branch, data, path));
    } else if (issue.code === "invalid_type" || issue.code === "invalid_union") {
      const { found, value } = valueAt(data, path);
      out.push(
        found
          ? { path, message: `${issue.message}, got ${describe(value, YAML_WORDS)}` }
          : { path: path.slice(0, -1), message: `missing required key '${path.at(-1)}'` },
      );
    } else {
      const at = (issue as { params?: { at?: string } }).params?.at === "key" ? "key" : undefined;
      out.push({ path, message: issue.message, ...(at && { at }) });
    }
  }
  return out;
}

/**
 * The alternative of a union whose type fit the value (its problems lie deeper,
 * or are checks of the value itself), if one did.
 */
function matchingBranch(branches: readonly (readonly z.core.$ZodIssue[])[]) {
  const wrongType = (i: z.core.$ZodIssue) =>
    i.path.length === 0 && (i.code === "invalid_type" || i.code === "invalid_union");
  return branches.find((issues) => !issues.every(wrongType));
}

// ---------------------------------------------------------------------------
// Checks across the file, run on the raw data: a part that zod refused is
// skipped, so that these still find what they can.

/** The key holding the containers: `containers`, or its alias `services`. */
function containersKey(raw: Record<string, unknown>): "containers" | "services" {
  return "containers" in raw || !("services" in raw) ? "containers" : "services";
}

function objectEntries(value: unknown): [string, Record<string, unknown>][] {
  if (!isObject(value)) return [];
  return Object.entries(value).filter((e): e is [string, Record<string, unknown>] =>
    isObject(e[1])
  );
}

function stringItems(value: unknown): [number, string][] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((v, i) => (typeof v === "string" ? [[i, v] as [number, string]] : []));
}

/** Every check that needs more than one value. */
function crossChecks(raw: Record<string, unknown>, project: string): Finding[] {
  const out: Finding[] = [];
  const ck = containersKey(raw);
  if ("containers" in raw && "services" in raw) {
    out.push({
      path: ["services"],
      message: "'services' is another name for 'containers': use only one",
      at: "key",
    });
  } else if (!(ck in raw)) {
    out.push({ path: [], message: "missing required key 'containers'" });
  }
  out.push(...keyFindings(raw[ck], [ck], containerKeyProblem));
  out.push(...keyFindings(raw.networks, ["networks"], networkKeyProblem));
  const containers = objectEntries(raw[ck]);
  for (const [name, c] of containers) {
    out.push(...exclusiveKeys(c, [ck, name], "mem_limit", "memory"));
    out.push(...exclusiveKeys(c, [ck, name], "networks", "network"));
    out.push(...networkChecks(c, [ck, name]));
  }
  out.push(...cycleFindings(containers, ck), ...portClashes(containers, ck));
  for (const net of Object.keys(objectOrEmpty(raw.networks))) {
    const full = `${project}-${net}`;
    if (full.length > NETWORK_NAME_MAX && !networkNameProblem(net)) {
      out.push({
        path: ["networks", net],
        message: `network name "${full}" is longer than ${NETWORK_NAME_MAX} characters`,
        at: "key",
      });
    }
  }
  return out;
}

/** Keys of a mapping that `check` refuses. */
function keyFindings(map: unknown, path: Path, check: Check<string>): Finding[] {
  return Object.keys(objectOrEmpty(map)).flatMap((key) => {
    const message = check(key);
    return message === undefined ? [] : [{ path: [...path, key], message, at: "key" as const }];
  });
}

/** Two keys for one setting: the second one written is the problem. */
function exclusiveKeys(c: Record<string, unknown>, path: Path, a: string, b: string): Finding[] {
  if (!(a in c) || !(b in c)) return [];
  const keys = Object.keys(c);
  const [first, second] = keys.indexOf(a) < keys.indexOf(b) ? [a, b] : [b, a];
  return [{
    path: [...path, second],
    message: `'${second}' and '${first}' are the same setting: use one`,
    at: "key",
  }];
}

/**
 * host and none only alone (they are no ctr networks), and no ports to be
 * published on either.
 */
function networkChecks(c: Record<string, unknown>, path: Path): Finding[] {
  const out: Finding[] = [];
  if (Array.isArray(c.networks) && c.networks.length > 1) {
    c.networks.forEach((n, i) => {
      if (n === "host" || n === "none") {
        out.push({
          path: [...path, "networks", i],
          message: `network ${n} cannot be joined with other networks`,
        });
      }
    });
  }
  const first = Array.isArray(c.networks) ? c.networks[0] : c.network;
  const ports = Array.isArray(c.ports) ? c.ports : [];
  if ((first === "host" || first === "none") && ports.length > 0) {
    out.push({
      path: [...path, "ports"],
      message: `ports cannot be published with network ${first}: it needs a container network`,
    });
  }
  return out;
}

/** Dependency cycles, each reported at the depends_on item that closes it. */
function cycleFindings(containers: [string, Record<string, unknown>][], ck: string): Finding[] {
  const deps = new Map(containers.map(([name, c]) => [name, stringItems(c.depends_on)]));
  const state = new Map<string, "active" | "done">();
  const stack: string[] = [];
  const out: Finding[] = [];
  const walk = (name: string) => {
    state.set(name, "active");
    stack.push(name);
    for (const [i, dep] of deps.get(name) ?? []) {
      if (!deps.has(dep)) continue;
      if (state.get(dep) === "active") {
        const cycle = [...stack.slice(stack.indexOf(dep)), dep].join(" -> ");
        out.push({ path: [ck, name, "depends_on", i], message: `dependency cycle: ${cycle}` });
      } else if (!state.has(dep)) walk(dep);
    }
    stack.pop();
    state.set(name, "done");
  };
  for (const [name] of containers) if (!state.has(name)) walk(name);
  return out;
}

/** Host ports published twice in the file: the second `ctr run` would fail to bind. */
function portClashes(containers: [string, Record<string, unknown>][], ck: string): Finding[] {
  const seen: { port: PortKey; path: Path }[] = [];
  const out: Finding[] = [];
  for (const [name, c] of containers) {
    const ports = Array.isArray(c.ports) ? c.ports : [];
    ports.forEach((spec, i) => {
      if (typeof spec !== "string" && typeof spec !== "number") return;
      let port: PortKey;
      try {
        port = parsePort(String(spec));
      } catch {
        return; // reported by the schema
      }
      const path = [ck, name, "ports", i];
      const other = port.hostPort === 0 ? undefined : seen.find((s) => clash(s.port, port));
      if (other) {
        out.push({
          path,
          message: `host port ${port.hostPort}/${port.protocol} is published twice ` +
            `(also by ${formatPath(other.path, YAML_PATHS)})`,
        });
      }
      seen.push({ port, path });
    });
  }
  return out;
}

function clash(a: PortKey, b: PortKey): boolean {
  return a.hostPort === b.hostPort && a.protocol === b.protocol &&
    (a.hostIp === undefined || b.hostIp === undefined || a.hostIp === b.hostIp);
}

// ---------------------------------------------------------------------------
// Parsing.

/**
 * Parses and checks a spec; `file` names it in messages (and gives the
 * defaults of {@linkcode ParseOptions}). Throws {@linkcode SpecError} with
 * every problem found.
 */
export function parseSpec(text: string, file: string, options: ParseOptions = {}): Spec {
  const lines = new LineCounter();
  // merge: compose files share settings with `<<: *defaults`.
  const doc = parseDocument(text, { lineCounter: lines, merge: true, prettyErrors: false });
  const fail = (problems: SpecProblem[]) => new SpecError(file, problems);
  const yamlProblems = [...doc.errors, ...doc.warnings].map((e) => {
    const { line, col } = lines.linePos(e.pos[0]);
    return { line, column: col, path: "", message: e.message.split("\n")[0] };
  });
  if (yamlProblems.length > 0) throw fail(yamlProblems);
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    throw fail([{ line: 1, column: 1, path: "", message: "the file is empty" }]);
  }

  const aliases = unresolvedAliases(doc, lines);
  if (aliases.length > 0) throw fail(aliases);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw fail(place(doc, lines, [{ path: [], message: (e as Error).message }]));
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw fail(place(doc, lines, [{
      path: [],
      message: `the top level must be a mapping (name:, networks:, containers:), got ${
        describe(raw, YAML_WORDS)
      }`,
    }]));
  }
  const top = withoutExtensions(raw as Record<string, unknown>);

  const names = {
    containers: new Set(Object.keys(objectOrEmpty(top.containers ?? top.services))),
    networks: new Set(Object.keys(objectOrEmpty(top.networks))),
  };
  const project = typeof top.name === "string"
    ? top.name
    : options.defaultName ?? projectNameFromPath(file);
  const result = specSchema(names).safeParse(top);
  const findings = [
    ...(result.success ? [] : issueFindings(result.error.issues, top)),
    ...crossChecks(top, project),
  ];
  if (findings.length > 0) throw fail(dedupe(place(doc, lines, findings)));
  return toSpec(result.data!, project, options.baseDir ?? dirname(file), doc);
}

/**
 * The data without compose's extension keys (`x-defaults: &defaults ...`),
 * which exist to hold anchors for `<<: *defaults`: at the top level, in a
 * container and in a network.
 */
function withoutExtensions(top: Record<string, unknown>): Record<string, unknown> {
  const strip = (value: unknown) =>
    isObject(value)
      ? Object.fromEntries(Object.entries(value).filter(([k]) => !k.startsWith("x-")))
      : value;
  const out = strip(top) as Record<string, unknown>;
  for (const key of ["containers", "services", "networks"]) {
    const map = out[key];
    if (isObject(map)) {
      out[key] = Object.fromEntries(Object.entries(map).map(([k, v]) => [k, strip(v)]));
    }
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Aliases without an anchor before them: toJS would throw at the first, without a position. */
function unresolvedAliases(doc: Document, lines: LineCounter): SpecProblem[] {
  const out: SpecProblem[] = [];
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc) !== undefined) return;
      const { line, col } = lines.linePos(alias.range?.[0] ?? 0);
      const message = `alias *${alias.source} has no anchor &${alias.source} before it`;
      out.push({ line, column: col, path: "", message });
    },
  });
  return out;
}

function objectOrEmpty(value: unknown): object {
  return isObject(value) ? value : {};
}

/** The same sentence at the same place once (the mapping at `containers` and `services`). */
function dedupe(problems: SpecProblem[]): SpecProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.line}:${p.column}:${p.path}:${p.message}`;
    return !seen.has(k) && seen.add(k);
  });
}

/** The text a plain scalar was written as (`1.0` stays `1.0`, not `1`), if it was one. */
function sourceText(doc: Document, path: Path): string | undefined {
  const { node, complete } = locate(doc, path);
  return complete && isScalar(node) && typeof node.source === "string" && node.source !== ""
    ? node.source
    : undefined;
}

/** Reads and parses a spec file; its directory gives the default project name. */
export function readSpecFile(path: string, options: ParseOptions = {}): Spec {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : (e as Error).message.replace(/ \(os error \d+\).*$/, "");
    throw new SpecError(path, [{ line: 0, column: 0, path: "", message: `cannot read: ${why}` }]);
  }
  const abs = resolve(path);
  return parseSpec(text, path, {
    defaultName: projectNameFromPath(abs),
    baseDir: dirname(abs),
    ...options,
  });
}

/**
 * The default project name: the basename of the file's directory, lowercased,
 * without characters outside [a-z0-9_-] (and not starting with `_` or `-`,
 * which container names may not); "default" when nothing is left.
 */
export function projectNameFromPath(file: string): string {
  const dir = basename(dirname(file)).toLowerCase().replace(/[^a-z0-9_-]/g, "");
  return dir.replace(/^[_-]+/, "") || "default";
}

/** Values as strings; numbers keep the text they were written as. */
type Source = (path: Path) => string | undefined;

function text(value: string | number | boolean, path: Path, source: Source): string {
  return typeof value === "string" ? value : source(path) ?? String(value);
}

/** The checked data as a Spec. */
function toSpec(raw: RawSpec, project: string, baseDir: string, doc: Document): Spec {
  const source: Source = (path) => sourceText(doc, path);
  const ck = raw.containers ? "containers" : "services";
  const containers = inFileOrder(doc, [ck], raw[ck] ?? {}).map(([name, c]) =>
    toContainer(name, c, [ck, name], baseDir, source)
  );
  const networks = inFileOrder(doc, ["networks"], raw.networks ?? {}).map(([name, n]) => ({
    name,
    ...(n?.subnet !== undefined && { subnet: n.subnet }),
    ...(n?.internal && { internal: true }),
    ...(n?.driver_opts && { options: stringValues(n.driver_opts) }),
    ...(n?.labels &&
      {
        labels: keyValues(n.labels, ["networks", name, "labels"], source, "") as Record<
          string,
          string
        >,
      }),
  }));
  return { name: project, networks, containers };
}

/**
 * The entries of a mapping in the order the file wrote them: JavaScript puts
 * keys that look like integers (a container named `1`) first.
 */
function inFileOrder<T>(doc: Document, path: Path, map: Record<string, T>): [string, T][] {
  const { node, complete } = locate(doc, path);
  const order = complete && isMap(node) ? node.items.map((p) => keyText(p.key)) : [];
  const rank = (k: string) => order.includes(k) ? order.indexOf(k) : order.length;
  return Object.entries(map).sort(([a], [b]) => rank(a) - rank(b));
}

function toContainer(
  name: string,
  c: RawContainer,
  path: Path,
  baseDir: string,
  source: Source,
): ContainerSpec {
  const at = (...rest: (string | number)[]) => [...path, ...rest];
  const memory = c.mem_limit !== undefined ? "mem_limit" : "memory";
  const opt = <T>(key: string, value: T | undefined) => value === undefined ? {} : { [key]: value };
  return {
    name,
    image: c.image,
    ...opt("command", c.command === undefined ? undefined : commandList(c.command)),
    ...opt("entrypoint", c.entrypoint === undefined ? undefined : commandList(c.entrypoint)),
    environment: keyValues(c.environment, at("environment"), source, null),
    ports: (c.ports ?? []).map((p) => String(p)),
    volumes: (c.volumes ?? []).map((v) => absoluteVolume(v, baseDir)),
    networks: c.networks ?? (c.network === undefined ? [] : [c.network]),
    ...opt("hostname", c.hostname ?? (hostnameProblem(name) ? undefined : name)),
    ...opt("user", c.user === undefined ? undefined : String(c.user)),
    ...opt("workingDir", c.working_dir),
    readOnly: c.read_only ?? false,
    tmpfs: typeof c.tmpfs === "string" ? [c.tmpfs] : c.tmpfs ?? [],
    capAdd: c.cap_add ?? [],
    capDrop: c.cap_drop ?? [],
    ...opt("restart", c.restart),
    ...opt("memory", c[memory] === undefined ? undefined : text(c[memory]!, at(memory), source)),
    ...opt("cpus", c.cpus === undefined ? undefined : text(c.cpus, at("cpus"), source)),
    ...opt("pidsLimit", c.pids_limit === undefined ? undefined : Number(c.pids_limit)),
    dependsOn: c.depends_on ?? [],
    labels: keyValues(c.labels, at("labels"), source, "") as Record<string, string>,
  } as ContainerSpec;
}

function commandList(command: string | string[]): string[] {
  return typeof command === "string" ? splitCommand(command) : command;
}

/**
 * A mapping or a list of `K=V` as one record. A key without value (`K:` or
 * `- K`) gets `missing`: null for the environment (ctr takes it from its own).
 */
function keyValues(
  value: Record<string, string | number | boolean | null> | string[] | undefined,
  path: Path,
  source: Source,
  missing: string | null,
): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (Array.isArray(value)) {
    for (const item of value) {
      const eq = item.indexOf("=");
      if (eq < 0) out[item] = missing;
      else out[item.slice(0, eq)] = item.slice(eq + 1);
    }
  } else {
    for (const [k, v] of Object.entries(value ?? {})) {
      out[k] = v === null ? missing : text(v, [...path, k], source);
    }
  }
  return out;
}

/** A volume whose relative host path is made absolute from the file's directory. */
function absoluteVolume(spec: string, baseDir: string): string {
  const [src, ...rest] = spec.split(":");
  return isAbsolute(src) || !isHostPath(src) ? spec : [resolve(baseDir, src), ...rest].join(":");
}

// ---------------------------------------------------------------------------
// Using a Spec.

/** The name ctr knows a network of the file by: `PROJECT-NET`; built-in ones as they are. */
export function networkName(spec: Spec, net: string): string {
  return BUILTIN_NETWORKS.includes(net) ? net : `${spec.name}-${net}`;
}

/** The name of a container of the file: `PROJECT-KEY`. */
export function containerName(spec: Spec, name: string): string {
  return `${spec.name}-${name}`;
}

/**
 * Container keys in groups that can start together: a container's group comes
 * after every group holding what it depends on (its depth in depends_on),
 * each group in file order. `up` starts a group at once, `down` stops them in
 * reverse.
 */
export function startLevels(spec: Spec): string[][] {
  const depth = new Map<string, number>();
  const deps = new Map(spec.containers.map((c) => [c.name, c.dependsOn]));
  const depthOf = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    // Parsing refused cycles; a hand-made Spec with one gets depth 0 where it closes.
    if (seen.has(name)) return 0;
    seen.add(name);
    const d = Math.max(-1, ...(deps.get(name) ?? []).map((x) => depthOf(x, seen))) + 1;
    depth.set(name, d);
    return d;
  };
  const levels: string[][] = [];
  for (const c of spec.containers) (levels[depthOf(c.name, new Set())] ??= []).push(c.name);
  return levels.filter((l) => l !== undefined);
}

/** The run options of one container of the spec (detached, named after the project). */
export function runOptionsFor(spec: Spec, name: string): RunOptions {
  const c = spec.containers.find((c) => c.name === name);
  if (!c) throw new Error(`no container "${name}" in project ${spec.name}`);
  const [net, ...others] = c.networks;
  const [entrypoint, ...entryArgs] = c.entrypoint ?? [];
  const flags: RunFlags = {
    detach: true,
    name: containerName(spec, name),
    hostname: c.hostname,
    env: Object.entries(c.environment).map(([k, v]) => v === null ? k : `${k}=${v}`),
    publish: c.ports,
    volume: c.volumes,
    // Its further networks in docker's long form: the key is its name on each of them too.
    network: net === undefined ? undefined : [
      networkName(spec, net),
      ...others.map((n) => `name=${networkName(spec, n)},alias=${name}`),
    ],
    // An alias would pull a container without network onto bridge; host and none have no aliases.
    "network-alias": net !== undefined && net !== "host" && net !== "none" ? [name] : undefined,
    user: c.user,
    workdir: c.workingDir,
    "read-only": c.readOnly || undefined,
    tmpfs: c.tmpfs,
    "cap-add": c.capAdd,
    "cap-drop": c.capDrop,
    restart: c.restart,
    memory: c.memory,
    cpus: c.cpus,
    "pids-limit": c.pidsLimit === undefined ? undefined : String(c.pidsLimit),
    label: Object.entries(c.labels).map(([k, v]) => `${k}=${v}`),
    entrypoint: c.entrypoint !== undefined ? entrypoint ?? "" : undefined,
  };
  const defined = Object.fromEntries(
    Object.entries(flags).filter(([, v]) => v !== undefined && !(Array.isArray(v) && !v.length)),
  ) as RunFlags;
  return { flags: defined, args: [c.image, ...entryArgs, ...(c.command ?? [])] };
}
