/**
 * Compiled filters in the real kernel: a child spawned with a plan
 * (no_new_privs, the seccomp step, execve) runs busybox or a small probe
 * that makes given system calls, and the kernel's answers are compared with
 * the interpreter's. Needs root (run as any user, the filter would still
 * load thanks to no_new_privs, but the probe's calls would differ).
 */
import assert from "node:assert/strict";
import { CLONE, O, PR } from "../../ffi/constants.ts";
import { AUDIT_ARCH, X32_SYSCALL_BIT } from "../../ffi/seccomp.ts";
import { close, open } from "../../ffi/sys.ts";
import { hostArch } from "../../ffi/syscalls.ts";
import { DEFAULT_CAPS } from "../../lib/runtime/capabilities.ts";
import { changedSignals } from "../../lib/runtime/host.ts";
import { int, type Step, str } from "../../lib/runtime/plan.ts";
import { spawn, waitPidfd } from "../../lib/runtime/spawn.ts";
import { dupTo, resetSignals, unblockSignals } from "../../lib/runtime/steps.ts";
import { retName, runFilter } from "../../lib/runtime/seccomp/bpf_interp.ts";
import {
  type CompiledFilter,
  compileFilter,
  syscallTable,
} from "../../lib/runtime/seccomp/compile.ts";
import { defaultProfile } from "../../lib/runtime/seccomp/default.ts";
import { LISTENER_SLOT, seccompSteps } from "../../lib/runtime/seccomp/install.ts";
import type { OciSeccomp } from "../../lib/runtime/seccomp/profile.ts";
import { IS_ROOT, syscallProbe, tempDir } from "../_helpers.ts";

const BUSYBOX = "/bin/busybox";
const arch = hostArch();
const native = { x86_64: AUDIT_ARCH.X86_64, aarch64: AUDIT_ARCH.AARCH64 }[arch];
const hasBusybox = (() => {
  try {
    return Deno.statSync(BUSYBOX).isFile;
  } catch {
    return false;
  }
})();
const actions = Deno.readTextFileSync("/proc/sys/kernel/seccomp/actions_avail").trim().split(" ");

const probe = IS_ROOT ? syscallProbe() : undefined;

function test(name: string, needs: { probe?: boolean }, fn: () => Promise<void>): void {
  const why = !IS_ROOT
    ? "needs root"
    : !hasBusybox
    ? "no /bin/busybox (busybox-static)"
    : needs.probe && !probe
    ? "no gcc to build the probe"
    : undefined;
  Deno.test({
    name: why ? `${name} [skipped: ${why}]` : name,
    ignore: why !== undefined,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}

interface Run {
  readonly code: number;
  readonly out: string;
  readonly slots: ReadonlyMap<string, bigint>;
}

/**
 * Runs argv under the filter, in a session of its own with every signal at
 * its default and unblocked (as a container's process is), stdout and
 * stderr in a file. After 30 s, or once it has exited, whatever is left of
 * its process group is killed.
 */
async function underFilter(f: CompiledFilter, argv: string[]): Promise<Run> {
  const file = `${tempDir()}/out`;
  const fd = open(file, O.WRONLY | O.CREAT | O.TRUNC | O.CLOEXEC, 0o600);
  const steps: Step[] = [
    dupTo(int(fd), 1, "stdout to a file"),
    dupTo(int(fd), 2, "stderr to a file"),
    { call: "setsid", args: [], label: "a process group to kill at the end" },
    ...resetSignals(changedSignals(Deno.readTextFileSync("/proc/self/status"))),
    unblockSignals(),
    {
      call: "prctl",
      args: [int(PR.SET_NO_NEW_PRIVS, "PR_SET_NO_NEW_PRIVS"), int(1), int(0), int(0), int(0)],
      label: "set no_new_privs",
    },
    ...seccompSteps(f),
    {
      call: "execve",
      args: [str(argv[0]), { strv: argv }, { strv: [] }],
      label: `exec ${argv[0]}`,
    },
  ];
  let s;
  try {
    s = await spawn({ cloneFlags: 0, steps });
  } finally {
    close(fd);
  }
  const killGroup = () => {
    try {
      Deno.kill(-s.pid, "SIGKILL");
    } catch { /* nothing left */ }
  };
  const timer = setTimeout(killGroup, 30_000);
  const status = await waitPidfd(s.pidfd);
  clearTimeout(timer);
  killGroup();
  close(s.pidfd);
  return { code: status.code, out: Deno.readTextFileSync(file), slots: s.slots };
}

/** One call for the probe, and what the interpreter says the filter answers. */
interface Call {
  readonly name: string;
  readonly args?: readonly (number | bigint)[];
  /** Only when the filter allows it: the errno the kernel itself gives (0: success). */
  readonly kernel?: number;
}

function nr(name: string | number): number {
  return typeof name === "number" ? name : syscallTable(arch)[name];
}

/** Runs the calls in the probe; checks each kernel answer against the interpreter's. */
async function agree(f: CompiledFilter, calls: readonly Call[]): Promise<string[]> {
  const argv = calls.map((c) =>
    [nr(c.name), ...(c.args ?? [])].map((v) => `0x${BigInt.asUintN(64, BigInt(v)).toString(16)}`)
      .join(",")
  );
  const run = await underFilter(f, [probe!, ...argv]);
  assert.equal(run.code, 0, run.out);
  const lines = run.out.trim().split("\n");
  assert.equal(lines.length, calls.length, run.out);
  const verdicts: string[] = [];
  calls.forEach((c, i) => {
    const [result, errno] = lines[i].split(" ").map(Number);
    const verdict = retName(
      runFilter(f.program, { nr: nr(c.name), arch: native, args: (c.args ?? []).map(BigInt) }),
    );
    verdicts.push(verdict);
    const where = `${c.name}(${
      (c.args ?? []).join(", ")
    }): interpreter ${verdict}, kernel ${result} errno ${errno}`;
    const m = /^ERRNO\((\d+)\)$/.exec(verdict);
    if (m) {
      assert.equal(result, -1, where);
      assert.equal(errno, Number(m[1]), where);
    } else {
      assert.equal(verdict, "ALLOW", where);
      if (c.kernel !== undefined) assert.equal(errno, c.kernel, where);
    }
  });
  return verdicts;
}

const defaultFilter = () =>
  compileFilter(defaultProfile(DEFAULT_CAPS, arch), { arch, kernelActions: actions });

test(
  "seccomp: the default filter is installed (Seccomp: 2) and a shell runs under it",
  {},
  async () => {
    const f = defaultFilter();
    const run = await underFilter(f, [
      BUSYBOX,
      "sh",
      "-c",
      "grep Seccomp /proc/self/status; echo hi | busybox tr a-z A-Z; busybox ls / >/dev/null && echo ls-ok; " +
      "busybox date +%Y >/dev/null && echo date-ok",
    ]);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /^Seccomp:\s+2$/m);
    assert.match(run.out, /^Seccomp_filters:\s+1$/m);
    assert.match(run.out, /^HI$/m);
    assert.match(run.out, /^ls-ok$/m);
    assert.match(run.out, /^date-ok$/m);
  },
);

test("seccomp: unshare -U fails in a default container, works with CAP_SYS_ADMIN", {}, async () => {
  const denied = await underFilter(defaultFilter(), [BUSYBOX, "unshare", "-U", "true"]);
  assert.notEqual(denied.code, 0);
  assert.match(denied.out, /Operation not permitted/);
  const admin = compileFilter(defaultProfile([...DEFAULT_CAPS, "SYS_ADMIN"], arch), { arch });
  const allowed = await underFilter(admin, [BUSYBOX, "unshare", "-U", "true"]);
  assert.equal(allowed.code, 0, allowed.out);
});

test("seccomp: a static HTTP server and its client work under the default filter", {}, async () => {
  const dir = tempDir();
  Deno.writeTextFileSync(`${dir}/index.html`, "hello from httpd\n");
  const port = 20000 + Math.floor(Math.random() * 20000);
  const run = await underFilter(defaultFilter(), [
    BUSYBOX,
    "sh",
    "-c",
    `busybox httpd -f -p 127.0.0.1:${port} -h ${dir} & pid=$!; ` +
    `for i in 1 2 3 4 5 6 7 8 9 10; do busybox wget -q -O - http://127.0.0.1:${port}/ && break; busybox sleep 0.1; done; ` +
    `kill $pid; wait $pid 2>/dev/null; true`,
  ]);
  assert.equal(run.code, 0, run.out);
  assert.match(run.out, /^hello from httpd$/m);
});

test(
  "seccomp: the kernel answers as the interpreter says (default profile)",
  { probe: true },
  async () => {
    const EINVAL = 22, ESRCH = 3;
    const calls: Call[] = [
      { name: "getpid", kernel: 0 },
      { name: "socket", args: [2, 1, 0], kernel: 0 },
      { name: "personality", args: [0xffffffff], kernel: 0 },
      { name: "clone", args: [CLONE.SIGHAND], kernel: EINVAL }, // allowed, then refused by the kernel
      { name: "ptrace", args: [2, 0, 0, 0], kernel: ESRCH }, // allowed, as in docker
      { name: "clone", args: [CLONE.NEWUSER | CLONE.SIGHAND] },
      { name: "clone3", args: [0, 0] },
      { name: "unshare", args: [CLONE.NEWUSER] },
      { name: "mount", args: [0, 0, 0, 0, 0] },
      { name: "umount2", args: [0, 0] },
      { name: "setns", args: [-1, 0] },
      { name: "keyctl", args: [0, 0, 0, 0, 0] },
      { name: "add_key", args: [0, 0, 0, 0, 0] },
      { name: "request_key", args: [0, 0, 0, 0] },
      { name: "bpf", args: [0xffff, 0, 0] },
      { name: "perf_event_open", args: [0, 0, -1, -1, 0] },
      { name: "userfaultfd", args: [0xffffffff] },
      { name: "kexec_load", args: [0, 0, 0, 0xdeadbeef] },
      { name: "init_module", args: [0, 0, 0] },
      { name: "finit_module", args: [-1, 0, 0] },
      { name: "delete_module", args: [0, 0] },
      { name: "reboot", args: [0, 0, 0, 0] },
      { name: "swapon", args: [0, 0] },
      { name: "acct", args: [1] },
      { name: "io_uring_setup", args: [0, 0] },
      { name: "socket", args: [40, 1, 0] },
      { name: "socket", args: [38, 5, 0] },
      { name: "personality", args: [0x400000] },
    ];
    const verdicts = await agree(defaultFilter(), calls);
    assert.deepEqual(verdicts.slice(0, 5), Array(5).fill("ALLOW"));
    assert.ok(verdicts.slice(5).every((v) => v !== "ALLOW"));
    assert.equal(verdicts[6], "ERRNO(38)", "clone3 is ENOSYS");
  },
);

test("seccomp: socket's domain is an int to the kernel, 64 bits to the filter (as in docker)", {
  probe: true,
}, async () => {
  // AF_VSOCK with a high bit set: the 64-bit comparison lets it through, and
  // the kernel, reading an int, sees AF_VSOCK. The interpreter says so too.
  const [v] = await agree(defaultFilter(), [{ name: "socket", args: [0x100000028n, 1, 0] }]);
  assert.equal(v, "ALLOW");
});

test(
  "seccomp: with CAP_SYS_ADMIN, mount, unshare and clone3 reach the kernel",
  { probe: true },
  async () => {
    const f = compileFilter(defaultProfile([...DEFAULT_CAPS, "SYS_ADMIN"], arch), { arch });
    const verdicts = await agree(f, [
      { name: "unshare", args: [0], kernel: 0 },
      { name: "mount", args: [0, 0, 0, 0, 0] },
      { name: "clone3", args: [0, 0], kernel: 22 },
      { name: "setns", args: [-1, 0], kernel: 9 },
    ]);
    assert.deepEqual(verdicts, ["ALLOW", "ALLOW", "ALLOW", "ALLOW"]);
  },
);

test("seccomp: each action does in the kernel what its value says", { probe: true }, async () => {
  const profile = (action: OciSeccomp["defaultAction"], errnoRet?: number): OciSeccomp => ({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["getppid"], action, ...(errnoRet ? { errnoRet } : {}) }],
  });
  const getppid = `${nr("getppid")}`;
  const run = async (p: OciSeccomp) =>
    await underFilter(compileFilter(p, { arch, kernelActions: actions }), [probe!, getppid]);
  assert.equal((await run(profile("SCMP_ACT_ERRNO", 77))).out, "-1 77\n");
  assert.equal(
    (await run(profile("SCMP_ACT_TRACE"))).out,
    "-1 38\n",
    "TRACE without a tracer: ENOSYS",
  );
  assert.match((await run(profile("SCMP_ACT_LOG"))).out, /^\d+ 0\n$/);
  assert.match((await run(profile("SCMP_ACT_ALLOW", undefined))).out, /^\d+ 0\n$/);
  const SIGSYS = 128 + 31;
  for (
    const action of ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"] as const
  ) {
    const r = await run(profile(action));
    assert.equal(r.code, SIGSYS, `${action}: ${r.out}`);
    assert.equal(r.out, "");
  }
});

test("seccomp: a NOTIFY filter gives the plan a listener fd", {}, async () => {
  const f = compileFilter({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["getppid"], action: "SCMP_ACT_NOTIFY" }],
  }, { arch, kernelActions: actions });
  const run = await underFilter(f, [BUSYBOX, "true"]);
  assert.equal(run.code, 0, run.out);
  assert.ok(
    (run.slots.get(LISTENER_SLOT.name) ?? 0n) >= 3n,
    `listener fd ${run.slots.get(LISTENER_SLOT.name)}`,
  );
});

if (arch === "x86_64") {
  test(
    "seccomp: an x32 system call kills the caller when x32 is not covered",
    { probe: true },
    async () => {
      const f = compileFilter({ defaultAction: "SCMP_ACT_ALLOW" }, { arch });
      assert.equal(
        retName(runFilter(f.program, { nr: X32_SYSCALL_BIT | 39, arch: native, args: [] })),
        "KILL_THREAD",
      );
      const r = await underFilter(f, [
        probe!,
        `${nr("getpid")}`,
        `${X32_SYSCALL_BIT | 39}`,
        `${nr("getpid")}`,
      ]);
      assert.equal(r.code, 128 + 31, r.out);
      assert.match(r.out, /^\d+ 0\n$/, "the first getpid ran, nothing after the x32 call");
    },
  );
}
