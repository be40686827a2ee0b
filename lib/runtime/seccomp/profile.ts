/**
 * Seccomp profiles: the OCI runtime spec's `linux.seccomp` object and
 * docker's profile format (the same object plus `archMap`, `name`,
 * `comment` and rules gated by `includes`/`excludes` on capabilities,
 * architecture and kernel version), read into one resolved OciSeccomp.
 *
 * Hand-checked rather than by schema: it runs on every container start,
 * and each problem is reported with its JSON path
 * (`seccomp.syscalls[4].args[0].op: unknown operator "SCMP_CMP_FOO"`).
 * @module
 */

import type { Arch } from "../../../ffi/syscalls.ts";
import { closest } from "../../suggest.ts";

/** Actions a rule or the default can take (libseccomp's names; SCMP_ACT_KILL is KILL_THREAD). */
export const ACTIONS = [
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_LOG",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_NOTIFY",
] as const;

/** A seccomp action name. */
export type SeccompAction = typeof ACTIONS[number];

/** Argument comparisons (libseccomp's enum scmp_compare). */
export const OPERATORS = [
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
] as const;

/** A comparison operator name. */
export type SeccompOperator = typeof OPERATORS[number];

/**
 * Every architecture libseccomp names. ctr compiles filters for the first
 * five; the others are recognised and skipped, as runc skips an architecture
 * the host cannot run.
 */
export const ARCHES = [
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
] as const;

/** A libseccomp architecture name. */
export type SeccompArch = typeof ARCHES[number];

/**
 * Filter flags (seccomp(2)'s SECCOMP_FILTER_FLAG_*). NEW_LISTENER is also
 * implied by any SCMP_ACT_NOTIFY rule.
 */
export const FLAGS = [
  "SECCOMP_FILTER_FLAG_TSYNC",
  "SECCOMP_FILTER_FLAG_LOG",
  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
  "SECCOMP_FILTER_FLAG_NEW_LISTENER",
] as const;

/** A filter flag name. */
export type SeccompFlag = typeof FLAGS[number];

/** One argument comparison of a rule, read: values are exact 64-bit integers. */
export interface OciSeccompArg {
  /** Which argument, 0 to 5. */
  readonly index: number;
  /** The datum; for SCMP_CMP_MASKED_EQ, the mask. */
  readonly value: bigint;
  /** For SCMP_CMP_MASKED_EQ, the datum the masked argument must equal (else unused). */
  readonly valueTwo: bigint;
  /** The comparison. */
  readonly op: SeccompOperator;
}

/** One rule of the OCI format: these calls, under these conditions (all must hold), get the action. */
export interface OciSyscall {
  /** System call names (a name an ABI lacks is skipped for that ABI). */
  readonly names: readonly string[];
  /** What a matching call gets. */
  readonly action: SeccompAction;
  /** The errno of SCMP_ACT_ERRNO, the message of SCMP_ACT_TRACE (EPERM when absent, as runc). */
  readonly errnoRet?: number;
  /** Conditions on the arguments, all of which must hold. */
  readonly args?: readonly OciSeccompArg[];
}

/** The OCI runtime spec's `linux.seccomp`, resolved: what the compiler takes. */
export interface OciSeccomp {
  /** What a call no rule matches gets. */
  readonly defaultAction: SeccompAction;
  /** The errno of an SCMP_ACT_ERRNO default (EPERM when absent). */
  readonly defaultErrnoRet?: number;
  /** ABIs besides the native one the filter handles (another ABI gets the bad-arch action). */
  readonly architectures?: readonly SeccompArch[];
  /** seccomp(2) flags; absent means SPEC_ALLOW, as runc (an empty list means none). */
  readonly flags?: readonly SeccompFlag[];
  /** The unix socket a SCMP_ACT_NOTIFY listener fd is sent to. */
  readonly listenerPath?: string;
  /** Opaque data sent along with the listener fd. */
  readonly listenerMetadata?: string;
  /** The rules. */
  readonly syscalls?: readonly OciSyscall[];
}

/** docker's conditions on a rule: capabilities, architecture (docker's names: amd64, arm64, ...), kernel. */
export interface DockerFilter {
  /** Capabilities (CAP_SYS_ADMIN) the container's bounding set must hold all of (includes) or any of (excludes). */
  readonly caps?: readonly string[];
  /** Native architectures (amd64, arm64, x86, arm, ...) of the runtime. */
  readonly arches?: readonly string[];
  /** "major.minor": the running kernel is at least this. */
  readonly minKernel?: string;
}

/** One rule of docker's format: an OCI rule plus its conditions and a comment. */
export interface DockerSyscall {
  /** System call names. */
  readonly names?: readonly string[];
  /** One name (the old form; never together with names). */
  readonly name?: string;
  /** What a matching call gets. */
  readonly action: SeccompAction;
  /** The errno of SCMP_ACT_ERRNO. */
  readonly errnoRet?: number;
  /** Conditions on the arguments (JSON numbers). */
  readonly args?: readonly {
    readonly index: number;
    readonly value: number;
    readonly valueTwo?: number;
    readonly op: SeccompOperator;
  }[];
  /** Why the rule is there. */
  readonly comment?: string;
  /** The rule applies only when all of these hold. */
  readonly includes?: DockerFilter;
  /** The rule does not apply when any of these holds. */
  readonly excludes?: DockerFilter;
}

/** docker's profile format (moby profiles/seccomp). */
export interface DockerProfile {
  /** What a call no rule matches gets. */
  readonly defaultAction: SeccompAction;
  /** The errno of an SCMP_ACT_ERRNO default. */
  readonly defaultErrnoRet?: number;
  /** Per native architecture, the ABIs the filter covers. */
  readonly archMap?: readonly {
    readonly architecture: SeccompArch;
    readonly subArchitectures: readonly SeccompArch[] | null;
  }[];
  /** The rules. */
  readonly syscalls: readonly DockerSyscall[];
}

/** What a docker-format profile is resolved against. */
export interface ResolveOptions {
  /** The container's capabilities (bounding set): "SYS_ADMIN" or "CAP_SYS_ADMIN". */
  readonly caps: readonly string[];
  /** The native architecture. */
  readonly arch: Arch;
  /** The running kernel's release (uname -r); when absent, every minKernel counts as met. */
  readonly kernel?: string;
  /** The profile's place in its file, for errors (default "seccomp"). */
  readonly path?: string;
}

/** A profile that cannot be used: every problem, each with its JSON path. */
export class SeccompProfileError extends Error {
  /** One line per problem. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
    super(`Cannot read the seccomp profile: ${problems[0]}${more}`);
    this.name = "SeccompProfileError";
    this.problems = problems;
  }
}

/** docker's names of the native architectures (Go's GOARCH through libseccomp's names). */
const NATIVE: Record<Arch, { scmp: SeccompArch; docker: string }> = {
  x86_64: { scmp: "SCMP_ARCH_X86_64", docker: "amd64" },
  aarch64: { scmp: "SCMP_ARCH_AARCH64", docker: "arm64" },
};

const TOP_KEYS = [
  "defaultAction",
  "defaultErrnoRet",
  "architectures",
  "flags",
  "listenerPath",
  "listenerMetadata",
  "syscalls",
  "archMap",
  // containers/common writes errno names beside the numbers; the numbers rule.
  "defaultErrno",
];
const RULE_KEYS = [
  "names",
  "name",
  "action",
  "errnoRet",
  "args",
  "comment",
  "includes",
  "excludes",
  "errno",
];
const ARG_KEYS = ["index", "value", "valueTwo", "op"];
const FILTER_KEYS = ["caps", "arches", "minKernel"];
const ARCHMAP_KEYS = ["architecture", "subArchitectures"];
const MAX_RET = 0xffff;
const SYSCALL_NAME = /^[a-z0-9_]+$/;
const U64_MAX = (1n << 64n) - 1n;

type Obj = Record<string, unknown>;

/** The checks, collecting problems instead of stopping at the first. */
class Reader {
  readonly problems: string[] = [];

  fail(path: string, what: string): undefined {
    this.problems.push(`${path}: ${what}`);
    return undefined;
  }

  object(v: unknown, path: string, keys: readonly string[]): Obj | undefined {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      return this.fail(path, `expected an object, got ${kind(v)}`);
    }
    for (const k of Object.keys(v)) {
      if (keys.includes(k)) continue;
      const near = closest(k, keys);
      this.fail(`${path}.${k}`, `unknown field${near ? ` (did you mean "${near}"?)` : ""}`);
    }
    return v as Obj;
  }

  array(v: unknown, path: string): unknown[] | undefined {
    if (!Array.isArray(v)) return this.fail(path, `expected a list, got ${kind(v)}`);
    return v;
  }

  string(v: unknown, path: string): string | undefined {
    if (typeof v !== "string") return this.fail(path, `expected a string, got ${kind(v)}`);
    return v;
  }

  strings(v: unknown, path: string): string[] | undefined {
    const a = this.array(v, path);
    if (!a) return undefined;
    const out: string[] = [];
    // Indexed, and the path built only for a problem: the default profile's
    // lists hold hundreds of names, read before the JIT has seen this code.
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      if (typeof x === "string") out.push(x);
      else this.string(x, `${path}[${i}]`);
    }
    return out;
  }

  oneOf<T extends string>(
    v: unknown,
    path: string,
    names: readonly T[],
    what: string,
  ): T | undefined {
    const s = this.string(v, path);
    if (s === undefined) return undefined;
    if ((names as readonly string[]).includes(s)) return s as T;
    const near = closest(s, names);
    return this.fail(
      path,
      `unknown ${what} ${JSON.stringify(s)}${near ? ` (did you mean "${near}"?)` : ""}`,
    );
  }

  /** A non-negative integer up to `max`; a JSON number or an exact bigint (see parseProfileText). */
  uint(v: unknown, path: string, max: bigint): bigint | undefined {
    let n: bigint;
    if (typeof v === "bigint") n = v;
    else if (typeof v === "number" && Number.isInteger(v)) {
      if (!Number.isSafeInteger(v)) {
        return this.fail(
          path,
          `${v} is above 2^53 and not exact as a JSON number here: read the file with parseProfileText`,
        );
      }
      n = BigInt(v);
    } else return this.fail(path, `expected a non-negative integer, got ${kind(v)}`);
    if (n < 0n || n > max) return this.fail(path, `${n} is out of range (0 to ${max})`);
    return n;
  }
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === "object") return "an object";
  return String(v);
}

/** "CAP_SYS_ADMIN", "cap_sys_admin", "SYS_ADMIN" → "SYS_ADMIN". */
function capKey(c: string): string {
  return c.toUpperCase().replace(/^CAP_/, "");
}

/** [major, minor] of a kernel release ("6.18.44-fc" → [6, 18]), or undefined. */
function kernelVersion(s: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(s);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Whether the kernel is at least `min` ("4.8"); an unknown kernel counts as new. */
function kernelAtLeast(kernel: string | undefined, min: [number, number]): boolean {
  const k = kernel === undefined ? undefined : kernelVersion(kernel);
  if (!k) return true;
  return k[0] > min[0] || (k[0] === min[0] && k[1] >= min[1]);
}

interface Filter {
  caps?: string[];
  arches?: string[];
  minKernel?: [number, number];
}

function readFilter(r: Reader, v: unknown, path: string): Filter | undefined {
  const o = r.object(v, path, FILTER_KEYS);
  if (!o) return undefined;
  const f: Filter = {};
  if (o.caps !== undefined && o.caps !== null) f.caps = r.strings(o.caps, `${path}.caps`);
  if (o.arches !== undefined && o.arches !== null) f.arches = r.strings(o.arches, `${path}.arches`);
  if (o.minKernel !== undefined && o.minKernel !== "") {
    const s = r.string(o.minKernel, `${path}.minKernel`);
    if (s !== undefined) {
      const k = /^\d+\.\d+$/.test(s) ? kernelVersion(s) : undefined;
      if (!k || (k[0] === 0 && k[1] === 0)) {
        r.fail(`${path}.minKernel`, `expected "<kernel>.<major>" such as "4.8", got ${kind(s)}`);
      } else f.minKernel = k;
    }
  }
  return f;
}

/** Whether a docker rule applies (moby's setupSeccomp): excludes first, then includes. */
function applies(inc: Filter | undefined, exc: Filter | undefined, o: ResolveOptions): boolean {
  const caps = new Set(o.caps.map(capKey));
  const arch = NATIVE[o.arch].docker;
  if (exc) {
    if (exc.arches?.includes(arch)) return false;
    if (exc.caps?.some((c) => caps.has(capKey(c)))) return false;
    if (exc.minKernel && kernelAtLeast(o.kernel, exc.minKernel)) return false;
  }
  if (inc) {
    if (inc.arches?.length && !inc.arches.includes(arch)) return false;
    if (inc.caps?.some((c) => !caps.has(capKey(c)))) return false;
    if (inc.minKernel && !kernelAtLeast(o.kernel, inc.minKernel)) return false;
  }
  return true;
}

function readArgs(r: Reader, v: unknown, path: string): OciSeccompArg[] | undefined {
  const list = r.array(v, path);
  if (!list) return undefined;
  const out: OciSeccompArg[] = [];
  list.forEach((a, i) => {
    const p = `${path}[${i}]`;
    const o = r.object(a, p, ARG_KEYS);
    if (!o) return;
    const index = o.index === undefined
      ? r.fail(`${p}.index`, "missing")
      : r.uint(o.index, `${p}.index`, 5n);
    const value = o.value === undefined
      ? r.fail(`${p}.value`, "missing")
      : r.uint(o.value, `${p}.value`, U64_MAX);
    const valueTwo = o.valueTwo === undefined ? 0n : r.uint(o.valueTwo, `${p}.valueTwo`, U64_MAX);
    const op = o.op === undefined
      ? r.fail(`${p}.op`, "missing")
      : r.oneOf(o.op, `${p}.op`, OPERATORS, "operator");
    if (index !== undefined && value !== undefined && valueTwo !== undefined && op) {
      out.push({ index: Number(index), value, valueTwo, op });
    }
  });
  return out;
}

/**
 * Reads a profile in the OCI or docker format and resolves docker's rule
 * conditions for this container (its capabilities, the native architecture,
 * the kernel), as moby does: `archMap` becomes `architectures` (the native
 * one and its sub-architectures), a rule is dropped when any `excludes`
 * condition holds or an `includes` condition fails, and `name` becomes
 * `names`. An OCI profile comes out as it went in, checked. Throws a
 * SeccompProfileError listing every problem with its JSON path.
 */
export function parseProfile(json: unknown, opts: ResolveOptions): OciSeccomp {
  const r = new Reader();
  const root = opts.path ?? "seccomp";
  const top = r.object(json, root, TOP_KEYS);
  if (!top) throw new SeccompProfileError(r.problems);

  const defaultAction = top.defaultAction === undefined
    ? r.fail(`${root}.defaultAction`, "missing")
    : r.oneOf(top.defaultAction, `${root}.defaultAction`, ACTIONS, "action");
  if (defaultAction === "SCMP_ACT_NOTIFY") {
    // As runc: the runtime itself still has to write to its pipes after the filter is in.
    r.fail(`${root}.defaultAction`, "SCMP_ACT_NOTIFY cannot be the default action");
  }
  let defaultErrnoRet: number | undefined;
  if (top.defaultErrnoRet !== undefined && top.defaultErrnoRet !== null) {
    const n = r.uint(top.defaultErrnoRet, `${root}.defaultErrnoRet`, BigInt(MAX_RET));
    if (n !== undefined) defaultErrnoRet = Number(n);
  }
  if (top.defaultErrno !== undefined) r.string(top.defaultErrno, `${root}.defaultErrno`);

  let architectures: SeccompArch[] | undefined;
  if (top.architectures !== undefined && top.architectures !== null) {
    const list = r.array(top.architectures, `${root}.architectures`) ?? [];
    architectures = [];
    list.forEach((a, i) => {
      const n = r.oneOf(a, `${root}.architectures[${i}]`, ARCHES, "architecture");
      if (n) architectures!.push(n);
    });
  }
  if (top.archMap !== undefined && top.archMap !== null) {
    const list = r.array(top.archMap, `${root}.archMap`) ?? [];
    if (architectures?.length && list.length) {
      r.fail(`${root}.archMap`, "give either architectures or archMap, not both");
    }
    const native = NATIVE[opts.arch].scmp;
    list.forEach((e, i) => {
      const p = `${root}.archMap[${i}]`;
      const o = r.object(e, p, ARCHMAP_KEYS);
      if (!o) return;
      const arch = r.oneOf(o.architecture, `${p}.architecture`, ARCHES, "architecture");
      const subs: SeccompArch[] = [];
      if (o.subArchitectures !== undefined && o.subArchitectures !== null) {
        (r.array(o.subArchitectures, `${p}.subArchitectures`) ?? []).forEach((s, j) => {
          const n = r.oneOf(s, `${p}.subArchitectures[${j}]`, ARCHES, "architecture");
          if (n) subs.push(n);
        });
      }
      // moby takes the first entry for the native architecture.
      if (arch === native && !architectures?.length) architectures = [arch, ...subs];
    });
  }

  let flags: SeccompFlag[] | undefined;
  if (top.flags !== undefined && top.flags !== null) {
    const list = r.array(top.flags, `${root}.flags`) ?? [];
    flags = [];
    list.forEach((f, i) => {
      const n = r.oneOf(f, `${root}.flags[${i}]`, FLAGS, "flag");
      if (n) flags!.push(n);
    });
  }
  const listenerPath = top.listenerPath === undefined
    ? undefined
    : r.string(top.listenerPath, `${root}.listenerPath`);
  const listenerMetadata = top.listenerMetadata === undefined
    ? undefined
    : r.string(top.listenerMetadata, `${root}.listenerMetadata`);

  const syscalls: OciSyscall[] = [];
  if (top.syscalls !== undefined && top.syscalls !== null) {
    (r.array(top.syscalls, `${root}.syscalls`) ?? []).forEach((s, i) => {
      const p = `${root}.syscalls[${i}]`;
      const o = r.object(s, p, RULE_KEYS);
      if (!o) return;
      let names: string[] | undefined;
      const hasName = o.name !== undefined && o.name !== "";
      const hasNames = o.names !== undefined && o.names !== null;
      if (hasName && hasNames) r.fail(p, "give either name or names, not both");
      else if (hasName) {
        const n = r.string(o.name, `${p}.name`);
        if (n !== undefined) names = [n];
      } else if (hasNames) names = r.strings(o.names, `${p}.names`);
      else r.fail(`${p}.names`, "missing");
      for (let j = 0; names && j < names.length; j++) {
        if (!SYSCALL_NAME.test(names[j])) {
          r.fail(`${p}.names[${j}]`, `not a system call name: ${kind(names[j])}`);
        }
      }
      const action = o.action === undefined
        ? r.fail(`${p}.action`, "missing")
        : r.oneOf(o.action, `${p}.action`, ACTIONS, "action");
      let errnoRet: number | undefined;
      if (o.errnoRet !== undefined && o.errnoRet !== null) {
        const n = r.uint(o.errnoRet, `${p}.errnoRet`, BigInt(MAX_RET));
        if (n !== undefined) errnoRet = Number(n);
        if (action && action !== "SCMP_ACT_ERRNO" && action !== "SCMP_ACT_TRACE") {
          r.fail(`${p}.errnoRet`, `only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one, not ${action}`);
        }
      }
      if (o.errno !== undefined) r.string(o.errno, `${p}.errno`);
      if (o.comment !== undefined) r.string(o.comment, `${p}.comment`);
      const args = o.args === undefined || o.args === null
        ? undefined
        : readArgs(r, o.args, `${p}.args`);
      const inc = o.includes === undefined || o.includes === null
        ? undefined
        : readFilter(r, o.includes, `${p}.includes`);
      const exc = o.excludes === undefined || o.excludes === null
        ? undefined
        : readFilter(r, o.excludes, `${p}.excludes`);
      if (!names || !action || !applies(inc, exc, opts)) return;
      if (action === "SCMP_ACT_NOTIFY" && names.includes("write")) {
        // runc's rule: the runtime must still write the listener fd out after the filter is in.
        r.fail(`${p}.names`, "SCMP_ACT_NOTIFY cannot be used for write");
      }
      syscalls.push({
        names,
        action,
        ...(errnoRet !== undefined ? { errnoRet } : {}),
        ...(args?.length ? { args } : {}),
      });
    });
  }
  if (r.problems.length || !defaultAction) throw new SeccompProfileError(r.problems);

  return {
    defaultAction,
    ...(defaultErrnoRet !== undefined ? { defaultErrnoRet } : {}),
    ...(architectures ? { architectures } : {}),
    ...(flags ? { flags } : {}),
    ...(listenerPath !== undefined ? { listenerPath } : {}),
    ...(listenerMetadata !== undefined ? { listenerMetadata } : {}),
    syscalls,
  };
}

/**
 * Reads a profile from JSON text: like parseProfile, but integers above 2^53
 * (64-bit masks) stay exact, which JSON.parse alone cannot do.
 */
export function parseProfileText(text: string, opts: ResolveOptions): OciSeccomp {
  let json: unknown;
  try {
    json = JSON.parse(
      text,
      function (_key, value, context?: { source?: string }) {
        if (
          typeof value === "number" && !Number.isSafeInteger(value) &&
          /^\d+$/.test(context?.source ?? "")
        ) return BigInt(context!.source!);
        return value;
      } as (this: unknown, key: string, value: unknown) => unknown,
    );
  } catch (e) {
    throw new SeccompProfileError([`not JSON: ${(e as Error).message}`]);
  }
  return parseProfile(json, opts);
}
