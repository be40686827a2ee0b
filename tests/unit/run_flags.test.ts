/**
 * docker's run/create flags without root: how the command line is read
 * (every form of an unknown flag is an error naming it, never the image),
 * the file and value syntaxes (--env-file, --mount, --device, --health-*,
 * --add-host, ...), the refusals, the config runConfig builds from them,
 * the plan steps they become, and the attach client's pure parts.
 */
import assert from "node:assert/strict";
import { parseArgs, UsageError } from "../../lib/cli/args.ts";
import { parseRunArgs, RUN_OPTIONS } from "../../lib/cli/run.ts";
import { runConfig, type RunHost } from "../../lib/config/docker_run.ts";
import { parseKeyValueFile } from "../../lib/config/kv_file.ts";
import { csvFields, parseMountSpec, tmpfsMountOptions } from "../../lib/config/mount_spec.ts";
import {
  parseDeviceCgroupRule,
  parseDeviceSpec,
  resolveDevice,
} from "../../lib/config/device_spec.ts";
import {
  healthArgv,
  healthFromFlags,
  mergeHealth,
  parseDuration,
  resolveHealth,
} from "../../lib/config/health.ts";
import {
  dnsSearchProblem,
  ipAddressProblem,
  macProblem,
  parseAttachStreams,
  parseDetachKeys,
  parseExpose,
  parseExtraHost,
  parseLink,
  parseSysctl,
  parseVolumesFrom,
} from "../../lib/config/rules.ts";
import { refusedFlag } from "../../lib/config/run_refusals.ts";
import { runOptionsArgv } from "../../lib/config/run_options.ts";
import {
  CLIENT_FRAME,
  clientFrame,
  DetachMatcher,
  FrameReader,
  helloFrame,
  resizeFrame,
} from "../../lib/engine/attach.ts";
import { healthSuffix, nextHealth } from "../../lib/engine/health.ts";
import { containerPlan } from "../../lib/runtime/container_plan.ts";
import { formatPlan } from "../../lib/runtime/plan.ts";
import type { PlanHost } from "../../lib/runtime/host.ts";

const ROOTFS = Deno.makeTempDirSync({ prefix: "ctr-run-flags-" });
Deno.mkdirSync(`${ROOTFS}/etc`);
Deno.writeTextFileSync(`${ROOTFS}/etc/passwd`, "root:x:0:0:root:/root:/bin/sh\n");
Deno.writeTextFileSync(`${ROOTFS}/etc/group`, "root:x:0:\n");
globalThis.addEventListener("unload", () => Deno.removeSync(ROOTFS, { recursive: true }));

const files: Record<string, string> = {};
const host = (over: Partial<RunHost> = {}): RunHost => ({
  root: "/var/lib/ctr",
  env: { FROMHOST: "yes" },
  lastCap: 40,
  ownCaps: (1n << 41n) - 1n,
  hardNofile: 20000n,
  subuidBase: 100000,
  newId: () => "ab".repeat(32),
  readFile: (p) => {
    if (!(p in files)) throw new Deno.errors.NotFound(`No such file or directory: ${p}`);
    return new TextEncoder().encode(files[p]);
  },
  volume: (name) => ({
    name: name ?? "anon",
    path: `/var/lib/ctr/volumes/${name ?? "anon"}/_data`,
  }),
  arch: "x86_64",
  ...over,
});
const cfgOf = (args: string[], over: Partial<RunHost> = {}) =>
  runConfig(parseRunArgs(["--rootfs", ROOTFS, ...args, "true"]), host(over));
const usage = (args: string[], re: RegExp, over: Partial<RunHost> = {}) =>
  assert.throws(
    () => cfgOf(args, over),
    (e: Error) => e instanceof UsageError && re.test(e.message),
  );

Deno.test("parseArgs() names an unknown flag in every form, never taking it for the image", () => {
  for (
    const [argv, re] of [
      [["--bogus", "img"], /unknown flag: --bogus/],
      [["--bogus=1", "img"], /unknown flag: --bogus/],
      [["-Z", "img"], /unknown shorthand flag: 'Z' in -Z/],
      [["-itZ", "img"], /unknown shorthand flag: 'Z' in -itZ/],
      [["-e", "A=1", "--nope", "img"], /unknown flag: --nope/],
    ] as const
  ) {
    assert.throws(() => parseArgs(argv, RUN_OPTIONS, { stopAfterPositionals: 1 }), re);
  }
  // --network always takes a value: `none` is the network, not the image.
  const p = parseRunArgs(["--rm", "--network", "none", "busybox", "true"]);
  assert.deepEqual(p.flags.network, ["none"]);
  assert.deepEqual(p.args, ["busybox", "true"]);
  // So does --net with docker's words for it; a bare --net before the image is still bridge.
  assert.deepEqual(parseRunArgs(["--net", "none", "img"]).flags.net, "none");
  assert.deepEqual(parseRunArgs(["--net", "container:web", "img"]).flags.net, "container:web");
  assert.deepEqual(parseRunArgs(["--net", "img", "sh"]), {
    flags: { net: true },
    args: ["img", "sh"],
  });
  assert.deepEqual(parseRunArgs(["--userns", "host", "img"]).flags.userns, "host");
  // Aliases docker keeps hidden.
  assert.deepEqual(parseRunArgs(["--dns-opt", "ndots:1", "x"]).flags["dns-option"], ["ndots:1"]);
  assert.deepEqual(parseRunArgs(["--net-alias", "db", "x"]).flags["network-alias"], ["db"]);
  // A bool given =false stays false (--sig-proxy defaults to true) and survives re-encoding.
  const off = parseRunArgs(["--sig-proxy=false", "x"]);
  assert.equal(off.flags["sig-proxy"], false);
  assert.ok(runOptionsArgv(off).includes("--sig-proxy=false"));
  assert.equal(parseRunArgs(["-P", "-a", "stdout", "x"]).flags["publish-all"], true);
});

Deno.test("parseKeyValueFile() reads docker's env-file syntax", () => {
  const text = '\uFEFF# comment\n\n  A=1 2 \nB=\nC=x=y\r\nFROMHOST\nUNSET\n\tD="q"\n';
  assert.deepEqual(
    parseKeyValueFile(text, { path: "f", lookup: (k) => ({ FROMHOST: "h" })[k] }),
    ["A=1 2 ", "B=", "C=x=y", "FROMHOST=h", 'D="q"'],
  );
  // Label files drop a bare key.
  assert.deepEqual(parseKeyValueFile("a=1\nb\n", { path: "f" }), ["a=1"]);
  assert.throws(
    () => parseKeyValueFile("A B=1\n", { path: "f" }),
    /poorly formatted environment: variable 'A B' contains whitespaces/,
  );
  assert.throws(() => parseKeyValueFile("=1\n", { path: "f" }), /no variable name/);
  assert.throws(
    () => parseKeyValueFile("A=\uFFFD\n", { path: "f" }),
    /invalid utf8 bytes at line 1/,
  );
});

Deno.test("parseMountSpec() reads docker's --mount CSV", () => {
  assert.deepEqual(csvFields('type=bind,"src=/a,b",dst=/c'), ["type=bind", "src=/a,b", "dst=/c"]);
  assert.deepEqual(parseMountSpec("type=bind,source=/src,target=/dst,readonly"), {
    type: "bind",
    source: "/src",
    destination: "/dst",
    readonly: true,
    propagation: undefined,
    nonRecursive: false,
  });
  assert.equal(
    (parseMountSpec("type=bind,src=./d,dst=/x,bind-propagation=rshared", "/home/u") as {
      source: string;
    }).source,
    "/home/u/./d",
  );
  assert.deepEqual(parseMountSpec("dst=/v,ro=false"), {
    type: "volume",
    source: undefined,
    destination: "/v",
    readonly: false,
  });
  const t = parseMountSpec("type=tmpfs,destination=/t,tmpfs-size=8m,tmpfs-mode=1770");
  assert.equal(
    tmpfsMountOptions(t as Extract<typeof t, { type: "tmpfs" }>),
    "size=8388608,mode=1770",
  );
  for (
    const [spec, re] of [
      ["type=bind,dst=/x", /field Source must not be empty/],
      ["type=bind,src=/a", /target is required/],
      ["type=tmpfs,src=/a,dst=/b", /field Source must not be specified/],
      [
        "type=volume,dst=/b,bind-propagation=shared",
        /cannot mix 'bind-\*' options with mount type 'volume'/,
      ],
      ["type=bind,src=/a,dst=/b,readonly=maybe", /invalid value for readonly: maybe/],
      ["type=bind,src=/a,dst=/b,color=red", /unexpected key 'color'/],
      ["type=bind,src=/a,dst=/b,junk", /invalid field 'junk' must be a key=value pair/],
      ["type=volume,src=v,dst=/b,volume-opt=o=1", /take no driver options/],
      ["type=npipe,src=a,dst=/b", /named pipes exist on Windows only/],
      ["type=tmpfs,dst=/t,tmpfs-mode=999", /invalid value for tmpfs-mode/],
    ] as const
  ) {
    assert.throws(() => parseMountSpec(spec), re, spec);
  }
});

Deno.test("parseDeviceSpec() and parseDeviceCgroupRule() read docker's forms", () => {
  assert.deepEqual(parseDeviceSpec("/dev/sda"), {
    hostPath: "/dev/sda",
    containerPath: "/dev/sda",
    access: "rwm",
  });
  assert.deepEqual(parseDeviceSpec("/dev/sda:r"), {
    hostPath: "/dev/sda",
    containerPath: "/dev/sda",
    access: "r",
  });
  assert.deepEqual(parseDeviceSpec("/dev/sda:/dev/xvdc:rw"), {
    hostPath: "/dev/sda",
    containerPath: "/dev/xvdc",
    access: "rw",
  });
  assert.throws(() => parseDeviceSpec("/dev/sda:/dev/x:rwx"), /bad mode specified: rwx/);
  assert.throws(() => parseDeviceSpec("/dev/sda:rel"), /rel is not an absolute path/);
  assert.throws(() => parseDeviceSpec("a:b:c:d"), /bad format for path/);
  assert.deepEqual(parseDeviceCgroupRule("c 1:3 rwm"), {
    type: "c",
    major: 1,
    minor: 3,
    access: "rwm",
  });
  assert.deepEqual(parseDeviceCgroupRule("b *:* m"), {
    type: "b",
    major: "*",
    minor: "*",
    access: "m",
  });
  assert.throws(() => parseDeviceCgroupRule("c 1:3"), /invalid device cgroup format 'c 1:3'/);
});

const fakeDevices = {
  stat: (p: string): Deno.FileInfo => {
    const table: Record<string, Partial<Deno.FileInfo>> = {
      "/dev/fuse": { isCharDevice: true, rdev: (10 << 8) | 229, mode: 0o20666, uid: 0, gid: 0 },
      "/dev/dri": { isDirectory: true },
      "/dev/dri/card0": {
        isCharDevice: true,
        rdev: (226 << 8) | 0,
        mode: 0o20660,
        uid: 0,
        gid: 44,
      },
      "/etc/passwd": { isFile: true },
    };
    const t = table[p];
    if (!t) throw new Deno.errors.NotFound("No such file or directory (os error 2)");
    return { isCharDevice: false, isBlockDevice: false, isDirectory: false, ...t } as Deno.FileInfo;
  },
  lstat: (p: string) => fakeDevices.stat(p),
  readDir: (p: string) => (p === "/dev/dri" ? [{ name: "card0" }] : []),
};

Deno.test("resolveDevice() gives the node, its owner and mode, and its cgroup rule", () => {
  const one = resolveDevice(parseDeviceSpec("/dev/fuse:/dev/f:rw"), fakeDevices);
  assert.deepEqual(one.nodes, [{
    source: "/dev/fuse",
    path: "/dev/f",
    type: "c",
    major: 10,
    minor: 229,
    mode: 0o666,
    uid: 0,
    gid: 0,
  }]);
  assert.deepEqual(one.rules, [{ type: "c", major: 10, minor: 229, access: "rw" }]);
  // A directory: every device below it.
  const dir = resolveDevice(parseDeviceSpec("/dev/dri"), fakeDevices);
  assert.deepEqual(dir.nodes.map((n) => [n.path, n.gid]), [["/dev/dri/card0", 44]]);
  assert.throws(
    () => resolveDevice(parseDeviceSpec("/etc/passwd"), fakeDevices),
    /adding custom device "\/etc\/passwd": not a device node/,
  );
  assert.throws(() => resolveDevice(parseDeviceSpec("/dev/nope"), fakeDevices), /No such file/);
});

Deno.test("parseDuration() is Go's time.ParseDuration", () => {
  assert.equal(parseDuration("30s"), 30e9);
  assert.equal(parseDuration("1m30s"), 90e9);
  assert.equal(parseDuration("1.5h"), 5400e9);
  assert.equal(parseDuration("300ms"), 300e6);
  assert.equal(parseDuration("-1s"), -1e9);
  assert.equal(parseDuration("0"), 0);
  assert.throws(() => parseDuration("5"), /time: missing unit in duration "5"/);
  assert.throws(() => parseDuration("5x"), /time: invalid duration "5x"/);
  assert.throws(() => parseDuration(""), /invalid duration/);
});

Deno.test("healthFromFlags(), mergeHealth() and resolveHealth() follow docker's CLI and daemon", () => {
  assert.equal(healthFromFlags({}), undefined);
  assert.deepEqual(healthFromFlags({ none: true }), { Test: ["NONE"] });
  assert.throws(
    () => healthFromFlags({ none: true, cmd: "x" }),
    /--no-healthcheck conflicts with --health-\* options/,
  );
  assert.throws(() => healthFromFlags({ interval: "-1s" }), /--health-interval cannot be negative/);
  assert.throws(() => healthFromFlags({ retries: "-2" }), /--health-retries cannot be negative/);
  assert.throws(
    () => healthFromFlags({ timeout: "3" }),
    /for "--health-timeout" flag: time: missing unit/,
  );
  const image = { Test: ["CMD", "check"], Interval: 10e9, Retries: 5 };
  // Durations only: the image's command stays.
  const merged = mergeHealth(image, healthFromFlags({ interval: "2s" }));
  assert.deepEqual(merged?.Test, ["CMD", "check"]);
  assert.equal(merged?.Interval, 2e9);
  assert.equal(merged?.Retries, 5);
  const spec = resolveHealth(merged)!;
  assert.deepEqual([spec.intervalMs, spec.timeoutMs, spec.startPeriodMs, spec.retries], [
    2000,
    30000,
    0,
    5,
  ]);
  assert.deepEqual(spec.config, { Test: ["CMD", "check"], Interval: 2e9, Retries: 5 });
  assert.deepEqual(healthArgv(spec), ["check"]);
  const shell = resolveHealth(healthFromFlags({ cmd: "curl -f localhost" }))!;
  assert.deepEqual(healthArgv(shell), ["/bin/sh", "-c", "curl -f localhost"]);
  assert.equal(resolveHealth(mergeHealth(image, { Test: ["NONE"] })), undefined);
  assert.throws(() => resolveHealth({ Test: ["CMD", "x"], Interval: 1000 }), /less than 1ms/);
  assert.throws(() => resolveHealth({ Test: ["RUN", "x"] }), /Unknown healthcheck type "RUN"/);
});

Deno.test("nextHealth() counts failures outside the start period; healthSuffix() is ps's", () => {
  const spec = { retries: 2, startPeriodMs: 1000 };
  const started = "2030-01-01T00:00:00.000Z";
  const at = (ms: number, exitCode: number) => ({
    start: new Date(Date.parse(started) + ms),
    end: new Date(Date.parse(started) + ms + 5),
    exitCode,
    output: `run ${ms}`,
  });
  let h = nextHealth(undefined, at(100, 1), spec, started);
  assert.deepEqual([h.Status, h.FailingStreak], ["starting", 0]); // within the start period
  h = nextHealth(h, at(2000, 1), spec, started);
  assert.deepEqual([h.Status, h.FailingStreak], ["starting", 1]);
  h = nextHealth(h, at(3000, 1), spec, started);
  assert.deepEqual([h.Status, h.FailingStreak], ["unhealthy", 2]);
  h = nextHealth(h, at(4000, 0), spec, started);
  assert.deepEqual([h.Status, h.FailingStreak], ["healthy", 0]);
  for (let i = 0; i < 6; i++) h = nextHealth(h, at(5000 + i, 0), spec, started);
  assert.equal(h.Log.length, 5);
  assert.equal(h.Log[4].Output, "run 5005");
  assert.equal(healthSuffix({ status: "running", health: h }), " (healthy)");
  assert.equal(
    healthSuffix({ status: "running", health: { ...h, Status: "starting" } }),
    " (health: starting)",
  );
  assert.equal(healthSuffix({ status: "exited", health: h }), "");
});

Deno.test("the small rules: hosts, addresses, domains, MACs, ports, links, streams, keys, sysctls", () => {
  assert.deepEqual(parseExtraHost("db:10.0.0.2"), { name: "db", ip: "10.0.0.2" });
  assert.deepEqual(parseExtraHost("v6:2001:db8::1"), { name: "v6", ip: "2001:db8::1" });
  assert.deepEqual(parseExtraHost("gw:host-gateway"), { name: "gw", ip: "host-gateway" });
  assert.throws(() => parseExtraHost("nocolon"), /bad format for add-host: "nocolon"/);
  assert.throws(() => parseExtraHost("h:999.1.1.1"), /invalid IP address in add-host: "999.1.1.1"/);
  assert.equal(ipAddressProblem("::ffff:1.2.3.4"), undefined);
  assert.match(ipAddressProblem("1.2.3")!, /IP address is not correctly formatted: 1.2.3/);
  assert.equal(dnsSearchProblem("example.com"), undefined);
  assert.equal(dnsSearchProblem("."), undefined);
  assert.match(dnsSearchProblem("-bad-.com")!, /is not a valid domain/);
  assert.equal(macProblem("92:d0:c6:0a:29:33"), undefined);
  assert.match(macProblem("93:d0:c6:0a:29:33")!, /multicast/);
  assert.match(macProblem("92:d0:c6")!, /is not a valid mac address/);
  assert.deepEqual(parseExpose("80"), ["80/tcp"]);
  assert.deepEqual(parseExpose("7000-7002/udp"), ["7000/udp", "7001/udp", "7002/udp"]);
  assert.throws(() => parseExpose("80:80"), /invalid port format for --expose: 80:80/);
  assert.deepEqual(parseLink("web"), { container: "web", alias: "web" });
  assert.deepEqual(parseLink("/web:w"), { container: "web", alias: "w" });
  assert.deepEqual(parseVolumesFrom("data:ro"), { container: "data", mode: "ro" });
  assert.throws(() => parseVolumesFrom("data:rx"), /expected CONTAINER\[:ro\|rw\]/);
  assert.deepEqual(parseAttachStreams(["STDIN", "stdout"]), {
    stdin: true,
    stdout: true,
    stderr: false,
  });
  assert.throws(() => parseAttachStreams(["tty"]), /valid streams are STDIN, STDOUT and STDERR/);
  assert.deepEqual([...parseDetachKeys("ctrl-p,ctrl-q")], [16, 17]);
  assert.deepEqual([...parseDetachKeys("a,ctrl-@,ctrl-[")], [97, 0, 27]);
  assert.throws(() => parseDetachKeys("ctrl-1"), /Invalid detach keys/);
  assert.deepEqual(parseSysctl("net.ipv4.ip_forward=1"), ["net.ipv4.ip_forward", "1"]);
  assert.deepEqual(parseSysctl("kernel.shm_rmid_forced=1"), ["kernel.shm_rmid_forced", "1"]);
  assert.throws(() => parseSysctl("kernel.panic=1"), /'kernel.panic' is not allowed/);
  assert.throws(() => parseSysctl("net.x"), /expected KEY=VALUE/);
});

Deno.test("refusedFlag() says why one host cannot do a flag", () => {
  assert.match(refusedFlag({ gpus: "all" })!, /--gpus is not supported: GPUs need/);
  assert.match(refusedFlag({ ip6: "::1" })!, /IPv4 only/);
  assert.match(refusedFlag({ "storage-opt": ["size=1g"] })!, /--storage-opt is not supported/);
  assert.match(refusedFlag({ "kernel-memory": "4m" })!, /kernel memory limits/);
  assert.match(refusedFlag({ "link-local-ip": ["169.254.0.9"] })!, /link-local/);
  assert.match(refusedFlag({ isolation: "hyperv" })!, /Linux supports only 'default'/);
  assert.match(refusedFlag({ "disable-content-trust": false })!, /content trust/);
  assert.match(refusedFlag({ platform: "linux/arm64" }, "x86_64")!, /no emulation/);
  assert.equal(refusedFlag({ platform: "linux/amd64" }, "x86_64"), undefined);
  assert.equal(refusedFlag({ platform: "linux/aarch64" }, "aarch64"), undefined);
  assert.equal(
    refusedFlag({ isolation: "default", "volume-driver": "local", runtime: "ctr" }),
    undefined,
  );
  assert.match(refusedFlag({ "log-driver": "syslog" })!, /json-file, or to nothing/);
});

Deno.test("runConfig() takes docker's network, name-file and resolver flags", () => {
  files["/e"] = "A=1\nFROMHOST\n# c\n";
  files["/l"] = "team=db\nbare\n";
  const r = cfgOf([
    "--env-file",
    "/e",
    "-e",
    "A=2",
    "--label-file",
    "/l",
    "-l",
    "x=y",
    "--add-host",
    "db:10.1.2.3",
    "--dns",
    "1.1.1.1",
    "--dns-search",
    "corp",
    "--dns-opt",
    "ndots:2",
    "--domainname",
    "example.org",
    "--mac-address",
    "02-42-AC-11-00-02",
    "--expose",
    "8080",
  ]);
  const c = r.config;
  assert.ok(c.process.env.includes("A=2"), "-e wins over the file");
  assert.ok(c.process.env.includes("FROMHOST=yes"));
  assert.deepEqual(r.labels, { team: "db", x: "y" });
  assert.deepEqual(c.network.extraHosts, [{ ip: "10.1.2.3", names: ["db"] }]);
  assert.deepEqual(c.network.dns, { servers: ["1.1.1.1"], search: ["corp"], options: ["ndots:2"] });
  assert.equal(c.domainname, "example.org");
  // A MAC joins the default network, as -p and --ip do.
  assert.equal(c.network.name, "bridge");
  assert.equal(c.network.mac, "02:42:ac:11:00:02");
  assert.deepEqual(c.exposedPorts, ["8080/tcp"]);
  assert.equal(cfgOf(["--network", "host"]).config.namespaces.net.kind, "host");
  assert.equal(cfgOf(["--network", "none"]).config.network.name, undefined);
  assert.equal(cfgOf(["--network", "default"]).config.network.name, "bridge");
  usage(["--net=host", "--network", "bridge"], /--net and --network name different networks/);
  usage(["--env-file", "/missing"], /open \/missing/);
  usage(
    ["--add-host", "gw:host-gateway"],
    /host-gateway is the gateway of the container's network/,
  );
  usage(["--dns", "dns.google"], /IP address is not correctly formatted/);
  usage(["--domainname", "x", "--uts", "host"], /--domainname conflicts with --uts=host/);
  usage(["--mac-address", "xx"], /xx is not a valid mac address/);
  usage(["--network", "host", "--mac-address", "02:42:ac:11:00:02"], /need a container network/);
});

Deno.test("runConfig() takes --mount, --device, --sysctl, --shm-size, --init, health and stop", () => {
  const r = cfgOf([
    "--mount",
    "type=tmpfs,dst=/scratch,tmpfs-size=1m",
    "--mount",
    "type=volume,src=data,dst=/data,ro",
    "--mount",
    "type=bind,src=/tmp,dst=/host-tmp,bind-propagation=rslave",
    "--device",
    "/dev/fuse",
    "--device-cgroup-rule",
    "c 42:* rmw",
    "--sysctl",
    "net.core.somaxconn=1024",
    "--shm-size",
    "128m",
    "--init",
    "--health-cmd",
    "test -f /ok",
    "--health-interval",
    "5s",
    "--stop-signal",
    "SIGQUIT",
    "--stop-timeout",
    "3",
  ], { devices: fakeDevices });
  const c = r.config;
  assert.deepEqual(c.mounts.map((m) => [m.type, m.destination]), [
    ["tmpfs", "/scratch"],
    ["bind", "/data"],
    ["bind", "/host-tmp"],
  ]);
  assert.deepEqual(r.volumes, ["data"]);
  assert.equal((c.mounts[2] as { propagation?: string }).propagation, "rslave");
  assert.deepEqual(c.devices?.map((d) => d.path), ["/dev/fuse"]);
  const extra = c.cgroup.limits.devices?.allowAll === false ? c.cgroup.limits.devices.extra : [];
  assert.deepEqual(extra, [
    { type: "c", major: 10, minor: 229, access: "rwm" },
    { type: "c", major: 42, minor: "*", access: "rmw" },
  ]);
  assert.deepEqual(c.sysctl, { "net.core.somaxconn": "1024" });
  assert.equal(c.shmSize, 128 * 1024 * 1024);
  assert.equal(c.init, true);
  assert.equal(c.healthcheck?.intervalMs, 5000);
  assert.deepEqual(c.healthcheck?.test, ["CMD-SHELL", "test -f /ok"]);
  assert.equal(c.stopSignal, "SIGQUIT");
  assert.equal(c.stopTimeout, 3);
  usage(["--mount", "type=bind,src=/nonexistent,dst=/x"], /bind source path does not exist/);
  usage(["--mount", "type=tmpfs,dst=/x", "--tmpfs", "/x"], /Duplicate mount point: \/x/);
  usage(["--stop-signal", "SIGNOPE"], /Invalid signal: SIGNOPE/);
  usage(["--sysctl", "vm.swappiness=1"], /not allowed/);
  usage(["--shm-size", "lots"], /--shm-size lots/);
  usage(["--cpus", "1", "--cpu-period", "50000"], /Nano CPUs and CPU Period cannot both be set/);
  usage(["--cpu-period", "10"], /CPU cfs period can not be less than 1ms/);
  usage(["--cpu-rt-period", "1000", "--cpu-rt-runtime", "2000"], /cannot be higher/);
  usage(["--blkio-weight", "5"], /Range of blkio weight is from 10 to 1000/);
  usage(["--memory-swappiness", "101"], /Valid memory swappiness range is 0-100/);
  usage(["--device-read-iops", "/dev/sda:x"], /invalid rate for device/);
  usage(["--health-cmd", "x", "--no-healthcheck"], /conflicts/);
  usage(["--gpus", "all"], /--gpus is not supported/);
  const limits = cfgOf(["--cpu-period", "50000", "--cpu-quota", "25000", "--oom-kill-disable"]);
  assert.equal(limits.config.cgroup.limits.cpuPeriod, 50000);
  assert.equal(limits.config.cgroup.limits.cpuQuota, 25000);
  assert.equal(limits.config.cgroup.limits.oomKillDisable, true);
  assert.match(limits.warnings[0], /Disabling the OOM killer/);
});

Deno.test("runConfig() reads -a, -i, --sig-proxy, --detach-keys, --cidfile and --volumes-from", () => {
  const attached = cfgOf(["-a", "stdout", "-i"]);
  assert.deepEqual(attached.attach, { stdin: true, stdout: true, stderr: false });
  assert.deepEqual(attached.config.process.attach, { stdout: true, stderr: false });
  assert.equal(attached.stdinOnce, true);
  assert.equal(cfgOf(["-d", "-i"]).stdinOnce, false);
  usage(["-d", "-a", "stdout"], /Conflicting options: -a and -d/);
  assert.equal(cfgOf([]).sigProxy, true);
  assert.equal(cfgOf(["--sig-proxy=false"]).sigProxy, false);
  assert.equal(cfgOf([]).detachKeys, "ctrl-p,ctrl-q");
  usage(["--detach-keys", "ctrl-"], /Invalid detach keys/);
  assert.equal(cfgOf(["--cidfile", "/run/x.cid"]).cidfile, "/run/x.cid");
  const other = {
    container: (ref: string) => {
      if (ref !== "data") throw new Error(`No such container: ${ref}`);
      return {
        id: "cd".repeat(32),
        name: "data",
        hostname: "datahost",
        ip: "10.123.0.5",
        running: true,
        mounts: [
          { type: "bind" as const, source: "/v/x", destination: "/x", readonly: false },
          { type: "tmpfs" as const, destination: "/t", options: "" },
        ],
        volumes: ["x"],
      };
    },
  };
  const from = cfgOf(["--volumes-from", "data:ro", "-v", "/tmp:/y"], other);
  assert.deepEqual(
    from.config.mounts.map((m) => [m.destination, (m as { readonly?: boolean }).readonly]),
    [
      ["/y", false],
      ["/x", true],
    ],
  );
  assert.deepEqual(from.volumes, ["x"]);
  const linked = cfgOf(["--link", "data:db"], other);
  assert.deepEqual(linked.config.network.extraHosts, [
    { ip: "10.123.0.5", names: ["db", "datahost", "data"] },
  ]);
  usage(["--volumes-from", "nope"], /No such container: nope/, other);
});

const planHost: PlanHost = {
  lastCap: 40,
  resetSignals: [],
  kindOf: (p) => (p === "/tmp" ? "dir" : undefined),
  arch: "x86_64",
  lsm: { apparmor: false, selinux: false },
};

Deno.test("the plan makes --device nodes, writes --sysctl, sizes /dev/shm and execs --init from a memfd", () => {
  const r = cfgOf([
    "--device",
    "/dev/fuse:/dev/f",
    "--sysctl",
    "net.core.somaxconn=1024",
    "--shm-size",
    "1m",
    "--init",
    "--domainname",
    "example.org",
    "--mount",
    "type=bind,src=/tmp,dst=/t,bind-propagation=shared",
  ], { devices: fakeDevices });
  const text = formatPlan(containerPlan(r.config, planHost), "");
  assert.match(text, /mknodat\(AT_FDCWD, ".*\/merged\/dev\/f", 020666, makedev\(10, 229\)\)/);
  assert.match(text, /openat\(AT_FDCWD, ".*\/merged\/proc\/sys\/net\/core\/somaxconn"/);
  assert.match(text, /write\(\$file_the sysctl net.core.somaxconn, "1024", 4\)/);
  assert.match(text, /"mode=1777,size=1024k"/);
  assert.match(text, /setdomainname\("example.org", 11\)/);
  assert.match(text, /mount\(NULL, ".*\/merged\/t", NULL, MS_SHARED, NULL\)/);
  assert.match(text, /memfd_create\("ctr-init", MFD_CLOEXEC\) -> \$init/);
  const last = text.trim().split("\n").at(-1)!;
  assert.match(last, /execveat\(\$init, "", \["ctr-init", "--", "true"\], .*AT_EMPTY_PATH\)/);
  // Without --init the command is exec'd along PATH, as before.
  assert.match(
    formatPlan(containerPlan(cfgOf([]).config, planHost), "").trim().split("\n").at(-1)!,
    /execve\("\/bin\/true"/,
  );
});

Deno.test("attach frames and the detach keys", () => {
  assert.deepEqual([...helloFrame({ stdin: true, stdout: true, stderr: false })], [
    0x68,
    1,
    0,
    0,
    3,
  ]);
  assert.deepEqual([...resizeFrame(24, 80)], [0x72, 4, 0, 0, 24, 0, 80, 0]);
  const big = clientFrame(CLIENT_FRAME.data, new Uint8Array(70000));
  assert.deepEqual([...big.subarray(0, 4)], [0x64, 0x70, 0x11, 0x01]);
  const r = new FrameReader();
  const frame = (stream: number, text: string) => {
    const d = new TextEncoder().encode(text);
    const f = new Uint8Array(8 + d.length);
    f[0] = stream;
    new DataView(f.buffer).setUint32(4, d.length, false);
    f.set(d, 8);
    return f;
  };
  const both = new Uint8Array([...frame(1, "out"), ...frame(3, "42")]);
  assert.deepEqual(r.push(both.subarray(0, 5)), []);
  const got = r.push(both.subarray(5));
  assert.deepEqual(got.map((f) => [f.stream, new TextDecoder().decode(f.data)]), [[1, "out"], [
    3,
    "42",
  ]]);
  const m = new DetachMatcher(new Uint8Array([16, 17]));
  assert.deepEqual(m.feed(new Uint8Array([97, 16])), {
    pass: new Uint8Array([97]),
    detached: false,
  });
  // The held ctrl-p goes through when the sequence breaks off.
  assert.deepEqual(m.feed(new Uint8Array([98])), {
    pass: new Uint8Array([16, 98]),
    detached: false,
  });
  assert.deepEqual(m.feed(new Uint8Array([16, 16])), {
    pass: new Uint8Array([16]),
    detached: false,
  });
  assert.deepEqual(m.feed(new Uint8Array([17, 99])), { pass: new Uint8Array([]), detached: true });
});

Deno.test("runConfig() joins further networks from --network given again, plain or long form", () => {
  const c = cfgOf([
    "--network",
    "front",
    "--network-alias",
    "web",
    "--network",
    "name=back,alias=api,alias=api2,ip=10.9.0.5",
    "--network",
    "default",
  ]).config;
  assert.equal(c.network.name, "front");
  assert.deepEqual(c.network.aliases, ["web"]);
  assert.deepEqual(c.network.more, [
    { name: "back", aliases: ["api", "api2"], ip: "10.9.0.5" },
    { name: "bridge", aliases: [] },
  ]);
  const long = cfgOf(["--network", "name=front,alias=a,ip=10.8.0.7"]).config.network;
  assert.deepEqual([long.name, long.aliases, long.ip, long.more], [
    "front",
    ["a"],
    "10.8.0.7",
    undefined,
  ]);
  usage(["--network", "host", "--network", "back"], /non-user-defined network-modes/);
  usage(["--network", "back", "--network", "none"], /non-user-defined network-modes.*none/);
  usage(["--network", "back", "--network", "container:x"], /non-user-defined/);
  usage(["--network", "back", "--network", "back"], /--network back is given twice/);
  usage(["--network", "name=back,ip6=::1"], /ip6= is not supported/);
  usage(["--network", "name=back,ip=300.1.1.1"], /no IPv4 address/);
  usage(["--network", "alias=x"], /no name=/);
  usage(["--network", "name=back,color=red"], /unknown key "color"/);
});
