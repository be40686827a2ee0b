/**
 * Test helpers: run the ctr command (the built single file when CTR_BIN is
 * set, else main.ts through this Deno), find the test root filesystem, count
 * kernel objects before and after, and mark tests that need root.
 */

export const IS_ROOT = Deno.uid() === 0;

// The first container on the default network makes its bridge (ctr0), which stays, as docker0
// does. When the run began without one, it goes when the run ends: this module is evaluated
// before the tests of the first file that imports it.
if (IS_ROOT && !linkExists("ctr0")) {
  globalThis.addEventListener("unload", () => {
    if (!linkExists("ctr0")) return;
    new Deno.Command("ip", { args: ["link", "del", "ctr0"], stderr: "null" }).outputSync();
  });
}

function linkExists(name: string): boolean {
  try {
    Deno.statSync(`/sys/class/net/${name}`);
    return true;
  } catch {
    return false;
  }
}
const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** The command that runs ctr. */
export function ctrCommand(): string[] {
  const bin = Deno.env.get("CTR_BIN");
  return bin ? [bin] : [Deno.execPath(), "run", "-A", `${REPO}/main.ts`];
}

/** Output of one ctr run. */
export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs ctr with arguments; stdin is empty unless given. */
export async function ctr(
  args: string[],
  opts: { stdin?: string; env?: Record<string, string> } = {},
): Promise<Result> {
  const [cmd, ...pre] = ctrCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Starts ctr in the background; returns the process. */
export function ctrSpawn(args: string[]): Deno.ChildProcess {
  const [cmd, ...pre] = ctrCommand();
  return new Deno.Command(cmd, {
    args: [...pre, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

let rootfs: string | undefined;

/** The busybox root filesystem for tests (built by scripts/busybox_rootfs.sh when missing). */
export function testRootfs(): string {
  if (rootfs) return rootfs;
  const dir = Deno.env.get("CTR_TEST_ROOTFS") ?? "/var/lib/ctr-test/busybox";
  try {
    Deno.statSync(`${dir}/bin/busybox`);
  } catch {
    const out = new Deno.Command("bash", { args: [`${REPO}/scripts/busybox_rootfs.sh`, dir] })
      .outputSync();
    if (!out.success) {
      throw new Error(`Cannot build the test rootfs: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
  return rootfs = dir;
}

const temps: string[] = [];
globalThis.addEventListener("unload", () => {
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo");
  for (const d of temps) {
    // Never delete through a mount: a leftover would be a bug to see, not to erase.
    if (mounts.includes(` ${d}`)) continue;
    try {
      Deno.removeSync(d, { recursive: true });
    } catch { /* removed by the test */ }
  }
});

/** A temporary directory, removed when the test file ends. */
export function tempDir(): string {
  const d = Deno.makeTempDirSync({ prefix: "ctr-test-" });
  temps.push(d);
  return d;
}

/** A fresh store directory for ctr's --root. */
export function tempStore(): string {
  const d = tempDir();
  // Searchable by others, as /var/lib/ctr is: a remapped container root must reach its upper layer.
  Deno.chmodSync(d, 0o711);
  return d;
}

/** Registers a test that needs root; without root it is ignored and says why. */
export function rootTest(name: string, fn: () => Promise<void> | void): void {
  Deno.test({
    name: IS_ROOT ? name : `${name} [skipped: needs root]`,
    ignore: !IS_ROOT,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}

/** Waits until a file exists and is not empty; returns its text. */
export async function waitForFile(path: string, timeoutMs = 10000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const t = Deno.readTextFileSync(path).trim();
      if (t) return t;
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`Timed out waiting for ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Kernel objects and files that a container could leave behind. */
export interface Census {
  mounts: number;
  cgroups: number;
  containers: number;
  links: number;
}

function countDirs(root: string, match: (name: string) => boolean, depth = 6): number {
  let n = 0;
  const walk = (d: string, level: number) => {
    if (level > depth) return;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory) continue;
      if (match(e.name)) n++;
      walk(`${d}/${e.name}`, level + 1);
    }
  };
  walk(root, 0);
  return n;
}

/**
 * The objects of one test, for a census on a machine that others use at the
 * same time: its own state and OCI directories, and the global objects
 * (cgroups, links, rules, processes) only when named by its containers' ids
 * or marked with its strings.
 */
export interface Scope {
  /** The --state-dir the test's ctr uses (state records, leases). */
  readonly stateDir: string;
  /** The ids of every container the test made (engine and OCI). */
  readonly ids: Iterable<string>;
  /** The --root of its `ctr oci`, if any (OCI state directories). */
  readonly ociRoot?: string;
  /**
   * Strings only the command lines of its processes hold (its store and OCI
   * root, which ctr's own arguments name, and its containers' commands).
   */
  readonly markers: readonly string[];
}

/** What a crashed ctr could leave behind, counted within a Scope. */
export interface Leftovers {
  /** Files in the state directory: records, exit records, temporary files. */
  stateRecords: number;
  /** Directories in the store's containers/. */
  containerDirs: number;
  /** Cgroup directories named with one of the ids, in every hierarchy. */
  cgroupDirs: number;
  /** Links named `veth` and the first 8 hex digits of one of the ids (and `-k` for further networks). */
  veths: number;
  /** Leases in the state directory's lease files, and their temporary files. */
  leases: number;
  /** nft or iptables rules whose comment is `ctr:` and one of the ids. */
  rules: number;
  /** Directories in the OCI root. */
  ociStateDirs: number;
  /** Processes whose command line holds a marker (the test itself aside). */
  processes: number;
}

function entries(dir: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
}

/** The text of every rule of ctr's packet filter (nft, else iptables); "" without either. */
export function ruleText(): string {
  for (const [cmd, args] of [["nft", ["list", "ruleset"]], ["iptables-save", []]] as const) {
    try {
      const out = new Deno.Command(cmd, { args: [...args], stdout: "piped", stderr: "null" })
        .outputSync();
      if (out.success) return new TextDecoder().decode(out.stdout);
    } catch { /* not installed */ }
  }
  return "";
}

/** Counts what is left of the containers of a Scope (see Leftovers). */
export function leftovers(store: string, scope: Scope): Leftovers {
  const ids = new Set(scope.ids);
  const count = (text: string, needle: string) => text.split(needle).length - 1;
  let leases = 0;
  for (const e of entries(`${scope.stateDir}/networks`)) {
    if (e.name.endsWith(".tmp")) leases++;
    if (!e.name.endsWith(".json")) continue;
    try {
      const file = JSON.parse(Deno.readTextFileSync(`${scope.stateDir}/networks/${e.name}`));
      leases += (file.leases ?? []).length;
    } catch { /* being replaced */ }
  }
  const rules = ruleText();
  const prefixes = new Set([...ids].map((id) => `veth${id.slice(0, 8)}`));
  const me = String(Deno.pid);
  let processes = 0;
  for (const e of entries("/proc")) {
    if (!/^\d+$/.test(e.name) || e.name === me) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (scope.markers.some((m) => cmdline.includes(m))) processes++;
    } catch { /* gone */ }
  }
  return {
    stateRecords: entries(scope.stateDir).filter((e) => e.isFile && /^[0-9a-f]{64}\./.test(e.name))
      .length,
    containerDirs: entries(`${store}/containers`).length,
    cgroupDirs: countDirs("/sys/fs/cgroup", (n) => ids.has(n), 8),
    veths: entries("/sys/class/net").filter((e) => prefixes.has(e.name.replace(/-\d+$/, "")))
      .length,
    leases,
    rules: [...ids].reduce((n, id) => n + count(rules, `ctr:${id}`), 0),
    ociStateDirs: scope.ociRoot ? entries(scope.ociRoot).filter((e) => e.isDirectory).length : 0,
    processes,
  };
}

/** Counts mounts, ctr cgroups, containers in a store and network links. */
export function census(store: string): Census;
/** The same, and what is left of the containers of `scope` (see Leftovers). */
export function census(store: string, scope: Scope): Census & Leftovers;
export function census(store: string, scope?: Scope): Census | (Census & Leftovers) {
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter(Boolean).length;
  const containers = entries(`${store}/containers`).length;
  const links = entries("/sys/class/net").length;
  const base = {
    mounts,
    cgroups: countDirs("/sys/fs/cgroup", (n) => n.startsWith("ctr")),
    containers,
    links,
  };
  return scope ? { ...base, ...leftovers(store, scope) } : base;
}

/** Fetches a page, retrying while the server starts (50 tries, 100 ms apart). */
export async function fetchText(url: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return await r.text();
    } catch { /* the server is starting */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer from ${url}`);
}

let busyboxTar: Promise<string> | undefined;

/** The busybox test image as a docker-save archive (scripts/busybox_image.sh), made once. */
export function busyboxImage(): Promise<string> {
  busyboxTar ??= (async () => {
    const tar = `${tempDir()}/busybox.tar`;
    const out = await new Deno.Command("bash", {
      args: [`${REPO}/scripts/busybox_image.sh`, tar],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`Cannot make the busybox image: ${new TextDecoder().decode(out.stderr)}`);
    }
    return tar;
  })();
  return busyboxTar;
}

const loadedInto = new Map<string, Promise<void>>();

/** Loads the busybox test image (busybox:latest) into a store, once per store. */
export function loadBusybox(store: string): Promise<void> {
  let p = loadedInto.get(store);
  if (!p) {
    p = (async () => {
      const r = await ctr(["--root", store, "load", "-i", await busyboxImage()]);
      if (r.code !== 0) throw new Error(`Cannot load the busybox image: ${r.stderr}`);
    })();
    loadedInto.set(store, p);
  }
  return p;
}

/** A container running in the background. */
export interface Background {
  /** Its PID 1, in ctr's pid namespace. */
  readonly pid: number;
  /** The ctr process that runs it. */
  readonly proc: Deno.ChildProcess;
  /** SIGKILLs it (when still there) and waits for ctr; returns ctr's exit code. */
  stop(): Promise<number>;
}

/** Starts `ctr run --rm` with `args` (options, then the command) in the background; waits for its pid. */
export async function startContainer(store: string, args: string[]): Promise<Background> {
  const pidfile = `${tempDir()}/pid`;
  const proc = ctrSpawn([
    "--root",
    store,
    "run",
    "--rm",
    "--pidfile",
    pidfile,
    "--rootfs",
    testRootfs(),
    ...args,
  ]);
  const pid = Number(await waitForFile(pidfile));
  return {
    pid,
    proc,
    async stop() {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
      return (await proc.output()).code;
    },
  };
}

/** A path that runs ctr as the OCI runtime: a `ctr-oci` symlink to the single file, or a wrapper. */
export function ociBinary(): string {
  const dir = tempDir();
  const bin = `${dir}/ctr-oci`;
  const [cmd, ...pre] = ctrCommand();
  if (pre.length === 0) {
    Deno.symlinkSync(cmd, bin);
  } else {
    const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
    Deno.writeTextFileSync(
      bin,
      `#!/bin/sh\nCTR_OCI=1 exec ${[cmd, ...pre].map(q).join(" ")} "$@"\n`,
      { mode: 0o755 },
    );
  }
  return bin;
}

const enosysWrappers = new Map<number, string | undefined>();

/**
 * An executable that makes system call `nr` fail with ENOSYS (a seccomp
 * filter) and execs its arguments, as on a kernel that lacks the call;
 * undefined without gcc. Built once per process and call.
 */
export function enosysWrapper(nr: number): string | undefined {
  if (enosysWrappers.has(nr)) return enosysWrappers.get(nr);
  let path: string | undefined;
  try {
    const dir = Deno.makeTempDirSync({ prefix: "ctr-enosys-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    Deno.writeTextFileSync(
      `${dir}/enosys.c`,
      `#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>
int main(int argc, char **argv) {
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ${nr}, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  if (argc < 2 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
    perror("enosys");
    return 126;
  }
  execv(argv[1], argv + 1);
  perror("enosys: execv");
  return 127;
}
`,
    );
    const out = new Deno.Command("gcc", {
      args: ["-O2", "-o", `${dir}/enosys`, `${dir}/enosys.c`],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    if (out.success) path = `${dir}/enosys`;
  } catch {
    path = undefined; // no gcc
  }
  enosysWrappers.set(nr, path);
  return path;
}

/**
 * A static program (built with gcc, undefined without it) that makes each
 * system call given as "nr,a0,...,a5" and prints "result errno" per line:
 * what the kernel, or a seccomp filter, answers a call.
 */
export function syscallProbe(): string | undefined {
  const dir = tempDir();
  Deno.writeTextFileSync(
    `${dir}/probe.c`,
    `#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    unsigned long v[7] = {0};
    char *p = argv[i];
    for (int j = 0; j < 7 && *p; j++) {
      v[j] = strtoull(p, &p, 0);
      if (*p == ',') p++;
    }
    errno = 0;
    long r = syscall(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    printf("%ld %d\\n", r, r == -1 ? errno : 0);
    fflush(stdout);
  }
  return 0;
}
`,
  );
  try {
    const out = new Deno.Command("gcc", {
      args: ["-static", "-O2", "-o", `${dir}/probe`, `${dir}/probe.c`],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    return out.success ? `${dir}/probe` : undefined;
  } catch {
    return undefined; // no gcc
  }
}

/** The path of a command on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  try {
    const out = new Deno.Command("bash", { args: ["-c", `command -v ${cmd}`], stderr: "null" })
      .outputSync();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The busybox image of scripts/busybox_image.sh as a docker-save archive (`tag`: its name). */
export async function busyboxImageTar(tag?: string): Promise<string> {
  const tar = `${tempDir()}/bb.tar`;
  const out = await new Deno.Command("bash", {
    args: [`${REPO}/scripts/busybox_image.sh`, tar, ...(tag ? ["--tag", tag] : [])],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`busybox_image.sh: ${new TextDecoder().decode(out.stderr)}`);
  }
  return tar;
}

/** A store and state directory of a test file's own, and the calls its container tests share. */
export function containerBench() {
  const store = tempStore();
  const state = tempDir();
  const c = (args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) =>
    ctr(["--root", store, "--state-dir", state, ...args], opts);
  /** `ctr inspect -f TEMPLATE` of one container, which must succeed. */
  const inspect = async (ref: string, tpl: string): Promise<string> => {
    const r = await c(["inspect", "-f", tpl, ref]);
    if (r.code !== 0) throw new Error(`inspect ${ref}: ${r.stderr}`);
    return r.stdout.trim();
  };
  /** The ids of the containers recorded in the state directory. */
  const stateFiles = (): string[] => {
    try {
      return [...Deno.readDirSync(state)].filter((e) => e.name.endsWith(".json"))
        .map((e) => e.name.slice(0, -5));
    } catch {
      return [];
    }
  };
  /** A root test that removes whatever containers it left, even when it fails. */
  const test = (name: string, fn: () => Promise<void>) =>
    rootTest(name, async () => {
      try {
        await fn();
      } finally {
        const left = stateFiles();
        if (left.length) await c(["rm", "-f", ...left]);
      }
    });
  return { store, state, c, inspect, stateFiles, test };
}
