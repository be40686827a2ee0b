/** Reading seccomp profiles in the OCI and docker formats (no root needed). */
import assert from "node:assert/strict";
import {
  parseProfile,
  parseProfileText,
  SeccompProfileError,
} from "../../lib/runtime/seccomp/profile.ts";

const opts = { caps: ["CHOWN", "SYS_CHROOT"], arch: "x86_64" as const };

/** The problems parseProfile() finds in `json`. */
function problems(json: unknown, o = opts): readonly string[] {
  try {
    parseProfile(json, o);
  } catch (e) {
    if (e instanceof SeccompProfileError) return e.problems;
    throw e;
  }
  return [];
}

Deno.test("parseProfile() reads an OCI profile as it is, with exact 64-bit values", () => {
  const p = parseProfile({
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    flags: ["SECCOMP_FILTER_FLAG_LOG"],
    listenerPath: "/run/agent.sock",
    listenerMetadata: "meta",
    syscalls: [
      { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
      {
        names: ["clone"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ" }],
      },
      { names: ["mount"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
    ],
  }, opts);
  assert.deepEqual(p, {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    flags: ["SECCOMP_FILTER_FLAG_LOG"],
    listenerPath: "/run/agent.sock",
    listenerMetadata: "meta",
    syscalls: [
      { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
      {
        names: ["clone"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 2114060288n, valueTwo: 0n, op: "SCMP_CMP_MASKED_EQ" }],
      },
      { names: ["mount"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
    ],
  });
});

Deno.test("parseProfile() names the JSON path of each problem", () => {
  const found = problems({
    defaultAction: "SCMP_ACT_ERRNOO",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"],
    flags: ["SECCOMP_FILTER_FLAG_NOPE"],
    syscalls: [
      { names: ["read"], action: "SCMP_ACT_ALLOW" },
      { names: ["read"], actoin: "SCMP_ACT_ALLOW" },
      { action: "SCMP_ACT_ALLOW" },
      { name: "read", names: ["write"], action: "SCMP_ACT_ALLOW" },
      {
        names: ["socket"],
        action: "SCMP_ACT_ALLOW",
        args: [
          { index: 0, value: 40, op: "SCMP_CMP_FOO" },
          { index: 6, value: -1, op: "SCMP_CMP_EQ" },
          { index: 0, op: "SCMP_CMP_EQ" },
        ],
      },
      { names: ["Read Me"], action: "SCMP_ACT_ALLOW", errnoRet: 1 },
      { names: ["mount"], action: "SCMP_ACT_ERRNO", errnoRet: 70000 },
      "read",
    ],
  });
  assert.deepEqual(found, [
    'seccomp.defaultAction: unknown action "SCMP_ACT_ERRNOO" (did you mean "SCMP_ACT_ERRNO"?)',
    'seccomp.architectures[1]: unknown architecture "SCMP_ARCH_Z80" (did you mean "SCMP_ARCH_X86"?)',
    'seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE" (did you mean "SECCOMP_FILTER_FLAG_LOG"?)',
    'seccomp.syscalls[1].actoin: unknown field (did you mean "action"?)',
    "seccomp.syscalls[1].action: missing",
    "seccomp.syscalls[2].names: missing",
    "seccomp.syscalls[3]: give either name or names, not both",
    'seccomp.syscalls[4].args[0].op: unknown operator "SCMP_CMP_FOO" (did you mean "SCMP_CMP_NE"?)',
    "seccomp.syscalls[4].args[1].index: 6 is out of range (0 to 5)",
    "seccomp.syscalls[4].args[1].value: -1 is out of range (0 to 18446744073709551615)",
    "seccomp.syscalls[4].args[2].value: missing",
    'seccomp.syscalls[5].names[0]: not a system call name: "Read Me"',
    "seccomp.syscalls[5].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one, not SCMP_ACT_ALLOW",
    "seccomp.syscalls[6].errnoRet: 70000 is out of range (0 to 65535)",
    'seccomp.syscalls[7]: expected an object, got "read"',
  ]);
  assert.throws(
    () => parseProfile({ defaultAction: "SCMP_ACT_KILL", syscalls: [{ names: 1 }] }, opts),
    (e: Error) =>
      e.message ===
        "Cannot read the seccomp profile: seccomp.syscalls[0].names: expected a list, got 1 (and 1 more)",
  );
  assert.deepEqual(problems([], { ...opts, path: "linux.seccomp" } as typeof opts), [
    "linux.seccomp: expected an object, got a list",
  ]);
});

Deno.test("parseProfile() refuses what the runtime cannot do with SCMP_ACT_NOTIFY", () => {
  assert.deepEqual(problems({ defaultAction: "SCMP_ACT_NOTIFY" }), [
    "seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
  ]);
  assert.deepEqual(
    problems({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["read", "write"], action: "SCMP_ACT_NOTIFY" }],
    }),
    ["seccomp.syscalls[0].names: SCMP_ACT_NOTIFY cannot be used for write"],
  );
});

Deno.test("parseProfile() resolves docker's includes and excludes for the container", () => {
  const docker = {
    defaultAction: "SCMP_ACT_ERRNO",
    archMap: [
      { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
      { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
      { architecture: "SCMP_ARCH_RISCV64", subArchitectures: null },
    ],
    syscalls: [
      { names: ["read"], action: "SCMP_ACT_ALLOW", comment: "always" },
      { name: "mount", action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
      {
        names: ["clone"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 2114060288, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
        excludes: { caps: ["CAP_SYS_ADMIN"], arches: ["s390x"] },
      },
      { names: ["arch_prctl"], action: "SCMP_ACT_ALLOW", includes: { arches: ["amd64"] } },
      { names: ["cacheflush"], action: "SCMP_ACT_ALLOW", includes: { arches: ["arm", "arm64"] } },
      { names: ["ptrace"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "4.8" } },
      { names: ["kcmp"], action: "SCMP_ACT_ALLOW", excludes: { minKernel: "5.0" } },
      {
        names: ["reboot"],
        action: "SCMP_ACT_ALLOW",
        includes: { caps: ["CAP_SYS_BOOT", "CAP_SYS_ADMIN"] },
      },
      { names: ["open_by_handle_at"], action: "SCMP_ACT_ALLOW", includes: {}, excludes: {} },
    ],
  };
  const names = (caps: string[], arch: "x86_64" | "aarch64", kernel?: string) =>
    parseProfile(docker, { caps, arch, kernel }).syscalls!.flatMap((s) => s.names);

  assert.deepEqual(names(["CHOWN"], "x86_64", "6.18.44-fc"), [
    "read",
    "clone",
    "arch_prctl",
    "ptrace",
    "open_by_handle_at",
  ]);
  // CAP_ prefix or not, any case: the same capability.
  assert.deepEqual(names(["cap_sys_admin", "SYS_BOOT"], "aarch64", "4.4.0"), [
    "read",
    "mount",
    "cacheflush",
    "kcmp",
    "reboot",
    "open_by_handle_at",
  ]);
  // No kernel given: every minKernel counts as met.
  assert.ok(names([], "x86_64").includes("ptrace"));
  assert.ok(!names([], "x86_64").includes("kcmp"));

  assert.deepEqual(parseProfile(docker, { caps: [], arch: "x86_64" }).architectures, [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
  ]);
  assert.deepEqual(parseProfile(docker, { caps: [], arch: "aarch64" }).architectures, [
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
  ]);
  assert.deepEqual(problems({ ...docker, architectures: ["SCMP_ARCH_X86_64"] }), [
    "seccomp.archMap: give either architectures or archMap, not both",
  ]);
  assert.deepEqual(
    problems({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["x"], action: "SCMP_ACT_LOG", includes: { minKernel: "4" } }],
    }),
    ['seccomp.syscalls[0].includes.minKernel: expected "<kernel>.<major>" such as "4.8", got "4"'],
  );
});

Deno.test("parseProfileText() keeps integers above 2^53 exact", () => {
  const text = `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ioctl"],
    "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 18446744073709551615,
    "valueTwo": 9007199254740993, "op": "SCMP_CMP_MASKED_EQ"}]}]}`;
  const arg = parseProfileText(text, opts).syscalls![0].args![0];
  assert.equal(arg.value, 0xffffffffffffffffn);
  assert.equal(arg.valueTwo, 9007199254740993n);
  // parseProfile on JSON.parse's result cannot know the exact value: it says so.
  assert.match(
    problems(JSON.parse(text))[0],
    /^seccomp.syscalls\[0\].args\[0\].value: 18446744073709552000 is above 2\^53/,
  );
  assert.throws(
    () => parseProfileText("{nope", opts),
    /^SeccompProfileError: Cannot read the seccomp profile: not JSON: /,
  );
});

const PODMAN = "/usr/share/containers/seccomp.json";
const hasPodman = (() => {
  try {
    return Deno.statSync(PODMAN).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: hasPodman
    ? "parseProfile() reads podman's profile (containers-common)"
    : "parseProfile() reads podman's profile [skipped: no /usr/share/containers/seccomp.json (containers-common)]",
  ignore: !hasPodman,
  fn() {
    const text = Deno.readTextFileSync(PODMAN);
    const p = parseProfileText(text, { caps: ["CHOWN"], arch: "x86_64" });
    assert.equal(p.defaultAction, "SCMP_ACT_ERRNO");
    assert.deepEqual(p.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    assert.ok(p.syscalls!.length > 10);
    const admin = parseProfileText(text, { caps: ["SYS_ADMIN"], arch: "x86_64" });
    // podman refuses bpf with EPERM (its default is ENOSYS) unless CAP_SYS_ADMIN is held.
    const bpf = (q: typeof p) =>
      q.syscalls!.filter((s) => s.names.includes("bpf")).map((s) => [s.action, s.errnoRet]);
    assert.deepEqual(bpf(p), [["SCMP_ACT_ERRNO", 1]]);
    assert.deepEqual(bpf(admin), [["SCMP_ACT_ALLOW", undefined]]);
  },
});
