/**
 * A private dockerd for tests (root): Debian's docker.io started with its own
 * data root, exec root and socket, no bridge and no iptables rules, so that
 * it touches nothing of the host's and leaves nothing behind. Tests that
 * compare ctr with docker, and those that drive ctr as docker's OCI runtime,
 * start one. The client is Debian's /usr/bin/docker (20.10, the reference)
 * when it is there.
 */
import { busyboxImageTar, tempDir } from "./_helpers.ts";

const dec = new TextDecoder();

function has(cmd: string): boolean {
  try {
    return new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** The docker client: Debian's when installed. */
const CLIENT = has("/usr/bin/docker") ? "/usr/bin/docker" : "docker";

/** Whether dockerd and a docker client are installed. */
export const DOCKER = has("dockerd") && has(CLIENT);

/** Unmounts whatever is mounted below `dir`, deepest first. */
async function unmountBelow(dir: string): Promise<void> {
  const points = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" ")[4]).filter((p) => p && (p === dir || p.startsWith(dir + "/")))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await new Deno.Command("umount", { args: ["-l", p] }).output();
}

/** A dockerd of the test's own. */
export class Docker {
  private constructor(readonly dir: string, readonly proc: Deno.ChildProcess) {}

  /** Starts one (`extra`: more dockerd options, such as --add-runtime); waits until it answers. */
  static async start(extra: readonly string[] = []): Promise<Docker> {
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
        ...extra,
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

  /** Runs the docker client against it. */
  async run(
    args: string[],
    opts: { stdin?: string; env?: Record<string, string> } = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const child = new Deno.Command(CLIENT, {
      args: ["-H", `unix://${this.dir}/docker.sock`, ...args],
      env: opts.env,
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (opts.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(opts.stdin));
      await w.close();
    }
    const out = await child.output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  /** Runs the client and fails the test unless it succeeds; returns stdout. */
  async ok(args: string[]): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw new Error(`docker ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Loads the busybox image of scripts/busybox_image.sh (busybox:latest). */
  async loadBusybox(): Promise<void> {
    const tar = await busyboxImageTar();
    const load = await this.run(["load", "-i", tar]);
    if (load.code !== 0) throw new Error(`docker load: ${load.stderr}`);
  }

  /** Removes its containers, stops it, and unmounts what it left. */
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

/** Whether dockerd and a docker client are installed. */
export function hasDocker(): boolean {
  return DOCKER;
}
