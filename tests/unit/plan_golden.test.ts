/**
 * Golden plans: the whole plan of a few typical containers and joined
 * processes, printed as `--dry-run` prints it, compared with the files in
 * tests/fixtures/plans/. A change to what a container's first process does
 * shows up here as a readable diff. After a deliberate change:
 *
 *     UPDATE_GOLDEN=1 deno test -A tests/unit/plan_golden.test.ts
 */
import assert from "node:assert/strict";
import { parseRunArgs } from "../../lib/cli/run.ts";
import { runConfig, type RunHost } from "../../lib/config/docker_run.ts";
import { containerPlan, showPlan } from "../../lib/runtime/container_plan.ts";
import { execPrelude } from "../../lib/runtime/exec.ts";
import type { PlanHost } from "../../lib/runtime/host.ts";
import { joinPlan } from "../../lib/runtime/namespaces.ts";
import { formatPlan } from "../../lib/runtime/plan.ts";
import { cgroupLayout } from "../../lib/cgroups/mod.ts";
import { defaultSpec } from "../../lib/oci/config_json.ts";
import { ociToConfig } from "../../lib/oci/runtime.ts";
import { DEFAULT_CAPS } from "../../lib/runtime/capabilities.ts";

const FIXTURES = new URL("../fixtures/plans/", import.meta.url).pathname;
const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";

/** A small root filesystem: what the plan builders look up in the layers. */
function fixtureRoot(): string {
  // A fixed-length name: --dry-run pads each line, so the length shows in the fixture.
  const hex = [...crypto.getRandomValues(new Uint8Array(6))].map((b) =>
    b.toString(16).padStart(2, "0")
  )
    .join("");
  const r = `/tmp/ctr-golden-${hex}`;
  Deno.mkdirSync(r, { mode: 0o755 });
  for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app", "usr/bin"]) {
    Deno.mkdirSync(`${r}/${d}`, { recursive: true });
  }
  Deno.writeTextFileSync(
    `${r}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
  );
  Deno.writeTextFileSync(`${r}/etc/group`, "root:x:0:\ntty:x:5:\napp:x:1000:\n");
  for (const f of ["hosts", "resolv.conf", "hostname"]) Deno.writeTextFileSync(`${r}/etc/${f}`, "");
  return r;
}

/** A v1 host with the usual hierarchies, as /proc/self/mountinfo and /proc/self/cgroup say. */
const CGROUPS = cgroupLayout(
  [
    "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755",
    "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec - cgroup2 cgroup2 rw",
    "32 30 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec - cgroup cgroup rw,memory",
    "33 30 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec - cgroup cgroup rw,pids",
    "34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec - cgroup cgroup rw,cpu,cpuacct",
  ].join("\n") + "\n",
  "4:cpu,cpuacct:/\n3:pids:/\n2:memory:/\n0::/\n",
);

/** The host every golden plan is built for: nothing here is read from this machine. */
const HOST: PlanHost = {
  lastCap: 40,
  resetSignals: [13],
  cgroups: CGROUPS,
  arch: "x86_64",
  seccompActions: [
    "kill_process",
    "kill_thread",
    "trap",
    "errno",
    "user_notif",
    "trace",
    "log",
    "allow",
  ],
  kernelRelease: "6.18.0",
  lsm: { apparmor: false, selinux: false },
  kindOf: (p) =>
    ["/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware", "/srv/data", "/volumes/cache"]
        .includes(p)
      ? "dir"
      : p.startsWith("/proc/") || p.startsWith("/sys/") || p.startsWith("/var/lib/ctr/containers/")
      ? "file"
      : undefined,
};

const RUN_HOST: RunHost = {
  root: "/var/lib/ctr",
  env: {},
  lastCap: 40,
  ownCaps: (1n << 41n) - 1n,
  hardNofile: 1048576n,
  subuidBase: 100000,
  newId: () => "c0ffee".padEnd(64, "0"),
  volume: (name) => ({ name: name ?? "anon", path: `/volumes/${name ?? "anon"}` }),
};

/** Compares (or, with UPDATE_GOLDEN=1, writes) one fixture; the temp root reads as $ROOTFS. */
function golden(name: string, text: string, root: string): void {
  const shown = text.replaceAll(root, "$ROOTFS") + "\n";
  const file = `${FIXTURES}${name}.txt`;
  if (UPDATE) {
    Deno.mkdirSync(FIXTURES, { recursive: true });
    Deno.writeTextFileSync(file, shown);
    return;
  }
  let want: string;
  try {
    want = Deno.readTextFileSync(file);
  } catch {
    throw new Error(`No fixture ${file}: run with UPDATE_GOLDEN=1 to make it`);
  }
  assert.equal(shown, want, `the plan ${name} differs from ${file}`);
}

function runPlan(argv: string[], image?: Parameters<typeof runConfig>[2]): string {
  return showPlan(containerPlan(runConfig(parseRunArgs(argv), RUN_HOST, image).config, HOST));
}

Deno.test("plan: a plain --rootfs run matches its fixture", () => {
  const r = fixtureRoot();
  try {
    golden("run_rootfs", runPlan(["--rootfs", r, "--hostname", "box", "true"]), r);
  } finally {
    Deno.removeSync(r, { recursive: true });
  }
});

Deno.test("plan: an image run with volumes and -t matches its fixture", () => {
  const r = fixtureRoot();
  try {
    const image = {
      layers: [r],
      config: {
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [] },
        config: {
          Env: ["PATH=/usr/bin:/bin", "APP=1"],
          Cmd: ["sh"],
          WorkingDir: "/home/app",
          User: "app",
        },
      },
    };
    golden(
      "run_image_tty_volumes",
      runPlan(
        ["-t", "-i", "-v", "/srv/data:/data:ro", "-v", "cache:/cache", "--read-only", "img"],
        image as Parameters<typeof runConfig>[2],
      ),
      r,
    );
  } finally {
    Deno.removeSync(r, { recursive: true });
  }
});

Deno.test("plan: a --userns run matches its fixture", () => {
  const r = fixtureRoot();
  try {
    golden("run_userns", runPlan(["--rootfs", r, "--userns", "id"]), r);
  } finally {
    Deno.removeSync(r, { recursive: true });
  }
});

Deno.test("plan: an OCI bundle with hooks matches its fixture", () => {
  const r = fixtureRoot();
  try {
    const spec = defaultSpec({ args: ["sh", "-c", "echo hi"] });
    const config = {
      ...spec,
      root: { path: r, readonly: true },
      hostname: "oci",
      hooks: { createContainer: [{ path: "/usr/bin/true" }] },
    };
    const cfg = ociToConfig("golden", "/bundle", config, {
      stateDir: "/run/ctr-oci",
      gateFd: 7,
    });
    golden("oci_bundle_hooks", showPlan(containerPlan(cfg, HOST)), r);
  } finally {
    Deno.removeSync(r, { recursive: true });
  }
});

Deno.test("plan: an OCI bundle joining a pid namespace while making its user namespace matches its fixture", () => {
  const r = fixtureRoot();
  try {
    const spec = defaultSpec({ args: ["sh"] });
    const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const config = {
      ...spec,
      process: { ...spec.process!, terminal: false },
      root: { path: r },
      linux: {
        ...spec.linux,
        namespaces: [
          { type: "user" as const },
          { type: "pid" as const, path: "/proc/4242/ns/pid" },
          { type: "network" as const, path: "/run/netns/pod" },
          { type: "mount" as const },
          { type: "uts" as const },
        ],
        uidMappings: maps,
        gidMappings: maps,
        rootfsPropagation: "shared" as const,
      },
    };
    const cfg = ociToConfig("golden", "/bundle", config, {
      stateDir: "/run/ctr-oci",
      gateFd: 7,
      closeFds: [16, 17],
    });
    golden("oci_join_pid_userns", showPlan(containerPlan(cfg, HOST)), r);
  } finally {
    Deno.removeSync(r, { recursive: true });
  }
});

Deno.test("plan: an OCI bundle without a mount namespace matches its fixture", () => {
  const r = fixtureRoot();
  try {
    const spec = defaultSpec({ args: ["sh"] });
    const config = {
      ...spec,
      process: { ...spec.process!, terminal: false },
      root: { path: r },
      mounts: [],
      linux: { namespaces: [{ type: "pid" as const }, { type: "uts" as const }] },
    };
    const cfg = ociToConfig("golden", "/bundle", config, {
      stateDir: "/run/ctr-oci",
      gateFd: 7,
    });
    golden("oci_no_mount_namespace", showPlan(containerPlan(cfg, HOST)), r);
  } finally {
    Deno.removeSync(r, { recursive: true });
  }
});

Deno.test("plan: exec with a pty (ctr exec: dies with ctr) matches its fixture", () => {
  const before = execPrelude(
    {
      args: ["sh"],
      env: ["PATH=/usr/bin:/bin", "TERM=xterm"],
      cwd: "/home/app",
      uid: 1000,
      gid: 1000,
      groups: [1000],
      caps: DEFAULT_CAPS,
      noNewPrivileges: false,
      tty: true,
      interactive: true,
      detach: false,
      dieWithParent: true,
    },
    1,
    HOST,
  );
  const { plan } = joinPlan({
    joins: (["mnt", "uts", "ipc", "net", "pid", "cgroup"] as const).map((type, i) => ({
      type,
      path: `/proc/4242/ns/${type}`,
      fd: 10 + i,
    })),
    root: { rootFd: 20, cwdFd: 21 },
    waitForParent: true,
    beforeExec: before,
    args: ["sh"],
    env: ["PATH=/usr/bin:/bin", "TERM=xterm"],
  }, HOST);
  golden("exec_tty", formatPlan(plan, "SIGCHLD"), "/nonexistent");
});

Deno.test("plan: enter of a network namespace matches its fixture", () => {
  const { plan } = joinPlan({
    joins: [{ type: "net", path: "/run/netns/x", fd: 10 }],
    args: ["ip", "addr"],
    env: ["PATH=/usr/sbin:/usr/bin"],
  }, HOST);
  golden("enter_net", formatPlan(plan, "SIGCHLD"), "/nonexistent");
});
