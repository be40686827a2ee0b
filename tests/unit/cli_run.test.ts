/** Command-line parsing and the container config built from `run` flags, without root. */
import assert from "node:assert/strict";
import { parseArgs, UsageError } from "../../lib/cli/args.ts";
import { parseRunArgs, RUN_OPTIONS, runOptionsAgree } from "../../lib/cli/run.ts";
import { runConfig, type RunHost } from "../../lib/config/docker_run.ts";

function fakeRoot(): string {
  const d = Deno.makeTempDirSync();
  Deno.mkdirSync(`${d}/etc`);
  Deno.mkdirSync(`${d}/bin`);
  Deno.writeTextFileSync(
    `${d}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
  );
  Deno.writeTextFileSync(`${d}/etc/group`, "root:x:0:\nstaff:x:50:app,other\napp:x:1000:\n");
  return d;
}

const host = (root = "/var/lib/ctr"): RunHost => ({
  root,
  env: { FROMHOST: "yes" },
  lastCap: 40,
  ownCaps: (1n << 41n) - 1n,
  hardNofile: 20000n,
  subuidBase: 100000,
  newId: () => "ab".repeat(32),
});

Deno.test("parseArgs() stops at the first positional and knows docker's forms", () => {
  const p = parseArgs(
    ["-it", "-e", "A=1", "--env=B=2", "--net", "--rm", "img", "sh", "-c", "echo -e"],
    RUN_OPTIONS,
    { stopAfterPositionals: 1 },
  );
  assert.equal(p.opts.interactive, true);
  assert.equal(p.opts.tty, true);
  assert.deepEqual(p.opts.env, ["A=1", "B=2"]);
  assert.equal(p.opts.net, true);
  assert.deepEqual(p.positionals, ["img", "sh", "-c", "echo -e"]);
  assert.equal(parseArgs(["--net=host"], RUN_OPTIONS).opts.net, "host");
  assert.deepEqual(parseArgs(["-eX=1"], RUN_OPTIONS).opts.env, ["X=1"]);
  assert.deepEqual(parseArgs(["--", "-x"], RUN_OPTIONS).positionals, ["-x"]);
  assert.throws(() => parseArgs(["--nope"], RUN_OPTIONS), UsageError);
  assert.throws(() => parseArgs(["--rm=maybe"], RUN_OPTIONS), /expected true or false/);
  assert.throws(() => parseArgs(["-e"], RUN_OPTIONS), /flag needs an argument/);
});

Deno.test("runConfig() builds the container from flags", () => {
  const r = fakeRoot();
  const req = runConfig(
    parseRunArgs([
      "--rm",
      "--rootfs",
      r,
      "-h",
      "box",
      "-u",
      "app",
      "-e",
      "FROMHOST",
      "-e",
      "X=1",
      "-w",
      "/w",
      "--cap-drop",
      "ALL",
      "--cap-add",
      "net_raw",
      "-v",
      "/tmp:/data:ro",
      "--tmpfs",
      "/run:size=1m",
      "--userns",
      "--ulimit",
      "nproc=10:20",
      "sh",
    ]),
    host(),
  );
  const c = req.config;
  assert.equal(req.remove, true);
  assert.equal(c.hostname, "box");
  assert.equal(c.dir, `/var/lib/ctr/containers/${"ab".repeat(32)}`);
  assert.deepEqual(c.layers, [Deno.realPathSync(r)]);
  assert.equal(c.process.uid, 1000);
  assert.deepEqual(c.process.groups, [1000, 50]);
  assert.ok(c.process.env.includes("FROMHOST=yes"));
  assert.ok(c.process.env.includes("X=1"));
  assert.ok(c.process.env.includes("HOME=/home/app"));
  assert.ok(c.process.env.includes("HOSTNAME=box"));
  assert.deepEqual(c.process.caps, ["NET_RAW"]);
  assert.equal(c.process.cwd, "/w");
  assert.deepEqual(c.mounts[0], {
    type: "bind",
    source: "/tmp",
    destination: "/data",
    readonly: true,
  });
  assert.deepEqual(c.uidMap, [{ container: 0, host: 100000, size: 65536 }]);
  assert.equal(c.namespaces.user.kind, "new");
  assert.deepEqual(c.process.rlimits.find((x) => x.type === "nproc"), {
    type: "nproc",
    soft: 10n,
    hard: 20n,
  });
  assert.deepEqual(c.process.rlimits.find((x) => x.type === "nofile"), {
    type: "nofile",
    soft: 20000n,
    hard: 20000n,
  });
  assert.equal(c.process.noNewPrivileges, false);
  assert.equal(
    runConfig(parseRunArgs(["--rootfs", r, "sh"]), host()).config.hostname,
    "abababababab",
  );
  assert.equal(
    runConfig(parseRunArgs(["--rootfs", r, "--net=host", "sh"]), host()).config.namespaces.net.kind,
    "host",
  );
  Deno.removeSync(r, { recursive: true });
});

Deno.test("runConfig() rejects bad input with usage errors", () => {
  const r = fakeRoot();
  for (
    const args of [
      ["sh"],
      ["--rootfs", "/nonexistent", "sh"],
      ["--rootfs", r],
      ["--rootfs", r, "-h", "-bad", "sh"],
      ["--rootfs", r, "--userns=maybe", "sh"],
      ["--rootfs", r, "--security-opt", "seccomp=x", "sh"],
      ["--rootfs", r, "-v", "/a:/b:rx", "sh"],
      ["--rootfs", r, "--tmpfs", "rel", "sh"],
      ["--rootfs", r, "--ulimit", "nofile=5:1", "sh"],
    ]
  ) {
    assert.throws(() => runConfig(parseRunArgs(args), host()), UsageError, args.join(" "));
  }
  Deno.removeSync(r, { recursive: true });
});

Deno.test("lifecycle commands have --help with their options", async () => {
  const { lifecycleHelp } = await import("../../lib/cli/control.ts");
  assert.match(lifecycleHelp("logs")!, /^Usage: ctr logs \[OPTIONS\] CONTAINER/);
  assert.match(lifecycleHelp("logs")!, /--tail N/);
  assert.match(lifecycleHelp("stop")!, /-t, --time SECONDS/);
  assert.match(lifecycleHelp("exec")!, /-u, --user/);
  assert.equal(lifecycleHelp("__exited"), undefined);
});

Deno.test("the run option table and RunOptions agree on every flag", () => {
  assert.deepEqual(runOptionsAgree(), []);
});
