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
    const { mainHelp } = await import("./lib/cli/commands.ts");
    console.log(mainHelp(optionsHelp(GLOBAL_OPTIONS)));
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
  return await runArgv(cmd, rest, globals);
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

/** Runs one command with the global settings already read. */
async function runArgv(cmd: string, rest: readonly string[], globals: Globals): Promise<number> {
  switch (cmd) {
    case "run":
      return (await import("./lib/cli/run_command.ts")).runCommand(rest, globals);
    case "create":
      return (await import("./lib/cli/run_command.ts")).createCommand(rest, globals);
    case "serve":
      return (await import("./lib/api/serve.ts")).serveCommand(rest, globals);
    case "attach":
      return (await import("./lib/cli/attach.ts")).attachCommand(rest, globals);
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
    case "__health": // what a watcher runs for a container's health check
      return (await import("./lib/engine/health.ts")).healthCommand(rest[0], globals);
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
    // The management forms (container, image, system) and the commands added with them
    // (cp, diff, commit, export, import, rename, update, events, info, completion) run
    // through the command table, which --help and completion read too.
    default:
      return (await import("./lib/cli/commands.ts")).runCommand(cmd, rest, globals, runArgv);
  }
}

/**
 * Whether ctr runs as the OCI runtime: `CTR_OCI=1`, or a file named
 * `ctr-oci*` (a symlink to ctr). Checked here so that other commands load
 * none of the OCI code.
 */
function isOciInvocation(): boolean {
  if (Deno.env.get("CTR_OCI") === "1") return true;
  const self = Deno.env.get("CTR_SELF") ?? "";
  return self.slice(self.lastIndexOf("/") + 1).startsWith("ctr-oci");
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  if (isOciInvocation()) return await (await import("./lib/cli/oci.ts")).ociMain(argv);
  try {
    return await dispatch(argv);
  } catch (e) {
    const err = e as Error & { exitCode?: number };
    console.error(`ctr: ${err.message}`);
    if (Deno.env.get("CTR_DEBUG") && err.stack) console.error(err.stack);
    return typeof err.exitCode === "number" ? err.exitCode : 125;
  }
}

/**
 * Whether this is a worker thread: in a bundle, which has no file per module,
 * ctr starts its own main module as the layer extraction worker
 * (lib/image/extract_pool.ts).
 */
function isWorker(): boolean {
  return "WorkerGlobalScope" in globalThis;
}

if (import.meta.main) {
  if (isWorker()) await import("./lib/image/extract_worker.ts");
  else Deno.exit(await main(Deno.args));
}
