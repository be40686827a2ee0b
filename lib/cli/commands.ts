/**
 * Every command of ctr in one table: its name, what it does, its usage and
 * its options (loaded from the module that parses them), its subcommands,
 * and how it runs. `ctr --help`, the management forms (`ctr container ls`
 * runs `ctr ps`), shell completion (completion.ts) and the flags table
 * (docs/cli.md, scripts/gen_cli_table.ts) all read this table, so they
 * cannot drift from what the commands take.
 *
 * main.ts dispatches the commands it has always known itself (so `ctr run`
 * loads nothing of this); everything else comes here.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { optionsHelp, type OptionSpec, UsageError } from "./args.ts";
import type { CommandSpec, Dispatch } from "./command_spec.ts";
import { closest } from "../suggest.ts";
import type { CtrTables } from "./flags_table.ts";

export type { ArgKind, CommandSpec, Dispatch } from "./command_spec.ts";

const none = () => Promise.resolve([] as readonly OptionSpec[]);

// Option tables, loaded only when asked for (help, completion, the flags table).
const opts = {
  // Flags refused whatever their value are marked so (docs/cli.md lists them as refused).
  run: async () => {
    const { RUN_OPTIONS } = await import("./run.ts");
    const { REFUSED_FLAGS } = await import("../config/run_refusals.ts");
    return RUN_OPTIONS.map((o) =>
      REFUSED_FLAGS[o.name] ? { ...o, refused: REFUSED_FLAGS[o.name] } : o
    );
  },
  ps: async () => (await import("./containers.ts")).PS_OPTIONS,
  stats: async () => (await import("./containers.ts")).STATS_OPTIONS,
  rm: async () => (await import("./containers.ts")).RM_OPTIONS,
  start: async () => (await import("./control.ts")).START_OPTIONS,
  serve: async () => (await import("../api/serve.ts")).SERVE_OPTIONS,
  stop: async () => (await import("./control.ts")).STOP_OPTIONS,
  attach: async () => (await import("./attach.ts")).ATTACH_OPTIONS,
  build: async () => (await import("./build.ts")).BUILD_OPTIONS,
  builderPrune: async () => (await import("./build.ts")).BUILDER_PRUNE_OPTIONS,
  history: async () => (await import("./history.ts")).HISTORY_OPTIONS,
  containerPrune: async () => (await import("./prune.ts")).CONTAINER_PRUNE,
  systemPrune: async () => (await import("./prune.ts")).SYSTEM_PRUNE,
  kill: async () => (await import("./control.ts")).KILL_OPTIONS,
  logs: async () => (await import("./control.ts")).LOGS_OPTIONS,
  inspect: async () => (await import("./control.ts")).INSPECT_OPTIONS,
  exec: async () => (await import("./exec.ts")).EXEC_OPTIONS,
  images: async () => (await import("./image.ts")).IMAGES_OPTIONS,
  imageInspect: async () => (await import("./image.ts")).IMAGE_INSPECT_OPTIONS,
  imagePrune: async () => (await import("./image.ts")).IMAGE_PRUNE_OPTIONS,
  load: async () => (await import("./image.ts")).LOAD_OPTIONS,
  save: async () => (await import("./image.ts")).SAVE_OPTIONS,
  rmi: async () => (await import("./image.ts")).RMI_OPTIONS,
  pull: async () => (await import("./registry.ts")).PULL_OPTIONS,
  push: async () => (await import("./registry.ts")).PUSH_OPTIONS,
  login: async () => (await import("./registry.ts")).LOGIN_OPTIONS,
  compose: async () => (await import("./compose.ts")).COMPOSE_OPTIONS,
  networkCreate: async () => (await import("./network.ts")).NETWORK_CREATE_OPTIONS,
  networkLs: async () => (await import("./network.ts")).NETWORK_LS_OPTIONS,
  networkConnect: async () => (await import("./network.ts")).NETWORK_CONNECT_OPTIONS,
  networkDisconnect: async () => (await import("./network.ts")).NETWORK_DISCONNECT_OPTIONS,
  networkInspect: async () => (await import("./network.ts")).NETWORK_INSPECT_OPTIONS,
  volumeCreate: async () => (await import("./volume.ts")).VOLUME_CREATE_OPTIONS,
  volumeLs: async () => (await import("./volume.ts")).VOLUME_LS_OPTIONS,
  volumeInspect: async () => (await import("./volume.ts")).VOLUME_INSPECT_OPTIONS,
  volumeRm: async () => (await import("./volume.ts")).VOLUME_RM_OPTIONS,
  volumePrune: async () => (await import("./volume.ts")).VOLUME_PRUNE_OPTIONS,
  enter: async () => (await import("./enter.ts")).ENTER_OPTIONS,
  cp: async () => (await import("./cp.ts")).CP_OPTIONS,
  commit: async () => (await import("./snapshot.ts")).COMMIT_OPTIONS,
  export: async () => (await import("./snapshot.ts")).EXPORT_OPTIONS,
  import: async () => (await import("./snapshot.ts")).IMPORT_OPTIONS,
  update: async () => (await import("./update.ts")).UPDATE_OPTIONS,
  events: async () => (await import("./events.ts")).EVENTS_OPTIONS,
  info: async () => (await import("./system.ts")).INFO_OPTIONS,
  df: async () => (await import("./system.ts")).DF_OPTIONS,
  search: async () => (await import("./search.ts")).SEARCH_OPTIONS,
};

/** `ctr completion SHELL`. */
function completion(shell: string): CommandSpec {
  return {
    name: shell,
    summary: `Print the ${shell} completion script`,
    usage: "",
    args: "none",
    options: none,
    run: async (argv) => {
      if (argv.length) throw new UsageError(`"ctr completion ${shell}" takes no arguments`);
      const { completionScript } = await import("./completion.ts");
      console.log(await completionScript(shell, COMMANDS, allCommands()));
      return 0;
    },
  };
}

const COMPLETION: CommandSpec = {
  name: "completion",
  summary: "Print the completion script for bash or zsh",
  usage: "bash|zsh",
  args: "none",
  management: true,
  subcommands: [completion("bash"), completion("zsh")],
};

/** The top-level commands (docker's, then ctr's own). */
const TOP: CommandSpec[] = [
  {
    name: "attach",
    summary: "Attach local standard input, output, and error streams to a running container",
    usage: "[OPTIONS] CONTAINER",
    args: "container",
    options: opts.attach,
  },
  {
    name: "build",
    summary: "Build an image from a Dockerfile",
    usage: "[OPTIONS] PATH | URL | -",
    args: "file",
    options: opts.build,
  },
  {
    name: "commit",
    summary: "Create a new image from a container's changes",
    usage: "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    args: "container",
    options: opts.commit,
    run: async (argv, g) => (await import("./snapshot.ts")).commitCommand(argv, g),
  },
  {
    name: "cp",
    summary: "Copy files/folders between a container and the local filesystem",
    usage:
      "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       ctr cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    args: "container",
    options: opts.cp,
    run: async (argv, g) => (await import("./cp.ts")).cpCommand(argv, g),
  },
  {
    name: "create",
    summary: "Create a new container",
    usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    args: "image",
    options: opts.run,
  },
  {
    name: "diff",
    summary: "Inspect changes to files or directories on a container's filesystem",
    usage: "CONTAINER",
    args: "container",
    options: none,
    run: async (argv, g) => (await import("./snapshot.ts")).diffCommand(argv, g),
  },
  {
    name: "events",
    summary: "Get real time events from the server",
    usage: "[OPTIONS]",
    args: "none",
    options: opts.events,
    run: async (argv, g) => (await import("./events.ts")).eventsCommand(argv, g),
  },
  {
    name: "exec",
    summary: "Run a command in a running container",
    usage: "[OPTIONS] CONTAINER COMMAND [ARG...]",
    args: "container",
    options: opts.exec,
  },
  {
    name: "export",
    summary: "Export a container's filesystem as a tar archive",
    usage: "[OPTIONS] CONTAINER",
    args: "container",
    options: opts.export,
    run: async (argv, g) => (await import("./snapshot.ts")).exportCommand(argv, g),
  },
  {
    name: "history",
    summary: "Show the history of an image",
    usage: "[OPTIONS] IMAGE",
    args: "image",
    options: opts.history,
  },
  {
    name: "images",
    summary: "List images",
    usage: "[OPTIONS] [REPOSITORY[:TAG]]",
    args: "image",
    options: opts.images,
  },
  {
    name: "import",
    summary: "Import the contents from a tarball to create a filesystem image",
    usage: "[OPTIONS] file|- [REPOSITORY[:TAG]]",
    args: "file",
    options: opts.import,
    run: async (argv, g) => (await import("./snapshot.ts")).importCommand(argv, g),
  },
  {
    name: "info",
    summary: "Display system-wide information",
    usage: "[OPTIONS]",
    args: "none",
    options: opts.info,
    run: async (argv, g) => (await import("./system.ts")).infoCommand(argv, g),
  },
  {
    name: "inspect",
    summary: "Return low-level information on containers, images, networks and volumes",
    usage: "[OPTIONS] NAME|ID [NAME|ID...]",
    args: "container",
    options: opts.inspect,
  },
  {
    name: "kill",
    summary: "Kill one or more running containers",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    args: "container",
    options: opts.kill,
  },
  {
    name: "load",
    summary: "Load images from a docker-save or OCI archive or an OCI layout",
    usage: "[OPTIONS]",
    args: "file",
    options: opts.load,
  },
  {
    name: "login",
    summary: "Log in to a registry",
    usage: "[OPTIONS] [SERVER]",
    args: "none",
    options: opts.login,
  },
  {
    name: "logout",
    summary: "Log out from a registry",
    usage: "[SERVER]",
    args: "none",
    options: none,
  },
  {
    name: "logs",
    summary: "Fetch the logs of a container",
    usage: "[OPTIONS] CONTAINER",
    args: "container",
    options: opts.logs,
  },
  {
    name: "pause",
    summary: "Pause all processes within one or more containers",
    usage: "CONTAINER [CONTAINER...]",
    args: "container",
    options: none,
  },
  {
    name: "port",
    summary: "List port mappings or a specific mapping for the container",
    usage: "CONTAINER",
    args: "container",
    options: none,
  },
  { name: "ps", summary: "List containers", usage: "[OPTIONS]", args: "none", options: opts.ps },
  {
    name: "pull",
    summary: "Pull an image from a registry",
    usage: "[OPTIONS] NAME[:TAG|@DIGEST]",
    args: "image",
    options: opts.pull,
  },
  {
    name: "push",
    summary: "Push an image to a registry",
    usage: "[OPTIONS] NAME[:TAG]",
    args: "image",
    options: opts.push,
  },
  {
    name: "rename",
    summary: "Rename a container",
    usage: "CONTAINER NEW_NAME",
    args: "container",
    options: none,
    run: async (argv, g) => (await import("./update.ts")).renameCommand(argv, g),
  },
  {
    name: "restart",
    summary: "Restart one or more containers",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    args: "container",
    options: opts.stop,
  },
  {
    name: "rm",
    summary: "Remove one or more containers",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    args: "container",
    options: opts.rm,
  },
  {
    name: "rmi",
    summary: "Remove one or more images",
    usage: "[OPTIONS] IMAGE [IMAGE...]",
    args: "image",
    options: opts.rmi,
  },
  {
    name: "run",
    summary: "Run a command in a new container (from an image or a root filesystem)",
    usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    args: "image",
    options: opts.run,
  },
  {
    name: "save",
    summary: "Save one or more images to a tar archive",
    usage: "[OPTIONS] IMAGE [IMAGE...]",
    args: "image",
    options: opts.save,
  },
  {
    name: "search",
    summary: "Search a registry for images",
    usage: "[OPTIONS] TERM",
    args: "none",
    options: opts.search,
    run: async (argv, g) => (await import("./search.ts")).searchCommand(argv, g),
  },
  {
    name: "serve",
    summary: "Serve the Docker Engine API on a unix socket (docker's CLI and SDKs drive ctr)",
    usage: "[OPTIONS]",
    args: "none",
    options: opts.serve,
  },
  {
    name: "start",
    summary: "Start one or more stopped containers",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    args: "container",
    options: opts.start,
  },
  {
    name: "stats",
    summary: "Display a live stream of container(s) resource usage statistics",
    usage: "[OPTIONS] [CONTAINER...]",
    args: "container",
    options: opts.stats,
  },
  {
    name: "stop",
    summary: "Stop one or more running containers",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    args: "container",
    options: opts.stop,
  },
  {
    name: "tag",
    summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    args: "image",
    options: none,
  },
  {
    name: "top",
    summary: "Display the running processes of a container",
    usage: "CONTAINER",
    args: "container",
    options: none,
  },
  {
    name: "unpause",
    summary: "Unpause all processes within one or more containers",
    usage: "CONTAINER [CONTAINER...]",
    args: "container",
    options: none,
  },
  {
    name: "update",
    summary: "Update configuration of one or more containers",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    args: "container",
    options: opts.update,
    run: async (argv, g) => (await import("./update.ts")).updateCommand(argv, g),
  },
  {
    name: "version",
    summary: "Show the version of ctr and the Deno it carries",
    usage: "",
    args: "none",
    options: none,
  },
  {
    name: "wait",
    summary: "Block until one or more containers stop, then print their exit codes",
    usage: "CONTAINER [CONTAINER...]",
    args: "container",
    options: none,
  },
  // ctr's own.
  {
    name: "up",
    summary: "Start the containers and networks of a YAML spec (-f FILE)",
    usage: "-f FILE",
    args: "file",
    options: opts.compose,
  },
  {
    name: "down",
    summary: "Stop and remove what 'up' started (-f FILE)",
    usage: "-f FILE",
    args: "file",
    options: opts.compose,
  },
  {
    name: "enter",
    summary: "Run a command in the namespaces of a process (like nsenter)",
    usage: "PID [--ns LIST] [COMMAND...]",
    args: "none",
    options: opts.enter,
  },
  {
    name: "oci",
    summary: "The OCI runtime (runc's command line on bundles; see 'ctr oci --help')",
    usage: "COMMAND [OPTIONS] ID",
    args: "none",
  },
  {
    name: "ns",
    summary: "List the namespaces of processes; pin or unpin one",
    usage: "PID [PID...]",
    args: "none",
  },
  COMPLETION,
];

const byName = (name: string) => TOP.find((c) => c.name === name)!;

/** A management subcommand that runs the top-level `target` (its usage and options). */
function alias(name: string, target: string, extra: Partial<CommandSpec> = {}): CommandSpec {
  const t = byName(target);
  return { ...t, name, routes: [target], run: undefined, ...extra };
}

const CONTAINER: CommandSpec = {
  name: "container",
  summary: "Manage containers",
  usage: "COMMAND",
  management: true,
  subcommands: [
    alias("attach", "attach"),
    alias("commit", "commit"),
    alias("cp", "cp"),
    alias("create", "create"),
    alias("diff", "diff"),
    alias("exec", "exec"),
    alias("export", "export"),
    alias("inspect", "inspect", {
      summary: "Display detailed information on one or more containers",
      routes: ["inspect", "--type", "container"],
    }),
    alias("kill", "kill"),
    alias("logs", "logs"),
    alias("ls", "ps", { aliases: ["list", "ps"] }),
    alias("pause", "pause"),
    alias("port", "port"),
    {
      name: "prune",
      summary: "Remove all stopped containers",
      usage: "[OPTIONS]",
      args: "none",
      options: opts.containerPrune,
      run: async (argv, g) => (await import("./prune.ts")).containerPrune(argv, g),
    },
    alias("rename", "rename"),
    alias("restart", "restart"),
    alias("rm", "rm", { aliases: ["remove"] }),
    alias("run", "run"),
    alias("start", "start"),
    alias("stats", "stats"),
    alias("stop", "stop"),
    alias("top", "top"),
    alias("unpause", "unpause"),
    alias("update", "update"),
    alias("wait", "wait"),
  ],
};

const IMAGE: CommandSpec = {
  name: "image",
  summary: "Manage images",
  usage: "COMMAND",
  management: true,
  subcommands: [
    alias("build", "build"),
    alias("history", "history"),
    alias("import", "import"),
    {
      name: "inspect",
      summary: "Display detailed information on one or more images",
      usage: "[OPTIONS] IMAGE [IMAGE...]",
      args: "image",
      options: opts.imageInspect,
      run: async (argv, g) => (await import("./image.ts")).imageCommand("inspect", argv, g),
    },
    alias("load", "load"),
    alias("ls", "images", { aliases: ["list"] }),
    {
      name: "prune",
      summary: "Remove unused images",
      usage: "[OPTIONS]",
      args: "none",
      options: opts.imagePrune,
      run: async (argv, g) => (await import("./image.ts")).imageCommand("prune", argv, g),
    },
    alias("pull", "pull"),
    alias("push", "push"),
    alias("rm", "rmi", { aliases: ["remove", "rmi"] }),
    alias("save", "save"),
    alias("tag", "tag"),
  ],
};

const BUILDER: CommandSpec = {
  name: "builder",
  summary: "Manage builds",
  usage: "COMMAND",
  management: true,
  subcommands: [
    alias("build", "build"),
    {
      name: "prune",
      summary: "Remove build cache",
      usage: "[OPTIONS]",
      args: "none",
      options: opts.builderPrune,
    },
  ],
};

const SYSTEM: CommandSpec = {
  name: "system",
  summary: "Manage ctr: disk usage, events, information",
  usage: "COMMAND",
  management: true,
  subcommands: [
    {
      name: "df",
      summary: "Show disk usage",
      usage: "[OPTIONS]",
      args: "none",
      options: opts.df,
      run: async (argv, g) => (await import("./system.ts")).dfCommand(argv, g),
    },
    alias("events", "events"),
    alias("info", "info"),
    {
      name: "prune",
      summary: "Remove unused data",
      usage: "[OPTIONS]",
      args: "none",
      options: opts.systemPrune,
      run: async (argv, g) => (await import("./prune.ts")).systemCommand(["prune", ...argv], g),
    },
  ],
};

const NETWORK: CommandSpec = {
  name: "network",
  summary: "Manage networks",
  usage: "COMMAND",
  management: true,
  subcommands: [
    {
      name: "connect",
      summary: "Connect a container to a network",
      usage: "[OPTIONS] NETWORK CONTAINER",
      args: "network",
      options: opts.networkConnect,
    },
    {
      name: "create",
      summary: "Create a network",
      usage: "[OPTIONS] NETWORK",
      args: "none",
      options: opts.networkCreate,
    },
    {
      name: "disconnect",
      summary: "Disconnect a container from a network",
      usage: "[OPTIONS] NETWORK CONTAINER",
      args: "network",
      options: opts.networkDisconnect,
    },
    {
      name: "inspect",
      summary: "Display detailed information on one or more networks",
      usage: "[OPTIONS] NETWORK [NETWORK...]",
      args: "network",
      options: opts.networkInspect,
    },
    {
      name: "ls",
      aliases: ["list"],
      summary: "List networks",
      usage: "[OPTIONS]",
      args: "none",
      options: opts.networkLs,
    },
    {
      name: "prune",
      summary: "Remove all unused networks",
      usage: "[OPTIONS]",
      args: "none",
      options: none,
    },
    {
      name: "rm",
      aliases: ["remove"],
      summary: "Remove one or more networks",
      usage: "NETWORK [NETWORK...]",
      args: "network",
      options: none,
    },
  ],
};

const VOLUME: CommandSpec = {
  name: "volume",
  summary: "Manage volumes",
  usage: "COMMAND",
  management: true,
  subcommands: [
    {
      name: "create",
      summary: "Create a volume",
      usage: "[OPTIONS] [VOLUME]",
      args: "none",
      options: opts.volumeCreate,
    },
    {
      name: "inspect",
      summary: "Display detailed information on one or more volumes",
      usage: "[OPTIONS] VOLUME [VOLUME...]",
      args: "volume",
      options: opts.volumeInspect,
    },
    {
      name: "ls",
      aliases: ["list"],
      summary: "List volumes",
      usage: "[OPTIONS]",
      args: "none",
      options: opts.volumeLs,
    },
    {
      name: "prune",
      summary: "Remove all unused local volumes",
      usage: "[OPTIONS]",
      args: "none",
      options: opts.volumePrune,
    },
    {
      name: "rm",
      aliases: ["remove"],
      summary: "Remove one or more volumes",
      usage: "[OPTIONS] VOLUME [VOLUME...]",
      args: "volume",
      options: opts.volumeRm,
    },
  ],
};

/** Every command, management ones included. */
export const COMMANDS: readonly CommandSpec[] = [
  BUILDER,
  COMPLETION,
  CONTAINER,
  IMAGE,
  NETWORK,
  SYSTEM,
  VOLUME,
  ...TOP.filter((c) => c !== COMPLETION),
];

/** A command (or a subcommand of `parent`) by name or alias. */
export function findCommand(
  name: string,
  list: readonly CommandSpec[] = COMMANDS,
): CommandSpec | undefined {
  return list.find((c) => c.name === name || (c.aliases ?? []).includes(name));
}

/** `ctr --help`: the usage, the commands by group, the global options. */
export function mainHelp(globalOptions: string): string {
  const line = (c: CommandSpec) => `  ${c.name.padEnd(12)}${c.summary}`;
  const visible = COMMANDS.filter((c) => !c.hidden);
  return `Usage: ctr [OPTIONS] COMMAND

A container runtime: namespaces, cgroups and copy-on-write root filesystems.

Management Commands:
${visible.filter((c) => c.management).map(line).join("\n")}

Commands:
${visible.filter((c) => !c.management).map(line).join("\n")}

Global options:
${globalOptions}

Run 'ctr COMMAND --help' for more on a command.`;
}

/** `ctr COMMAND --help` of a command of the table (`path`: `container ls`). */
export async function commandHelp(c: CommandSpec, path: string): Promise<string> {
  if (c.subcommands) {
    return `Usage: ctr ${path} COMMAND

${c.summary}.

Commands:
${c.subcommands.map((s) => `  ${s.name.padEnd(12)}${s.summary}`).join("\n")}

Run 'ctr ${path} COMMAND --help' for more on a command.`;
  }
  const options = (await c.options?.()) ?? [];
  const shown = options.filter((o) => o.name !== "help" && o.refused === undefined);
  return `Usage: ctr ${path}${c.usage ? ` ${c.usage}` : ""}

${c.summary}.${shown.length ? `\n\nOptions:\n${optionsHelp(shown)}` : ""}`;
}

function unknown(name: string, list: readonly CommandSpec[], where: string): UsageError {
  const hint = closest(name, list.flatMap((c) => [c.name, ...(c.aliases ?? [])]));
  return new UsageError(
    `unknown ${where}command: ${JSON.stringify(name)}${
      hint ? ` (did you mean '${hint}'?)` : ""
    }; see 'ctr ${where}--help'`,
  );
}

/**
 * Runs a command of the table (those main.ts does not know itself): a
 * management command's subcommand (as the command it routes to, through
 * `dispatch`), or a command's own runner. docker exits 1 when such a
 * command fails; so does ctr.
 */
export async function runCommand(
  cmd: string,
  argv: readonly string[],
  g: Globals,
  dispatch: Dispatch,
): Promise<number> {
  let c = findCommand(cmd);
  if (!c) throw unknown(cmd, COMMANDS.filter((x) => !x.hidden), "");
  let path = c.name;
  let rest = argv;
  if (c.subcommands) {
    const sub = rest[0];
    if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
      console.log(await commandHelp(c, path));
      return sub === undefined ? 1 : 0;
    }
    const s = findCommand(sub, c.subcommands);
    if (!s) throw unknown(sub, c.subcommands, `${c.name} `);
    c = s;
    path += ` ${s.name}`;
    rest = rest.slice(1);
  }
  if (c.routes && !(rest.includes("--help") && c.run)) {
    const [target, ...pre] = c.routes;
    return await dispatch(target, [...pre, ...rest], g);
  }
  if (rest[0] === "--help" || rest[0] === "-h" || (rest.includes("--help") && c.name !== "exec")) {
    console.log(await commandHelp(c, path));
    return 0;
  }
  if (!c.run) {
    throw new UsageError(`"ctr ${path}" is not available in this build of ctr`);
  }
  try {
    return await c.run(rest, g);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    console.error(`ctr: ${(e as Error).message}`);
    if (Deno.env.get("CTR_DEBUG") && (e as Error).stack) console.error((e as Error).stack);
    return 1;
  }
}

/** Every command with its full name (`container ls`), depth first, for the tables that list them. */
export function allCommands(): { path: string; spec: CommandSpec }[] {
  const out: { path: string; spec: CommandSpec }[] = [];
  for (const c of COMMANDS) {
    out.push({ path: c.name, spec: c });
    for (const s of c.subcommands ?? []) out.push({ path: `${c.name} ${s.name}`, spec: s });
  }
  return out;
}

/**
 * The commands main.ts dispatches itself (its `switch`); everything else
 * comes to {@link runCommand}. A unit test checks this list against main.ts.
 */
export const MAIN_COMMANDS: readonly string[] = [
  "run",
  "serve",
  "create",
  "attach",
  "build",
  "builder",
  "history",
  "images",
  "load",
  "save",
  "tag",
  "rmi",
  "pull",
  "push",
  "login",
  "logout",
  "ps",
  "rm",
  "stats",
  "pause",
  "unpause",
  "start",
  "stop",
  "restart",
  "kill",
  "wait",
  "logs",
  "inspect",
  "exec",
  "top",
  "port",
  "up",
  "down",
  "volume",
  "oci",
  "network",
  "enter",
  "ns",
  "version",
];

/** docker commands ctr refuses, and why (the flags table shows the reason). */
export const REFUSED_COMMANDS: Readonly<Record<string, string>> = {
  config: "Swarm configs: ctr runs containers on one host, with no orchestrator",
  node: "Swarm nodes: ctr runs containers on one host, with no orchestrator",
  secret: "Swarm secrets: ctr runs containers on one host, with no orchestrator",
  service: "Swarm services: ctr runs containers on one host, with no orchestrator",
  stack: "Swarm stacks: ctr runs containers on one host (its YAML specs: ctr up)",
  swarm: "Swarm mode: ctr runs containers on one host, with no orchestrator",
  context: "contexts pick a remote daemon; ctr has no daemon and acts on the host it runs on",
  plugin: "docker's plugins are loaded by its daemon; ctr has none",
};

/** Whether ctr runs a command (a runner, main.ts's dispatch, or a route to one of those). */
function runs(path: string, spec: CommandSpec): boolean {
  if (spec.run) return true;
  if (spec.subcommands) return spec.subcommands.some((s) => runs(`${path} ${s.name}`, s));
  if (spec.routes) {
    const target = findCommand(spec.routes[0]);
    return target !== undefined && target !== spec && runs(target.name, target);
  }
  const top = path.split(" ")[0];
  return MAIN_COMMANDS.includes(top);
}

/** ctr's side of docs/cli.md: the commands it runs, with their options. */
export async function ctrTables(): Promise<CtrTables> {
  const commands = new Map<string, readonly OptionSpec[]>();
  for (const { path, spec } of allCommands()) {
    if (!runs(path, spec)) continue;
    commands.set(path, (await spec.options?.()) ?? []);
    for (const a of spec.aliases ?? []) {
      const i = path.lastIndexOf(" ");
      commands.set(i < 0 ? a : `${path.slice(0, i)} ${a}`, (await spec.options?.()) ?? []);
    }
  }
  return { commands, refusedCommands: REFUSED_COMMANDS };
}
