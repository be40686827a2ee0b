/**
 * containerd drives ctr as its OCI runtime (root), through the same shim
 * Kubernetes uses (io.containerd.runc.v2 with a BinaryName): Debian's
 * containerd 1.6, started by the test with its own root, state and sockets
 * in a temporary directory, the busybox image imported from a docker-save
 * archive, and its client `/usr/bin/ctr` (a different program from ours,
 * always called by its full path with `--address`) running `run --rm`,
 * `run -d` + `task exec` + `task kill` + `task rm`, `run -t` under script(1),
 * and a memory limit. With `CTR_CRI_TOOLS_SRC` naming a cri-tools v1.26
 * source tree (it builds with Debian's Go 1.19 from its vendor directory),
 * crictl drives runp, create, start, exec, stopp and rmp through
 * containerd's CRI with `runtime_handler: ctr`: the recipe docs/oci.md gives.
 * After each test nothing is left: no mount below the temporary directory,
 * no cgroup of the test's namespace, no container in the runtime's root, no
 * shim.
 */
import assert from "node:assert/strict";
import { hostCgroupLayout } from "../../lib/cgroups/mod.ts";
import { ociBinary, rootTest, tempDir } from "../_helpers.ts";

const dec = new TextDecoder();
const REPO = new URL("../..", import.meta.url).pathname;
/** containerd's client: NOT ctr's own `ctr`. */
const CTR_CLIENT = "/usr/bin/ctr";
const IMAGE = "docker.io/library/busybox:latest";
const PAUSE = "localhost/ctr-pause:test";

function works(cmd: string, args: string[]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

const HAVE_CONTAINERD = works("containerd", ["--version"]) && works(CTR_CLIENT, ["--version"]);

/** A command's result. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], env?: Record<string, string>): Promise<Ran> {
  const out = await new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

let images: Promise<{ busybox: string; pause: string }> | undefined;

/** The docker-save archives of the busybox image and of a pod sandbox ("pause") image, made once. */
function imageArchives(): Promise<{ busybox: string; pause: string }> {
  images ??= (async () => {
    const dir = tempDir();
    const make = async (out: string, extra: string[]) => {
      const r = await run("bash", [`${REPO}scripts/busybox_image.sh`, out, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      return out;
    };
    return {
      busybox: await make(`${dir}/busybox.tar`, []),
      pause: await make(`${dir}/pause.tar`, ["--tag", PAUSE, "--cmd", '["sleep","2147483647"]']),
    };
  })();
  return images;
}

/** Where the runtime's shim finds ctr-oci, and the runtime's state root. */
interface Runtime {
  readonly binary: string;
  readonly root: string;
}

/**
 * containerd with a private root, state and sockets. `cri`: the CRI plugin
 * on, with a runtime handler `ctr` (the recipe of docs/oci.md); else off.
 */
class Containerd {
  private constructor(
    readonly dir: string,
    readonly proc: Deno.ChildProcess,
    readonly runtime: Runtime,
    /** A namespace of this test alone: its containers' cgroups are `/<ns>/<id>`. */
    readonly ns: string,
  ) {}

  get address(): string {
    return `${this.dir}/containerd.sock`;
  }

  static async start(opts: { cri?: boolean } = {}): Promise<Containerd> {
    const dir = tempDir();
    const runtime = { binary: ociBinary(), root: `${dir}/runc` };
    // Top-level keys come before the tables in TOML.
    const topLevel = opts.cri ? "" : `disabled_plugins = ["io.containerd.grpc.v1.cri"]`;
    const criTables = opts.cri
      ? `
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE}"
  # Root may lack CAP_SYS_RESOURCE: no score below containerd's own (-998 for sandboxes).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "ctr"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.ctr]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.ctr.options]
        BinaryName = "${runtime.binary}"
        Root = "${runtime.root}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni"
    conf_dir = "${dir}/cni"
`
      : "";
    Deno.mkdirSync(`${dir}/cni`);
    Deno.writeTextFileSync(
      `${dir}/config.toml`,
      `version = 2
root = "${dir}/root"
state = "${dir}/state"
${topLevel}
[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[debug]
  address = "${dir}/debug.sock"
${criTables}`,
    );
    const proc = new Deno.Command("containerd", {
      args: ["--config", `${dir}/config.toml`, "--log-level", "warn"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const d = new Containerd(dir, proc, runtime, `ctrtest-${crypto.randomUUID().slice(0, 8)}`);
    const end = Date.now() + 30_000;
    while ((await d.ctr(["version"])).code !== 0) {
      if (Date.now() > end) {
        await d.stop();
        throw new Error("containerd did not answer within 30 s");
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const archives = await imageArchives();
    for (const ns of [d.ns, ...(opts.cri ? ["k8s.io"] : [])]) {
      for (const tar of [archives.busybox, ...(opts.cri ? [archives.pause] : [])]) {
        const imp = await run(CTR_CLIENT, [
          "--address",
          d.address,
          "-n",
          ns,
          "images",
          "import",
          tar,
        ]);
        assert.equal(imp.code, 0, imp.stderr);
      }
    }
    return d;
  }

  /** containerd's client, in this test's namespace. */
  ctr(args: string[]): Promise<Ran> {
    return run(CTR_CLIENT, ["--address", this.address, "-n", this.ns, ...args]);
  }

  /** `ctr run` with ctr-oci as the runc binary of the io.containerd.runc.v2 shim. */
  runArgs(): string[] {
    return [
      "run",
      "--runc-binary",
      this.runtime.binary,
      "--runc-root",
      this.runtime.root,
      "--fifo-dir",
      `${this.dir}/fifo`,
    ];
  }

  /** Stops containerd (SIGTERM, then SIGKILL after 20 s). */
  async stop(): Promise<void> {
    try {
      this.proc.kill("SIGTERM");
    } catch { /* gone */ }
    const t = setTimeout(() => {
      try {
        this.proc.kill("SIGKILL");
      } catch { /* gone */ }
    }, 20_000);
    await this.proc.output();
    clearTimeout(t);
  }

  /** What the test left: mounts, cgroups of its namespace, runtime state, shims. */
  leftovers(extraCgroups: string[] = []): string[] {
    const out: string[] = [];
    for (const l of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
      const mp = l.split(" ")[4];
      if (mp?.startsWith(this.dir)) out.push(`mount ${mp}`);
    }
    const layout = hostCgroupLayout();
    const mounts = [
      ...(layout?.v1.map((h) => h.mountpoint) ?? []),
      ...(layout?.unified ? [layout.unified.mountpoint] : []),
    ];
    for (const m of mounts) {
      for (const c of [this.ns, ...extraCgroups]) {
        try {
          Deno.statSync(`${m}/${c}`);
          out.push(`cgroup ${m}/${c}`);
        } catch { /* gone, as it should be */ }
      }
    }
    try {
      for (const ns of Deno.readDirSync(this.runtime.root)) {
        for (const c of Deno.readDirSync(`${this.runtime.root}/${ns.name}`)) {
          out.push(`runtime state ${ns.name}/${c.name}`);
        }
      }
    } catch { /* no root: nothing ran */ }
    for (const p of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(p.name)) continue;
      try {
        const cmd = Deno.readTextFileSync(`/proc/${p.name}/cmdline`);
        if (cmd.includes(this.address) && cmd.includes("containerd-shim")) {
          out.push(`shim ${p.name}`);
        }
      } catch { /* ended */ }
    }
    return out;
  }
}

function containerdTest(name: string, fn: (d: Containerd) => Promise<void>) {
  if (!HAVE_CONTAINERD) {
    Deno.test({
      name: `${name} [skipped: Debian's containerd is not installed]`,
      ignore: true,
      fn() {},
    });
    return;
  }
  rootTest(name, async () => {
    const d = await Containerd.start();
    try {
      await fn(d);
    } finally {
      for (
        const id of (await d.ctr(["containers", "ls", "-q"])).stdout.split("\n").filter(Boolean)
      ) {
        await d.ctr(["task", "kill", "-s", "SIGKILL", id]);
        await d.ctr(["task", "rm", "-f", id]);
        await d.ctr(["containers", "rm", id]);
      }
      await d.stop();
    }
    assert.deepEqual(d.leftovers(), []);
  });
}

containerdTest("containerd: ctr run --rm prints and returns the exit code", async (d) => {
  const hi = await d.ctr([...d.runArgs(), "--rm", IMAGE, "r1", "echo", "hello from ctr"]);
  assert.equal(hi.code, 0, hi.stderr);
  assert.equal(hi.stdout, "hello from ctr\n");
  const code = await d.ctr([...d.runArgs(), "--rm", IMAGE, "r2", "sh", "-c", "exit 42"]);
  assert.equal(code.code, 42, code.stderr);
  assert.equal((await d.ctr(["containers", "ls", "-q"])).stdout, "");
});

containerdTest("containerd: ctr run -d, task exec, task kill, task rm", async (d) => {
  const bg = await d.ctr([...d.runArgs(), "-d", IMAGE, "svc", "sleep", "1000"]);
  assert.equal(bg.code, 0, bg.stderr);
  assert.match((await d.ctr(["task", "ls"])).stdout, /^svc\s+\d+\s+RUNNING$/m);
  const ex = await d.ctr([
    "task",
    "exec",
    "--exec-id",
    "e1",
    "svc",
    "sh",
    "-c",
    "echo in-exec; ps -o pid,args; exit 3",
  ]);
  assert.equal(ex.code, 3, ex.stderr);
  assert.match(ex.stdout, /^in-exec$/m);
  assert.match(ex.stdout, /^\s*1 sleep 1000$/m);
  // The container's own cgroup, where containerd put it: /<namespace>/<id>.
  const pid = Number((await d.ctr(["task", "ls"])).stdout.match(/^svc\s+(\d+)/m)![1]);
  assert.match(Deno.readTextFileSync(`/proc/${pid}/cgroup`), new RegExp(`:/${d.ns}/svc$`, "m"));
  // sleep as PID 1 ignores SIGTERM, as it would under runc: SIGKILL ends it.
  assert.equal((await d.ctr(["task", "kill", "-s", "SIGKILL", "svc"])).code, 0);
  const end = Date.now() + 10_000;
  while (!/^svc\s+\d+\s+STOPPED$/m.test((await d.ctr(["task", "ls"])).stdout)) {
    assert.ok(Date.now() < end, "the task did not stop");
    await new Promise((r) => setTimeout(r, 100));
  }
  const rm = await d.ctr(["task", "rm", "svc"]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal((await d.ctr(["containers", "rm", "svc"])).code, 0);
});

containerdTest("containerd: ctr run -t gets a terminal through the console socket", async (d) => {
  const line = [CTR_CLIENT, "--address", d.address, "-n", d.ns, ...d.runArgs(), "-t", "--rm"]
    .concat([IMAGE, "t1", "sh", "-c", "tty; exit 3"]).map((a) => `'${a}'`).join(" ");
  const out = await run("script", ["-qec", line, "/dev/null"]);
  assert.match(out.stdout, /\/dev\/pts\/0/);
  assert.equal(out.code, 3, out.stdout);
});

containerdTest(
  "containerd: a memory limit is the container's cgroup's, and the OOM killer holds to it",
  async (d) => {
    const bg = await d.ctr([
      ...d.runArgs(),
      "-d",
      "--memory-limit",
      String(64 << 20),
      IMAGE,
      "m1",
      "sleep",
      "1000",
    ]);
    assert.equal(bg.code, 0, bg.stderr);
    const layout = hostCgroupLayout()!;
    const file = layout.version === "v2"
      ? `${layout.unified!.mountpoint}/${d.ns}/m1/memory.max`
      : `${
        layout.v1.find((h) => h.controllers.includes("memory"))!.mountpoint
      }/${d.ns}/m1/memory.limit_in_bytes`;
    assert.equal(Deno.readTextFileSync(file).trim(), String(64 << 20));
    await d.ctr(["task", "kill", "-s", "SIGKILL", "m1"]);
    // 64 MiB in a shell variable, under a 16 MiB limit: killed (137).
    const oom = await d.ctr([
      ...d.runArgs(),
      "--rm",
      "--memory-limit",
      String(16 << 20),
      IMAGE,
      "m2",
      "sh",
      "-c",
      `x=$(head -c ${64 << 20} /dev/zero | tr '\\0' a); echo survived`,
    ]);
    assert.equal(oom.code, 137, oom.stdout + oom.stderr);
    assert.doesNotMatch(oom.stdout, /survived/);
  },
);

/** crictl, built from the cri-tools source `CTR_CRI_TOOLS_SRC` names (once: the build is kept). */
async function crictl(): Promise<string | undefined> {
  const src = Deno.env.get("CTR_CRI_TOOLS_SRC");
  if (!src || !works("go", ["version"])) return undefined;
  const out = "/tmp/ctr-test-crictl";
  const bin = `${out}/crictl`;
  try {
    if (Deno.statSync(bin).mtime! > Deno.statSync(`${src}/go.mod`).mtime!) return bin;
  } catch { /* not built yet */ }
  Deno.mkdirSync(out, { recursive: true });
  const r = await new Deno.Command("go", {
    args: ["build", "-mod=vendor", "-o", bin, "./cmd/crictl"],
    cwd: src,
    env: { GOCACHE: `${out}/gocache`, GOPATH: `${out}/gopath`, GOPROXY: "off", CGO_ENABLED: "0" },
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(r.success, `building crictl from ${src}: ${dec.decode(r.stderr)}`);
  return bin;
}

if (!HAVE_CONTAINERD || !Deno.env.get("CTR_CRI_TOOLS_SRC")) {
  Deno.test({
    name: "containerd CRI: runp, create, start, exec, stopp, rmp with runtime_handler ctr " +
      (HAVE_CONTAINERD
        ? "[skipped: CTR_CRI_TOOLS_SRC does not name a cri-tools v1.26 source tree to build crictl]"
        : "[skipped: Debian's containerd is not installed]"),
    ignore: true,
    fn() {},
  });
} else {
  rootTest(
    "containerd CRI: runp, create, start, exec, stopp, rmp with runtime_handler ctr",
    async () => {
      const bin = await crictl();
      assert.ok(bin, "go is not installed");
      const d = await Containerd.start({ cri: true });
      const dir = tempDir();
      const parent = `ctrtest-pod-${crypto.randomUUID().slice(0, 8)}`;
      const cri = (args: string[]) =>
        run(bin, [
          "--runtime-endpoint",
          `unix://${d.address}`,
          "--image-endpoint",
          `unix://${d.address}`,
          "--timeout",
          "60s",
          ...args,
        ]);
      let pod = "";
      try {
        // A host-network pod (there is no CNI here); its containers share the sandbox's pid namespace.
        Deno.writeTextFileSync(
          `${dir}/pod.json`,
          JSON.stringify({
            metadata: { name: "ctrpod", namespace: "default", uid: "ctrpod-uid", attempt: 0 },
            log_directory: `${dir}/logs`,
            linux: {
              cgroup_parent: `/${parent}`,
              security_context: { namespace_options: { network: 2, pid: 0 } },
            },
          }),
        );
        Deno.writeTextFileSync(
          `${dir}/box.json`,
          JSON.stringify({
            metadata: { name: "box" },
            image: { image: IMAGE },
            command: ["sh", "-c", "echo started; exec sleep 1000"],
            log_path: "box.log",
            linux: {},
          }),
        );
        const runp = await cri(["runp", "--runtime", "ctr", `${dir}/pod.json`]);
        assert.equal(runp.code, 0, runp.stderr);
        pod = runp.stdout.trim();
        const create = await cri(["create", pod, `${dir}/box.json`, `${dir}/pod.json`]);
        assert.equal(create.code, 0, create.stderr);
        const box = create.stdout.trim();
        assert.equal((await cri(["start", box])).code, 0);
        const ex = await cri(["exec", box, "sh", "-c", "echo in-exec; ps -o pid,args"]);
        assert.equal(ex.code, 0, ex.stderr);
        assert.match(ex.stdout, /^in-exec$/m);
        // PID 1 is the sandbox's: the container joined its pid namespace by path.
        assert.match(ex.stdout, /^\s*1 sleep 2147483647$/m);
        assert.match(ex.stdout, /^\s*\d+ sleep 1000$/m);
        assert.match(Deno.readTextFileSync(`${dir}/logs/box.log`), / stdout F started$/m);
        const stopp = await cri(["stopp", pod]);
        assert.equal(stopp.code, 0, stopp.stderr);
        const rmp = await cri(["rmp", pod]);
        assert.equal(rmp.code, 0, rmp.stderr);
        pod = "";
        assert.equal((await cri(["pods", "-q"])).stdout.trim(), "");
      } finally {
        if (pod) await cri(["rmp", "-f", pod]);
        await d.stop();
      }
      assert.deepEqual(d.leftovers([parent]), []);
    },
  );
}
