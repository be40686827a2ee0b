/**
 * ctr: the command line. Parses global options and dispatches to a command;
 * the kernel work lives in lib/ and ffi/.
 * @module
 */

import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./lib/cli/args.ts";
import { VERSION } from "./lib/version.ts";
import { trace, traceOn } from "./lib/trace.ts";
import type { Globals } from "./lib/engine/globals.ts";

const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    name: "root",
    type: "string",
    arg: "DIR",
    help: "Store of containers and images (default /var/lib/ctr; rootless: ~/.local/share/ctr)",
  },
  {
    name: "state-dir",
    type: "string",
    arg: "DIR",
    help: "Runtime state (default /run/ctr; rootless: $XDG_RUNTIME_DIR/ctr)",
  },
  {
    name: "log-level",
    type: "string",
    arg: "LEVEL",
    help: "error, warn, info or debug (default warn; debug traces a run)",
  },
  { name: "help", type: "bool", help: "Print usage" },
  { name: "version", short: "v", type: "bool", help: "Print the version" },
];

const USAGE = `Usage: ctr [OPTIONS] COMMAND

A container runtime: namespaces, cgroups and copy-on-write root filesystems.

Commands:
  run       Run a command in a new container (from an image or a root filesystem)
  build     Build an image from a Dockerfile
  history   Show the history of an image
  builder   Build cache: prune
  create    Create a new container ('ctr start' starts it)
  attach    Attach this terminal to a running detached container
  images    List images
  pull      Pull an image from a registry
  push      Push an image to a registry
  login     Log in to a registry
  logout    Log out from a registry
  load      Load images from a docker-save/OCI archive or an OCI layout
  save      Save images to an archive
  tag       Give an image another name
  rmi       Remove images
  image     Image commands: ls, inspect, rm, prune, load, save, tag, pull, push
  ps        List containers
  start     Start stopped containers again (detached, on their kept changes)
  stop      Stop containers (SIGTERM, then SIGKILL after -t seconds)
  restart   Stop and start containers
  kill      Send a signal to containers (default SIGKILL)
  wait      Wait for containers to end; print their exit codes
  rm        Remove stopped containers (-f: running ones too)
  container Container commands: ls, rm, inspect, prune, and the others above
  logs      Show the output of a detached container (-f follows it)
  inspect   Show containers' details as JSON (-f TEMPLATE picks fields)
  exec      Run a command in a running container
  top       Show the processes of a container
  port      Show a container's published ports
  stats     Show containers' CPU, memory, block I/O and pids (--no-stream: once)
  pause     Freeze every process of a container
  unpause   Thaw a paused container
  up        Start the containers and networks of a YAML spec (-f FILE)
  down      Stop and remove what 'up' started (-f FILE)
  network   Networks: create, ls, inspect, rm, prune
  volume    Named volumes: create, ls, inspect, rm, prune
  system    prune: stopped containers, unused networks and images, crash leftovers
  enter     Run a command in the namespaces of a process (like nsenter)
  oci       The OCI runtime (runc's command line on bundles; see 'ctr oci --help')
  ns        List the namespaces of processes; pin or unpin one
  version   Show the version of ctr and the Deno it carries

Global options:
${optionsHelp(GLOBAL_OPTIONS)}

Run 'ctr COMMAND --help' for more on a command.`;

/**
 * A directory given relative to the current one, made absolute: containers
 * name their layers and files by absolute paths (a relative one would be read
 * from wherever their process stands).
 */
function absolute(dir: string): string {
  return dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`;
}

async function dispatch(argv: readonly string[]): Promise<number> {
  trace("main");
  const { opts, positionals } = parseArgs(argv, GLOBAL_OPTIONS, { stopAfterPositionals: 1 });
  if (opts.version) {
    console.log(`ctr version ${VERSION}`);
    return 0;
  }
  const [cmd, ...rest] = positionals;
  if (cmd === "__userns") {
    // Run by a rootless ctr as root of a user namespace made for it: no globals, no store.
    return (await import("./lib/engine/rootless.ts")).usernsHelperMain(rest);
  }
  if (opts.help || cmd === undefined || cmd === "help") {
    console.log(USAGE);
    return cmd === undefined && !opts.help ? 125 : 0;
  }
  const logLevel = (opts["log-level"] as string | undefined) ?? "warn";
  if (!["error", "warn", "info", "debug"].includes(logLevel)) {
    throw new UsageError(`invalid --log-level ${JSON.stringify(logLevel)}`);
  }
  if (logLevel === "debug") traceOn();
  const root = opts.root as string | undefined;
  const stateDir = opts["state-dir"] as string | undefined;
  const globals: Globals = Deno.uid() === 0
    ? {
      root: absolute(root ?? "/var/lib/ctr").replace(/\/+$/, "") || "/",
      stateDir: absolute(stateDir ?? "/run/ctr"),
      logLevel,
    }
    : await rootlessGlobals(
      root === undefined ? undefined : absolute(root),
      stateDir === undefined ? undefined : absolute(stateDir),
      logLevel,
      !NO_STORE.has(cmd),
    );
  return await command(cmd, rest, globals);
}

/**
 * A user other than root runs rootless: the store and state are the user's
 * own (--root and --state-dir still win), and a helper in a user namespace
 * does what needs the user's subordinate ids.
 */
async function rootlessGlobals(
  root: string | undefined,
  stateDir: string | undefined,
  logLevel: string,
  prepare: boolean,
): Promise<Globals> {
  const r = await import("./lib/engine/rootless.ts");
  const uid = Deno.uid()!;
  const env = Deno.env.toObject();
  const defaults = root !== undefined && stateDir !== undefined
    ? { root, stateDir }
    : r.rootlessPaths(env, { uid, home: r.homeOf(uid, env) });
  const paths = {
    root: (root ?? defaults.root).replace(/\/+$/, "") || "/",
    stateDir: stateDir ?? defaults.stateDir,
  };
  if (!prepare) return { ...paths, logLevel, rootless: true };
  r.prepareRootlessDirs(paths, uid);
  const { selfCommand } = await import("./lib/engine/detach.ts");
  const { setPrivilegedHelper } = await import("./lib/os/privileged.ts");
  setPrivilegedHelper(r.rootlessHelper(selfCommand(), paths.stateDir));
  return { ...paths, logLevel, rootless: true };
}

/** Commands that use neither the store nor the state directory. */
const NO_STORE = new Set(["version", "oci", "enter", "ns"]);

/** docker's `container` management commands: what each runs. */
const CONTAINER_COMMANDS: Record<string, string> = {
  ls: "ps",
  list: "ps",
  ps: "ps",
  rm: "rm",
  remove: "rm",
  prune: "prune",
  run: "run",
  inspect: "inspect",
  start: "start",
  stop: "stop",
  restart: "restart",
  kill: "kill",
  wait: "wait",
  logs: "logs",
  exec: "exec",
  top: "top",
  port: "port",
  stats: "stats",
  pause: "pause",
  unpause: "unpause",
};

async function command(cmd: string, rest: string[], globals: Globals): Promise<number> {
  switch (cmd) {
    case "run":
      return (await import("./lib/cli/run_command.ts")).runCommand(rest, globals);
    case "build":
      return (await import("./lib/cli/build.ts")).buildCommand(rest, globals);
    case "builder":
      return (await import("./lib/cli/build.ts")).builderCommand(rest, globals);
    case "history":
      return (await import("./lib/cli/history.ts")).historyCommand(rest, globals);
    case "images":
    case "load":
    case "save":
    case "tag":
    case "rmi":
    case "image":
      return (await import("./lib/cli/image.ts")).imageCommand(cmd, rest, globals);
    case "pull":
    case "push":
    case "login":
    case "logout":
      return (await import("./lib/cli/registry.ts")).registryCommand(cmd, rest, globals);
    case "ps":
    case "rm":
    case "stats":
    case "pause":
    case "unpause":
      return (await import("./lib/cli/containers.ts")).containersCommand(cmd, rest, globals);
    case "start":
    case "stop":
    case "restart":
    case "kill":
    case "wait":
    case "logs":
    case "inspect":
    case "exec":
    case "top":
    case "port":
    case "__start":
    case "__exited":
      return (await import("./lib/cli/control.ts")).lifecycleCommand(cmd, rest, globals);
    case "container": {
      const [sub, ...more] = rest;
      const to = sub === undefined ? undefined : CONTAINER_COMMANDS[sub];
      if (to === undefined) {
        throw new UsageError(
          `unknown container command: ${JSON.stringify(sub ?? "")} (expected ${
            Object.keys(CONTAINER_COMMANDS).join(", ")
          })`,
        );
      }
      if (to === "prune") return (await import("./lib/cli/prune.ts")).containerPrune(more, globals);
      return await command(to, more, globals);
    }
    case "system":
      return (await import("./lib/cli/prune.ts")).systemCommand(rest, globals);
    case "up":
    case "down":
      return (await import("./lib/cli/compose.ts")).composeCommand(cmd, rest, globals);
    case "volume":
      return (await import("./lib/cli/volume.ts")).volumeCommand(rest, globals);
    case "oci":
      return (await import("./lib/cli/oci.ts")).ociMain(rest);
    case "network":
      return (await import("./lib/cli/network.ts")).networkCommand(rest, globals);
    case "enter":
      return (await import("./lib/cli/enter.ts")).enterCommand(rest);
    case "ns":
      return (await import("./lib/cli/ns.ts")).nsCommand(rest);
    // docker's create and attach, and the health check a watcher runs.
    case "create":
      return (await import("./lib/cli/run_command.ts")).createCommand(rest, globals);
    case "attach":
      return (await import("./lib/cli/attach.ts")).attachCommand(rest, globals);
    case "__health":
      return (await import("./lib/engine/health.ts")).healthCommand(rest[0], globals);
    case "version":
      console.log(
        `ctr ${VERSION}\ndeno ${Deno.version.deno} (v8 ${Deno.version.v8})\n${
          Deno.env.get("CTR_SELF")
            ? `packed file: ${Deno.env.get("CTR_SELF")}`
            : `run by: ${Deno.execPath()}`
        }\narch: ${Deno.build.arch}\nmode: ${
          globals.rootless ? `rootless (uid ${Deno.uid()})` : "root"
        }\nstore: ${globals.root}\nstate: ${globals.stateDir}`,
      );
      return 0;
    default:
      throw new UsageError(`unknown command: ${JSON.stringify(cmd)} (see 'ctr --help')`);
  }
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const { isOciInvocation, ociMain } = await import("./lib/cli/oci.ts");
  if (isOciInvocation()) return await ociMain(argv);
  try {
    return await dispatch(argv);
  } catch (e) {
    const err = e as Error & { exitCode?: number };
    console.error(`ctr: ${err.message}`);
    if (Deno.env.get("CTR_DEBUG") && err.stack) console.error(err.stack);
    return typeof err.exitCode === "number" ? err.exitCode : 125;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
