/**
 * ctr as an OCI runtime, to the letter of the runtime spec (root): each test
 * starts from `ctr-oci spec`, changes one field, and checks the effect from
 * inside the container (cgroup files, /proc/self/mountinfo propagation
 * fields, /proc/self/status capability sets, namespace inodes) and what is
 * left after delete. One test per point of the spec ctr once got wrong:
 * unknown properties, cgroupsPath, rootfsPropagation, maskedPaths,
 * capability sets, namespaces by path and without a mount namespace, memory
 * settings, readonlyPaths and hostname, the poststart state, and features.
 */
import assert from "node:assert/strict";
import { featuresDocument } from "../../lib/oci/config_json.ts";
import { hostCgroupLayout, parseMountinfo } from "../../lib/cgroups/mod.ts";
import { rootTest, tempDir } from "../_helpers.ts";
import { type EditableConfig, OciRuntime } from "../_oci.ts";

const RT = new OciRuntime();
const LAYOUT = hostCgroupLayout();

/** A name no other test run uses. */
function unique(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Runs a bundle in the foreground and returns what its command printed. */
async function output(
  id: string,
  edit: (c: EditableConfig, dir: string) => void,
): Promise<string> {
  const b = await RT.bundle(edit);
  const r = await RT.run(["run", "--bundle", b, id]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** Runs a shell command line on the host; fails unless it succeeds. */
async function sh(line: string): Promise<string> {
  const r = await new Deno.Command("sh", { args: ["-c", line], stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  assert.ok(r.success, `${line}: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout);
}

/** The pid of a running container. */
async function pidOf(id: string): Promise<number> {
  return (await RT.state(id)).pid;
}

/** Every cgroup directory `rel` (from a hierarchy's root) names on this host that exists. */
function cgroupDirs(rel: string): string[] {
  const mounts = parseMountinfo(Deno.readTextFileSync("/proc/self/mountinfo"))
    .filter((m) => m.root === "/");
  return [...new Set(mounts.map((m) => m.mountpoint + rel))].filter((d) => {
    try {
      return Deno.statSync(d).isDirectory;
    } catch {
      return false;
    }
  });
}

/** The cgroup of a process in the hierarchy holding `controller` (v2: the unified one). */
function cgroupOf(pid: number, controller: string): string {
  for (const line of Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n")) {
    const [, ctl, path] = line.split(":");
    if (LAYOUT?.version === "v2" ? ctl === "" : ctl?.split(",").includes(controller)) {
      return path;
    }
  }
  throw new Error(`no ${controller} line in /proc/${pid}/cgroup`);
}

const ns = (pid: number | "self", type: string) => Deno.readLinkSync(`/proc/${pid}/ns/${type}`);

RT.test("runc spec's capabilities (ambient ones, no inheritable) run, as runc runs them", async () => {
  // runc 1.1's `runc spec`: the kernel cannot raise these ambient capabilities without them being
  // inheritable; runc's raises fail with EPERM and it goes on, so the bundle runs.
  const three = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
  const out = await output(unique("amb"), (c) => {
    c.process.args = ["sh", "-c", "grep -E '^Cap(Inh|Eff|Amb)' /proc/self/status"];
    c.process.capabilities = {
      bounding: three,
      effective: three,
      permitted: three,
      ambient: three,
    };
  });
  // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29), effective; none ambient.
  const mask = ((1n << 5n) | (1n << 10n) | (1n << 29n)).toString(16).padStart(16, "0");
  assert.match(out, new RegExp(`^CapEff:\\s+${mask}$`, "m"));
  assert.match(out, /^CapInh:\s+0+$/m);
  assert.match(out, /^CapAmb:\s+0+$/m);
});

RT.test("config.json: unknown properties are warnings; unsupported known values are errors", async () => {
  const b = await RT.bundle((c) => {
    c.process.args = ["sh", "-c", "echo ran"];
    c.unknown = { any: ["thing"] };
    c.process.arg = ["typo"];
    c.linux.vendorExtension = true;
  });
  const r = await RT.run(["run", "--bundle", b, "u1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "ran\n");
  assert.match(r.stderr, /ctr: warning: .*config\.json: unknown: unknown key "unknown"/);
  assert.match(r.stderr, /process\.arg: unknown key "arg" \(did you mean "args"\?\)/);
  assert.match(r.stderr, /linux\.vendorExtension: unknown key "vendorExtension"/);
  // With a log, warnings go there (as runc's do), in its format.
  const log = `${tempDir()}/log.json`;
  const logged = await RT.run(["--log", log, "--log-format", "json", "run", "--bundle", b, "u2"]);
  assert.equal(logged.code, 0, logged.stderr);
  assert.equal(logged.stderr, "");
  const lines = Deno.readTextFileSync(log).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.level), ["warning", "warning", "warning"]);
  assert.ok(lines.some((l) => /unknown key "unknown"/.test(l.msg)), JSON.stringify(lines));
  // Known keys with values ctr does not carry out are refused, and name the field.
  for (
    const [edit, message] of [
      [(c: EditableConfig) => c.linux.namespaces.push({ type: "time" }), /time namespaces/],
      [(c: EditableConfig) => c.mounts[0].options = ["rro"], /"rro": recursive mount attributes/],
      [(c: EditableConfig) => c.linux.rootfsPropagation = "rsharedd", /unknown propagation/],
      [
        (c: EditableConfig) => c.linux.resources.hugepageLimits = [{ pageSize: "2MB", limit: 1 }],
        /hugetlb/,
      ],
    ] as const
  ) {
    const bad = await RT.bundle(edit);
    const refused = await RT.run(["create", "--bundle", bad, "u3"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, message);
  }
  assert.deepEqual(await RT.list(), []);
});

RT.test("linux.cgroupsPath: absolute from the hierarchy's root, relative from ours; delete removes the parents ctr made", async () => {
  assert.ok(LAYOUT, "no cgroup filesystem");
  const top = unique("ctrtest-abs");
  const sleeper = (path: string) => (c: EditableConfig) => {
    c.process.args = ["sleep", "1000"];
    c.linux.cgroupsPath = path;
  };
  // One level: right below the root of every hierarchy.
  await RT.ok(["run", "-d", "--bundle", await RT.bundle(sleeper(`/${top}`)), "g1"]);
  assert.equal(cgroupOf(await pidOf("g1"), "memory"), `/${top}`);
  assert.ok(cgroupDirs(`/${top}`).length > 0);
  await RT.ok(["delete", "--force", "g1"]);
  assert.deepEqual(cgroupDirs(`/${top}`), []);

  // Two containers below one parent that neither hierarchy had: the last one out removes it.
  const parent = unique("ctrtest-parent");
  await RT.ok(["run", "-d", "--bundle", await RT.bundle(sleeper(`/${parent}/a`)), "g2"]);
  await RT.ok(["run", "-d", "--bundle", await RT.bundle(sleeper(`/${parent}/b`)), "g3"]);
  assert.equal(cgroupOf(await pidOf("g2"), "memory"), `/${parent}/a`);
  assert.equal(cgroupOf(await pidOf("g3"), "memory"), `/${parent}/b`);
  await RT.ok(["delete", "--force", "g2"]);
  assert.deepEqual(cgroupDirs(`/${parent}/a`), []);
  assert.ok(cgroupDirs(`/${parent}`).length > 0, "the parent went while g3 was in it");
  await RT.ok(["delete", "--force", "g3"]);
  assert.deepEqual(cgroupDirs(`/${parent}`), []);

  // A parent that was there before is left alone.
  const kept = unique("ctrtest-kept");
  const made = LAYOUT.version === "v2"
    ? [`${LAYOUT.unified!.mountpoint}/${kept}`]
    : LAYOUT.v1.map((h) => `${h.mountpoint}/${kept}`);
  for (const d of made) Deno.mkdirSync(d);
  try {
    await RT.ok(["run", "-d", "--bundle", await RT.bundle(sleeper(`/${kept}/c`)), "g4"]);
    await RT.ok(["delete", "--force", "g4"]);
    for (const d of made) assert.ok(Deno.statSync(d).isDirectory, d);
    assert.deepEqual(cgroupDirs(`/${kept}/c`), []);
  } finally {
    for (const d of made) Deno.removeSync(d);
  }

  // Relative: below the runtime's own cgroup.
  const rel = unique("ctrtest-rel");
  const own = cgroupOf(Deno.pid, "memory");
  await RT.ok(["run", "-d", "--bundle", await RT.bundle(sleeper(rel)), "g5"]);
  assert.equal(cgroupOf(await pidOf("g5"), "memory"), `${own === "/" ? "" : own}/${rel}`);
  await RT.ok(["delete", "--force", "g5"]);
  assert.deepEqual(cgroupDirs(`${own === "/" ? "" : own}/${rel}`), []);
  assert.deepEqual([...Deno.readDirSync(RT.root)], [], "state directories are left");
});

rootTest(
  "linux.rootfsPropagation: shared, slave, private and unbindable, as the container sees its root",
  async () => {
    const rt = new OciRuntime();
    // The bundle lies on a shared mount of the host, so that slave can be told from private.
    const host = tempDir();
    await sh(`mount -t tmpfs ctrtest-prop ${host} && mount --make-shared ${host}`);
    try {
      const hostLine = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
        .find((l) => l.split(" ")[4] === host)!;
      const peer = hostLine.match(/ shared:(\d+)/)![1];
      const mountsBelow = () =>
        Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
          .filter((l) => (l.split(" ")[4] ?? "").startsWith(host)).length;
      const b = await rt.bundle(() => {}, { dir: host });
      Deno.mkdirSync(`${b}/rootfs/late`);
      const cases: [string | undefined, RegExp, boolean][] = [
        ["shared", / shared:\d+ -/, false],
        ["slave", new RegExp(` master:${peer} -`), true],
        ["private", / \d+:\d+ \S+ \/ [^ ]+ - /, false],
        ["unbindable", / unbindable -/, false],
        [undefined, / \d+:\d+ \S+ \/ [^ ]+ - /, false], // runc's default: private
      ];
      for (const [prop, field, receives] of cases) {
        const c = JSON.parse(Deno.readTextFileSync(`${b}/config.json`));
        c.process.args = ["sleep", "1000"];
        if (prop) c.linux.rootfsPropagation = prop;
        else delete c.linux.rootfsPropagation;
        Deno.writeTextFileSync(`${b}/config.json`, JSON.stringify(c));
        const id = `p-${prop ?? "default"}`;
        await rt.ok(["run", "-d", "--bundle", b, id]);
        try {
          const root = (await rt.ok(["exec", id, "awk", '$5 == "/"', "/proc/self/mountinfo"]))
            .trim();
          assert.match(root, field, `${prop}: ${root}`);
          // Nothing the container mounted reached the host.
          assert.equal(mountsBelow(), 1, `${prop}: a container mount propagated to the host`);
          // A mount the host makes under the root reaches a slave only.
          await sh(`mount -t tmpfs late ${b}/rootfs/late && echo here > ${b}/rootfs/late/marker`);
          const seen = await rt.run(["exec", id, "cat", "/late/marker"]);
          assert.equal(seen.code === 0, receives, `${prop}: ${seen.stdout}${seen.stderr}`);
          await sh(`umount ${b}/rootfs/late`);
        } finally {
          await rt.run(["delete", "--force", id]);
        }
      }
      assert.equal(mountsBelow(), 1);
    } finally {
      await sh(`umount -R ${host}`);
    }
  },
);

RT.test("linux.maskedPaths: a directory gets a read-only tmpfs, a file /dev/null, wherever they are", async () => {
  const out = await output("m1", (c, dir) => {
    Deno.mkdirSync(`${dir}/rootfs/masked-dir`);
    Deno.writeTextFileSync(`${dir}/rootfs/masked-dir/inside`, "secret\n");
    Deno.writeTextFileSync(`${dir}/rootfs/masked-file`, "secret\n");
    Deno.mkdirSync(`${dir}/rootfs/data/secrets`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/rootfs/data/secrets/key`, "secret\n");
    // Resolved in the container's root: the host's /data is never touched.
    Deno.symlinkSync("/data/secrets", `${dir}/rootfs/secrets`);
    c.process.args = [
      "sh",
      "-c",
      [
        "echo dir=$(ls -A /masked-dir | wc -l)",
        "if touch /masked-dir/new 2>/dev/null; then echo dir=writable; else echo dir=read-only; fi",
        "echo file=$(cat /masked-file | wc -c),$(stat -c %t:%T /masked-file)",
        "echo linked=$(ls -A /data/secrets | wc -l)",
        "echo acpi=$(ls -A /proc/acpi 2>/dev/null | wc -l)",
        "echo tmpfs=$(awk '$5 == \"/masked-dir\" && $0 ~ / - tmpfs / && $6 ~ /^ro/' /proc/self/mountinfo | wc -l)",
      ].join("; "),
    ];
    c.linux.maskedPaths.push("/masked-dir", "/masked-file", "/secrets", "/no/such/path");
  });
  assert.deepEqual(out.trim().split("\n"), [
    "dir=0",
    "dir=read-only",
    "file=0,1:3",
    "linked=0",
    "acpi=0",
    "tmpfs=1",
  ]);
});

RT.test("process.capabilities: the inheritable and ambient sets are the process's", async () => {
  const out = await output("c1", (c) => {
    c.process.user = { uid: 1000, gid: 1000 };
    c.process.capabilities.inheritable = ["CAP_NET_BIND_SERVICE"];
    c.process.capabilities.ambient = ["CAP_NET_BIND_SERVICE"];
    c.process.args = ["sh", "-c", "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status"];
  });
  // CAP_NET_BIND_SERVICE is bit 10; the spec's default bounding set also has AUDIT_WRITE
  // (29) and KILL (5). A non-root user keeps in its permitted and effective sets what its
  // ambient set raises.
  assert.deepEqual(out.trim().split("\n").map((l) => l.split(/\s+/)), [
    ["CapInh:", "0000000000000400"],
    ["CapPrm:", "0000000000000400"],
    ["CapEff:", "0000000000000400"],
    ["CapBnd:", "0000000020000420"],
    ["CapAmb:", "0000000000000400"],
  ]);
});

RT.test("linux.namespaces: every type joined by path, pid included (the init is in that namespace)", async () => {
  const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
  await RT.ok([
    "run",
    "-d",
    "--bundle",
    await RT.bundle((c) => {
      c.process.args = ["sleep", "1000"];
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = maps;
      c.linux.gidMappings = maps;
    }),
    "holder",
  ]);
  const holder = await pidOf("holder");
  const types = ["user", "pid", "net", "ipc", "uts", "cgroup"];
  const names: Record<string, string> = { net: "network" };
  const out = await output("joiner", (c) => {
    delete c.hostname; // the joined UTS namespace has its own
    c.linux.namespaces = [
      ...types.map((t) => ({ type: names[t] ?? t, path: `/proc/${holder}/ns/${t}` })),
      { type: "mount" },
    ];
    c.process.args = [
      "sh",
      "-c",
      `for t in ${types.join(" ")} mnt; do readlink /proc/self/ns/$t; done; ` +
      "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/self/uid_map",
    ];
  });
  const lines = out.trim().split("\n");
  for (const [i, t] of types.entries()) assert.equal(lines[i], ns(holder, t), t);
  assert.notEqual(lines[types.length], ns(holder, "mnt"), "the mount namespace is its own");
  assert.equal(lines[types.length + 1].trim(), "sleep 1000", "pid 1 is the holder's");
  assert.match(lines[types.length + 2], /^\s*0\s+100000\s+65536$/);

  // A path that is no namespace of the type is an error that says so.
  const wrong = await RT.bundle((c) => {
    c.linux.namespaces = c.linux.namespaces.map((n: EditableConfig) =>
      n.type === "pid" ? { type: "pid", path: `/proc/${holder}/ns/net` } : n
    );
  });
  const r = await RT.run(["create", "--bundle", wrong, "wrong"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /join the pid namespace \/proc\/\d+\/ns\/net: setns: EINVAL.*not a pid namespace/,
  );
  await RT.ok(["delete", "--force", "holder"]);
  assert.deepEqual(await RT.list(), []);
});

rootTest(
  "linux.namespaces: a mount namespace joined by path is where the root is set up",
  async () => {
    const rt = new OciRuntime();
    // A mount namespace pinned on a private mount, as `unshare --mount=FILE` makes one.
    const pins = tempDir();
    await sh(`mount -t tmpfs ctrtest-pin ${pins} && mount --make-private ${pins}`);
    try {
      await sh(`touch ${pins}/mnt && unshare --mount=${pins}/mnt --propagation private true`);
      const inode = Deno.statSync(`${pins}/mnt`).ino;
      const b = await rt.bundle((c) => {
        c.linux.namespaces = c.linux.namespaces.map((n: EditableConfig) =>
          n.type === "mount" ? { type: "mount", path: `${pins}/mnt` } : n
        );
        c.process.args = ["sh", "-c", "readlink /proc/self/ns/mnt; cat /etc/passwd | head -1"];
      });
      const r = await rt.run(["run", "--bundle", b, "pinned"]);
      assert.equal(r.code, 0, r.stderr);
      const out = r.stdout;
      assert.deepEqual(out.trim().split("\n"), [`mnt:[${inode}]`, "root:x:0:0:root:/root:/bin/sh"]);
      assert.notEqual(ns("self", "mnt"), `mnt:[${inode}]`);
    } finally {
      await sh(`umount ${pins}/mnt 2>/dev/null; umount ${pins}`);
    }
  },
);

RT.test("linux.namespaces: without a mount namespace the root is a chroot, and mounts are refused", async () => {
  const withoutMountNs = (c: EditableConfig) =>
    c.linux.namespaces = c.linux.namespaces.filter((n: EditableConfig) => n.type !== "mount");
  const b = await RT.bundle((c) => {
    withoutMountNs(c);
    c.mounts = [];
    delete c.linux.maskedPaths;
    delete c.linux.readonlyPaths;
    c.process.args = ["sleep", "1000"];
  });
  await RT.ok(["run", "-d", "--bundle", b, "chrooted"]);
  const pid = await pidOf("chrooted");
  assert.equal(ns(pid, "mnt"), ns("self", "mnt"));
  assert.equal(Deno.readLinkSync(`/proc/${pid}/root`), `${b}/rootfs`);
  assert.notEqual(ns(pid, "pid"), ns("self", "pid"));
  await RT.ok(["delete", "--force", "chrooted"]);

  const mounting = await RT.bundle(withoutMountNs);
  const r = await RT.run(["create", "--bundle", mounting, "refused"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^\s+mounts: needs a mount namespace .*host's mount table$/m);
  assert.match(r.stderr, /^\s+linux\.maskedPaths: needs a mount namespace/m);
  assert.deepEqual(await RT.list(), []);
});

RT.test("linux.resources.memory: swappiness and disableOOMKiller where the cgroup has them; kernel memory ignored with a warning", async () => {
  const b = await RT.bundle((c) => {
    c.linux.resources.memory = {
      limit: 64 << 20,
      swappiness: 17,
      disableOOMKiller: true,
      kernel: 32 << 20,
      kernelTCP: 16 << 20,
    };
    c.process.args = [
      "sh",
      "-c",
      "cat /sys/fs/cgroup/memory/memory.swappiness /sys/fs/cgroup/memory/memory.limit_in_bytes; " +
      "grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control; " +
      "cat /sys/fs/cgroup/memory.max 2>/dev/null || true",
    ];
  });
  const r = await RT.run(["run", "--bundle", b, "mem"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: linux\.resources\.memory\.kernel: ignored/);
  assert.match(r.stderr, /warning: linux\.resources\.memory\.kernelTCP: ignored/);
  if (LAYOUT?.version === "v2") {
    assert.match(r.stderr, /warning: linux\.resources\.memory\.swappiness: ignored: cgroup v2/);
    assert.match(r.stderr, /warning: linux\.resources\.memory\.disableOOMKiller: ignored/);
    assert.match(r.stdout, /^67108864$/m);
  } else {
    assert.deepEqual(r.stdout.trim().split("\n"), ["17", "67108864", "oom_kill_disable 1"]);
  }
});

RT.test("linux.readonlyPaths and hostname: read-only from inside, exec still allowed; the names set", async () => {
  const out = await output("ro", (c, dir) => {
    Deno.mkdirSync(`${dir}/rootfs/data`);
    c.hostname = "conformance";
    c.domainname = "example.test";
    c.linux.readonlyPaths.push("/data", "/bin");
    c.process.args = [
      "sh",
      "-c",
      [
        "hostname",
        "cat /proc/sys/kernel/domainname",
        "if echo 1 > /proc/sys/kernel/shm_rmid_forced; then echo sys=writable; else echo sys=read-only; fi",
        "if touch /data/x 2>/dev/null; then echo data=writable; else echo data=read-only; fi",
        "/bin/true && echo bin=executes",
        'awk \'$5 == "/proc/sys" || $5 == "/data" { split($6, o, ","); print $5, o[1] }\' /proc/self/mountinfo',
      ].join("; "),
    ];
  });
  assert.deepEqual(out.trim().split("\n"), [
    "conformance",
    "example.test",
    "sys=read-only",
    "data=read-only",
    "bin=executes",
    "/proc/sys ro",
    "/data ro",
  ]);
});

RT.test("hooks.poststart: the state of the running container, its status and pid", async () => {
  const dir = tempDir();
  for (const [id, args] of [["long", ["sleep", "1000"]], ["short", ["true"]]] as const) {
    const b = await RT.bundle((c) => {
      c.process.args = args;
      c.hooks = {
        poststart: [{ path: "/bin/sh", args: ["sh", "-c", `cat > ${dir}/${id}.json`] }],
      };
    });
    const pidFile = `${dir}/${id}.pid`;
    await RT.ok(["create", "--bundle", b, "--pid-file", pidFile, id]);
    await RT.ok(["start", id]);
    const seen = JSON.parse(Deno.readTextFileSync(`${dir}/${id}.json`));
    assert.equal(seen.id, id);
    assert.equal(seen.status, "running");
    assert.equal(seen.pid, Number(Deno.readTextFileSync(pidFile)));
    assert.equal(seen.bundle, b);
    await RT.ok(["delete", "--force", id]);
  }
});

rootTest("features: what ctr-oci features prints is what the runtime carries out", async () => {
  const printed = JSON.parse(await RT.ok(["features"]));
  assert.deepEqual(printed, JSON.parse(JSON.stringify(featuresDocument())));
  // Every namespace it names can be made; each is checked from inside.
  const types: Record<string, string> = { network: "net", mount: "mnt" };
  const listed: string[] = printed.linux.namespaces;
  const out = await output("f1", (c) => {
    c.linux.namespaces = listed.map((type) => ({ type }));
    const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.linux.uidMappings = maps;
    c.linux.gidMappings = maps;
    c.process.args = [
      "sh",
      "-c",
      listed.map((t) => `readlink /proc/self/ns/${types[t] ?? t}`).join("; "),
    ];
  });
  const inodes = out.trim().split("\n");
  assert.equal(inodes.length, listed.length);
  listed.forEach((t, i) => assert.notEqual(inodes[i], ns("self", types[t] ?? t), t));
  // Every hook it names runs (startContainer in the container's root, the others where the
  // runtime's paths resolve).
  const log = `${tempDir()}/hooks`;
  const b = await RT.bundle((c) => {
    c.process.args = ["true"];
    c.hooks = Object.fromEntries((printed.hooks as string[]).map((h) => {
      const file = h === "startContainer" ? "/ran-startContainer" : log;
      return [h, [{ path: "/bin/sh", args: ["sh", "-c", `echo ${h} >> ${file}`] }]];
    }));
  });
  await RT.ok(["run", "--bundle", b, "f2"]);
  const ran = [
    ...Deno.readTextFileSync(log).trim().split("\n"),
    ...Deno.readTextFileSync(`${b}/rootfs/ran-startContainer`).trim().split("\n"),
  ];
  assert.deepEqual(ran.sort(), [...printed.hooks].sort());
});
