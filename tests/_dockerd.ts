/**
 * A private dockerd for the tests that run docker beside ctr: its own data
 * root, exec root, pid file and socket in a temporary directory, no bridge,
 * no iptables rules, vfs storage; stopped with every container it ran and
 * every mount below its directory gone.
 */
import assert from "node:assert/strict";
import { tempDir } from "./_helpers.ts";

const dec = new TextDecoder();

/** Whether a command answers `--version` (it is installed). */
export function installed(cmd: string): boolean {
  try {
    return new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** A dockerd started by a test, and the docker client that talks to it. */
export class Dockerd {
  private constructor(
    readonly dir: string,
    readonly proc: Deno.ChildProcess,
    readonly docker: string,
  ) {}

  /** Starts dockerd (`extraArgs` after the private ones) and waits until it answers. */
  static async start(
    o: { docker?: string; dockerd?: string; extraArgs?: readonly string[] } = {},
  ): Promise<Dockerd> {
    const dir = tempDir();
    const proc = new Deno.Command(o.dockerd ?? "dockerd", {
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
        "--log-level",
        "error",
        ...(o.extraArgs ?? []),
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const d = new Dockerd(dir, proc, o.docker ?? "docker");
    const end = Date.now() + 60_000;
    while ((await d.run(["version"])).code !== 0) {
      if (Date.now() > end) {
        await d.stop();
        throw new Error("dockerd did not start within 60 s");
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return d;
  }

  /** Runs the docker client against this daemon. */
  async run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const out = await new Deno.Command(this.docker, {
      args: ["-H", `unix://${this.dir}/docker.sock`, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  /** Runs the client and fails the test unless it succeeds; returns stdout. */
  async ok(args: string[]): Promise<string> {
    const r = await this.run(args);
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  /** Removes its containers, stops the daemon and unmounts what it left below its directory. */
  async stop(): Promise<void> {
    const ids = (await this.run(["ps", "-aq"]).catch(() => ({ stdout: "" }))).stdout.split("\n")
      .filter(Boolean);
    if (ids.length) await this.run(["rm", "-f", ...ids]).catch(() => {});
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
    const points = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
      .map((l) => l.split(" ")[4]).filter((p) =>
        p && (p === this.dir || p.startsWith(this.dir + "/"))
      )
      .sort((a, b) => b.length - a.length);
    for (const p of points) await new Deno.Command("umount", { args: ["-l", p] }).output();
  }
}
