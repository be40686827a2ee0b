/**
 * Rootless mode without a second user: where the store and state go, the
 * directory checks, the delegation check, the run options a rootless user
 * gets, the user-mode network plans, and layer owners listed for a helper.
 */
import assert from "node:assert/strict";
import { ensureOwnDir, rootlessPaths, undelegatedReason } from "../../lib/engine/rootless.ts";
import { runConfig, type RunHost } from "../../lib/config/docker_run.ts";
import { parseRunArgs } from "../../lib/cli/run.ts";
import { rootlessIdMap } from "../../lib/runtime/userns.ts";
import { pastaPortSpec, stackPlan } from "../../lib/network/usermode.ts";
import { validate } from "../../lib/runtime/plan.ts";
import { applyOwners, extractLayer } from "../../lib/image/layer.ts";
import type { OwnedEntry } from "../../lib/os/privileged.ts";
import { makeTar, streamOf } from "../_tar.ts";
import { UsageError } from "../../lib/errors.ts";
import { containerPlan } from "../../lib/runtime/container_plan.ts";
import type { PlanHost } from "../../lib/runtime/host.ts";

const IS_ROOT = Deno.uid() === 0;

Deno.test("rootlessPaths() follows the XDG base directories, else podman's defaults", () => {
  assert.deepEqual(rootlessPaths({}, { uid: 1000, home: "/home/u/" }), {
    root: "/home/u/.local/share/ctr",
    stateDir: "/tmp/ctr-1000",
  });
  assert.deepEqual(
    rootlessPaths({ XDG_DATA_HOME: "/data/", XDG_RUNTIME_DIR: "/run/user/1000" }, {
      uid: 1000,
      home: "/home/u",
    }),
    { root: "/data/ctr", stateDir: "/run/user/1000/ctr" },
  );
  // Relative values are to be ignored (the XDG specification).
  assert.deepEqual(
    rootlessPaths({ XDG_DATA_HOME: "data", XDG_RUNTIME_DIR: "run" }, { uid: 7, home: "/h" }),
    { root: "/h/.local/share/ctr", stateDir: "/tmp/ctr-7" },
  );
});

Deno.test("ensureOwnDir() makes a directory, and refuses one that is not the user's", () => {
  const base = Deno.makeTempDirSync();
  try {
    const uid = Deno.uid()!;
    ensureOwnDir(`${base}/a/b`, uid);
    assert.equal(Deno.statSync(`${base}/a/b`).mode! & 0o777, 0o700);
    assert.throws(() => ensureOwnDir(`${base}/a/b`, uid + 1), /belongs to uid \d+, not to uid/);
    Deno.mkdirSync(`${base}/open`, { mode: 0o755 });
    Deno.chmodSync(`${base}/open`, 0o755);
    ensureOwnDir(`${base}/open`, uid);
    assert.throws(
      () => ensureOwnDir(`${base}/open`, uid, { private: true }),
      /its mode is 0755, others may enter it/,
    );
    Deno.symlinkSync(`${base}/open`, `${base}/link`);
    assert.throws(() => ensureOwnDir(`${base}/link`, uid), /it is not a directory/);
  } finally {
    Deno.removeSync(base, { recursive: true });
  }
});

Deno.test("undelegatedReason() wants cgroup v2 and ctr's cgroup to be the user's", () => {
  assert.match(undelegatedReason(undefined, 1000)!, /no cgroup filesystem/);
  assert.match(
    undelegatedReason({ version: "hybrid", v1: [], unified: undefined } as never, 1000)!,
    /only from a delegated cgroup v2 subtree/,
  );
  const fs = Deno.makeTempDirSync();
  try {
    const own = `${fs}/user.slice/user@1000.service/app.slice`;
    Deno.mkdirSync(own, { recursive: true });
    for (const f of ["cgroup.procs", "cgroup.subtree_control"]) {
      Deno.writeTextFileSync(`${own}/${f}`, "");
    }
    const layout = { version: "v2", v1: [], unified: { mountpoint: fs, own } } as never;
    assert.equal(undelegatedReason(layout, Deno.uid()!), undefined);
    assert.match(
      undelegatedReason(layout, Deno.uid()! + 1)!,
      /app\.slice is not delegated to uid \d+ .*systemd-run --user --scope/,
    );
  } finally {
    Deno.removeSync(fs, { recursive: true });
  }
});

const RANGES = [{ start: 100000, count: 65536 }];
const rootlessHost: RunHost = {
  root: "/home/u/.local/share/ctr",
  env: {},
  lastCap: 40,
  ownCaps: (1n << 41n) - 1n,
  hardNofile: 1024n,
  subuidBase: 100000,
  newId: () => "cd".repeat(32),
  rootless: { uid: rootlessIdMap(1000, RANGES), gid: rootlessIdMap(1000, RANGES) },
};

function rootlessRun(flags: string[], host = rootlessHost) {
  const rootfs = Deno.makeTempDirSync();
  try {
    return runConfig(parseRunArgs([...flags, "--rootfs", rootfs, "true"]), host).config;
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
}

Deno.test("runConfig() gives a rootless container a user namespace of the user's ids", () => {
  const c = rootlessRun([]);
  assert.equal(c.namespaces.user.kind, "new");
  assert.deepEqual(c.uidMap, [
    { container: 0, host: 1000, size: 1 },
    { container: 1, host: 100000, size: 65536 },
  ]);
  assert.equal(c.network.userMode, undefined, "no network beyond lo by default");
  assert.deepEqual(rootlessRun(["--uidmap", "0:1:10"]).uidMap, [
    { container: 0, host: 100000, size: 10 },
  ]);
  assert.deepEqual(rootlessRun(["--uidmap", "0:1:10"]).gidMap, [
    { container: 0, host: 100000, size: 10 },
  ]);
  assert.throws(() => rootlessRun(["--uidmap", "0:65530:10"]), /invalid --uidmap\/--gidmap/);
  assert.throws(() => rootlessRun(["--userns=host"]), UsageError);
});

Deno.test("runConfig() picks a user-mode network rootless, and refuses bridges", () => {
  for (const flags of [["-p", "8080:80"], ["--net"], ["--net=bridge"]]) {
    const c = rootlessRun(flags);
    assert.equal(c.network.userMode, "slirp4netns", flags.join(" "));
    assert.equal(c.network.name, undefined);
  }
  assert.equal(rootlessRun(["--net=pasta", "-p", "80"]).network.userMode, "pasta");
  assert.deepEqual(rootlessRun(["--net=pasta", "-p", "80"]).network.ports, [
    { hostPort: 0, containerPort: 80, protocol: "tcp" },
  ]);
  assert.equal(rootlessRun(["--net=host"]).namespaces.net.kind, "host");
  assert.throws(() => rootlessRun(["--net=front"]), /not possible rootless: ctr networks/);
  assert.throws(() => rootlessRun(["--net=container:web"]), /not possible rootless/);
  assert.throws(() => rootlessRun(["--ip", "10.0.0.2"]), /--ip and --network-alias need/);
  // As root the stacks are there too; the default stays the bridge.
  const { rootless: _, ...rootHost } = rootlessHost;
  assert.equal(rootlessRun(["--net=slirp4netns"], rootHost).network.userMode, "slirp4netns");
  assert.equal(rootlessRun(["-p", "80"], rootHost).network.name, "bridge");
  assert.throws(() => rootlessRun(["--net=pasta"], rootHost), /--net=pasta is for rootless/);
});

const PLAN_HOST: PlanHost = {
  lastCap: 40,
  resetSignals: [13],
  arch: "x86_64",
  lsm: { apparmor: false, selinux: false },
  kindOf: () => undefined,
  unprivileged: true,
};

Deno.test("containerPlan() of an unprivileged user leaves setgroups out only with one gid", () => {
  const single = rootlessRun([], {
    ...rootlessHost,
    rootless: { uid: rootlessIdMap(1000, []), gid: rootlessIdMap(1000, []) },
  });
  const steps = containerPlan(single, PLAN_HOST).steps;
  assert.ok(!steps.some((s) => s.call === "setgroups"));
  assert.ok(steps.some((s) => s.call === "setresuid"));
  const devpts = steps.find((s) => s.label.includes("devpts"))!;
  assert.ok(!JSON.stringify(devpts.args).includes("gid=5"), "the tty group is not mapped");
  assert.ok(containerPlan(rootlessRun([]), PLAN_HOST).steps.some((s) => s.call === "setgroups"));
  assert.ok(
    containerPlan(single, { ...PLAN_HOST, unprivileged: false }).steps.some((s) =>
      s.call === "setgroups"
    ),
    "root writes its maps itself: setgroups stays",
  );
});

Deno.test("pastaPortSpec() writes pasta's forwarding specs", () => {
  const ports = [
    { hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "tcp" as const },
    { hostPort: 5353, containerPort: 53, protocol: "udp" as const },
    { hostPort: 2222, containerPort: 22, protocol: "tcp" as const },
  ];
  assert.equal(pastaPortSpec(ports, "tcp"), "127.0.0.1/8080:80,2222:22");
  assert.equal(pastaPortSpec(ports, "udp"), "5353:53");
  assert.equal(pastaPortSpec([], "tcp"), "none");
});

Deno.test("stackPlan() keeps the stack's fds and nothing else across its exec", () => {
  const plan = stackPlan(["/usr/bin/slirp4netns", "--ready-fd=40"], { log: 41, keep: [40, 42] });
  assert.deepEqual(validate(plan), []);
  const calls = plan.steps.map((s) => s.call);
  assert.equal(calls[0], "setsid");
  const close = calls.indexOf("close_range");
  const kept = plan.steps.filter((s) => s.call === "fcntl").map((s) =>
    (s.args[0] as { int: number }).int
  );
  assert.deepEqual(kept, [40, 42]);
  assert.ok(calls.lastIndexOf("fcntl") > close, "kept after everything was marked close-on-exec");
  assert.equal(calls.at(-1), "execve");
});

Deno.test("extractLayer() without chown lists the owners for a helper", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const owners: OwnedEntry[] = [];
    await extractLayer(
      streamOf(makeTar([
        { name: "./", type: "dir" },
        { name: "www/", type: "dir", uid: 33, gid: 33, mode: 0o750 },
        { name: "www/index.html", data: "x", uid: 33, gid: 33 },
        { name: "app", data: "x", uid: 1000, gid: 1000, mode: 0o4755 },
        { name: "root", data: "x" },
        { name: "link", type: "symlink", linkname: "www", uid: 33, gid: 33 },
      ])),
      `${dir}/l`,
      { chown: false, owners },
    );
    assert.deepEqual(
      owners.sort((a, b) => a.path.localeCompare(b.path)),
      [
        { path: "app", uid: 1000, gid: 1000, mode: 0o4755 },
        { path: "link", uid: 33, gid: 33 },
        { path: "www", uid: 33, gid: 33 },
        { path: "www/index.html", uid: 33, gid: 33 },
      ],
    );
    if (IS_ROOT) {
      // Root stands for the helper here: owners given, setuid set again after the chown.
      assert.deepEqual(applyOwners(`${dir}/l`, [...owners, { path: "gone", uid: 1, gid: 1 }]), {
        kept: 0,
        unmapped: [],
      });
      assert.equal(Deno.lstatSync(`${dir}/l/www/index.html`).uid, 33);
      assert.equal(Deno.lstatSync(`${dir}/l/link`).uid, 33);
      assert.equal(Deno.statSync(`${dir}/l/app`).mode! & 0o7777, 0o4755);
    }
    assert.throws(() => applyOwners(`${dir}/l`, [{ path: "../x", uid: 1, gid: 1 }]), /escapes/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
