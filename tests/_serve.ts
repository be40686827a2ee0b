/**
 * `ctr serve` for tests: a server on a temporary store, state directory and
 * socket, Debian's docker CLI pointed at it, raw requests, and whether
 * Debian's Python SDK is there.
 */
import { ctrSpawn, tempDir, tempStore } from "./_helpers.ts";

const dec = new TextDecoder();
/** Debian's docker CLI. */
export const CLIENT = "/usr/bin/docker";
/** Debian's python3, where python3-docker puts the SDK. */
export const PYTHON = "/usr/bin/python3";

/** Whether the Python SDK imports. */
export function hasPythonSdk(): boolean {
  try {
    return new Deno.Command(PYTHON, { args: ["-c", "import docker"], stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** A server on a temporary store, state directory and socket (or on those of an earlier one). */
export async function startServer(on?: { store: string; state: string }) {
  const store = on?.store ?? tempStore();
  const state = on?.state ?? tempDir();
  const sock = `${state}/docker.sock`;
  const proc = ctrSpawn(["--root", store, "--state-dir", state, "serve", "-H", `unix://${sock}`]);
  for (let i = 0; i < 200; i++) {
    try {
      if (Deno.statSync(sock).isSocket) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  const docker = async (args: string[], stdin?: string) => {
    const child = new Deno.Command(CLIENT, {
      args,
      env: { DOCKER_HOST: `unix://${sock}` },
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin));
      await w.close();
    }
    const out = await child.output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  const stop = async () => {
    proc.kill("SIGTERM");
    const st = await proc.output();
    return st.code;
  };
  return { store, state, sock, proc, docker, stop };
}

/** A raw request on the socket; the answer's status line. */
export async function raw(sock: string, bytes: Uint8Array): Promise<string> {
  const c = await Deno.connect({ transport: "unix", path: sock });
  try {
    await c.write(bytes).catch(() => 0);
    const buf = new Uint8Array(4096);
    const n = await c.read(buf);
    return n === null ? "" : dec.decode(buf.subarray(0, n)).split("\r\n")[0];
  } finally {
    c.close();
  }
}

/** A server startServer() started. */
export type Server = Awaited<ReturnType<typeof startServer>>;

/** Runs `docker ARGS` against the server and fails the test unless it succeeds; its stdout. */
export async function dockerOk(s: Server, args: string[], stdin?: string): Promise<string> {
  const r = await s.docker(args, stdin);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Runs a Python script (the SDK's) with Debian's python3; its exit, stdout lines and stderr. */
export async function runPython(
  script: string,
): Promise<{ success: boolean; lines: string[]; stderr: string }> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    success: out.success,
    lines: dec.decode(out.stdout).trim().split("\n"),
    stderr: dec.decode(out.stderr),
  };
}
