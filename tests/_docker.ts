/**
 * A private dockerd for tests (Debian's docker.io): its own data root, exec
 * root and socket in a temporary directory, no bridge, no iptables rules,
 * vfs storage, cgroupfs; stopped with everything it mounted unmounted.
 */
import { tempDir } from "./_helpers.ts";

const dec = new TextDecoder();

function has(cmd: string): boolean {
  try {
    return new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Unmounts whatever is mounted below `dir`, deepest first. */
async function unmountBelow(dir: string): Promise<void> {
  const points = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" ")[4]).filter((p) => p && (p === dir || p.startsWith(dir + "/")))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await new Deno.Command("umount", { args: ["-l", p] }).output();
}

/** A dockerd of its own: data, exec root and socket in a temporary directory. */
export class Docker {
  private constructor(readonly dir: string, readonly proc: Deno.ChildProcess) {}

  /** Starts dockerd; `runtimes` are added with --add-runtime NAME=PATH. */
  static async start(opts: { runtimes?: Readonly<Record<string, string>> } = {}): Promise<Docker> {
    const dir = tempDir();
    const proc = new Deno.Command("dockerd", {
      args: [
        "--data-root",
        `${dir}/data`,
        "--exec-root",
        `${dir}/exec`,
        "--pidfile",
        `${dir}/docker.pid`,
        "-H",
        `unix://${dir}/docker.sock`,
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--bridge=none",
        "--storage-driver=vfs",
        "--exec-opt",
        "native.cgroupdriver=cgroupfs",
        ...Object.entries(opts.runtimes ?? {}).flatMap(([n, p]) => ["--add-runtime", `${n}=${p}`]),
        "--log-level",
        "error",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const d = new Docker(dir, proc);
    const end = Date.now() + 60_000;
    for (;;) {
      if ((await d.run(["version"])).code === 0) break;
      if (Date.now() > end) {
        await d.stop();
        throw new Error("dockerd did not start within 60 s");
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return d;
  }

  /** Runs the docker CLI against this dockerd. */
  async run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const out = await new Deno.Command("docker", {
      args: ["-H", `unix://${this.dir}/docker.sock`, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  /** Removes its containers, stops it and unmounts what it left. */
  async stop(): Promise<void> {
    await this.run([
      "rm",
      "-f",
      ...(await this.run(["ps", "-aq"])).stdout.split("\n")
        .filter(Boolean),
    ]).catch(() => {});
    try {
      this.proc.kill("SIGTERM");
    } catch { /* gone */ }
    const done = this.proc.output();
    const t = setTimeout(() => {
      try {
        this.proc.kill("SIGKILL");
      } catch { /* gone */ }
    }, 20_000);
    await done;
    clearTimeout(t);
    await unmountBelow(this.dir);
  }
}

/** Whether dockerd and the docker CLI are installed. */
export function hasDocker(): boolean {
  return has("dockerd") && has("docker");
}
