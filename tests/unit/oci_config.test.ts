/**
 * config.json checking without running anything: runc's and podman's configs
 * parse, ctr's default config round-trips, every kind of problem is named by
 * its path, unsupported fields are listed, mount options become mount(2)
 * flags, and the features document has the spec's keys.
 */
import assert from "node:assert/strict";
import { MS } from "../../ffi/constants.ts";
import { ociToConfig } from "../../lib/oci/runtime.ts";
import {
  defaultSpec,
  featuresDocument,
  mountFlags,
  type OciConfig,
  OciConfigError,
  parseOciConfig,
  parseOciProcess,
  unsupported,
} from "../../lib/oci/config_json.ts";

/** What `runc spec` (runc 1.1) writes, as it writes it. */
const RUNC_SPEC = `{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": true,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"ambient": []
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "runc",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620",
				"gid=5"
			]
		},
		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
		{
			"destination": "/sys",
			"type": "sysfs",
			"source": "sysfs",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
		"resources": {
			"devices": [
				{
					"allow": false,
					"access": "rwm"
				}
			]
		},
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "network"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			},
			{
				"type": "cgroup"
			}
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
}
`;

const CTR_ID = "4f2d0c9b8a7e6d5c4b3a29180716f5e4d3c2b1a09f8e7d6c5b4a392817060504";
const USERDATA = `/run/containers/storage/overlay-containers/${CTR_ID}/userdata`;

/** The kind of config podman (cgroupfs manager, `--device /dev/fuse`) hands its runtime. */
const PODMAN_SPEC = {
  ociVersion: "1.2.0",
  process: {
    terminal: false,
    user: { uid: 0, gid: 0, umask: 18, additionalGids: [0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27] },
    args: ["/bin/sh", "-c", "sleep 1000"],
    env: [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "container=podman",
      "HOSTNAME=web",
      "HOME=/root",
      "EMPTY=",
      "EQUALS=a=b",
    ],
    cwd: "/",
    capabilities: {
      bounding: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL"],
      effective: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL"],
      permitted: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL"],
    },
    rlimits: [
      { type: "RLIMIT_NOFILE", hard: 1048576, soft: 1048576 },
      { type: "RLIMIT_NPROC", hard: 4194304, soft: 4194304 },
      // Raw in the text below: 2^64-1, "unlimited".
      { type: "RLIMIT_CORE", hard: "UNLIMITED", soft: "UNLIMITED" },
    ],
    oomScoreAdj: 0,
  },
  root: { path: "/var/lib/containers/storage/overlay/3c1d/merged" },
  hostname: "web",
  mounts: [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/sys",
      type: "sysfs",
      source: "sysfs",
      options: ["nosuid", "noexec", "nodev", "ro"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/dev/mqueue",
      type: "mqueue",
      source: "mqueue",
      options: ["nosuid", "noexec", "nodev"],
    },
    {
      destination: "/etc/hostname",
      type: "bind",
      source: `${USERDATA}/hostname`,
      options: ["bind", "rprivate"],
    },
    {
      destination: "/etc/resolv.conf",
      type: "bind",
      source: `${USERDATA}/resolv.conf`,
      options: ["bind", "rprivate"],
    },
    {
      destination: "/data",
      type: "bind",
      source: "/srv/data",
      options: ["rbind", "ro", "nosuid", "nodev", "rprivate"],
    },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"],
    },
    {
      destination: "/dev/shm",
      type: "bind",
      source: `${USERDATA}/shm`,
      options: ["bind", "rprivate", "nosuid", "noexec", "nodev"],
    },
  ],
  hooks: {
    prestart: [{ path: "/usr/libexec/oci/hooks.d/net", args: ["net", "up"], timeout: 10 }],
    poststop: [{ path: "/usr/bin/cleanup", env: ["DEBUG=1"] }],
  },
  annotations: {
    "io.container.manager": "libpod",
    "io.podman.annotations.autoremove": "FALSE",
    "org.opencontainers.image.stopSignal": "15",
    "io.kubernetes.cri-o.Created": "2024-05-01T10:00:00.000000000Z",
  },
  linux: {
    sysctl: { "net.ipv4.ping_group_range": "0 0", "net.ipv4.ip_unprivileged_port_start": "0" },
    resources: {
      devices: [
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 10, minor: 229, access: "rwm" },
      ],
      memory: { limit: 536870912, swap: 1073741824, reservation: 268435456 },
      cpu: { shares: 1024, quota: 50000, period: 100000, cpus: "0-1", mems: "0" },
      pids: { limit: 2048 },
      blockIO: {
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
      },
    },
    cgroupsPath: `/libpod_parent/libpod-${CTR_ID}`,
    namespaces: [
      { type: "pid" },
      { type: "network", path: "/run/netns/netns-0a1b2c3d" },
      { type: "ipc" },
      { type: "uts" },
      { type: "mount" },
      { type: "cgroup" },
    ],
    devices: [{
      path: "/dev/fuse",
      type: "c",
      major: 10,
      minor: 229,
      fileMode: 438,
      uid: 0,
      gid: 0,
    }],
    maskedPaths: ["/proc/acpi", "/proc/kcore", "/sys/firmware", "/sys/fs/selinux"],
    readonlyPaths: ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"],
    rootfsPropagation: "rprivate",
  },
};

/** The podman config as its text, with the rlimits a JSON number can only approximate. */
function podmanText(): string {
  return JSON.stringify(PODMAN_SPEC, null, 2).replaceAll('"UNLIMITED"', "18446744073709551615");
}

/** A config to break: runc's, as a plain object. */
function base(): any {
  return JSON.parse(RUNC_SPEC);
}

/** The problems a config (object or text) has; fails when it parses. */
function problems(config: unknown): string[] {
  const text = typeof config === "string" ? config : JSON.stringify(config, null, 2);
  try {
    parseOciConfig(text);
  } catch (e) {
    if (!(e instanceof OciConfigError)) throw e;
    return e.problems;
  }
  assert.fail("the config parsed");
}

/** The warnings a config (object or text) parses with; fails when it does not parse. */
function warnings(config: unknown): { config: OciConfig; warnings: string[] } {
  const text = typeof config === "string" ? config : JSON.stringify(config, null, 2);
  const out: string[] = [];
  return { config: parseOciConfig(text, "config.json", (m) => out.push(m)), warnings: out };
}

/** The one warning of a config. */
function warning(config: unknown): string {
  const all = warnings(config).warnings;
  assert.equal(all.length, 1, `expected one warning, got:\n${all.join("\n")}`);
  return all[0];
}

/** The one problem of a config. */
function problem(config: unknown): string {
  const all = problems(config);
  assert.equal(all.length, 1, `expected one problem, got:\n${all.join("\n")}`);
  return all[0];
}

/** A config with `change` applied to runc's. */
function changed(change: (c: any) => void): any {
  const c = base();
  change(c);
  return c;
}

Deno.test("runc spec's output parses, with nothing unsupported", () => {
  const cfg = parseOciConfig(RUNC_SPEC);
  assert.equal(cfg.ociVersion, "1.0.2-dev");
  assert.deepEqual(cfg.process?.args, ["sh"]);
  assert.equal(cfg.root.readonly, true);
  assert.equal(cfg.mounts?.length, 7);
  assert.deepEqual(cfg.linux?.namespaces?.map((n) => n.type), [
    "pid",
    "network",
    "ipc",
    "uts",
    "mount",
    "cgroup",
  ]);
  // An empty ambient list asks for nothing.
  assert.deepEqual(unsupported(cfg), []);
});

Deno.test("a podman config parses, large rlimits included", () => {
  const cfg = parseOciConfig(podmanText());
  assert.deepEqual(cfg.process?.user.additionalGids?.length, 11);
  assert.equal(cfg.process?.user.umask, 18);
  // 2^64-1 reaches JavaScript rounded to 2^64; the runtime clamps it.
  assert.equal(cfg.process?.rlimits?.[2].hard, 2 ** 64);
  assert.equal(cfg.annotations?.["io.container.manager"], "libpod");
  assert.equal(cfg.linux?.sysctl?.["net.ipv4.ping_group_range"], "0 0");
  assert.equal(cfg.linux?.cgroupsPath, `/libpod_parent/libpod-${CTR_ID}`);
  assert.deepEqual(cfg.linux?.devices?.[0], {
    path: "/dev/fuse",
    type: "c",
    major: 10,
    minor: 229,
    fileMode: 438,
    uid: 0,
    gid: 0,
  });
  assert.equal(cfg.linux?.namespaces?.[1].path, "/run/netns/netns-0a1b2c3d");
  assert.deepEqual(cfg.hooks?.prestart?.[0].args, ["net", "up"]);
  assert.deepEqual(unsupported(cfg), []);
});

Deno.test("defaultSpec is runc's config with ctr's version and hostname, and round-trips", () => {
  const spec = defaultSpec();
  const runc = parseOciConfig(RUNC_SPEC);
  assert.equal(spec.ociVersion, "1.2.0");
  assert.equal(spec.hostname, "ctr");
  // runc's file also carries an empty ambient list, which says nothing.
  const { ambient, ...runcCaps } = runc.process!.capabilities!;
  assert.deepEqual(ambient, []);
  assert.deepEqual(spec.process, { ...runc.process, capabilities: runcCaps });
  assert.deepEqual(spec.root, runc.root);
  assert.deepEqual(spec.mounts, runc.mounts);
  assert.deepEqual(spec.linux?.namespaces, runc.linux?.namespaces);
  assert.deepEqual(spec.linux?.resources, runc.linux?.resources);
  assert.deepEqual(spec.linux?.readonlyPaths, runc.linux?.readonlyPaths);
  assert.ok(spec.linux?.maskedPaths?.includes("/sys/devices/virtual/tpm"));
  assert.deepEqual(parseOciConfig(JSON.stringify(spec, null, 2)), spec);
  assert.deepEqual(unsupported(spec), []);
  assert.deepEqual(defaultSpec({ args: ["/bin/true", "x"] }).process?.args, ["/bin/true", "x"]);
});

Deno.test("defaultSpec rootless: a user namespace mapped to the caller, no network, /sys bound", () => {
  const spec = defaultSpec({ rootless: true });
  assert.deepEqual(parseOciConfig(JSON.stringify(spec)), spec);
  assert.deepEqual(unsupported(spec), []);
  const ns = spec.linux?.namespaces?.map((n) => n.type);
  assert.deepEqual(ns, ["pid", "ipc", "uts", "mount", "cgroup", "user"]);
  assert.deepEqual(spec.linux?.uidMappings, [{ containerID: 0, hostID: Deno.uid(), size: 1 }]);
  assert.deepEqual(spec.linux?.gidMappings, [{ containerID: 0, hostID: Deno.gid(), size: 1 }]);
  assert.deepEqual(spec.mounts?.find((m) => m.destination === "/sys"), {
    destination: "/sys",
    type: "none",
    source: "/sys",
    options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
  });
  // Only one id is mapped: devpts cannot be given gid 5.
  const pts = spec.mounts?.find((m) => m.destination === "/dev/pts");
  assert.deepEqual(pts?.options, ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]);
  assert.equal(spec.linux?.resources, undefined);
  // The default config is left as it was.
  assert.equal(defaultSpec().linux?.uidMappings, undefined);
});

Deno.test("problems name their path", () => {
  assert.equal(
    problem(changed((c) => c.process.cwd = "home")),
    "config.json: process.cwd: must be an absolute path",
  );
  assert.equal(
    problem(changed((c) => c.linux.namespaces.push({ type: "tiem" }))),
    'config.json: linux.namespaces[6].type: unknown namespace "tiem" ' +
      "(expected pid, network, mount, ipc, uts, user, cgroup, time)",
  );
  assert.equal(
    problem(changed((c) => c.linux.namespaces.push({ type: "pid" }))),
    'config.json: linux.namespaces[6].type: duplicate namespace "pid" (also at [0])',
  );
  assert.equal(
    problem(changed((c) => c.process.capabilities.effective[1] = "CAP_KILLL")),
    'config.json: process.capabilities.effective[1]: unknown capability "CAP_KILLL"',
  );
  assert.equal(
    problem(changed((c) => c.process.capabilities.bounding.push("NET_ADMIN"))),
    'config.json: process.capabilities.bounding[3]: unknown capability "NET_ADMIN"',
  );
  assert.equal(
    problem(changed((c) => c.process.rlimits[0].type = "RLIMIT_FILES")),
    'config.json: process.rlimits[0].type: unknown rlimit "RLIMIT_FILES"',
  );
  assert.equal(
    problem(changed((c) => c.process.rlimits.push({ type: "RLIMIT_NOFILE", hard: 1, soft: 1 }))),
    'config.json: process.rlimits[1].type: duplicate rlimit "RLIMIT_NOFILE" (also at [0])',
  );
  assert.equal(
    problem(changed((c) => c.process.rlimits[0].soft = 2048)),
    "config.json: process.rlimits[0].soft: 2048 is above the hard limit 1024",
  );
  assert.equal(
    problem(changed((c) => c.process.rlimits[0].hard = -1)),
    "config.json: process.rlimits[0].hard: must be a whole number from 0 to 2^64-1, got -1",
  );
});

Deno.test("unknown keys are warnings at every level, with a suggestion for a typo", () => {
  assert.equal(
    warning(changed((c) => c.hostnme = "x")),
    'config.json: hostnme: unknown key "hostnme" (did you mean "hostname"?)',
  );
  assert.equal(
    warning(changed((c) => c.linux.resources.memory = { limit: 1, swapiness: 10 })),
    'config.json: linux.resources.memory.swapiness: unknown key "swapiness" ' +
      '(did you mean "swappiness"?)',
  );
  assert.equal(
    warning(changed((c) => c.process.arg = ["sh"])),
    'config.json: process.arg: unknown key "arg" (did you mean "args"?)',
  );
  assert.equal(
    warning(changed((c) => c.mounts[1].readonly = true)),
    'config.json: mounts[1].readonly: unknown key "readonly"',
  );
  assert.equal(
    warning(changed((c) => c.process.user.name = "root")),
    'config.json: process.user.name: unknown key "name"',
  );
  assert.equal(
    warning(changed((c) => c.windows = { layerFolders: [] })),
    'config.json: windows: unknown key "windows" ' +
      "(settings for another platform: ctr runs Linux containers)",
  );
  // The config parses without them; what is known is kept.
  const kept = warnings(changed((c) => {
    c.unknown = { deep: [1] };
    c.process.arg = ["x"];
    c.linux.resources.memory = { limit: 1 << 20, swapiness: 10 };
  }));
  assert.equal(kept.warnings.length, 3);
  assert.ok(!("unknown" in kept.config));
  assert.ok(!("arg" in kept.config.process!));
  assert.deepEqual(kept.config.process?.args, ["sh"]);
  assert.deepEqual(kept.config.linux?.resources?.memory, { limit: 1 << 20 });
  // A config that fails for another reason names its unknown keys too: a typo may be why.
  assert.deepEqual(
    problems(changed((c) => (c.process.arg = c.process.args, delete c.process.args))),
    [
      'config.json: process.arg: unknown key "arg" (did you mean "args"?)',
      "config.json: process.args: at least one argument is required",
    ],
  );
  // A known key with a value ctr does not know stays an error.
  assert.equal(
    problem(changed((c) => c.linux.namespaces[0].type = "tiem")),
    'config.json: linux.namespaces[0].type: unknown namespace "tiem" ' +
      "(expected pid, network, mount, ipc, uts, user, cgroup, time)",
  );
  // Free-form maps and vendor objects take any key.
  const cfg = parseOciConfig(JSON.stringify(changed((c) => {
    c.annotations = { "com.example/any key": "v" };
    c.linux.sysctl = { "kernel.msgmax": "65536" };
    c.linux.resources.unified = { "memory.high": "100M" };
    c.linux.seccomp = {
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 1,
      flags: ["SECCOMP_FILTER_FLAG_LOG"],
      syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", errnoRet: 1 }],
    };
    c.linux.intelRdt = { closID: "x", l3CacheSchema: "L3:0=f" };
    c.linux.personality = { domain: "LINUX32", flags: [] };
    c.process.scheduler = { policy: "SCHED_OTHER", nice: 1 };
    c.process.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 4 };
  })));
  assert.equal(cfg.linux?.seccomp?.defaultAction, "SCMP_ACT_ERRNO");
  assert.equal(
    problem(changed((c) => c.linux.seccomp = { architectures: [] })),
    "config.json: linux.seccomp.defaultAction: is required",
  );
});

Deno.test("ociVersion: 1.0.x to 1.2.x", () => {
  for (const v of ["1.0.0", "1.0.2-dev", "1.1.0", "1.1.0-rc.3", "1.2.0", "1.2.1+dev"]) {
    assert.equal(parseOciConfig(JSON.stringify(changed((c) => c.ociVersion = v))).ociVersion, v);
  }
  for (const v of ["2.0.0", "1.3.0", "0.9.0", "1.2", "v1.2.0", ""]) {
    assert.equal(
      problem(changed((c) => c.ociVersion = v)),
      `config.json: ociVersion: unsupported version ${JSON.stringify(v)} ` +
        "(ctr reads 1.0.x, 1.1.x and 1.2.x)",
    );
  }
  assert.equal(
    problem(changed((c) => delete c.ociVersion)),
    "config.json: ociVersion: is required",
  );
});

Deno.test("types, ranges and required keys", () => {
  assert.equal(
    problem(changed((c) => c.process.user.uid = "0")),
    'config.json: process.user.uid: expected a number, got a string ("0")',
  );
  assert.equal(
    problem(changed((c) => c.process.user.gid = 1.5)),
    "config.json: process.user.gid: must be a whole number from 0 to 4294967295, got 1.5",
  );
  assert.equal(
    problem(changed((c) => c.process.terminal = "yes")),
    'config.json: process.terminal: expected true or false, got a string ("yes")',
  );
  assert.equal(
    problem(changed((c) => c.mounts = {})),
    "config.json: mounts: expected a list, got an object",
  );
  assert.equal(problem(changed((c) => delete c.root)), "config.json: root: is required");
  assert.equal(
    problem(changed((c) => delete c.process.cwd)),
    "config.json: process.cwd: is required",
  );
  assert.equal(
    problem(changed((c) => c.process.oomScoreAdj = 1001)),
    "config.json: process.oomScoreAdj: must be a whole number from -1000 to 1000, got 1001",
  );
  assert.equal(
    problem(changed((c) => c.process.env.push("NOVALUE"))),
    'config.json: process.env[2]: must be KEY=VALUE, got "NOVALUE"',
  );
  assert.equal(
    problem(changed((c) => c.process.args = [])),
    "config.json: process.args: at least one argument is required",
  );
  assert.equal(
    problem(changed((c) => c.annotations = { "org.example.n": 5 })),
    'config.json: annotations["org.example.n"]: expected a string, got a number (5)',
  );
  assert.equal(
    problem(changed((c) => c.mounts[0].destination = "proc")),
    "config.json: mounts[0].destination: must be an absolute path",
  );
  assert.equal(
    problem(changed((c) => c.hooks = { prestart: [{ path: "hook" }] })),
    "config.json: hooks.prestart[0].path: must be an absolute path",
  );
  assert.equal(
    problem(changed((c) => c.hooks = { poststop: [{ path: "/bin/true", timeout: 0 }] })),
    "config.json: hooks.poststop[0].timeout: must be a whole number of seconds above 0, got 0",
  );
  assert.equal(
    problem(changed((c) => c.linux.rootfsPropagation = "private2")),
    'config.json: linux.rootfsPropagation: unknown propagation "private2" ' +
      "(expected private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable)",
  );
  assert.equal(
    problem(changed((c) => c.linux.devices = [{ path: "/dev/null", type: "c", major: 1 }])),
    'config.json: linux.devices[0].minor: is required for type "c"',
  );
  assert.equal(
    problem(changed((c) => c.linux.resources.devices[0].access = "rwx")),
    'config.json: linux.resources.devices[0].access: must be made of "r", "w" and "m", got "rwx"',
  );
  assert.equal(
    problem(changed((c) => c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }])),
    'config.json: linux.uidMappings: needs a new user namespace (linux.namespaces has no "user" ' +
      "without a path)",
  );
});

Deno.test("every problem is reported, in the file's order", () => {
  const all = problems(changed((c) => {
    c.extra = 1;
    c.process.cwd = "x";
    c.linux.namespaces[0].type = "pidd";
    c.process.capabilities.bounding.push("CAP_NOPE");
  }));
  assert.deepEqual(all, [
    "config.json: process.cwd: must be an absolute path",
    'config.json: process.capabilities.bounding[3]: unknown capability "CAP_NOPE"',
    'config.json: linux.namespaces[0].type: unknown namespace "pidd" ' +
    "(expected pid, network, mount, ipc, uts, user, cgroup, time)",
    'config.json: extra: unknown key "extra"',
  ]);
  try {
    parseOciConfig('{"ociVersion": "9"}', "/b/config.json");
    assert.fail("parsed");
  } catch (e) {
    assert.ok(e instanceof OciConfigError);
    assert.equal(e.name, "OciConfigError");
    assert.deepEqual(e.problems, [
      '/b/config.json: ociVersion: unsupported version "9" (ctr reads 1.0.x, 1.1.x and 1.2.x)',
      "/b/config.json: root: is required",
    ]);
    assert.equal(e.message, e.problems.join("\n"));
  }
});

Deno.test("malformed JSON is reported with its line and column", () => {
  // V8 names no position for an unexpected token: ctr finds it.
  assert.equal(
    problem('{\n  "ociVersion": "1.2.0",\n  "root": { "path": }\n}'),
    "config.json:3:21: invalid JSON: unexpected token '}'",
  );
  assert.equal(
    problem('{\n  "ociVersion": "1.2.0",\n  "root": {"path": "r",}\n}'),
    "config.json:3:24: invalid JSON: expected double-quoted property name",
  );
  assert.equal(
    problem('{\n  "a": [1, 2\n  "b": 3\n}'),
    "config.json:3:3: invalid JSON: expected ',' or ']' after array element",
  );
  assert.equal(
    problem('{"a": 1} x'),
    "config.json:1:10: invalid JSON: unexpected non-whitespace character after JSON",
  );
  assert.equal(problem(""), "config.json:1:1: invalid JSON: unexpected end of JSON input");
  assert.equal(problem("[1]"), "config.json: expected a JSON object, got a list");
});

Deno.test("unsupported lists what ctr checks but does not carry out", () => {
  const cfg = parseOciConfig(JSON.stringify(changed((c) => {
    c.process.capabilities.ambient = ["CAP_KILL"];
    c.process.user.uid = 1000;
    c.process.apparmorProfile = "docker-default";
    c.process.selinuxLabel = "";
    c.process.execCPUAffinity = { initial: "0" };
    c.mounts.push({
      destination: "/m",
      type: "bind",
      source: "/srv",
      options: ["rbind", "rro", "tmpcopyup"],
      uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
    });
    c.linux.namespaces.push({ type: "time" });
    c.linux.timeOffsets = { monotonic: { secs: 10, nanosecs: 0 } };
    c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW" };
    c.linux.mountLabel = "system_u:object_r:container_file_t:s0";
    c.linux.resources.hugepageLimits = [{ pageSize: "2MB", limit: 0 }];
    c.linux.resources.rdma = { mlx5_0: { hcaHandles: 3 } };
    c.linux.resources.memory = { limit: 1 << 20, kernel: 1 << 20, swappiness: 0 };
    c.linux.resources.cpu = { shares: 512, realtimeRuntime: 950000, idle: 1 };
    c.linux.resources.blockIO = {
      throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
      weightDevice: [{ major: 8, minor: 0, weight: 100 }],
    };
  })));
  assert.deepEqual(unsupported(cfg), [
    "process.execCPUAffinity: CPU affinities are not supported",
    "mounts[7].uidMappings: idmapped mounts are not supported",
    'mounts[7].options: "rro": recursive mount attributes are not supported',
    'mounts[7].options: "tmpcopyup": copying the image\'s files into a tmpfs is not supported',
    "linux.namespaces[6]: time namespaces are not supported",
    "linux.timeOffsets: time namespaces are not supported",
    "linux.resources.hugepageLimits: hugetlb limits are not supported",
    "linux.resources.rdma: RDMA limits are not supported",
    "linux.resources.cpu.realtimeRuntime: real-time CPU limits are not supported",
    "linux.resources.cpu.idle: SCHED_IDLE cgroups are not supported",
    "linux.resources.blockIO.weightDevice: block I/O weights are not supported",
    "linux.resources.blockIO.throttleReadIOPSDevice: IOPS throttles are not supported",
  ]);
  const more = parseOciConfig(JSON.stringify(changed((c) => {
    c.process.ioPriority = { class: "IOPRIO_CLASS_IDLE" };
    c.process.scheduler = { policy: "SCHED_BATCH" };
    c.linux.intelRdt = { closID: "guaranteed" };
    c.linux.personality = { domain: "LINUX32" };
    c.linux.resources.network = { classID: 1048577 };
    c.linux.resources.unified = { "io.max": "8:0 rbps=1024" };
    c.linux.resources.cpu = { burst: 1000 };
  })));
  assert.deepEqual(unsupported(more), [
    "process.ioPriority: I/O priorities are not supported",
    "process.scheduler: scheduling policies are not supported",
    "linux.intelRdt: Intel RDT is not supported",
    "linux.personality: personalities are not supported",
    "linux.resources.network: network classes and priorities are not supported",
    "linux.resources.unified: raw cgroup v2 settings are not supported",
    "linux.resources.cpu.burst: CPU bursts are not supported",
  ]);
});

Deno.test("mountFlags: OCI options to mount(2) flags, propagation and data", () => {
  assert.deepEqual(mountFlags(["nosuid", "noexec", "nodev", "ro"]), {
    flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY,
    propagation: [],
    data: "",
    recursive: false,
    bind: false,
    readonly: true,
  });
  assert.deepEqual(mountFlags(["rbind", "rprivate"]), {
    flags: MS.BIND | MS.REC,
    propagation: [MS.PRIVATE | MS.REC],
    data: "",
    recursive: true,
    bind: true,
    readonly: false,
  });
  assert.deepEqual(mountFlags(["bind", "ro"]), {
    flags: MS.BIND | MS.RDONLY,
    propagation: [],
    data: "",
    recursive: false,
    bind: true,
    readonly: true,
  });
  assert.deepEqual(mountFlags(["nosuid", "strictatime", "mode=755", "size=65536k"]), {
    flags: MS.NOSUID | MS.STRICTATIME,
    propagation: [],
    data: "mode=755,size=65536k",
    recursive: false,
    bind: false,
    readonly: false,
  });
  // A later option wins; clearing options clear.
  assert.equal(mountFlags(["ro", "rw"]).flags, 0);
  assert.equal(mountFlags(["ro", "nosuid", "suid", "noexec", "exec", "nodev", "dev"]).flags, 1);
  assert.equal(mountFlags(["noatime", "atime", "defaults"]).flags, 0);
  assert.equal(
    mountFlags(["sync", "dirsync", "lazytime", "remount"]).flags,
    MS.SYNCHRONOUS | MS.DIRSYNC | (1 << 25) | MS.REMOUNT,
  );
  assert.deepEqual(mountFlags(["shared", "rslave", "unbindable"]).propagation, [
    MS.SHARED,
    MS.SLAVE | MS.REC,
    MS.UNBINDABLE,
  ]);
  assert.equal(mountFlags([]).data, "");
  assert.equal(
    mountFlags(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]).data,
    "newinstance,ptmxmode=0666,mode=0620,gid=5",
  );
});

Deno.test("featuresDocument: the spec's keys, and mount options mountFlags understands", () => {
  const f = featuresDocument() as any;
  assert.deepEqual(Object.keys(f), [
    "ociVersionMin",
    "ociVersionMax",
    "hooks",
    "mountOptions",
    "linux",
    "annotations",
  ]);
  assert.equal(f.ociVersionMin, "1.0.0");
  assert.equal(f.ociVersionMax, "1.2.0");
  assert.deepEqual(f.hooks, [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
  ]);
  assert.deepEqual(f.mountOptions, [...f.mountOptions].sort());
  for (const o of ["bind", "rbind", "ro", "rw", "nosuid", "rprivate", "strictatime", "ratime"]) {
    assert.ok(f.mountOptions.includes(o), o);
  }
  for (const o of f.mountOptions) assert.equal(mountFlags([o]).data, "", o);
  assert.deepEqual(f.linux.namespaces, ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]);
  assert.equal(f.linux.capabilities.length, 41);
  assert.equal(f.linux.capabilities[0], "CAP_CHOWN");
  assert.equal(f.linux.capabilities.at(-1), "CAP_CHECKPOINT_RESTORE");
  assert.deepEqual(f.linux.cgroup, { v1: true, v2: true, systemd: false, systemdUser: false });
  assert.deepEqual(f.linux.intelRdt, { enabled: false });
  assert.deepEqual(f.linux.apparmor, { enabled: true });
  assert.deepEqual(f.linux.selinux, { enabled: true });
  // What the seccomp compiler takes: the features document is the compiler's own lists.
  assert.equal(f.linux.seccomp.enabled, true);
  assert.ok(f.linux.seccomp.actions.includes("SCMP_ACT_NOTIFY"));
  assert.deepEqual(f.linux.seccomp.operators.length, 7);
  assert.deepEqual(f.linux.seccomp.archs, [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
  ]);
  assert.deepEqual(f.linux.mountExtensions, { idmap: { enabled: false } });
  assert.deepEqual(f.annotations, {});
});

Deno.test("featuresDocument: what it lists is accepted and carried out, what it leaves out is refused", () => {
  const f = featuresDocument() as any;
  const accepted = (change: (c: any) => void) => {
    const cfg = parseOciConfig(JSON.stringify(changed(change)));
    return unsupported(cfg);
  };
  for (const o of f.mountOptions) {
    assert.deepEqual(
      accepted((c) => c.mounts.push({ destination: "/m", type: "tmpfs", options: [o] })),
      [],
      o,
    );
    // None is passed on to the filesystem as data: each is a flag or a propagation.
    assert.equal(mountFlags([o]).data, "", o);
  }
  // The spec's runtime-level options that ctr does not list are refused, not passed as data.
  for (const o of ["rro", "rnosuid", "rnoexec", "tmpcopyup", "idmap", "ridmap"]) {
    assert.ok(!f.mountOptions.includes(o), o);
    assert.equal(
      accepted((c) => c.mounts.push({ destination: "/m", type: "tmpfs", options: [o] })).length,
      1,
      o,
    );
  }
  for (const type of f.linux.namespaces) {
    for (const path of [undefined, `/proc/1/ns/${type}`]) {
      const config = parseOciConfig(JSON.stringify(changed((c) => {
        c.linux.namespaces = [{ type: "mount" }, ...(type === "mount" ? [] : [{ type, path }])];
        if (type === "user" && !path) {
          c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
          c.linux.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
        }
        delete c.hostname;
      })));
      assert.deepEqual(unsupported(config), [], type);
      ociToConfig("f", "/b", config, { stateDir: "/run/ctr-oci" });
    }
  }
  assert.ok(!f.linux.namespaces.includes("time"));
  assert.deepEqual(accepted((c) => c.linux.namespaces.push({ type: "time" })), [
    "linux.namespaces[6]: time namespaces are not supported",
  ]);
  for (const cap of f.linux.capabilities) {
    assert.deepEqual(accepted((c) => c.process.capabilities.bounding.push(cap)), [], cap);
  }
  assert.deepEqual(
    accepted((c) =>
      c.hooks = Object.fromEntries(f.hooks.map((h: string) => [h, [{ path: "/x" }]]))
    ),
    [],
  );
});

Deno.test("parseOciProcess: exec's process.json, with the same checks", () => {
  const p = parseOciProcess(JSON.stringify({
    args: ["ps"],
    cwd: "/",
    user: { uid: 0, gid: 0 },
    env: ["A=1"],
    terminal: true,
  }));
  assert.deepEqual(p.args, ["ps"]);
  try {
    parseOciProcess(JSON.stringify({ args: [], cwd: "tmp", user: { uid: 0, gid: 0 }, tty: true }));
    assert.fail("parsed");
  } catch (e) {
    assert.ok(e instanceof OciConfigError);
    assert.deepEqual(e.problems, [
      "process.json: args: at least one argument is required",
      "process.json: cwd: must be an absolute path",
      'process.json: tty: unknown key "tty"',
    ]);
  }
  const warned: string[] = [];
  const q = parseOciProcess(
    '{"arg": ["ps"], "args": ["ps"], "cwd": "/", "user": {"uid": 0, "gid": 0}}',
    "process.json",
    (m) => warned.push(m),
  );
  assert.deepEqual(q.args, ["ps"]);
  assert.deepEqual(warned, ['process.json: arg: unknown key "arg" (did you mean "args"?)']);
});

// The type follows the schema: a config built in code is checked by tsc.
const _typed: OciConfig = { ociVersion: "1.2.0", root: { path: "rootfs" } };
