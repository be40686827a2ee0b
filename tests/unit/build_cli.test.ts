/**
 * The pure parts of `ctr build`, `ctr history` and the build's display:
 * option parsing, the Dockerfile excerpt of an error, the history rows,
 * BuildKit's plain progress and the tty block; and the config of a RUN
 * step's container and its mount stubs.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { dockerfileExcerpt, parseBuildArgs } from "../../lib/cli/build.ts";
import { historyRows } from "../../lib/cli/history.ts";
import { buildProgress } from "../../lib/image/build/progress.ts";
import { UsageError } from "../../lib/errors.ts";
import {
  BUILD_HOSTNAME,
  type BuildStep,
  buildStepConfig,
  mountStubs,
  removeMountStubs,
  type StepHost,
} from "../../lib/engine/build_step.ts";

Deno.test("parseBuildArgs() takes docker's options and normalizes tags", () => {
  const a = parseBuildArgs(
    [
      "-t",
      "my_nginx:v1.0",
      "-t",
      "localhost:5000/x",
      "-f",
      "Dockerfile",
      "--build-arg",
      "A=1",
      "--build-arg",
      "FROM_ENV",
      "--build-arg",
      "NOT_SET",
      "--label",
      "k=v",
      "--no-cache",
      "--network",
      "host",
      "--platform",
      "linux/arm64",
      "--target",
      "builder",
      "-q",
      "--iidfile",
      "/tmp/iid",
      ".",
    ],
    { FROM_ENV: "env value" },
  );
  assert.deepEqual(a.tags, ["docker.io/library/my_nginx:v1.0", "localhost:5000/x:latest"]);
  assert.equal(a.file, "Dockerfile");
  assert.deepEqual(a.buildArgs, { A: "1", FROM_ENV: "env value" });
  assert.deepEqual(a.labels, { k: "v" });
  assert.equal(a.noCache, true);
  assert.equal(a.network, "host");
  assert.deepEqual(a.platform, { os: "linux", architecture: "arm64" });
  assert.equal(a.target, "builder");
  assert.equal(a.quiet, true);
  assert.equal(a.iidfile, "/tmp/iid");
  assert.equal(a.context, ".");
  const d = parseBuildArgs(["ctx"]);
  assert.equal(d.network, "none", "the default: an isolated network namespace");
  assert.equal(d.progress, "auto");
  assert.equal(parseBuildArgs(["--network", "default", "."]).network, "none");
});

Deno.test("parseBuildArgs() rejects what docker rejects", () => {
  for (
    const argv of [
      [],
      [".", "extra"],
      ["-f", "-", "-"],
      ["-t", "Bad/Upper", "."],
      ["-t", "x@sha256:" + "a".repeat(64), "."],
      ["--network", "weird", "."],
      ["--progress", "fancy", "."],
      ["--build-arg", "=x", "."],
      ["--label", "=x", "."],
      ["--platform", "linux/", "."],
      ["--bogus", "."],
    ]
  ) assert.throws(() => parseBuildArgs(argv), UsageError, argv.join(" "));
});

Deno.test("dockerfileExcerpt() shows two lines around the instruction, marked", () => {
  const text = "FROM busybox\nRUN a\nRUN b \\\n  c\nRUN d\nCMD x\nLABEL y\n";
  assert.equal(
    dockerfileExcerpt(text, "Dockerfile", { line: 3, endLine: 4 }),
    `Dockerfile:3-4
--------------------
   1 |     FROM busybox
   2 |     RUN a
   3 | >>> RUN b \\
   4 | >>>   c
   5 |     RUN d
   6 |     CMD x
--------------------
`,
  );
  assert.match(
    dockerfileExcerpt(text, "Dockerfile", { line: 1 }),
    /^Dockerfile:1\n-+\n {3}1 \| >>> FROM busybox\n/,
  );
});

Deno.test("historyRows() gives docker's history columns, newest first", () => {
  const src = {
    id: `sha256:${"ab".repeat(32)}`,
    history: [
      { created: "2024-01-01T00:00:00Z", created_by: "base layer" },
      { created: "2024-01-02T00:00:00Z", created_by: "ENV A=1", empty_layer: true, comment: "c" },
      {
        created: "2024-01-03T00:00:00.5Z",
        created_by: "RUN /bin/sh -c\tsomething rather long that docker cuts at 45 characters",
      },
    ],
    layerSizes: [2140000, 4096],
  };
  const fmt = { age: (c?: string) => `age(${c})`, size: (n: number) => `${n}B` };
  const rows = historyRows(src, { human: true, trunc: true }, fmt);
  assert.deepEqual(rows.map((r) => r.ID), ["abababababab", "<missing>", "<missing>"]);
  assert.equal(rows[0].CreatedBy, "RUN /bin/sh -c something rather long that do…");
  assert.equal([...rows[0].CreatedBy].length, 45);
  assert.deepEqual(rows.map((r) => r.Size), ["4096B", "0B", "2140000B"]);
  assert.equal(rows[1].Comment, "c");
  assert.equal(rows[0].CreatedSince, "age(2024-01-03T00:00:00.5Z)");
  const raw = historyRows(src, { human: false, trunc: false }, fmt);
  assert.equal(raw[0].ID, src.id);
  assert.equal(raw[0].CreatedSince, "2024-01-03T00:00:00Z");
  assert.equal(raw[2].Size, "2140000");
  assert.ok(raw[0].CreatedBy.endsWith("45 characters"));
});

/** A display writing into a string, at fixed times. */
function display(mode: "plain" | "tty" | "quiet", times: number[]) {
  let text = "";
  let i = 0;
  const out = {
    writeSync(b: Uint8Array) {
      text += new TextDecoder().decode(b);
      return b.length;
    },
  };
  const p = buildProgress(mode, out, {
    now: () => times[Math.min(i++, times.length - 1)],
    columns: () => 60,
  });
  return { p, text: () => text };
}

Deno.test("buildProgress(plain) prints BuildKit's plain lines: titles, timed output, ends", () => {
  const d = display("plain", [0, 0, 1000, 1234, 1500, 2000, 2300, 2400, 2500, 2600]);
  const a = d.p.vertex("[1/2] RUN make");
  const b = d.p.vertex("[other 1/1] RUN test");
  a.output(new TextEncoder().encode("comp"));
  a.output(new TextEncoder().encode("iling\r\nlinking\n"));
  b.cached();
  a.output(new TextEncoder().encode("no newline"));
  a.done();
  const c = d.p.vertex("[2/2] COPY x /");
  c.error("boom");
  d.p.warn("careful");
  d.p.close();
  assert.equal(
    d.text(),
    `#1 [1/2] RUN make

#2 [other 1/1] RUN test

#1 [1/2] RUN make
#1 1.000 compiling
#1 1.234 linking

#2 [other 1/1] RUN test
#2 CACHED

#1 [1/2] RUN make
#1 2.000 no newline
#1 DONE 2.3s

#3 [2/2] COPY x /
#3 ERROR: boom

WARNING: careful
`,
  );
  assert.deepEqual(a.tail(2), ["linking", "no newline"]);
});

Deno.test("buildProgress(tty) draws finished steps once and rewrites the running ones", () => {
  const d = display("tty", [0, 0, 100, 200, 300, 400, 500, 600, 700, 800]);
  const a = d.p.vertex("[1/1] RUN make");
  a.output(new TextEncoder().encode("working\n"));
  a.done();
  d.p.close();
  const t = d.text();
  assert.match(t, / => \[1\/1\] RUN make +0\.\ds\n/);
  assert.match(t, /\[\+\] Building \d\.\ds \(1\/1\) FINISHED\n$/);
  const q = display("quiet", [0]);
  q.p.vertex("x").output(new TextEncoder().encode("kept\n"));
  q.p.close();
  assert.equal(q.text(), "");
});

const HOST: StepHost = {
  root: "/var/lib/ctr",
  stateDir: "/run/ctr",
  lastCap: 40,
  ownCaps: (1n << 41n) - 1n,
  hardNofile: 20000n,
  emptyLayer: "/var/lib/ctr/build/empty",
  newId: () => "f".repeat(64),
};
const STEP: BuildStep = {
  layers: ["/l/2", "/l/1"],
  args: ["/bin/sh", "-c", "make"],
  env: ["PATH=/bin", "A=1"],
  cwd: "/src",
  user: "app",
  network: "none",
  mounts: [{ type: "tmpfs", destination: "/tmp/x", options: "" }],
};
const USER = { uid: 1000, gid: 1000, groups: [1000], home: "/home/app" };

Deno.test("buildStepConfig() is a container of the engine: isolated, docker's caps, diff-safe overlay", () => {
  const cfg = buildStepConfig(STEP, { user: USER, host: HOST, outputFd: 9 });
  assert.equal(cfg.dir, `/var/lib/ctr/containers/${"f".repeat(64)}`);
  assert.deepEqual(cfg.layers, ["/l/2", "/l/1"]);
  assert.deepEqual(cfg.overlayOptions, ["redirect_dir=off", "metacopy=off"]);
  assert.equal(cfg.namespaces.net.kind, "new");
  assert.equal(cfg.network.name, undefined, "only lo");
  assert.equal(cfg.hostname, BUILD_HOSTNAME);
  assert.deepEqual(cfg.process.args, STEP.args);
  assert.deepEqual(cfg.process.env, ["PATH=/bin", "A=1", "HOME=/home/app"]);
  assert.equal(cfg.process.cwd, "/src");
  assert.equal(cfg.process.uid, 1000);
  assert.ok(cfg.process.caps.includes("CHOWN") && !cfg.process.caps.includes("SYS_ADMIN"));
  assert.deepEqual(cfg.process.stdio, { stdout: 9, stderr: 9 });
  assert.equal(cfg.process.dieWithParent, true);
  assert.equal(cfg.process.rlimits[0].hard, 20000n);
  const host = buildStepConfig({ ...STEP, network: "host", layers: [] }, {
    user: USER,
    host: HOST,
  });
  assert.equal(host.namespaces.net.kind, "host");
  assert.deepEqual(host.layers, ["/var/lib/ctr/build/empty"]);
  const bridge = buildStepConfig({ ...STEP, network: "bridge" }, { user: USER, host: HOST });
  assert.equal(bridge.network.name, "bridge");
});

Deno.test("mountStubs() and removeMountStubs() take out what the plan made, and only that", () => {
  const layer = tempDir();
  Deno.mkdirSync(`${layer}/etc`, { mode: 0o755 });
  Deno.chmodSync(`${layer}/etc`, 0o755);
  Deno.mkdirSync(`${layer}/proc`);
  Deno.writeTextFileSync(`${layer}/etc/passwd`, "root:x:0:0::/root:/bin/sh\n");
  const stubs = mountStubs([layer], ["/proc", "/etc/hosts", "/cache/deep/dir", "/etc/passwd"]);
  assert.deepEqual(stubs.map((s) => [s.path, s.lower !== undefined]), [
    ["/cache/deep/dir", false],
    ["/etc/hosts", false],
    ["/cache/deep", false],
    ["/etc", true],
    ["/cache", false],
  ]);
  const upper = tempDir();
  // What the plan made...
  Deno.mkdirSync(`${upper}/cache/deep/dir`, { recursive: true });
  Deno.mkdirSync(`${upper}/etc`);
  Deno.chmodSync(`${upper}/etc`, 0o755);
  Deno.writeTextFileSync(`${upper}/etc/hosts`, "");
  removeMountStubs(upper, stubs);
  assert.deepEqual([...Deno.readDirSync(upper)], []);
  // ...and what a step wrote there is kept.
  Deno.mkdirSync(`${upper}/cache`);
  Deno.writeTextFileSync(`${upper}/cache/file`, "x");
  Deno.mkdirSync(`${upper}/etc`);
  Deno.writeTextFileSync(`${upper}/etc/hosts`, "127.0.0.1 mine\n");
  removeMountStubs(upper, stubs);
  assert.deepEqual([...Deno.readDirSync(upper)].map((e) => e.name).sort(), ["cache", "etc"]);
});
