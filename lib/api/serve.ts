/**
 * `ctr serve`: the Docker Engine API on a unix socket, for docker's CLI, its
 * SDKs and compose (DOCKER_HOST=unix://PATH). It keeps no state of its own:
 * containers are those of the state directory, whoever started them (the
 * command line, an earlier server), and they run on when it stops.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "../cli/args.ts";
import { API_VERSION, EngineApi } from "./engine.ts";
import { serveConn } from "./http.ts";

/** The options of `ctr serve`. */
export const SERVE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "host",
    short: "H",
    type: "string",
    arg: "SOCKET",
    help: "unix://PATH to listen on (default unix:///run/ctr/docker.sock)",
  },
  {
    name: "group",
    short: "G",
    type: "string",
    arg: "GROUP",
    help: "Group that may use the socket besides root (mode 0660)",
  },
  { name: "help", type: "bool", help: "Print usage" },
];

const usage = () =>
  `Usage: ctr serve [OPTIONS]

Serve the Docker Engine API (v1.41) on a unix socket: docker's CLI, SDKs and
compose drive ctr through it (DOCKER_HOST=unix://PATH). SIGTERM or SIGINT stop
the server; containers keep running.

Options:
${optionsHelp(SERVE_OPTIONS)}`;

/** Bodies above this (an image archive on `load`) are refused with 413. */
const MAX_BODY = 4 * 1024 ** 3;

/** Runs `ctr serve` until SIGTERM or SIGINT. */
export async function serveCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, SERVE_OPTIONS);
  if (opts.help) {
    console.log(usage());
    return 0;
  }
  if (positionals.length) throw new UsageError(`"ctr serve" takes no arguments`);
  const host = (opts.host as string | undefined) ?? "unix:///run/ctr/docker.sock";
  if (!host.startsWith("unix://")) {
    throw new UsageError(`-H ${host}: ctr serves on unix sockets only (unix:///PATH)`);
  }
  const path = host.slice("unix://".length);
  if (!path.startsWith("/")) throw new UsageError(`-H ${host}: the socket's path must be absolute`);
  let gid: number | undefined;
  const group = opts.group as string | undefined;
  if (group !== undefined) {
    gid = groupId(group);
    if (gid === undefined) throw new UsageError(`--group ${group}: no such group`);
  }
  try {
    if (Deno.lstatSync(path).isSocket) Deno.removeSync(path); // a stale socket of a server gone
  } catch { /* none */ }
  const listener = Deno.listen({ transport: "unix", path });
  Deno.chmodSync(path, 0o660);
  if (gid !== undefined) Deno.chownSync(path, 0, gid);
  // Containers are set up for many clients at once: no child's setup stops the event loop.
  (await import("../runtime/spawn.ts")).waitOffThread();
  const api = new EngineApi(g);
  // What ended while no server ran (a container that removes itself included) is finished now.
  const { reconcile } = await import("../engine/lifecycle.ts");
  const { StateDir } = await import("../engine/state.ts");
  await reconcile(new StateDir(g.stateDir)).catch((e) =>
    console.error(`ctr serve: warning: ${(e as Error).message}`)
  );
  const log = g.logLevel === "debug" || g.logLevel === "info"
    ? (l: string) => console.error(`ctr serve: ${l}`)
    : undefined;
  console.error(`ctr serve: API ${API_VERSION} on ${host}`);
  const stop = () => {
    try {
      listener.close();
    } catch { /* closed */ }
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  try {
    for await (const conn of listener) {
      serveConn(conn, (req, res) => api.handle(req, res), { maxBody: MAX_BODY, log });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  } finally {
    try {
      Deno.removeSync(path);
    } catch { /* gone */ }
  }
  return 0;
}

/** A group's id from /etc/group, or a number as it is. */
function groupId(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    for (const l of Deno.readTextFileSync("/etc/group").split("\n")) {
      const f = l.split(":");
      if (f[0] === name) return Number(f[2]);
    }
  } catch { /* no group file */ }
  return undefined;
}
