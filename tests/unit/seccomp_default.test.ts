/** ctr's default seccomp profile, compiled and asked with the interpreter (no root needed). */
import assert from "node:assert/strict";
import { CLONE } from "../../ffi/constants.ts";
import { DEFAULT_CAPS } from "../../lib/runtime/capabilities.ts";
import { type Abi, compileFilter, syscallTable } from "../../lib/runtime/seccomp/compile.ts";
import { DEFAULT_PROFILE, defaultProfile } from "../../lib/runtime/seccomp/default.ts";
import { parseProfileText } from "../../lib/runtime/seccomp/profile.ts";
import { assertLoadable, decide } from "./_seccomp.ts";

const ARCHES = { x86_64: ["x86_64", "i386", "x32"], aarch64: ["aarch64", "arm"] } as const;

function filter(arch: "x86_64" | "aarch64", caps: readonly string[] = DEFAULT_CAPS) {
  const f = compileFilter(defaultProfile(caps, arch), { arch });
  assertLoadable(f);
  assert.deepEqual(f.abis, ARCHES[arch]);
  return f;
}

/** Each ABI of `arch` that has `call`. */
function abisWith(arch: "x86_64" | "aarch64", call: string): Abi[] {
  return ARCHES[arch].filter((abi) => syscallTable(abi)[call] !== undefined);
}

const CLONE_THREAD = CLONE.VM | CLONE.FS | CLONE.FILES | CLONE.SIGHAND | CLONE.THREAD | 0x40000 |
  0x80000 | 0x100000 | 0x200000; // SYSVSEM, SETTLS, PARENT_SETTID, CHILD_CLEARTID: glibc's pthread_create
const CLONE_FORK = 0x1200000 | 17; // CHILD_SETTID | CHILD_CLEARTID | SIGCHLD: glibc's fork

const REFUSED = [
  "mount",
  "umount2",
  "unshare",
  "setns",
  "keyctl",
  "add_key",
  "request_key",
  "bpf",
  "perf_event_open",
  "userfaultfd",
  "kexec_load",
  "kexec_file_load",
  "init_module",
  "finit_module",
  "delete_module",
  "reboot",
  "swapon",
  "swapoff",
  "acct",
  "io_uring_setup",
  "io_uring_enter",
  "open_by_handle_at",
  "settimeofday",
  "clock_settime",
  "kcmp",
  "pidfd_getfd",
  "syslog",
  "iopl",
  "ioperm",
  "pivot_root",
  "sethostname",
  "fsopen",
  "open_tree",
  "move_mount",
  "mbind",
  "vhangup",
  "lookup_dcookie",
  "quotactl",
  "nfsservctl",
  "uselib",
];

const ALLOWED = [
  "read",
  "write",
  "openat",
  "open",
  "close",
  "execve",
  "execveat",
  "exit_group",
  "wait4",
  "futex",
  "rseq",
  "set_robust_list",
  "mmap",
  "mprotect",
  "brk",
  "statx",
  "newfstatat",
  "getdents64",
  "fchmodat2",
  "epoll_pwait",
  "accept4",
  "bind",
  "listen",
  "setsockopt",
  "sendfile",
  "mknodat",
  "setresuid",
  "setgroups",
  "capset",
  "prctl",
  "uname",
  "clock_gettime",
  "nanosleep",
  "getrandom",
  "sigaltstack",
  "rt_sigaction",
  "chroot",
  "ptrace",
  "process_vm_readv",
  "arch_prctl",
  "set_tls",
  "cacheflush",
  "seccomp",
  "landlock_create_ruleset",
  "memfd_create",
  "pidfd_open",
  "socketcall",
  "ipc",
];

Deno.test("defaultProfile(): a default container cannot reach the kernel's shared state (EPERM)", () => {
  for (const arch of ["x86_64", "aarch64"] as const) {
    const f = filter(arch);
    for (const call of REFUSED) {
      for (const abi of abisWith(arch, call)) {
        assert.equal(decide(f, abi, call), "ERRNO(1)", `${call} on ${abi}`);
      }
    }
    for (const abi of ARCHES[arch]) {
      // unshare -U, and clone with any namespace flag.
      assert.equal(decide(f, abi, "unshare", CLONE.NEWUSER), "ERRNO(1)", abi);
      for (
        const ns of [
          "NEWUSER",
          "NEWNS",
          "NEWPID",
          "NEWNET",
          "NEWUTS",
          "NEWIPC",
          "NEWCGROUP",
        ] as const
      ) {
        assert.equal(decide(f, abi, "clone", CLONE[ns] | 17), "ERRNO(1)", `clone ${ns} ${abi}`);
      }
      assert.equal(decide(f, abi, "clone3"), "ERRNO(38)", `clone3 is ENOSYS on ${abi}`);
      assert.equal(decide(f, abi, "socket", 40, 1, 0), "ERRNO(1)", `AF_VSOCK ${abi}`);
      assert.equal(decide(f, abi, "socket", 38, 5, 0), "ERRNO(1)", `AF_ALG ${abi}`);
      assert.equal(decide(f, abi, "personality", 0x400000), "ERRNO(1)", `READ_IMPLIES_EXEC ${abi}`);
      assert.equal(decide(f, abi, 0x3ffff), "ERRNO(1)", `an unknown number ${abi}`);
    }
  }
});

Deno.test("defaultProfile(): shells, C libraries and servers get what they call", () => {
  for (const arch of ["x86_64", "aarch64"] as const) {
    const f = filter(arch);
    for (const call of ALLOWED) {
      for (const abi of abisWith(arch, call)) {
        assert.equal(decide(f, abi, call), "ALLOW", `${call} on ${abi}`);
      }
    }
    for (const abi of ARCHES[arch]) {
      assert.equal(decide(f, abi, "clone", CLONE_THREAD), "ALLOW", `thread ${abi}`);
      assert.equal(decide(f, abi, "clone", CLONE_FORK), "ALLOW", `fork ${abi}`);
      for (const family of [1, 2, 10, 16, 17, 39, 41, 44]) { // unix inet inet6 netlink packet nfc kcm xdp
        assert.equal(decide(f, abi, "socket", family, 1, 0), "ALLOW", `family ${family} ${abi}`);
      }
      for (const p of [0, 8, 0x20000, 0x20008, 0xffffffff]) {
        assert.equal(decide(f, abi, "personality", p), "ALLOW", `personality ${p} ${abi}`);
      }
    }
  }
});

Deno.test("defaultProfile(): each capability opens the calls docker ties to it", () => {
  const cases: [string, string[]][] = [
    ["SYS_ADMIN", [
      "mount",
      "umount2",
      "unshare",
      "setns",
      "sethostname",
      "clone3",
      "bpf",
      "fsopen",
    ]],
    ["SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise"]],
    ["SYS_MODULE", ["init_module", "finit_module", "delete_module"]],
    ["SYS_BOOT", ["reboot"]],
    ["SYS_PACCT", ["acct"]],
    ["SYS_RAWIO", ["iopl", "ioperm"]],
    ["SYS_TIME", ["settimeofday", "clock_settime"]],
    ["SYS_NICE", ["mbind", "set_mempolicy"]],
    ["SYSLOG", ["syslog"]],
    ["BPF", ["bpf"]],
    ["PERFMON", ["perf_event_open"]],
    ["DAC_READ_SEARCH", ["open_by_handle_at"]],
    ["SYS_TTY_CONFIG", ["vhangup"]],
  ];
  for (const arch of ["x86_64", "aarch64"] as const) {
    for (const [cap, calls] of cases) {
      const f = filter(arch, [...DEFAULT_CAPS, cap]);
      for (const call of calls) {
        for (const abi of abisWith(arch, call)) {
          assert.equal(decide(f, abi, call), "ALLOW", `${call} with ${cap} on ${abi}`);
        }
      }
    }
    const admin = filter(arch, [...DEFAULT_CAPS, "SYS_ADMIN"]);
    assert.equal(decide(admin, arch, "clone", CLONE.NEWUSER | 17), "ALLOW");
    assert.equal(decide(admin, arch, "unshare", CLONE.NEWUSER), "ALLOW");
    // Without SYS_CHROOT (a default capability) chroot is refused.
    const noChroot = filter(arch, DEFAULT_CAPS.filter((c) => c !== "SYS_CHROOT"));
    assert.equal(decide(noChroot, arch, "chroot"), "ERRNO(1)");
  }
});

Deno.test("defaultProfile(): docker's clone mask, and the printed JSON reads back the same", () => {
  assert.equal(
    DEFAULT_PROFILE.syscalls.find((s) => s.names?.[0] === "clone" && s.args)?.args?.[0].value,
    2114060288,
  );
  const text = JSON.stringify(DEFAULT_PROFILE, null, 2);
  for (const arch of ["x86_64", "aarch64"] as const) {
    for (const caps of [DEFAULT_CAPS, [...DEFAULT_CAPS, "SYS_ADMIN"], []]) {
      assert.deepEqual(parseProfileText(text, { caps, arch }), defaultProfile(caps, arch));
    }
  }
  const f = filter("x86_64");
  assert.ok(f.instructions < 400, `${f.instructions} instructions`);
  assert.equal(f.flags, 4, "SECCOMP_FILTER_FLAG_SPEC_ALLOW, as runc");
  assert.equal(f.notify, false);
});
