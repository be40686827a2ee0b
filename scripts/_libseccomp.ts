/**
 * libseccomp as a reference for ctr's seccomp compiler: builds
 * scripts/seccomp_export.c, has it compile a resolved profile the way runc
 * does, and compares the two programs' decisions in ctr's interpreter.
 * Used by scripts/bench_seccomp.ts and tests/unit/seccomp_libseccomp.test.ts.
 */
import { X32_SYSCALL_BIT } from "../ffi/seccomp.ts";
import { runFilter } from "../lib/runtime/seccomp/bpf_interp.ts";
import {
  actionValue,
  auditArch,
  type CompiledFilter,
  syscallTable,
} from "../lib/runtime/seccomp/compile.ts";
import type { OciSeccomp } from "../lib/runtime/seccomp/profile.ts";

const SOURCE = new URL("./seccomp_export.c", import.meta.url).pathname;

/** Builds the exporter into `dir`; undefined without gcc or libseccomp-dev. */
export function buildExporter(dir: string): string | undefined {
  const bin = `${dir}/seccomp_export`;
  try {
    const out = new Deno.Command("gcc", {
      args: ["-O2", "-o", bin, SOURCE, "-lseccomp"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.success ? bin : undefined;
  } catch {
    return undefined;
  }
}

const SCMP_NAME: Record<string, string> = {
  SCMP_ARCH_X86_64: "x86_64",
  SCMP_ARCH_X86: "x86",
  SCMP_ARCH_X32: "x32",
  SCMP_ARCH_AARCH64: "aarch64",
  SCMP_ARCH_ARM: "arm",
};
const OP: Record<string, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

/** The profile as seccomp_export.c reads it, dropping default-action rules as runc does. */
function rules(p: OciSeccomp, arch: string, optimize: number): string {
  const def = actionValue(p.defaultAction, p.defaultErrnoRet);
  const lines = [`native ${arch}`, `optimize ${optimize}`, `default ${def}`];
  for (const a of p.architectures ?? []) {
    if (SCMP_NAME[a] && SCMP_NAME[a] !== arch) lines.push(`arch ${SCMP_NAME[a]}`);
  }
  for (const r of p.syscalls ?? []) {
    const ret = actionValue(r.action, r.errnoRet);
    if (ret === def) continue;
    const args = (r.args ?? []).map((c) => `${c.index} ${OP[c.op]} ${c.value} ${c.valueTwo}`);
    for (const n of r.names) lines.push(`rule ${ret} ${n} ${args.length} ${args.join(" ")}`);
  }
  return lines.join("\n") + "\n";
}

/** A program libseccomp made. */
export interface Exported {
  /** Its length. */
  readonly instructions: number;
  /** struct sock_filter[]. */
  readonly program: Uint8Array;
  /** Names this libseccomp does not know (their rules are left out, as runc leaves them). */
  readonly unknown: readonly string[];
}

/** libseccomp's program for `p` (optimize 2: the binary tree runc asks for above 32 rules). */
export async function exportLibseccomp(
  exporter: string,
  p: OciSeccomp,
  opts: { arch: string; optimize: number },
): Promise<Exported> {
  const file = await Deno.makeTempFile();
  try {
    const child = new Deno.Command(exporter, {
      args: [file],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(rules(p, opts.arch, opts.optimize)));
    await w.close();
    const out = await child.output();
    const err = new TextDecoder().decode(out.stderr).trim();
    if (!out.success) throw new Error(`seccomp_export: ${err}`);
    const instructions = Number(new TextDecoder().decode(out.stdout).split(" ")[0]);
    return { instructions, program: Deno.readFileSync(file), unknown: err ? err.split("\n") : [] };
  } finally {
    Deno.removeSync(file);
  }
}

/** Sample argument values: the default profile's thresholds and flags. */
export const SAMPLE_ARGS: readonly bigint[] = [
  0n,
  2n,
  8n,
  0x11n,
  38n,
  39n,
  40n,
  41n,
  0x20000n,
  0x10000000n,
  0xffffffffn,
];

/**
 * The calls on which the two programs answer differently ("abi nr arg: ours
 * theirs"), over numbers 0-599 of each ABI the filter covers (x32's with its
 * bit) and sample arguments (each given as the first two arguments),
 * leaving out the numbers of names the libseccomp here does not know.
 */
export function disagreements(
  ours: CompiledFilter,
  theirs: Exported,
  args: readonly bigint[] = SAMPLE_ARGS,
): string[] {
  const out: string[] = [];
  for (const abi of ours.abis) {
    const table = syscallTable(abi);
    const unknown = new Set(theirs.unknown.map((name) => table[name]));
    const base = abi === "x32" ? X32_SYSCALL_BIT : 0;
    for (let i = 0; i < 600; i++) {
      const nr = base + i;
      if (unknown.has(nr)) continue;
      for (const a of args) {
        const data = { nr, arch: auditArch(abi), args: [a, a] };
        const [x, y] = [runFilter(ours.program, data), runFilter(theirs.program, data)];
        if (x !== y) out.push(`${abi} ${nr} ${a}: ${x.toString(16)} ${y.toString(16)}`);
      }
    }
  }
  return out;
}
