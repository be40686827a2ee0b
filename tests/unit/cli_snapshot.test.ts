/**
 * cp's rules for what goes where, commit's config, the --change
 * instructions, update's flags, and the completion scripts, without root.
 */
import assert from "node:assert/strict";
import { baseName, mapId, placement, wantsContents } from "../../lib/engine/copy.ts";
import { splitCpArg } from "../../lib/cli/cp.ts";
import { applyChanges, commitConfig, upperChanges } from "../../lib/engine/snapshot.ts";
import { updateRequest } from "../../lib/cli/update.ts";
import { bashScript, completionTable, zshScript } from "../../lib/cli/completion.ts";
import { allCommands, COMMANDS } from "../../lib/cli/commands.ts";
import { UsageError } from "../../lib/cli/args.ts";
import type { ContainerState } from "../../lib/engine/state.ts";
import type { BuildImageConfig } from "../../lib/image/build/mod.ts";

Deno.test("splitCpArg() splits CONTAINER:PATH as docker does", () => {
  assert.deepEqual(splitCpArg("web:/etc/hosts"), { container: "web", path: "/etc/hosts" });
  assert.deepEqual(splitCpArg("web:tmp"), { container: "web", path: "tmp" });
  assert.deepEqual(splitCpArg("/abs/with:colon"), { path: "/abs/with:colon" });
  assert.deepEqual(splitCpArg("./rel:colon"), { path: "./rel:colon" });
  assert.deepEqual(splitCpArg("plain"), { path: "plain" });
  assert.deepEqual(splitCpArg("-"), { path: "-" });
});

Deno.test("placement(): docker cp's destination rules", () => {
  const dir = { isDirectory: true }, file = { isDirectory: false };
  // A file: into an existing directory, over an existing file, or as a new name.
  assert.deepEqual(placement({ path: "/etc/hosts", isDir: false }, { path: "/tmp", info: dir }), {
    dir: "/tmp",
    topName: "hosts",
  });
  assert.deepEqual(placement({ path: "a", isDir: false }, { path: "/tmp/x", info: file }), {
    dir: "/tmp",
    topName: "x",
  });
  assert.deepEqual(placement({ path: "a", isDir: false }, { path: "/tmp/new", info: undefined }), {
    dir: "/tmp",
    topName: "new",
  });
  assert.throws(() =>
    placement({ path: "a", isDir: false }, { path: "/tmp/new/", info: undefined })
  );
  // A directory: into one, its contents with /., or as a new directory; never onto a file.
  assert.deepEqual(placement({ path: "/data", isDir: true }, { path: "/tmp", info: dir }), {
    dir: "/tmp",
    topName: "data",
  });
  assert.deepEqual(placement({ path: "/data/.", isDir: true }, { path: "/tmp", info: dir }), {
    dir: "/tmp",
    topName: "",
  });
  assert.deepEqual(
    placement({ path: "/data", isDir: true }, { path: "/tmp/d2", info: undefined }),
    {
      dir: "/tmp",
      topName: "d2",
    },
  );
  assert.throws(
    () => placement({ path: "/data", isDir: true }, { path: "/f", info: file }),
    /directory to a file/,
  );
  assert.deepEqual(placement({ path: "x", isDir: false }, { path: "rel", info: undefined }), {
    dir: ".",
    topName: "rel",
  });
  assert.equal(baseName("/a/b/"), "b");
  assert.ok(wantsContents("/a/."));
  assert.ok(!wantsContents("/a"));
  assert.equal(mapId([{ container: 0, host: 100000, size: 65536 }], 5), 100005);
  assert.equal(mapId([{ container: 0, host: 100000, size: 10 }], 50), 65534);
  assert.equal(mapId([], 7), 7);
});

Deno.test("upperChanges(): A/C/D in name order, parents first, runtime mount points left out", () => {
  const root = Deno.makeTempDirSync();
  try {
    const lower = `${root}/lower`, upper = `${root}/upper`;
    for (const d of ["bin", "etc", "usr/share"]) {
      Deno.mkdirSync(`${lower}/${d}`, { recursive: true });
    }
    Deno.writeTextFileSync(`${lower}/etc/passwd`, "root\n");
    Deno.writeTextFileSync(`${lower}/bin/sh`, "#!");
    const t = new Date(Date.UTC(2024, 0, 1));
    for (const d of ["bin", "etc", "usr", "usr/share"]) Deno.utimeSync(`${lower}/${d}`, t, t);
    // The container: a new directory, a changed file, a new file in /etc, and a mount point.
    Deno.mkdirSync(`${upper}/etc`, { recursive: true });
    Deno.writeTextFileSync(`${upper}/etc/passwd`, "root\napp\n");
    Deno.writeTextFileSync(`${upper}/etc/new`, "x");
    Deno.writeTextFileSync(`${upper}/etc/hosts`, "");
    Deno.mkdirSync(`${upper}/data/sub`, { recursive: true });
    Deno.writeTextFileSync(`${upper}/data/sub/f`, "");
    // /usr/share copied up (overlay keeps the times) for a mount point below it: not a change.
    Deno.mkdirSync(`${upper}/usr/share/mnt`, { recursive: true });
    Deno.utimeSync(`${upper}/usr`, t, t);
    Deno.mkdirSync(`${upper}/vol`);
    const skip = new Set(["/etc/hosts", "/vol", "/usr/share/mnt"]);
    assert.deepEqual(upperChanges(upper, [lower], skip).map((c) => `${c.kind} ${c.path}`), [
      "A /data",
      "A /data/sub",
      "A /data/sub/f",
      "C /etc",
      "A /etc/new",
      "C /etc/passwd",
    ]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

function container(over: Partial<ContainerState> = {}): ContainerState {
  return {
    id: "ab".repeat(32),
    name: "web",
    pid: 0,
    startTime: 0,
    status: "exited",
    created: "2024-01-01T00:00:00Z",
    image: "busybox",
    command: ["/entry", "sh", "-c", "echo hi"],
    dir: "/nowhere",
    cgroups: [],
    cgroupPaths: {},
    config: {
      process: {
        args: ["/entry", "sh", "-c", "echo hi"],
        env: ["PATH=/bin", "HOSTNAME=abc", "HOME=/root", "A=1"],
        cwd: "/srv",
      },
    } as unknown as ContainerState["config"],
    labels: { l: "v" },
    ports: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    ...over,
  };
}

Deno.test("commitConfig(): the base image's config with what the container ran with, one history entry", () => {
  const base = {
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/bin"], Entrypoint: ["/entry"], Cmd: ["sh"], Labels: { base: "1" } },
    rootfs: { type: "layers" as const, diff_ids: [`sha256:${"1".repeat(64)}`] },
    history: [{ created_by: "base" }],
  };
  const c = commitConfig(base, container(), {
    author: "me",
    message: "msg",
    changes: ['ENV B="$A-2"', "EXPOSE 9000/udp", 'CMD ["run"]'],
    created: "2024-02-02T00:00:00Z",
    diffId: `sha256:${"2".repeat(64)}`,
  });
  assert.deepEqual(c.config.Entrypoint, ["/entry"]);
  assert.deepEqual(c.config.Cmd, ["run"]);
  assert.deepEqual(c.config.Env, ["PATH=/bin", "A=1", "B=1-2"]);
  assert.equal(c.config.WorkingDir, "/srv");
  assert.deepEqual(c.config.Labels, { base: "1", l: "v" });
  assert.deepEqual(Object.keys(c.config.ExposedPorts ?? {}).sort(), ["80/tcp", "9000/udp"]);
  assert.deepEqual(c.rootfs.diff_ids.length, 2);
  assert.deepEqual(c.history, [
    { created_by: "base" },
    {
      created: "2024-02-02T00:00:00Z",
      created_by: "/entry sh -c echo hi",
      author: "me",
      comment: "msg",
    },
  ]);
  assert.equal(c.author, "me");
  // No change at all: an empty layer, recorded as such.
  const empty = commitConfig(base, container(), { created: "2024-02-02T00:00:00Z" });
  assert.equal(empty.rootfs.diff_ids.length, 1);
  assert.equal(empty.history.at(-1)?.empty_layer, true);
});

Deno.test("applyChanges() takes docker's change instructions and refuses the others", () => {
  const cfg: BuildImageConfig = {
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: [] },
    history: [],
  };
  const out = applyChanges(cfg, [
    "USER app",
    "WORKDIR /w",
    "LABEL a=b",
    "STOPSIGNAL SIGINT",
    "VOLUME /v",
  ]);
  assert.equal(out.config.User, "app");
  assert.equal(out.config.WorkingDir, "/w");
  assert.deepEqual(out.config.Labels, { a: "b" });
  assert.equal(out.config.StopSignal, "SIGINT");
  assert.deepEqual(out.config.Volumes, { "/v": {} });
  assert.deepEqual(out.history, []);
  assert.throws(() => applyChanges(cfg, ["RUN rm -rf /"]), /RUN is not a valid change command/);
});

Deno.test("updateRequest(): docker update's flags as limits, checked against the recorded ones", () => {
  assert.deepEqual(updateRequest({ memory: "64m", "memory-swap": "128m" }), {
    limits: { memory: 64 << 20, memorySwap: 128 << 20 },
  });
  assert.deepEqual(updateRequest({ cpus: "0.5", "pids-limit": "-1", restart: "on-failure:3" }), {
    limits: { cpuQuota: 50000, cpuPeriod: 100000, pidsLimit: null },
    restart: { name: "on-failure", maxRetries: 3 },
  });
  assert.deepEqual(updateRequest({ "cpu-quota": "20000" }, { cpuPeriod: 50000 }), {
    limits: { cpuQuota: 20000, cpuPeriod: 50000 },
  });
  assert.deepEqual(updateRequest({ "blkio-weight": "300", "cpuset-cpus": "0" }).limits, {
    blkioWeight: 300,
    cpusetCpus: "0",
  });
  assert.throws(() => updateRequest({ memory: "1m" }), UsageError);
  assert.throws(() => updateRequest({ "memory-swap": "1g" }), /Memory limit/);
  assert.throws(
    () => updateRequest({ memory: "1g" }, { memory: 64 << 20, memorySwap: 128 << 20 }),
    /memoryswap/,
  );
  assert.throws(() => updateRequest({ cpus: "1", "cpu-quota": "1000" }), /Conflicting/);
  assert.throws(() => updateRequest({ "cpu-period": "10" }), UsageError);
  assert.throws(() => updateRequest({ "blkio-weight": "5" }), /10 to 1000/);
  assert.throws(() => updateRequest({ restart: "sometimes" }), UsageError);
});

Deno.test("completion: every command of the table, with its options; the bash script completes them", async () => {
  const table = await completionTable(allCommands());
  for (const c of COMMANDS.filter((c) => !c.hidden)) {
    assert.ok(table.some((e) => e.path === c.name), c.name);
  }
  const ps = table.find((e) => e.path === "ps")!;
  assert.ok(
    ps.flags.includes("--filter") && ps.flags.includes("-f") && ps.valueFlags.includes("--format"),
  );
  assert.deepEqual(
    table.find((e) => e.path === "container")!.subcommands.some((s) => s.name === "ls"),
    true,
  );
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/ctr.bash`, bashScript(table, COMMANDS));
    Deno.writeTextFileSync(
      `${dir}/t.sh`,
      `source ${dir}/ctr.bash
t() { COMP_WORDS=("$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _ctr; echo "\${COMPREPLY[*]}"; }
t ctr con
t ctr container l
t ctr ps --f
t ctr update --mem
t ctr completion z
`,
    );
    const out = new Deno.Command("bash", { args: [`${dir}/t.sh`] }).outputSync();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.deepEqual(new TextDecoder().decode(out.stdout).split("\n").slice(0, 5), [
      "container",
      "logs ls",
      "--filter --format",
      "--memory --memory-reservation --memory-swap",
      "zsh",
    ]);
    const zsh = zshScript(table, COMMANDS);
    assert.match(zsh, /^#compdef ctr/);
    assert.match(zsh, /compdef _ctr ctr/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
