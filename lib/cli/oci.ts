/**
 * The runc-compatible command line: what podman (`--runtime`), containerd
 * (a runc shim's `BinaryName`) and dockerd (`--add-runtime`) call. Reached
 * as `ctr oci COMMAND`, or directly when ctr is run under a name that starts
 * with `ctr-oci` (a symlink) or with CTR_OCI=1, since those callers put
 * their global options first: `ctr-oci --root R --log L create --bundle B ID`.
 *
 * Errors go to stderr and, with `--log FILE`, to that file (`--log-format
 * json`: one `{"level":"error","msg":...,"time":...}` line, which containerd
 * and conmon show to their users).
 * @module
 */

import { VERSION } from "../version.ts";
import { trace } from "../trace.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { OciError, OciRoot } from "../oci/state.ts";

const GLOBAL: readonly OptionSpec[] = [
  { name: "root", type: "string", arg: "DIR", help: "State directory (default /run/ctr-oci)" },
  { name: "log", type: "string", arg: "FILE", help: "Also write errors and warnings here" },
  { name: "log-format", type: "string", arg: "FORMAT", help: "text (default) or json" },
  { name: "debug", type: "bool", help: "Debug output in the log" },
  { name: "systemd-cgroup", type: "bool", help: "Use systemd cgroups (not supported)" },
  { name: "rootless", type: "string", arg: "BOOL", help: "Accepted for compatibility" },
  { name: "criu", type: "string", arg: "PATH", help: "Accepted for compatibility" },
  { name: "version", short: "v", type: "bool", help: "Print the version" },
  { name: "help", short: "h", type: "bool", help: "Print usage" },
];

const CREATE: readonly OptionSpec[] = [
  { name: "bundle", short: "b", type: "string", arg: "DIR", help: "The bundle (default .)" },
  { name: "pid-file", type: "string", arg: "FILE", help: "Write the container's pid here" },
  {
    name: "console-socket",
    type: "string",
    arg: "PATH",
    help: "Send the pty master to this AF_UNIX socket",
  },
  { name: "no-pivot", type: "bool", help: "Accepted; pivot_root is always used" },
  { name: "no-new-keyring", type: "bool", help: "Accepted; no session keyring is made" },
  { name: "preserve-fds", type: "string", arg: "N", help: "Keep fds 3 to 3+N-1 open" },
  { name: "detach", short: "d", type: "bool", help: "run: do not wait for the container" },
  { name: "keep", type: "bool", help: "run: do not delete the container when it ends" },
];

const EXEC: readonly OptionSpec[] = [
  { name: "process", short: "p", type: "string", arg: "FILE", help: "process.json" },
  { name: "pid-file", type: "string", arg: "FILE", help: "Write the process's pid here" },
  { name: "detach", short: "d", type: "bool", help: "Do not wait for the process" },
  { name: "tty", short: "t", type: "bool", help: "Allocate a pty" },
  { name: "console-socket", type: "string", arg: "PATH", help: "Send the pty master here" },
  { name: "cwd", type: "string", arg: "DIR", help: "Working directory" },
  { name: "env", short: "e", type: "list", arg: "K=V", help: "Add an environment variable" },
  { name: "user", short: "u", type: "string", arg: "UID[:GID]", help: "User" },
  { name: "additional-gids", short: "g", type: "list", arg: "GID", help: "More groups" },
  { name: "cap", short: "c", type: "list", arg: "CAP", help: "Add a capability" },
  { name: "no-new-privs", type: "bool", help: "Set no_new_privs" },
  { name: "preserve-fds", type: "string", arg: "N", help: "Pass N more fds on" },
  { name: "process-label", type: "string", arg: "L", help: "SELinux label (where SELinux runs)" },
  { name: "apparmor", type: "string", arg: "P", help: "AppArmor profile (where AppArmor runs)" },
  { name: "ignore-paused", type: "bool", help: "Accepted" },
];

/** `ctr oci --help`, built when asked for. */
const usage = () =>
  `Usage: ctr oci [GLOBAL OPTIONS] COMMAND [OPTIONS] ID
       ctr-oci [GLOBAL OPTIONS] COMMAND ...   (a symlink named ctr-oci*, or CTR_OCI=1)

An OCI runtime with runc's command line, on bundles (config.json + rootfs).

Commands:
  create    Set a container up from a bundle; it waits for start
  start     Run the command of a created container
  run       create + start (and wait, unless -d)
  state     Print the state JSON of a container
  kill      Send a signal (default SIGTERM); --all: to every process
  delete    Remove a stopped container (--force: any)
  exec      Run a process in a container (--process FILE or a command)
  pause     Freeze a container
  resume    Thaw a container
  ps        The pids of a container (--format json)
  list      Containers (--format json, -q)
  features  What this runtime supports (JSON)
  spec      Write a default config.json (--bundle, --rootless)

Global options:
${optionsHelp(GLOBAL)}`;

/** Where errors go besides stderr. */
interface Log {
  readonly file?: string;
  readonly json: boolean;
}

function logLine(log: Log, level: string, msg: string): void {
  if (!log.file) return;
  const line = log.json
    ? JSON.stringify({ level, msg, time: new Date().toISOString() })
    : `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)}`;
  try {
    Deno.writeTextFileSync(log.file, line + "\n", { append: true, create: true });
  } catch { /* the log is best effort; stderr still has it */ }
}

/**
 * A warning: to the log when there is one (what runc does with logrus), else
 * to stderr, where podman and containerd would show it with the output.
 */
function warnLine(log: Log, msg: string): void {
  if (log.file) logLine(log, "warning", msg);
  else console.error(`ctr: warning: ${msg}`);
}

function one(cmd: string, positionals: readonly string[]): string {
  if (positionals.length < 1) throw new UsageError(`"${cmd}" requires a container id`);
  return positionals[0];
}

/** Runs the OCI runtime command line; returns the exit status. */
export async function ociMain(argv: readonly string[]): Promise<number> {
  trace("oci");
  let log: Log = { json: false };
  try {
    const { opts, positionals } = parseArgs(argv, GLOBAL, { stopAfterPositionals: 1 });
    log = {
      file: opts.log as string | undefined,
      json: opts["log-format"] === "json",
    };
    if (opts.version) {
      console.log(`ctr version ${VERSION}\nspec: 1.2.0`);
      return 0;
    }
    const [cmd, ...rest] = positionals;
    if (opts.help || cmd === undefined) {
      console.log(usage());
      return cmd === undefined && !opts.help ? 1 : 0;
    }
    if (opts["systemd-cgroup"]) {
      throw new UsageError(
        '--systemd-cgroup: ctr manages cgroups through cgroupfs only (set cgroup_manager = "cgroupfs")',
      );
    }
    const root = (opts.root as string | undefined) ?? "/run/ctr-oci";
    return await command(cmd, rest, root, (m) => warnLine(log, m));
  } catch (e) {
    const msg = (e as Error).message;
    logLine(log, "error", msg);
    console.error(`ctr: ${msg}`);
    return 1;
  }
}

async function command(
  cmd: string,
  argv: readonly string[],
  rootDir: string,
  warn: (message: string) => void,
): Promise<number> {
  // Each command loads what it uses: `state` the records only, `start`, `kill` and
  // `delete` the lifecycle (the cgroup drivers and hooks when they need them), `create`
  // the planner, the launcher and the schema.
  const root = new OciRoot(rootDir);
  const life = () => import("../oci/lifecycle.ts");
  const consoleSender = async (path: string | undefined) => {
    if (!path) return undefined;
    const { sendFd } = await import("../../ffi/unix_socket.ts");
    return (master: number) => sendFd(path, master, "console");
  };
  switch (cmd) {
    case "create":
    case "run": {
      const { opts, positionals } = parseArgs(argv, CREATE, { stopAfterPositionals: 1 });
      const id = one(cmd, positionals);
      const preserve = (opts["preserve-fds"] as string | undefined) ?? "0";
      if (!/^\d{1,4}$/.test(preserve)) {
        throw new UsageError(`invalid --preserve-fds ${JSON.stringify(preserve)}`);
      }
      const { ociCreate } = await import("../oci/runtime.ts");
      trace("oci: create code loaded");
      const r = await ociCreate(root, id, {
        bundle: (opts.bundle as string | undefined) ?? ".",
        preserveFds: Number(preserve),
        pidFile: opts["pid-file"] as string | undefined,
        sendConsole: await consoleSender(opts["console-socket"] as string | undefined),
        warn,
      });
      if (cmd === "create") return 0;
      const { ociDelete, ociStart } = await life();
      await ociStart(root, id);
      if (opts.detach) return 0;
      // `run` is the container's parent: it reaps it and returns its status.
      const { waitPid } = await import("../runtime/spawn.ts");
      const status = await waitPid(r.pid);
      if (opts.keep !== true) await ociDelete(root, r.id, true);
      return status.code;
    }
    case "start": {
      const { positionals } = parseArgs(argv, []);
      await (await life()).ociStart(root, one(cmd, positionals));
      return 0;
    }
    case "state": {
      const { positionals } = parseArgs(argv, []);
      const r = root.read(one(cmd, positionals));
      console.log(JSON.stringify(root.state(r), null, 2));
      return 0;
    }
    case "kill": {
      const { opts, positionals } = parseArgs(argv, [
        { name: "all", short: "a", type: "bool", help: "Every process of the container" },
      ]);
      await (await life()).ociKill(
        root,
        one(cmd, positionals),
        positionals[1] ?? "SIGTERM",
        opts.all === true,
      );
      return 0;
    }
    case "delete": {
      const { opts, positionals } = parseArgs(argv, [
        { name: "force", short: "f", type: "bool", help: "Kill a running container first" },
      ]);
      await (await life()).ociDelete(root, one(cmd, positionals), opts.force === true);
      return 0;
    }
    case "pause":
    case "resume": {
      const { positionals } = parseArgs(argv, []);
      await (await life()).ociFreeze(root, one(cmd, positionals), cmd === "pause");
      return 0;
    }
    case "ps": {
      const { opts, positionals } = parseArgs(argv, [
        { name: "format", short: "f", type: "string", arg: "table|json", help: "Output format" },
      ], { stopAfterPositionals: 1 });
      const pids = await (await life()).ociPids(root, one(cmd, positionals));
      if (opts.format === "json") console.log(JSON.stringify(pids));
      else {
        console.log("PID");
        for (const p of pids) console.log(p);
      }
      return 0;
    }
    case "list": {
      const { opts } = parseArgs(argv, [
        { name: "format", short: "f", type: "string", arg: "table|json", help: "Output format" },
        { name: "quiet", short: "q", type: "bool", help: "Only ids" },
      ]);
      const all = root.list();
      if (opts.quiet) { for (const r of all) console.log(r.id); }
      else if (opts.format === "json") {
        console.log(JSON.stringify(all.map((r) => root.state(r))));
      } else {
        const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]];
        for (const r of all) {
          const s = root.state(r);
          rows.push([r.id, String(s.pid), String(s.status), r.bundle, r.created, "root"]);
        }
        const w = rows[0].map((_, c) => Math.max(...rows.map((x) => x[c].length)));
        for (const x of rows) console.log(x.map((v, c) => v.padEnd(w[c])).join("   ").trimEnd());
      }
      return 0;
    }
    case "features": {
      const { featuresDocument } = await import("../oci/config_json.ts");
      console.log(JSON.stringify(featuresDocument(), null, 2));
      return 0;
    }
    case "spec": {
      const { opts } = parseArgs(argv, [
        { name: "bundle", short: "b", type: "string", arg: "DIR", help: "Where to write" },
        { name: "rootless", type: "bool", help: "For a user without root" },
      ]);
      const { defaultSpec } = await import("../oci/config_json.ts");
      const file = `${(opts.bundle as string | undefined) ?? "."}/config.json`;
      try {
        Deno.statSync(file);
        throw new UsageError(`File ${file} exists. Remove it first`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      Deno.writeTextFileSync(
        file,
        JSON.stringify(defaultSpec({ rootless: opts.rootless === true }), null, 2) + "\n",
      );
      return 0;
    }
    case "exec":
      return await exec(root, argv, { consoleSender, warn });
  }
  throw new UsageError(`unknown command: ${JSON.stringify(cmd)} (see 'ctr oci --help')`);
}

interface ProcessJson {
  args?: string[];
  env?: string[];
  cwd?: string;
  terminal?: boolean;
  user?: { uid?: number; gid?: number; additionalGids?: number[] };
  capabilities?: {
    bounding?: string[];
    effective?: string[];
    permitted?: string[];
    inheritable?: string[];
    ambient?: string[];
  };
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  selinuxLabel?: string;
}

async function exec(
  root: OciRoot,
  argv: readonly string[],
  o: {
    consoleSender: (p: string | undefined) => Promise<((m: number) => void) | undefined>;
    warn: (message: string) => void;
  },
): Promise<number> {
  const { consoleSender, warn } = o;
  const { opts, positionals } = parseArgs(argv, EXEC, { stopAfterPositionals: 1 });
  const id = one("exec", positionals);
  const r = root.read(id);
  const status = root.status(r);
  if (status !== "running") throw new OciError(`cannot exec in a ${status} container: ${id}`);
  let p: ProcessJson;
  if (opts.process) {
    let text: string;
    try {
      text = Deno.readTextFileSync(opts.process as string);
    } catch (e) {
      throw new UsageError(`cannot read --process ${opts.process}: ${(e as Error).message}`);
    }
    const { parseOciProcess } = await import("../oci/config_json.ts");
    p = parseOciProcess(text, opts.process as string, warn) as ProcessJson;
  } else {
    const u = ((opts.user as string | undefined) ?? "").split(":");
    const base = r.config.process;
    const added = (opts.cap as string[] | undefined) ?? [];
    p = {
      args: positionals.slice(1),
      env: [...(base?.env ?? []), ...((opts.env as string[] | undefined) ?? [])],
      cwd: (opts.cwd as string | undefined) ?? base?.cwd ?? "/",
      terminal: opts.tty === true,
      user: {
        uid: u[0] ? Number(u[0]) : base?.user.uid ?? 0,
        gid: u[1] ? Number(u[1]) : base?.user.gid ?? 0,
        additionalGids: ((opts["additional-gids"] as string[] | undefined) ?? []).map(Number),
      },
      // The container's sets; --cap adds to each but the inheritable one, as runc does.
      capabilities: {
        bounding: [...(base?.capabilities?.bounding ?? []), ...added],
        effective: [...(base?.capabilities?.effective ?? []), ...added],
        permitted: [...(base?.capabilities?.permitted ?? []), ...added],
        inheritable: [...(base?.capabilities?.inheritable ?? [])],
        ambient: [...(base?.capabilities?.ambient ?? []), ...added],
      },
      noNewPrivileges: opts["no-new-privs"] === true || base?.noNewPrivileges === true,
      apparmorProfile: (opts["apparmor"] as string | undefined) ?? base?.apparmorProfile,
      selinuxLabel: (opts["process-label"] as string | undefined) ?? base?.selinuxLabel,
    };
  }
  if (!p.args?.length) throw new UsageError("exec: no command (process.args is empty)");
  const { execProcess } = await import("../runtime/exec.ts");
  const capNames = (list?: string[]) => (list ?? []).map((c) => c.replace(/^CAP_/, ""));
  const { openCgroupDriver } = await import("../cgroups/mod.ts");
  const cgroup = Object.keys(r.cgroupPaths).length
    ? openCgroupDriver().open(r.id, r.cgroupPaths)
    : undefined;
  const run = await execProcess({
    pid: r.pid,
    cgroup,
    args: p.args,
    env: p.env ?? [],
    cwd: p.cwd ?? "/",
    uid: p.user?.uid ?? 0,
    gid: p.user?.gid ?? 0,
    groups: p.user?.additionalGids ?? [],
    caps: capNames(p.capabilities?.bounding),
    capSets: {
      effective: capNames(p.capabilities?.effective),
      permitted: capNames(p.capabilities?.permitted),
      inheritable: capNames(p.capabilities?.inheritable),
      ambient: capNames(p.capabilities?.ambient),
    },
    noNewPrivileges: p.noNewPrivileges === true,
    // The container's filter applies to what runs in it later, as runc's exec does.
    seccomp: r.config.linux?.seccomp
      ? { kind: "profile", text: JSON.stringify(r.config.linux.seccomp), source: "linux.seccomp" }
      : undefined,
    apparmorProfile: p.apparmorProfile || undefined,
    selinuxLabel: p.selinuxLabel || undefined,
    tty: p.terminal === true,
    interactive: true,
    detach: opts.detach === true,
    inheritStdio: true,
    sendConsole: await consoleSender(opts["console-socket"] as string | undefined),
    what: `container ${id}`,
  });
  if (opts["pid-file"]) {
    const f = opts["pid-file"] as string;
    Deno.writeTextFileSync(`${f}.tmp`, String(run.pid));
    Deno.renameSync(`${f}.tmp`, f);
  }
  return await run.wait();
}
