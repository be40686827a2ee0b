/**
 * Debian's docker-registry for tests: on 127.0.0.1 at a free port, its
 * storage and log in a temporary directory.
 */
import { tempDir } from "./_helpers.ts";

/** Where a command is on PATH, if it is. */
export function which(cmd: string): string | undefined {
  for (const d of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      if (Deno.statSync(`${d}/${cmd}`).isFile) return `${d}/${cmd}`;
    } catch { /* not here */ }
  }
  return undefined;
}

/** A free TCP port on 127.0.0.1 (free when asked). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A docker-registry on 127.0.0.1. */
export interface Registry {
  /** `127.0.0.1:PORT`. */
  readonly domain: string;
  /** Its storage directory. */
  readonly storage: string;
  stop(): Promise<void>;
}

/** Starts a docker-registry on 127.0.0.1 (`auth`: its config's auth section, YAML). */
export async function startRegistry(auth = ""): Promise<Registry> {
  const dir = tempDir();
  const port = freePort();
  const storage = `${dir}/storage`;
  Deno.writeTextFileSync(
    `${dir}/config.yml`,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${storage}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      auth,
    ].join("\n"),
  );
  const proc = new Deno.Command("bash", {
    args: [
      "-c",
      'exec "$1" serve "$2" >"$3" 2>&1',
      "bash",
      which("docker-registry")!,
      `${dir}/config.yml`,
      `${dir}/log`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = proc.status.then((s) => (exited = true, s));
  const stop = async () => {
    try {
      proc.kill("SIGTERM");
    } catch { /* already gone */ }
    await status;
  };
  const end = Date.now() + 15000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.body?.cancel();
      break;
    } catch { /* not listening yet */ }
    if (exited || Date.now() > end) {
      await stop();
      throw new Error(`docker-registry did not start: ${Deno.readTextFileSync(`${dir}/log`)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { domain: `127.0.0.1:${port}`, storage, stop };
}
