/**
 * How long ctr takes to resolve and compile seccomp profiles: the first
 * call in a fresh process (median of 10 processes: what one container start
 * pays) and the median of 200 warm calls, for ctr's default profile and
 * podman's, on x86_64 (three ABIs) and aarch64 (two); and the precompiled
 * default filter, import included, in a fresh process.
 *
 *     deno run -A scripts/bench_seccomp_compile.ts
 */
import { DEFAULT_CAPS } from "../lib/runtime/capabilities.ts";
import { compileFilter } from "../lib/runtime/seccomp/compile.ts";
import { defaultProfile } from "../lib/runtime/seccomp/default.ts";
import { parseProfileText } from "../lib/runtime/seccomp/profile.ts";

type Arch = "x86_64" | "aarch64";
const PODMAN = "/usr/share/containers/seccomp.json";

const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
const ms = (x: number) => x.toFixed(3);

/** In a fresh process: the first resolve and compile, in ms. */
function once(arch: Arch): void {
  let t = performance.now();
  const p = defaultProfile(DEFAULT_CAPS, arch);
  const resolve = performance.now() - t;
  t = performance.now();
  compileFilter(p, { arch });
  console.log(JSON.stringify({ resolve, compile: performance.now() - t }));
}

function cold(arch: Arch): { resolve: number; compile: number } {
  const runs = Array.from({ length: 10 }, () => {
    const out = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "--once", arch],
    }).outputSync();
    return JSON.parse(new TextDecoder().decode(out.stdout));
  });
  return {
    resolve: median(runs.map((r) => r.resolve)),
    compile: median(runs.map((r) => r.compile)),
  };
}

/** In fresh processes: importing lib/runtime/seccomp/precompiled.ts and taking the filter, in ms. */
function precompiled(arch: Arch): number {
  const url = new URL("../lib/runtime/seccomp/precompiled.ts", import.meta.url).href;
  const code = `const t = performance.now();
    const { precompiledDefaultFilter } = await import(${JSON.stringify(url)});
    precompiledDefaultFilter(${JSON.stringify(DEFAULT_CAPS)}, "${arch}");
    console.log(performance.now() - t);`;
  return median(Array.from({ length: 10 }, () => {
    const out = new Deno.Command(Deno.execPath(), { args: ["eval", code] }).outputSync();
    return Number(new TextDecoder().decode(out.stdout));
  }));
}

function warm(fn: () => unknown, runs = 200): number {
  for (let i = 0; i < 50; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

if (Deno.args[0] === "--once") {
  once(Deno.args[1] as Arch);
} else {
  let podman: string | undefined;
  try {
    podman = Deno.readTextFileSync(PODMAN);
  } catch { /* not installed */ }
  console.log("| step | arch | instructions | first call in a process, ms | warm ms |");
  console.log("| --- | --- | ---: | ---: | ---: |");
  for (const arch of ["x86_64", "aarch64"] as const) {
    const c = cold(arch);
    const p = defaultProfile(DEFAULT_CAPS, arch);
    const n = compileFilter(p, { arch }).instructions;
    const r = warm(() => defaultProfile(DEFAULT_CAPS, arch));
    console.log(`| resolve ctr's default profile | ${arch} | | ${ms(c.resolve)} | ${ms(r)} |`);
    const w = warm(() => compileFilter(p, { arch }));
    console.log(`| compile ctr's default profile | ${arch} | ${n} | ${ms(c.compile)} | ${ms(w)} |`);
    const pre = precompiled(arch);
    console.log(`| import the precompiled default filter | ${arch} | ${n} | ${ms(pre)} | |`);
    if (podman) {
      const text = podman;
      const q = parseProfileText(text, { caps: DEFAULT_CAPS, arch });
      const r2 = warm(() => parseProfileText(text, { caps: DEFAULT_CAPS, arch }));
      console.log(`| read podman's seccomp.json | ${arch} | | | ${ms(r2)} |`);
      const w2 = warm(() => compileFilter(q, { arch }));
      const n2 = compileFilter(q, { arch }).instructions;
      console.log(`| compile podman's profile | ${arch} | ${n2} | | ${ms(w2)} |`);
    }
  }
}
