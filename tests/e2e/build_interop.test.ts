/**
 * Images built by `ctr build` and by others (root): one saved with `ctr
 * save` is loaded and run by Debian's podman and by a private dockerd (both
 * with runc, their storage in a temporary directory); one pushed with `ctr
 * push` to Debian's docker-registry on 127.0.0.1 is pulled into an empty
 * store and runs; Debian's buildah builds the same Dockerfile
 * (`--isolation chroot`, vfs storage in a temporary directory) and its
 * image, loaded into ctr, holds the same files with the same types, modes,
 * owners, sizes and link targets. Each is skipped, saying why, when the
 * tool is missing.
 */
import assert from "node:assert/strict";
import { busyboxImage, ctr, loadBusybox, rootTest, tempDir, tempStore } from "../_helpers.ts";
import { Docker, hasDocker } from "../_docker.ts";
import { startRegistry, which } from "../_registry.ts";

const dec = new TextDecoder();
const store = tempStore();
const c = (args: string[]) => ctr(["--root", store, ...args]);

function has(tool: string): boolean {
  try {
    return new Deno.Command(tool, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

function toolTest(tool: string, name: string, fn: () => Promise<void>, ok = has(tool)): void {
  if (!ok) {
    Deno.test({ name: `${name} [skipped: ${tool} is not installed]`, ignore: true, fn() {} });
    return;
  }
  rootTest(name, fn);
}

/** The busybox image in this file's store; returns its archive (for the other tools). */
async function busybox(): Promise<string> {
  await loadBusybox(store);
  return await busyboxImage();
}

/** A Dockerfile both builders take (buildah 1.28 has no heredocs), and its context. */
function context(): string {
  const dir = tempDir();
  Deno.mkdirSync(`${dir}/src`);
  Deno.writeTextFileSync(`${dir}/src/a.txt`, "hello\n");
  Deno.writeTextFileSync(`${dir}/src/b.txt`, "b\n");
  Deno.chmodSync(`${dir}/src/b.txt`, 0o600);
  Deno.writeTextFileSync(
    `${dir}/Dockerfile`,
    `FROM busybox AS builder
ARG GREETING=hi
ENV APP=/app
WORKDIR $APP
COPY src/ ./src/
RUN echo "$GREETING" > greeting && mkdir -p out && cp src/a.txt out/ && ln -s greeting out/link && chown -R 1:2 out
RUN rm src/a.txt && mkdir -p empty

FROM busybox
COPY --from=builder /app /app
COPY --chown=1000:1000 --chmod=640 src/a.txt /home/a.txt
RUN rm -f /bin/vi && mkdir -p /var/data && echo x > /var/data/x
WORKDIR /app
CMD ["cat", "greeting"]
`,
  );
  return dir;
}

/** The conf podman and buildah read here: no host rlimit above ours (root lacks CAP_SYS_RESOURCE). */
function containersConf(dir: string): string {
  const path = `${dir}/containers.conf`;
  Deno.writeTextFileSync(
    path,
    `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
`,
  );
  return path;
}

async function tool(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
) {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...opts,
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Every file of the interesting directories: name, type, mode, owner, size, link target. */
const LISTING = `find /app /home /var /bin /etc -xdev | sort | while read f; do
  echo "$f $(stat -c '%F %a %u:%g %s' "$f") $(readlink "$f")"; done`;

toolTest(
  "podman",
  "build interop: podman loads an image ctr built and saved, and runs it with runc",
  async () => {
    await busybox();
    const b = await c(["build", "-q", "-t", "interop:podman", context()]);
    assert.equal(b.code, 0, b.stderr);
    const dir = tempDir();
    const tar = `${dir}/image.tar`;
    assert.equal((await c(["save", "-o", tar, "interop:podman"])).code, 0);
    const env = { CONTAINERS_CONF: containersConf(dir) };
    const p = [
      "--root",
      `${dir}/root`,
      "--runroot",
      `${dir}/runroot`,
      "--tmpdir",
      `${dir}/tmp`,
      "--storage-driver",
      "vfs",
      "--events-backend",
      "file",
      "--cgroup-manager",
      "cgroupfs",
    ];
    try {
      const load = await tool("podman", [...p, "load", "-i", tar], { env });
      assert.equal(load.code, 0, load.stderr);
      assert.match(load.stdout, /Loaded image: docker.io\/library\/interop:podman/);
      const podmanRun = (cmd: string[]) =>
        tool("podman", [
          ...p,
          "run",
          "--rm",
          "--runtime",
          "runc",
          "--network",
          "none",
          "interop:podman",
          ...cmd,
        ], { env });
      const run = await podmanRun([]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "hi\n");
      const files = await podmanRun([
        "sh",
        "-c",
        "stat -c '%a %u:%g' /home/a.txt; test -e /bin/vi || echo vi-gone; readlink /app/out/link",
      ]);
      assert.equal(files.stdout, "640 1000:1000\nvi-gone\ngreeting\n", files.stderr);
    } finally {
      await tool("podman", [...p, "rm", "-af"], { env });
      await tool("podman", [...p, "rmi", "-af"], { env });
    }
  },
);

toolTest(
  "buildah",
  "build interop: buildah builds the same Dockerfile into the same files",
  async () => {
    const bbTar = await busybox();
    const ctx = context();
    const dir = tempDir();
    const env = { CONTAINERS_CONF: containersConf(dir) };
    const bh = [
      "--root",
      `${dir}/root`,
      "--runroot",
      `${dir}/runroot`,
      "--storage-driver",
      "vfs",
    ];
    try {
      const pull = await tool("buildah", [...bh, "pull", `docker-archive:${bbTar}`], { env });
      assert.equal(pull.code, 0, pull.stderr);
      const tag = await tool("buildah", [...bh, "tag", "localhost/busybox", "busybox"], { env });
      assert.equal(tag.code, 0, tag.stderr);
      const bud = await tool("buildah", [
        ...bh,
        "bud",
        "--isolation",
        "chroot",
        "--pull=never",
        "-t",
        "interop:buildah",
        ".",
      ], { env, cwd: ctx });
      assert.equal(bud.code, 0, bud.stderr);
      const tar = `${dir}/buildah.tar`;
      const push = await tool("buildah", [
        ...bh,
        "push",
        "interop:buildah",
        `docker-archive:${tar}:interop:buildah`,
      ], { env });
      assert.equal(push.code, 0, push.stderr);
      assert.equal((await c(["load", "-i", tar])).code, 0);
    } finally {
      await tool("buildah", [...bh, "rm", "-a"], { env });
      await tool("buildah", [...bh, "rmi", "-af"], { env });
    }
    const b = await c(["build", "-q", "-t", "interop:ctr", ctx]);
    assert.equal(b.code, 0, b.stderr);
    const list = async (image: string) => {
      const r = await c(["run", "--rm", "--pull", "never", image, "sh", "-c", LISTING]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const theirs = await list("interop:buildah");
    const ours = await list("interop:ctr");
    assert.ok(ours.split("\n").length > 250, ours);
    assert.equal(ours, theirs);
    const cmd = await c(["run", "--rm", "--pull", "never", "interop:buildah"]);
    assert.equal(cmd.stdout, (await c(["run", "--rm", "--pull", "never", "interop:ctr"])).stdout);
  },
);

/** Builds the interop image into this file's store as `name`. */
async function built(name: string): Promise<void> {
  await busybox();
  const b = await c(["build", "-q", "-t", name, context()]);
  assert.equal(b.code, 0, b.stderr);
}

toolTest(
  "dockerd",
  "build interop: docker loads an image ctr built and saved, and runs it with runc",
  async () => {
    await built("interop:docker");
    const tar = `${tempDir()}/image.tar`;
    assert.equal((await c(["save", "-o", tar, "interop:docker"])).code, 0);
    const d = await Docker.start();
    try {
      const load = await d.run(["load", "-i", tar]);
      assert.equal(load.code, 0, load.stderr);
      assert.match(load.stdout, /Loaded image: interop:docker/);
      const run = await d.run([
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=20000:20000",
        "interop:docker",
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "hi\n");
      const history = await d.run(["history", "--format", "{{.CreatedBy}}", "interop:docker"]);
      assert.match(history.stdout, /^CMD \["cat" "greeting"\]$/m);
    } finally {
      await d.run(["rmi", "-f", "interop:docker"]);
      await d.stop();
    }
  },
  hasDocker(),
);

toolTest(
  "docker-registry",
  "build interop: an image ctr built and pushed pulls into an empty store and runs",
  async () => {
    await built("interop:push");
    const reg = await startRegistry();
    try {
      const name = `${reg.domain}/built/app:1`;
      assert.equal((await c(["tag", "interop:push", name])).code, 0);
      const push = await c(["push", name]);
      assert.equal(push.code, 0, push.stderr);
      const empty = tempStore();
      const pull = await ctr(["--root", empty, "pull", name]);
      assert.equal(pull.code, 0, pull.stderr);
      const run = await ctr(["--root", empty, "run", "--rm", "--pull", "never", name]);
      assert.equal(run.stdout, "hi\n", run.stderr);
      const ours = JSON.parse((await c(["image", "inspect", "interop:push"])).stdout)[0];
      const theirs = JSON.parse((await ctr(["--root", empty, "image", "inspect", name])).stdout)[0];
      assert.equal(theirs.Id, ours.Id, "the same image ID after a round trip");
      // A base image missing from the store is pulled; --pull pulls it again.
      const fresh = tempStore();
      const ctx = tempDir();
      Deno.writeTextFileSync(`${ctx}/Dockerfile`, `FROM ${name}\nRUN cat greeting > again\n`);
      const b = await ctr(["--root", fresh, "build", "--progress", "plain", "-t", "child:1", ctx]);
      assert.equal(b.code, 0, b.stderr);
      assert.match(b.stderr, new RegExp(`#\\d+ \\[internal\\] load metadata for ${name}\\n#\\d+ `));
      assert.match(b.stderr, /#\d+ \[1\/2\] FROM .*\n#\d+ DONE/, "pulled, not found");
      const again = await ctr(["--root", fresh, "build", "--pull", "--progress", "plain", ctx]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /Digest: sha256:|Image is up to date|Status: /);
      const r = await ctr([
        "--root",
        fresh,
        "run",
        "--rm",
        "--pull",
        "never",
        "child:1",
        "cat",
        "again",
      ]);
      assert.equal(r.stdout, "hi\n", r.stderr);
    } finally {
      await reg.stop();
    }
  },
  which("docker-registry") !== undefined,
);
