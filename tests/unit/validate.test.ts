/** validateConfig(): the checks every normalized container config passes before it is planned. */
import assert from "node:assert/strict";
import type { ContainerConfig } from "../../lib/config/container.ts";
import { validateConfig } from "../../lib/config/validate.ts";

const BASE: ContainerConfig = {
  id: "ab".repeat(32),
  layers: ["/rootfs"],
  dir: "/var/lib/ctr/containers/x",
  readOnly: false,
  namespaces: {
    user: { kind: "host" },
    mnt: { kind: "new" },
    pid: { kind: "new" },
    uts: { kind: "new" },
    ipc: { kind: "new" },
    net: { kind: "new" },
    cgroup: { kind: "new" },
  },
  uidMap: [],
  gidMap: [],
  name: "x",
  image: "busybox",
  cgroup: { limits: {} },
  network: { aliases: [], ports: [] },
  hostname: "box",
  mounts: [],
  maskedPaths: ["/proc/kcore"],
  readonlyPaths: ["/proc/sys"],
  process: {
    args: ["sh"],
    env: ["PATH=/bin"],
    cwd: "/",
    uid: 0,
    gid: 0,
    groups: [],
    caps: ["CHOWN"],
    noNewPrivileges: false,
    rlimits: [{ type: "nofile", soft: 1024n, hard: 2048n }],
    terminal: false,
    stdin: false,
    dieWithParent: true,
  },
};

function problems(change: (c: Record<string, any>) => void): string[] {
  const c = structuredClone(BASE) as Record<string, any>;
  change(c);
  return validateConfig(c as ContainerConfig);
}

Deno.test("validateConfig() accepts a plain container", () => {
  assert.deepEqual(validateConfig(BASE), []);
});

Deno.test("validateConfig() refuses a hostname without a private UTS namespace, as runc does", () => {
  assert.deepEqual(problems((c) => c.namespaces.uts = { kind: "host" }), [
    "unable to set the hostname without a private UTS namespace",
  ]);
  assert.match(problems((c) => c.hostname = "no_underscores").join(), /invalid hostname/);
});

Deno.test("validateConfig() checks id maps against the user namespace", () => {
  assert.deepEqual(problems((c) => c.uidMap = [{ container: 0, host: 1000, size: 1 }]), [
    "uid and gid maps need a new user namespace",
  ]);
  assert.deepEqual(
    problems((c) => {
      c.namespaces.user = { kind: "new" };
      c.uidMap = [{ container: 0, host: 100000, size: 10 }, { container: 5, host: 2, size: 1 }];
    }),
    ["uid map ranges overlap at container id 5", "a new user namespace needs a gid map"],
  );
});

Deno.test("validateConfig() checks mounts, the process and the network", () => {
  assert.match(
    problems((c) => c.mounts = [{ type: "tmpfs", destination: "/a/../..", options: "" }]).join(),
    /invalid mount destination/,
  );
  assert.deepEqual(problems((c) => c.process.args = []), ["the process has no command"]);
  assert.deepEqual(problems((c) => c.process.cwd = "rel"), [
    `the working directory "rel" is not absolute`,
  ]);
  assert.deepEqual(problems((c) => c.process.env = ["NOEQUALS"]), [
    `environment entry "NOEQUALS" has no "="`,
  ]);
  assert.deepEqual(problems((c) => c.process.rlimits = [{ type: "nofile", soft: 9n, hard: 1n }]), [
    "rlimit nofile: the soft limit is above the hard limit",
  ]);
  assert.deepEqual(
    problems((c) => {
      c.network.name = "bridge";
      c.namespaces.net = { kind: "host" };
    }),
    ["joining network bridge needs a new network namespace"],
  );
});

Deno.test("validateConfig() allows only namespaced sysctls, in namespaces the container owns", () => {
  const withSysctl = (s: Record<string, string>, ipc = "new") =>
    problems((c) => {
      c.oci = { root: "/rootfs", mounts: [], devices: [], rootPropagation: 0, sysctl: s };
      c.namespaces.ipc = { kind: ipc };
    });
  assert.deepEqual(withSysctl({ "net.ipv4.ip_forward": "1", "kernel.shmmax": "1" }), []);
  assert.deepEqual(withSysctl({ "kernel.shmmax": "1" }, "host"), [
    "sysctl kernel.shmmax needs the container's own ipc namespace",
  ]);
  assert.deepEqual(withSysctl({ "vm.swappiness": "1" }), [
    "sysctl vm.swappiness is not in a namespace the container owns",
  ]);
});
