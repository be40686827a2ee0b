/**
 * An OCI bundle's `config.json` (runtime-spec 1.0 to 1.2, the Linux parts):
 * the schema that checks it, with every problem named by its path
 * (`config.json: linux.namespaces[2].type: unknown namespace "tiem"`); the
 * fields ctr checks but does not carry out yet ({@linkcode unsupported}); the
 * default config `ctr spec` writes (runc's); the `features` document; and the
 * translation of mount options into mount(2) flags.
 *
 * Keys are checked strictly, but the spec forbids failing on them (config.md,
 * "Extensibility": a runtime MAY log unknown properties but MUST otherwise
 * ignore them): a key the spec does not define is a warning, with a
 * suggestion for a typo (`process.arg: unknown key "arg" (did you mean
 * "args"?)`), everywhere except in the free-form maps (`annotations`,
 * `linux.sysctl`, `linux.resources.unified`) and the vendor-shaped objects
 * checked loosely (`linux.intelRdt`, `linux.personality`, `process.scheduler`,
 * `process.ioPriority`; `linux.seccomp` is checked by lib/runtime/seccomp). A known key with a value ctr
 * does not understand or carry out is an error ("Valid values": a runtime
 * MUST generate an error on an unsupported value).
 * @module
 */

import * as z from "zod";
import "../zod_setup.ts";
import { CAPS, MOUNT_FLAG_OPTIONS, MS, PROPAGATION_FLAGS, RLIMIT } from "../../ffi/constants.ts";
import { closest } from "../suggest.ts";
import { ACTIONS, ARCHES, FLAGS, OPERATORS } from "../runtime/seccomp/profile.ts";
import {
  checked,
  describe,
  formatPath,
  type Path,
  type PathStyle,
  valueAt,
  type ValueWords,
} from "../config/diagnostics.ts";

/** How config.json's paths are written and its values named. */
const JSON_PATHS: PathStyle = { word: /^[A-Za-z_$][\w$]*$/, top: "(top)" };
const JSON_WORDS: ValueWords = { object: "an object", null: "null" };

// ---------------------------------------------------------------------------
// Names the spec allows.

/** Every Linux capability name, CAP_CHOWN..CAP_CHECKPOINT_RESTORE, in bit order. */
const CAPABILITIES: readonly string[] = Object.entries(CAPS)
  .sort((a, b) => a[1] - b[1])
  .map(([name]) => `CAP_${name}`);
const CAPABILITY_SET = new Set(CAPABILITIES);

/** RLIMIT_CPU..RLIMIT_RTTIME. */
const RLIMITS = new Set(Object.keys(RLIMIT).map((r) => `RLIMIT_${r.toUpperCase()}`));

const NAMESPACES = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"] as const;

const PROPAGATIONS = [
  "private",
  "rprivate",
  "slave",
  "rslave",
  "shared",
  "rshared",
  "unbindable",
  "runbindable",
] as const;

const HOOKS = [
  "prestart",
  "createRuntime",
  "createContainer",
  "startContainer",
  "poststart",
  "poststop",
] as const;

/** Keys of other platforms' sections, named as such when they appear. */
const OTHER_PLATFORMS = new Set(["windows", "solaris", "vm", "zos", "freebsd"]);

// ---------------------------------------------------------------------------
// Schema building blocks. Messages are written here, in the file's terms;
// type mismatches and missing keys are worded by {@linkcode issueProblems}.

/**
 * A whole number in [min, max]. zod's own `.int()` stops at 2^53, but the
 * spec's uint64 fields (rlimits, memory limits) are written up to 2^64-1,
 * which JSON.parse rounds to 2^64: those are accepted and clamped by the
 * caller.
 */
function int(min: number, max: number, range: string) {
  return checked(
    z.number(),
    (v) => Number.isInteger(v) && v >= min && v <= max ? undefined : `must be ${range}, got ${v}`,
  );
}

const u32 = () => int(0, 2 ** 32 - 1, "a whole number from 0 to 4294967295");
const u64 = () => int(0, 2 ** 64, "a whole number from 0 to 2^64-1");
const i64 = () => int(-(2 ** 63), 2 ** 63, "a whole number from -2^63 to 2^63-1");
const str = () => z.string();
const bool = () => z.boolean();
const strings = () => z.array(z.string());

const absolute = () =>
  checked(z.string(), (p) => p.startsWith("/") ? undefined : "must be an absolute path");

/** An environment entry, as execve(2) takes it. */
const envEntry = () =>
  checked(z.string(), (e) => {
    if (e.includes("\0")) return "must not contain a NUL byte";
    const i = e.indexOf("=");
    if (i < 0) return `must be KEY=VALUE, got ${JSON.stringify(e)}`;
    if (i === 0) return `the name before "=" is empty in ${JSON.stringify(e)}`;
    return undefined;
  });

/** One of `values`; anything else is "unknown WHAT "value"". */
function oneOf<const T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z.enum(values, {
    error: (iss) =>
      typeof iss.input === "string"
        ? `unknown ${what} ${JSON.stringify(iss.input)} (expected ${values.join(", ")})`
        : iss.input === undefined
        ? undefined
        : `expected a string, got ${describe(iss.input, JSON_WORDS)}`,
  });
}

const capability = () =>
  checked(
    z.string(),
    (c) => CAPABILITY_SET.has(c) ? undefined : `unknown capability ${JSON.stringify(c)}`,
  );

const stringMap = () => z.record(z.string(), z.string());

/** A vendor-shaped object: its known keys are typed, other keys are let through. */
const loose = z.looseObject;

const idMapping = () => z.strictObject({ containerID: u32(), hostID: u32(), size: u32() });

const hook = () =>
  z.strictObject({
    path: absolute(),
    args: strings().optional(),
    env: z.array(envEntry()).optional(),
    timeout: int(1, 2 ** 31 - 1, "a whole number of seconds above 0").optional(),
  });

const blockIODevice = () => z.strictObject({ major: i64(), minor: i64(), rate: u64() });

// 0 means "not set": docker and containerd write it for every container.
const blkioWeight = () =>
  int(0, 1000, "a whole number from 10 to 1000, or 0 for none").refine(
    (v) => v === 0 || v >= 10,
    "must be a whole number from 10 to 1000, or 0 for none",
  );

// ---------------------------------------------------------------------------
// The schema.

const processSchema = z.strictObject({
  terminal: bool().optional(),
  consoleSize: z.strictObject({ height: u32(), width: u32() }).optional(),
  user: z.strictObject({
    uid: u32(),
    gid: u32(),
    umask: int(0, 0o7777, "a file mode from 0 to 0o7777").optional(),
    additionalGids: z.array(u32()).optional(),
    // Meaningful on Windows only; accepted and ignored.
    username: str().optional(),
  }),
  // Required unless commandLine (checked in crossProblems, which sees both).
  args: strings().optional(),
  commandLine: str().optional(),
  env: z.array(envEntry()).optional(),
  cwd: absolute(),
  capabilities: z.strictObject({
    bounding: z.array(capability()).optional(),
    effective: z.array(capability()).optional(),
    inheritable: z.array(capability()).optional(),
    permitted: z.array(capability()).optional(),
    ambient: z.array(capability()).optional(),
  }).optional(),
  rlimits: z.array(z.strictObject({
    type: checked(
      z.string(),
      (t) => RLIMITS.has(t) ? undefined : `unknown rlimit ${JSON.stringify(t)}`,
    ),
    hard: u64(),
    soft: u64(),
  })).optional(),
  noNewPrivileges: bool().optional(),
  apparmorProfile: str().optional(),
  oomScoreAdj: int(-1000, 1000, "a whole number from -1000 to 1000").optional(),
  selinuxLabel: str().optional(),
  ioPriority: loose({ class: str() }).optional(),
  scheduler: loose({ policy: str() }).optional(),
  execCPUAffinity: z.strictObject({
    initial: checked(str(), cpuListProblem).optional(),
    final: checked(str(), cpuListProblem).optional(),
  }).optional(),
});

const mountSchema = z.strictObject({
  destination: absolute(),
  type: str().optional(),
  source: str().optional(),
  options: strings().optional(),
  uidMappings: z.array(idMapping()).optional(),
  gidMappings: z.array(idMapping()).optional(),
});

const deviceSchema = z.strictObject({
  type: oneOf(["c", "b", "u", "p"], "device type"),
  path: absolute(),
  major: i64().optional(),
  minor: i64().optional(),
  fileMode: int(0, 0o7777, "a file mode from 0 to 0o7777").optional(),
  uid: u32().optional(),
  gid: u32().optional(),
});

const resourcesSchema = z.strictObject({
  devices: z.array(z.strictObject({
    allow: bool(),
    type: oneOf(["a", "b", "c"], "device type").optional(),
    major: i64().optional(),
    minor: i64().optional(),
    access: checked(
      str(),
      (a) => /^[rwm]*$/.test(a) ? undefined : `must be made of "r", "w" and "m", got "${a}"`,
    ).optional(),
  })).optional(),
  memory: z.strictObject({
    limit: i64().optional(),
    reservation: i64().optional(),
    swap: i64().optional(),
    kernel: i64().optional(),
    kernelTCP: i64().optional(),
    swappiness: int(0, 100, "a whole number from 0 to 100").optional(),
    disableOOMKiller: bool().optional(),
    useHierarchy: bool().optional(),
    checkBeforeUpdate: bool().optional(),
  }).optional(),
  cpu: z.strictObject({
    shares: u64().optional(),
    quota: i64().optional(),
    burst: u64().optional(),
    period: u64().optional(),
    realtimeRuntime: i64().optional(),
    realtimePeriod: u64().optional(),
    cpus: checked(str(), cpuListProblem).optional(),
    mems: checked(str(), cpuListProblem).optional(),
    idle: i64().optional(),
  }).optional(),
  pids: z.strictObject({ limit: i64() }).optional(),
  blockIO: z.strictObject({
    weight: blkioWeight().optional(),
    leafWeight: blkioWeight().optional(),
    weightDevice: z.array(z.strictObject({
      major: i64(),
      minor: i64(),
      weight: blkioWeight().optional(),
      leafWeight: blkioWeight().optional(),
    })).optional(),
    throttleReadBpsDevice: z.array(blockIODevice()).optional(),
    throttleWriteBpsDevice: z.array(blockIODevice()).optional(),
    throttleReadIOPSDevice: z.array(blockIODevice()).optional(),
    throttleWriteIOPSDevice: z.array(blockIODevice()).optional(),
  }).optional(),
  hugepageLimits: z.array(z.strictObject({ pageSize: str(), limit: u64() })).optional(),
  network: z.strictObject({
    classID: u32().optional(),
    priorities: z.array(z.strictObject({ name: str(), priority: u32() })).optional(),
  }).optional(),
  rdma: z.record(
    z.string(),
    z.strictObject({ hcaHandles: u32().optional(), hcaObjects: u32().optional() }),
  ).optional(),
  unified: stringMap().optional(),
});

const timeOffset = () => z.strictObject({ secs: i64(), nanosecs: u32() });

const linuxSchema = z.strictObject({
  namespaces: z.array(z.strictObject({
    type: oneOf(NAMESPACES, "namespace"),
    path: absolute().optional(),
  })).optional(),
  uidMappings: z.array(idMapping()).optional(),
  gidMappings: z.array(idMapping()).optional(),
  timeOffsets: z.strictObject({
    monotonic: timeOffset().optional(),
    boottime: timeOffset().optional(),
  }).optional(),
  devices: z.array(deviceSchema).optional(),
  cgroupsPath: str().optional(),
  resources: resourcesSchema.optional(),
  intelRdt: loose({}).optional(),
  sysctl: stringMap().optional(),
  seccomp: loose({
    defaultAction: str(),
    architectures: strings().optional(),
    syscalls: z.array(loose({
      names: strings(),
      action: str(),
      args: z.array(loose({})).optional(),
    })).optional(),
  }).optional(),
  rootfsPropagation: oneOf(PROPAGATIONS, "propagation").optional(),
  maskedPaths: z.array(absolute()).optional(),
  readonlyPaths: z.array(absolute()).optional(),
  mountLabel: str().optional(),
  personality: loose({ domain: str() }).optional(),
});

/** A bundle's config.json, the Linux fields of runtime-spec 1.0 to 1.2. */
export const OciConfigSchema = z.strictObject({
  ociVersion: checked(
    z.string(),
    (v) =>
      /^1\.[0-2]\.\d+([-+][0-9A-Za-z.+-]*)?$/.test(v)
        ? undefined
        : `unsupported version ${JSON.stringify(v)} (ctr reads 1.0.x, 1.1.x and 1.2.x)`,
  ),
  root: z.strictObject({ path: str(), readonly: bool().optional() }),
  hostname: str().optional(),
  domainname: str().optional(),
  process: processSchema.optional(),
  mounts: z.array(mountSchema).optional(),
  hooks: z.strictObject({
    prestart: z.array(hook()).optional(),
    createRuntime: z.array(hook()).optional(),
    createContainer: z.array(hook()).optional(),
    startContainer: z.array(hook()).optional(),
    poststart: z.array(hook()).optional(),
    poststop: z.array(hook()).optional(),
  }).optional(),
  annotations: stringMap().optional(),
  linux: linuxSchema.optional(),
});

/** A checked config.json. */
export type OciConfig = z.infer<typeof OciConfigSchema>;

/**
 * The `process` object alone, as `runc exec --process FILE` reads it: the
 * same checks as in a config.json.
 */
export const OciProcessSchema = processSchema;

/** A checked process.json. */
export type OciProcess = z.infer<typeof OciProcessSchema>;

function cpuListProblem(list: string): string | undefined {
  return /^[0-9, -]*$/.test(list) ? undefined : `must be a CPU list like "0-3,6", got "${list}"`;
}

// ---------------------------------------------------------------------------
// Parsing and problems.

/** A config.json that is not valid JSON, or not a valid config. */
export class OciConfigError extends Error {
  /** Each problem as `FILE: PATH: message` (or `FILE:LINE:COL: ...` for bad JSON). */
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problems.join("\n"));
    this.name = "OciConfigError";
    this.problems = problems;
  }
}

/**
 * Parses and checks a config.json. Every problem is collected, not just the
 * first, so a hand-written bundle is fixed in one go; `file` prefixes each.
 * Unknown keys are passed to `warn` (one line each, worded like a problem)
 * and left out of the result; they appear among the problems only when the
 * config fails for another reason, which a typo may explain.
 */
export function parseOciConfig(
  text: string,
  file = "config.json",
  warn: (message: string) => void = () => {},
): OciConfig {
  return parseWith(OciConfigSchema, text, { file, warn, cross: crossProblems });
}

/** Parses and checks a process.json (`exec --process FILE`), unknown keys warned as in a config. */
export function parseOciProcess(
  text: string,
  file = "process.json",
  warn: (message: string) => void = () => {},
): OciProcess {
  return parseWith(OciProcessSchema, text, {
    file,
    warn,
    cross: (raw) => processProblems(raw, []),
  });
}

function parseWith<T extends z.ZodType>(
  schema: T,
  text: string,
  o: { file: string; warn: (message: string) => void; cross: (raw: unknown) => Problem[] },
): z.output<T> {
  const { file } = o;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new OciConfigError([jsonProblem(text, (e as Error).message, file)]);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new OciConfigError([`${file}: expected a JSON object, got ${describe(raw, JSON_WORDS)}`]);
  }
  let result = schema.safeParse(raw);
  const problems = [
    ...(result.success ? [] : issueProblems(result.error.issues, raw, schema)),
    ...o.cross(raw),
  ];
  // zod reports in the schema's order and the cross checks come last: the
  // file's own order reads better.
  const lines = (list: readonly Problem[]) =>
    list.map((p) => ({ p, order: fileOrder(raw, p.path) }))
      .sort((a, b) => compareOrder(a.order, b.order))
      .map(({ p }) => `${file}: ${formatPath(p.path, JSON_PATHS)}: ${p.message}`);
  const unknown = problems.filter((p) => p.unknownKey);
  if (problems.length > unknown.length) throw new OciConfigError(lines(problems));
  if (unknown.length) {
    for (const line of lines(unknown)) o.warn(line);
    const kept = structuredClone(raw);
    for (const p of unknown) dropKey(kept, p.path);
    result = schema.safeParse(kept);
    if (!result.success) {
      throw new OciConfigError(lines(issueProblems(result.error.issues, kept, schema)));
    }
  }
  return result.data as z.output<T>;
}

/** Deletes the key at `path` from a parsed JSON document. */
function dropKey(data: unknown, path: Path): void {
  let value = data;
  for (const seg of path.slice(0, -1)) {
    value = isObject(value) || Array.isArray(value)
      ? (value as Record<string | number, unknown>)[seg]
      : undefined;
  }
  if (isObject(value)) delete value[path[path.length - 1] as string];
}

interface Problem {
  readonly path: Path;
  readonly message: string;
  /** A key the spec does not define: a warning unless the config fails anyway. */
  readonly unknownKey?: boolean;
}

/**
 * Where `path` lies in the document: per step, the key's index among its
 * object's keys (JSON.parse keeps the text's order) or the list index. A key
 * that is not there sorts after its siblings.
 */
function fileOrder(data: unknown, path: Path): number[] {
  const order: number[] = [];
  let value = data;
  for (const seg of path) {
    if (typeof seg === "number") order.push(seg);
    else {
      const i = isObject(value) ? Object.keys(value).indexOf(seg) : -1;
      order.push(i < 0 ? Number.MAX_SAFE_INTEGER : i);
    }
    value = isObject(value) || Array.isArray(value)
      ? (value as Record<string | number, unknown>)[seg]
      : undefined;
  }
  return order;
}

function compareOrder(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  boolean: "true or false",
  object: "an object",
  record: "an object",
  array: "a list",
};

/** zod's issues in the file's terms. */
function issueProblems(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  schema: z.ZodType,
): Problem[] {
  const out: Problem[] = [];
  for (const issue of issues) {
    const path = issue.path as (string | number)[];
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({
          path: [...path, key],
          message: unknownKeyMessage(key, path, schema),
          unknownKey: true,
        });
      }
      continue;
    }
    const { found, value } = valueAt(data, path);
    if (!found && (issue.code === "invalid_type" || issue.code === "invalid_value")) {
      out.push({ path, message: "is required" });
    } else if (issue.code === "invalid_type") {
      const want = EXPECTED[issue.expected] ?? issue.expected;
      out.push({ path, message: `expected ${want}, got ${describe(value, JSON_WORDS)}` });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

function unknownKeyMessage(key: string, path: Path, schema: z.ZodType): string {
  if (schema === OciConfigSchema && path.length === 0 && OTHER_PLATFORMS.has(key)) {
    return `unknown key "${key}" (settings for another platform: ctr runs Linux containers)`;
  }
  const hint = closest(key, keysAt(schema, path));
  return hint ? `unknown key "${key}" (did you mean "${hint}"?)` : `unknown key "${key}"`;
}

/** Just the parts of zod's schema internals that keysAt walks. */
interface Def {
  type: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  innerType?: { _zod: { def: Def } };
  element?: { _zod: { def: Def } };
  valueType?: { _zod: { def: Def } };
}

/** The keys the object at `path` in `schema` may have, for "did you mean". */
function keysAt(schema: z.ZodType, path: Path): string[] {
  const unwrap = (d: Def): Def =>
    d.type === "optional" && d.innerType ? unwrap(d.innerType._zod.def) : d;
  let def: Def | undefined = unwrap((schema as unknown as { _zod: { def: Def } })._zod.def);
  for (const seg of path) {
    if (!def) return [];
    const next: { _zod: { def: Def } } | undefined = typeof seg === "number"
      ? def.element
      : def.type === "record"
      ? def.valueType
      : def.shape?.[seg];
    def = next ? unwrap(next._zod.def) : undefined;
  }
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

// ---------------------------------------------------------------------------
// Checks across fields, run on the raw data whether or not zod accepted it
// (zod skips an object's refinements once anything inside it failed, and
// these should still be reported alongside): values of the wrong type are
// skipped here, zod has named them.

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function listAt(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function crossProblems(raw: unknown): Problem[] {
  if (!isObject(raw)) return [];
  const out: Problem[] = [];
  if (isObject(raw.process)) out.push(...processProblems(raw.process, ["process"]));
  const linux = isObject(raw.linux) ? raw.linux : {};
  const seen = new Map<string, number>();
  listAt(linux.namespaces).forEach((ns, i) => {
    if (!isObject(ns) || typeof ns.type !== "string") return;
    const first = seen.get(ns.type);
    if (first === undefined) seen.set(ns.type, i);
    else {
      out.push({
        path: ["linux", "namespaces", i, "type"],
        message: `duplicate namespace "${ns.type}" (also at [${first}])`,
      });
    }
  });
  // A mapping only means something to a user namespace that ctr makes: one
  // joined by path has its own.
  const newUserNs = listAt(linux.namespaces).some((ns) =>
    isObject(ns) && ns.type === "user" && !ns.path
  );
  for (const key of ["uidMappings", "gidMappings"]) {
    if (listAt(linux[key]).length && !newUserNs) {
      out.push({
        path: ["linux", key],
        message: 'needs a new user namespace (linux.namespaces has no "user" without a path)',
      });
    }
  }
  if (newUserNs) {
    for (const key of ["uidMappings", "gidMappings"]) {
      if (!listAt(linux[key]).length) {
        out.push({ path: ["linux", key], message: "a new user namespace needs a mapping" });
      }
    }
  }
  listAt(linux.devices).forEach((d, i) => {
    if (!isObject(d) || d.type === "p" || typeof d.type !== "string") return;
    for (const key of ["major", "minor"]) {
      if (d[key] === undefined) {
        out.push({
          path: ["linux", "devices", i, key],
          message: `is required for type "${d.type}"`,
        });
      }
    }
  });
  return out;
}

/** Checks of a process object across its fields; `at` is its path. */
function processProblems(p: unknown, at: Path): Problem[] {
  if (!isObject(p)) return [];
  const out: Problem[] = [];
  if ((p.args === undefined || (Array.isArray(p.args) && !p.args.length)) && !p.commandLine) {
    out.push({ path: [...at, "args"], message: "at least one argument is required" });
  }
  const types = new Map<string, number>();
  listAt(p.rlimits).forEach((r, i) => {
    if (!isObject(r)) return;
    if (typeof r.type === "string") {
      const first = types.get(r.type);
      if (first === undefined) types.set(r.type, i);
      else {
        out.push({
          path: [...at, "rlimits", i, "type"],
          message: `duplicate rlimit "${r.type}" (also at [${first}])`,
        });
      }
    }
    // Only limits zod accepted are compared: a bad one is reported already.
    const valid = (v: unknown): v is number =>
      typeof v === "number" && Number.isInteger(v) && v >= 0;
    if (valid(r.soft) && valid(r.hard) && r.soft > r.hard) {
      out.push({
        path: [...at, "rlimits", i, "soft"],
        message: `${r.soft} is above the hard limit ${r.hard}`,
      });
    }
  });
  return out;
}

/**
 * A JSON.parse error as `FILE:LINE:COL: invalid JSON: ...`. V8 gives the
 * offset for some errors ("... at position 8") but not for an unexpected
 * token, so the text is scanned for the offending offset when it does not.
 */
function jsonProblem(text: string, message: string, file: string): string {
  const m = message.match(/at position (\d+)/);
  const offset = m ? Number(m[1]) : syntaxErrorOffset(text);
  const what = message
    .replace(/,? (in JSON )?at position \d+.*$/, "")
    .replace(/, (\.\.\.)?".*" is not valid JSON$/s, "")
    .replace(/^./, (c) => c.toLowerCase());
  if (offset < 0) return `${file}: invalid JSON: ${what}`;
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `${file}:${line}:${column}: invalid JSON: ${what}`;
}

/** The offset of the first syntax error in `text`, or -1 when none is found. */
function syntaxErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxAt(i);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const expect = (c: string) => text[i] === c ? i++ : fail();
  const string = () => {
    expect('"');
    for (;;) {
      const c = text[i];
      if (c === undefined || c.charCodeAt(0) < 0x20) fail();
      if (c === '"') return void i++;
      if (c === "\\") {
        i++;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? "x")) fail();
      }
      i++;
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        ws();
        if (c === "{") {
          string();
          ws();
          expect(":");
        }
        value();
        ws();
        if (text[i] === ",") i++;
        else return void expect(close);
      }
    }
    if (c === '"') return string();
    const re = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null/y;
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) fail();
    i += m![0].length;
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return -1;
  } catch (e) {
    // A nesting deep enough to overflow the stack gets no position.
    return e instanceof SyntaxAt ? e.offset : -1;
  }
}

class SyntaxAt {
  constructor(readonly offset: number) {}
}

// ---------------------------------------------------------------------------
// What ctr does not carry out.

/**
 * The fields of a checked config that ctr does not carry out yet, one
 * message each (`linux.timeOffsets: time namespaces are not supported`).
 * Empty lists and strings count as absent. The caller decides whether these
 * fail the container (the default) or are warnings.
 */
export function unsupported(cfg: OciConfig): string[] {
  const out: string[] = [];
  const add = (path: Path, message: string) =>
    out.push(`${formatPath(path, JSON_PATHS)}: ${message}`);
  const some = (v: unknown) =>
    v !== undefined && v !== "" && !(Array.isArray(v) && v.length === 0) &&
    !(isObject(v) && Object.keys(v).length === 0);

  const p = cfg.process;
  if (p) {
    if (p.ioPriority) add(["process", "ioPriority"], "I/O priorities are not supported");
    if (p.scheduler) add(["process", "scheduler"], "scheduling policies are not supported");
    if (p.execCPUAffinity) {
      add(["process", "execCPUAffinity"], "CPU affinities are not supported");
    }
  }

  (cfg.mounts ?? []).forEach((m, i) => {
    for (const key of ["uidMappings", "gidMappings"] as const) {
      if (some(m[key])) add(["mounts", i, key], "idmapped mounts are not supported");
    }
    for (const o of m.options ?? []) {
      const why = UNSUPPORTED_MOUNT_OPTIONS[o] ??
        (RECURSIVE_ATTRS.has(o) ? "recursive mount attributes are not supported" : undefined);
      if (why) add(["mounts", i, "options"], `"${o}": ${why}`);
    }
  });

  const l = cfg.linux;
  if (!l?.namespaces?.some((ns) => ns.type === "mount")) {
    // runc makes these in the runtime's own mount table, where they outlive the
    // container; crun leaves them out silently. ctr does neither.
    const why = 'needs a mount namespace (linux.namespaces has no "mount"): ' +
      "ctr never mounts in the host's mount table";
    if (some(cfg.mounts)) add(["mounts"], why);
    if (cfg.root.readonly) add(["root", "readonly"], why);
    for (const key of ["maskedPaths", "readonlyPaths", "devices", "rootfsPropagation"] as const) {
      if (some(l?.[key])) add(["linux", key], why);
    }
    if (some(l?.sysctl)) add(["linux", "sysctl"], why + " (sysctls are written in its /proc)");
  }
  if (!l) return out;
  (l.namespaces ?? []).forEach((ns, i) => {
    if (ns.type === "time") add(["linux", "namespaces", i], "time namespaces are not supported");
  });
  if (some(l.timeOffsets)) add(["linux", "timeOffsets"], "time namespaces are not supported");
  if (l.intelRdt) add(["linux", "intelRdt"], "Intel RDT is not supported");
  if (l.personality) add(["linux", "personality"], "personalities are not supported");

  const r = l.resources;
  if (!r) return out;
  const res = (...path: string[]) => ["linux", "resources", ...path];
  if (some(r.hugepageLimits)) add(res("hugepageLimits"), "hugetlb limits are not supported");
  if (some(r.rdma)) add(res("rdma"), "RDMA limits are not supported");
  if (r.network) add(res("network"), "network classes and priorities are not supported");
  if (some(r.unified)) add(res("unified"), "raw cgroup v2 settings are not supported");
  const cpu = r.cpu ?? {};
  for (const key of ["realtimeRuntime", "realtimePeriod"] as const) {
    if (cpu[key] !== undefined) add(res("cpu", key), "real-time CPU limits are not supported");
  }
  if (cpu.idle !== undefined) add(res("cpu", "idle"), "SCHED_IDLE cgroups are not supported");
  if (cpu.burst !== undefined) add(res("cpu", "burst"), "CPU bursts are not supported");
  const bio = r.blockIO ?? {};
  for (const key of ["weight", "leafWeight"] as const) {
    if (bio[key]) add(res("blockIO", key), "block I/O weights are not supported");
  }
  if (some(bio.weightDevice)) {
    add(res("blockIO", "weightDevice"), "block I/O weights are not supported");
  }
  for (const key of ["throttleReadIOPSDevice", "throttleWriteIOPSDevice"] as const) {
    if (some(bio[key])) add(res("blockIO", key), "IOPS throttles are not supported");
  }
  return out;
}

// ---------------------------------------------------------------------------
// Mount options.

/** Propagation options: each is a mount(2) call of its own after the mount. */
const PROPAGATION_OPTIONS = PROPAGATION_FLAGS;

/**
 * runc's recursive mount attributes (mount_setattr(2) with AT_RECURSIVE),
 * which ctr does not apply: passed on as filesystem data they would fail
 * obscurely, so {@linkcode unsupported} names them.
 */
const RECURSIVE_ATTRS = new Set([
  "rro",
  "rrw",
  "rnosuid",
  "rsuid",
  "rnodev",
  "rdev",
  "rnoexec",
  "rexec",
  "rnodiratime",
  "rdiratime",
  "rrelatime",
  "rnorelatime",
  "rnoatime",
  "rstrictatime",
  "rnostrictatime",
  "rnosymfollow",
  "rsymfollow",
]);

/** Other runtime-level options (not filesystem data) that ctr does not carry out. */
const UNSUPPORTED_MOUNT_OPTIONS: Readonly<Record<string, string>> = {
  tmpcopyup: "copying the image's files into a tmpfs is not supported",
  idmap: "idmapped mounts are not supported",
  ridmap: "idmapped mounts are not supported",
};

/** What {@linkcode mountFlags} makes of a mount's options. */
export interface MountFlags {
  /** mount(2) flags, MS_BIND and MS_REC included for bind and rbind. */
  flags: number;
  /** Propagation changes (MS_PRIVATE, MS_SLAVE|MS_REC, ...), in order, one mount(2) call each. */
  propagation: number[];
  /** The options mount(2) does not know, comma-joined, for the filesystem (`mode=755`). */
  data: string;
  /** rbind: the bind takes the submounts along. */
  recursive: boolean;
  /** bind or rbind. */
  bind: boolean;
  /** The mount ends up read-only. */
  readonly: boolean;
}

/** Translates a mount's OCI options into mount(2) flags, propagation changes and data. */
export function mountFlags(options: readonly string[]): MountFlags {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  for (const o of options) {
    const f = MOUNT_FLAG_OPTIONS[o];
    if (f) flags = f.set ? flags | f.flag : flags & ~f.flag;
    else if (o in PROPAGATION_OPTIONS) propagation.push(PROPAGATION_OPTIONS[o]);
    else data.push(o);
  }
  return {
    flags,
    propagation,
    data: data.join(","),
    recursive: (flags & MS.REC) !== 0,
    bind: (flags & MS.BIND) !== 0,
    readonly: (flags & MS.RDONLY) !== 0,
  };
}

// ---------------------------------------------------------------------------
// `ctr spec` and `ctr features`.

/** The mount options {@linkcode mountFlags} understands, for `features`. */
const MOUNT_OPTIONS: readonly string[] = [
  ...Object.keys(MOUNT_FLAG_OPTIONS),
  ...Object.keys(PROPAGATION_OPTIONS),
].sort();

/** The newest spec version ctr reads, and the one `ctr spec` writes. */
const SPEC_VERSION = "1.2.0";

/** The capabilities of runc's default config: few, since the config is an example. */
const SPEC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/**
 * The config `ctr spec` writes: runc's (`runc spec`, libcontainer/specconv's
 * Example), with ctr's version and hostname. `rootless` adapts it as
 * `runc spec --rootless` does: a user namespace mapping root to the calling
 * user, no network namespace (a rootless caller cannot configure one), /sys
 * bind-mounted (sysfs cannot be mounted without the network namespace), no
 * uid=/gid= mount options (only one id is mapped) and no cgroup resources.
 * Like runc's, its capabilities leave out the inheritable and ambient sets.
 */
export function defaultSpec(opts: { rootless?: boolean; args?: string[] } = {}): OciConfig {
  const spec = {
    ociVersion: SPEC_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: opts.args ?? ["sh"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: {
        bounding: [...SPEC_CAPS],
        effective: [...SPEC_CAPS],
        permitted: [...SPEC_CAPS],
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "ctr",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", "ro"],
      },
      {
        destination: "/sys/fs/cgroup",
        type: "cgroup",
        source: "cgroup",
        options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
      },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces: [
        { type: "pid" },
        { type: "network" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "cgroup" },
      ],
      maskedPaths: [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
        "/sys/devices/virtual/tpm",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  } satisfies OciConfig as OciConfig;
  if (!opts.rootless) return spec;

  const linux = spec.linux!;
  return {
    ...spec,
    mounts: spec.mounts!.map((m) =>
      m.destination === "/sys"
        ? {
          destination: "/sys",
          type: "none",
          source: "/sys",
          options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
        }
        : m.options
        ? { ...m, options: m.options.filter((o) => !/^[ug]id=/.test(o)) }
        : m
    ),
    linux: {
      namespaces: [
        ...linux.namespaces!.filter((n) => n.type !== "network" && n.type !== "user"),
        { type: "user" },
      ],
      uidMappings: [{ containerID: 0, hostID: Deno.uid() ?? 0, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: Deno.gid() ?? 0, size: 1 }],
      maskedPaths: linux.maskedPaths,
      readonlyPaths: linux.readonlyPaths,
    },
  };
}

/**
 * The `features` document (runtime-spec's features.md) that `ctr features`
 * prints: what a caller such as containerd may ask of this runtime.
 */
export function featuresDocument(): object {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: SPEC_VERSION,
    hooks: [...HOOKS],
    mountOptions: [...MOUNT_OPTIONS],
    linux: {
      namespaces: ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
      capabilities: [...CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: [...ACTIONS],
        operators: [...OPERATORS],
        // The ABIs ctr has tables for; the others are recognised and skipped.
        archs: ARCHES.slice(0, 5),
        knownFlags: FLAGS.filter((f) => f !== "SECCOMP_FILTER_FLAG_NEW_LISTENER"),
        supportedFlags: FLAGS.filter((f) => f !== "SECCOMP_FILTER_FLAG_NEW_LISTENER"),
      },
      // Applied where the host runs the module, left out (with a warning) where it does not.
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: {},
  };
}
