/**
 * A default `ctr run` container is at least as confined as docker's (root):
 * a seccomp filter (`Seccomp: 2`), no user namespace for its root, and the
 * calls docker's profile refuses answered EPERM, while ordinary programs
 * (a shell, busybox applets, an HTTP server) run unchanged. `--cap-add
 * SYS_ADMIN` opens the calls that capability makes safe; `--security-opt
 * seccomp=unconfined` and `--privileged` take the filter off; a profile file
 * (docker's or the OCI format) replaces it; `ctr inspect` shows what was asked.
 */
import assert from "node:assert/strict";
import { X86_64 } from "../../ffi/syscall_table/x86_64.ts";
import { AARCH64 } from "../../ffi/syscall_table/aarch64.ts";
import {
  ctr,
  IS_ROOT,
  rootTest,
  syscallProbe,
  tempDir,
  tempStore,
  testRootfs,
} from "../_helpers.ts";

const probe = IS_ROOT ? syscallProbe() : undefined;
const TABLE: Readonly<Record<string, number>> = Deno.build.arch === "aarch64" ? AARCH64 : X86_64;

/** Runs `args` in a new container of the test rootfs with `flags`; the probe is at /probe. */
async function inContainer(flags: string[], args: string[]) {
  const store = tempStore();
  const mount = probe ? ["-v", `${probe}:/probe:ro`] : [];
  return await ctr([
    "--root",
    store,
    "run",
    "--rm",
    ...mount,
    ...flags,
    "--rootfs",
    testRootfs(),
    ...args,
  ]);
}

/** The probe's answers for calls by name ("keyctl,0,..."): name → errno (0: it worked). */
async function errnos(flags: string[], calls: string[]): Promise<Record<string, number>> {
  const argv = calls.map((c) => {
    const [name, ...args] = c.split(",");
    return [TABLE[name], ...args].join(",");
  });
  const r = await inContainer(flags, ["/probe", ...argv]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  return Object.fromEntries(calls.map((c, i) => [c.split(",")[0], Number(lines[i].split(" ")[1])]));
}

const EPERM = 1;

/** Calls docker's default profile refuses, with harmless arguments. */
const REFUSED = [
  "keyctl,0,0xfffffffd,0", // KEYCTL_GET_KEYRING_ID of the session keyring
  "add_key,0,0,0,0,0",
  "request_key,0,0,0,0",
  "bpf,0,0,0",
  "perf_event_open,0,0,0xffffffff,0xffffffff,0",
  "userfaultfd,0",
  "init_module,0,0,0",
  "finit_module,0xffffffff,0,0",
  "delete_module,0,0",
  "kexec_load,0,0,0,0",
  "mount,0,0,0,0,0",
  "umount2,0,0",
  "unshare,0x10000000", // CLONE_NEWUSER
  "setns,0xffffffff,0",
  "swapon,0,0",
  "acct,0",
  "reboot,0,0,0,0", // no magic: EINVAL where a call gets through
];

function withProbe(name: string, fn: () => Promise<void>): void {
  if (IS_ROOT && !probe) {
    Deno.test({ name: `${name} [skipped: gcc could not build the probe]`, ignore: true, fn() {} });
    return;
  }
  rootTest(name, fn);
}

rootTest(
  "confinement: a default container runs under a seccomp filter; its root cannot unshare a user namespace",
  async () => {
    const r = await inContainer([], [
      "sh",
      "-c",
      "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; unshare -U -r true 2>/dev/null; echo unshare=$?",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
    assert.match(r.stdout, /^NoNewPrivs:\s+0$/m);
    assert.match(r.stdout, /^unshare=1$/m);
    // A user without no_new_privs still gets it: installed before the capabilities are dropped.
    const user = await inContainer(["-u", "1000"], ["grep", "^Seccomp:", "/proc/self/status"]);
    assert.match(user.stdout, /^Seccomp:\s+2$/m, user.stderr);
    const nnp = await inContainer(
      ["-u", "1000", "--security-opt", "no-new-privileges"],
      ["grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"],
    );
    assert.match(nnp.stdout, /^Seccomp:\s+2$/m, nnp.stderr);
    assert.match(nnp.stdout, /^NoNewPrivs:\s+1$/m);
  },
);

withProbe(
  "confinement: docker's refused calls get EPERM by default, and not when unconfined",
  async () => {
    const confined = await errnos([], REFUSED);
    for (const c of REFUSED) {
      const name = c.split(",")[0];
      assert.equal(
        confined[name],
        EPERM,
        `${name} in a default container: errno ${confined[name]}`,
      );
    }
    // Without the filter the kernel answers: the key calls and the user namespace are not EPERM.
    const open = await errnos(["--security-opt", "seccomp=unconfined"], [
      "keyctl,0,0xfffffffd,0",
      "add_key,0,0,0,0,0",
      "unshare,0x10000000",
    ]);
    assert.notEqual(open.keyctl, EPERM);
    assert.notEqual(open.add_key, EPERM);
    assert.equal(open.unshare, 0);
  },
);

withProbe("confinement: --cap-add SYS_ADMIN opens the calls it makes safe", async () => {
  const r = await inContainer(["--cap-add", "SYS_ADMIN"], [
    "sh",
    "-c",
    "mkdir -p /tmp/m && mount -t tmpfs t /tmp/m && echo mounted; unshare -U -r true && echo userns",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^mounted$/m);
  assert.match(r.stdout, /^userns$/m);
  const calls = await errnos(["--cap-add", "SYS_ADMIN"], ["setns,0xffffffff,0"]);
  assert.notEqual(calls.setns, EPERM); // EBADF: the filter let it through
});

rootTest("confinement: ordinary programs run unchanged under the default filter", async () => {
  const r = await inContainer([], [
    "sh",
    "-c",
    [
      "echo hi | tr a-z A-Z",
      "ls / >/dev/null && echo ls",
      "mkdir -p /tmp/w/x && cp /bin/busybox /tmp/w/x/ && echo files",
      "(sleep 0.1 &) ; wait; echo jobs",
      "yes | head -3 | wc -l",
      "httpd -p 8080 -h /etc && wget -q -O - http://127.0.0.1:8080/passwd | head -1",
    ].join("; "),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), [
    "HI",
    "ls",
    "files",
    "jobs",
    "3",
    "root:x:0:0:root:/root:/bin/sh",
  ]);
});

rootTest(
  "confinement: unconfined, --privileged, a profile file; inspect shows what was asked",
  async () => {
    for (const flags of [["--security-opt", "seccomp=unconfined"], ["--privileged"]]) {
      const r = await inContainer(flags, ["grep", "^Seccomp:", "/proc/self/status"]);
      assert.match(r.stdout, /^Seccomp:\s+0$/m, `${flags.join(" ")}: ${r.stderr}`);
    }
    const dir = tempDir();
    // docker's format, with a rule that refuses mkdir.
    Deno.writeTextFileSync(
      `${dir}/p.json`,
      JSON.stringify({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }],
      }),
    );
    const custom = await inContainer(["--security-opt", `seccomp=${dir}/p.json`], [
      "sh",
      "-c",
      "mkdir /tmp/nope 2>&1; echo mkdir=$?",
    ]);
    assert.match(custom.stdout, /Permission denied/);
    assert.match(custom.stdout, /^mkdir=1$/m);
    // podman's own profile (containers-common), when installed: ordinary programs run.
    const podmans = "/usr/share/containers/seccomp.json";
    try {
      Deno.statSync(podmans);
      const r = await inContainer(["--security-opt", `seccomp=${podmans}`], [
        "sh",
        "-c",
        "grep '^Seccomp:' /proc/self/status; ls / >/dev/null && echo ran",
      ]);
      assert.match(r.stdout, /^Seccomp:\s+2$/m, r.stderr);
      assert.match(r.stdout, /^ran$/m);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    // Bad options and profiles are one-line errors that start nothing.
    const bad = await inContainer(["--security-opt", "seccomp=/nonexistent.json"], ["true"]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /opening seccomp profile \(\/nonexistent\.json\) failed/);
    Deno.writeTextFileSync(`${dir}/bad.json`, JSON.stringify({ defaultAction: "SCMP_ACT_NOPE" }));
    const badProfile = await inContainer(["--security-opt", `seccomp=${dir}/bad.json`], ["true"]);
    assert.equal(badProfile.code, 125);
    assert.match(badProfile.stderr, /defaultAction/);
    const unknown = await inContainer(["--security-opt", "seccomp"], ["true"]);
    assert.match(unknown.stderr, /invalid --security-opt "seccomp"/);
    // Detached: inspect shows the options docker's way.
    const store = tempStore();
    const d = await ctr([
      "--root",
      store,
      "run",
      "-d",
      "--security-opt",
      "seccomp=unconfined",
      "--security-opt",
      "no-new-privileges",
      "--rootfs",
      testRootfs(),
      "sleep",
      "30",
    ]);
    assert.equal(d.code, 0, d.stderr);
    const id = d.stdout.trim();
    try {
      const ins = await ctr([
        "--root",
        store,
        "inspect",
        "-f",
        "{{json .HostConfig.SecurityOpt}}",
        id,
      ]);
      assert.deepEqual(JSON.parse(ins.stdout), ["seccomp=unconfined", "no-new-privileges"]);
    } finally {
      await ctr(["--root", store, "rm", "-f", id]);
    }
  },
);

rootTest("confinement: --dry-run shows the filter step with its length", async () => {
  const r = await ctr(["run", "--dry-run", "--rootfs", testRootfs(), "true"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /seccomp\(SECCOMP_SET_MODE_FILTER, .*# install the seccomp filter \(\d+ instructions\)/,
  );
});
