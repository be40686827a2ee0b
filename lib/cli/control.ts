/**
 * Commands on one container over its life: start, stop, restart, kill,
 * wait, logs, inspect, top, exec; and the internal `__exited` that a
 * watcher runs when its container ends.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { type ContainerState, StateDir } from "../engine/state.ts";
import {
  containerNetworks,
  endpointsOf,
  isRunning,
  liveStatus,
  logEnded,
  readExit,
  reconcile,
  signalContainer,
  stopContainer,
  waitRecorded,
} from "../engine/lifecycle.ts";
import { emitLog, type LogRecord } from "../engine/logs.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { portsText } from "./containers.ts";
import { EXEC_OPTIONS } from "./exec.ts";
import { signalByName } from "../../ffi/constants.ts";
import { DEFAULT_DETACH_KEYS } from "../config/rules.ts";
import { INSPECT_FORMAT, printInspected } from "./output.ts";

/** The options of `ctr start`. */
export const START_OPTIONS: readonly OptionSpec[] = [
  { name: "attach", short: "a", type: "bool", help: "Attach STDOUT/STDERR and forward signals" },
  {
    name: "detach-keys",
    type: "string",
    arg: "KEYS",
    help: "Override the key sequence for detaching a container (default ctrl-p,ctrl-q)",
  },
  { name: "interactive", short: "i", type: "bool", help: "Attach container's STDIN" },
];
/** The options of `ctr stop` and `ctr restart`. */
export const STOP_OPTIONS: readonly OptionSpec[] = [
  {
    name: "time",
    short: "t",
    type: "string",
    arg: "SECONDS",
    help: "Seconds to wait before killing (default 10)",
  },
  { name: "signal", short: "s", type: "string", arg: "SIGNAL", help: "Signal to stop with" },
];
/** The options of `ctr kill`. */
export const KILL_OPTIONS: readonly OptionSpec[] = [
  {
    name: "signal",
    short: "s",
    type: "string",
    arg: "SIGNAL",
    help: "Signal to send (default KILL)",
  },
];
/** The options of `ctr logs`. */
export const LOGS_OPTIONS: readonly OptionSpec[] = [
  { name: "follow", short: "f", type: "bool", help: "Follow the output while it runs" },
  { name: "tail", short: "n", type: "string", arg: "N", help: "Only the last N lines (or all)" },
  { name: "timestamps", short: "t", type: "bool", help: "Show the time of each line" },
];
/** The options of `ctr inspect` (containers, images, networks, volumes). */
export const INSPECT_OPTIONS: readonly OptionSpec[] = [
  INSPECT_FORMAT,
  {
    name: "size",
    short: "s",
    type: "bool",
    help: "Display total file sizes if the type is container",
  },
  {
    name: "type",
    type: "string",
    arg: "TYPE",
    help: "Return JSON for the named type: container, image, network or volume",
  },
];

/** A signal by name or number; a bad one is a usage error. */
function signalArg(v: string): Deno.Signal {
  try {
    return signalByName(v);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function seconds(v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v)) {
    throw new UsageError(`invalid time ${JSON.stringify(v)}: expected seconds`);
  }
  return Math.max(0, Number(v));
}

function requireRefs(cmd: string, refs: readonly string[]): void {
  if (!refs.length) throw new UsageError(`"ctr ${cmd}" requires at least one container`);
}

/**
 * Runs each ref through `fn` at once (docker's CLI does the same: stopping 30
 * containers takes one timeout, not 30), printing errors; 1 if any failed.
 */
async function each(refs: readonly string[], fn: (ref: string) => Promise<void>): Promise<number> {
  const results = await Promise.allSettled(refs.map((r) => fn(r)));
  let code = 0;
  for (const r of results) {
    if (r.status === "rejected") {
      console.error(`ctr: ${(r.reason as Error).message}`);
      code = 1;
    }
  }
  return code;
}

/** `ctr start`: starts stopped containers again, detached, on their kept upper layer. */
async function start(dir: StateDir, g: Globals, ref: string, shown = ref): Promise<void> {
  const s = dir.find(ref);
  if (isRunning(s)) {
    console.log(shown);
    return;
  }
  // In this process: the watcher is forked with the container.
  const { startExisting } = await import("../engine/detach.ts");
  await startExisting(dir, s, g);
  console.log(shown);
}

/**
 * `ctr start -a [-i] CONTAINER`: starts it with its watcher waiting for
 * this terminal, attaches, and ends with its exit code. A running
 * container is attached to as it is.
 */
async function startAndAttach(
  dir: StateDir,
  g: Globals,
  ref: string,
  o: { stdin: boolean; detachKeys?: string },
): Promise<number> {
  const s = dir.find(ref);
  const { attachCommand, startAttached } = await import("./attach.ts");
  const keys = o.detachKeys ?? DEFAULT_DETACH_KEYS;
  if (isRunning(s)) {
    return await attachCommand([
      ...(o.stdin ? [] : ["--no-stdin"]),
      `--detach-keys=${keys}`,
      s.id,
    ], g);
  }
  if (!s.config) throw new Error(`Container ${s.name} has no recorded configuration to start`);
  await dir.update(s.id, (cur) => ({ ...cur, stoppedByUser: false }));
  return await startAttached(["__start", s.id], g, {
    streams: { stdin: o.stdin && s.config.process.stdin, stdout: true, stderr: true },
    detachKeys: keys,
    sigProxy: true,
  });
}

/**
 * NetworkSettings.Networks: a running container's endpoints with their
 * addresses, else the networks its next start joins.
 */
export function networksObject(s: ContainerState): Record<string, unknown> {
  const live = isRunning(s) ? endpointsOf(s) : [];
  const more = s.config?.network.more ?? [];
  const out: Record<string, unknown> = {};
  for (const name of containerNetworks(s)) {
    const e = live.find((x) => x.network === name);
    const first = e ? e.index === 0 : name === s.config?.network.name;
    const addr = e && (first ? s : e);
    const ip = first ? s.config?.network.ip : more.find((m) => m.name === name)?.ip;
    // docker's shape, with what ctr's bridges have: no links, no IPv6, no driver options.
    out[name] = {
      IPAMConfig: ip ? { IPv4Address: ip } : null,
      Links: null,
      Aliases: first
        ? s.config?.network.aliases ?? []
        : e?.aliases ?? more.find((m) => m.name === name)?.aliases ?? [],
      NetworkID: addr?.networkId ?? "",
      EndpointID: addr?.endpointId ?? "",
      Gateway: addr?.gateway ?? "",
      IPAddress: addr?.ip ?? "",
      IPPrefixLen: addr?.prefixLen ?? 0,
      IPv6Gateway: "",
      GlobalIPv6Address: "",
      GlobalIPv6PrefixLen: 0,
      MacAddress: addr?.mac ?? "",
      DriverOpts: null,
    };
  }
  return out;
}

/** Docker's `inspect` object of a container. */
export function inspectObject(s: ContainerState): Record<string, unknown> {
  const st = liveStatus(s);
  const c = s.config;
  const mounts = (c?.mounts ?? []).map((m) =>
    m.type === "bind"
      ? {
        Type: "bind",
        Source: m.source,
        Destination: m.destination,
        Mode: m.readonly ? "ro" : "",
        RW: !m.readonly,
        Propagation: "rprivate",
      }
      : { Type: "tmpfs", Source: "", Destination: m.destination, Mode: m.options, RW: true }
  );
  const ports: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of s.ports ?? []) {
    (ports[`${p.containerPort}/${p.protocol}`] ??= []).push({
      HostIp: p.hostIp ?? "0.0.0.0",
      HostPort: String(p.hostPort),
    });
  }
  const zero = "0001-01-01T00:00:00Z";
  return {
    Id: s.id,
    Created: s.created,
    Path: s.command[0] ?? "",
    Args: s.command.slice(1),
    State: {
      Status: st,
      Running: st === "running" || st === "paused",
      Paused: st === "paused",
      Restarting: st === "restarting",
      OOMKilled: s.oomKilled ?? false,
      Dead: false,
      Pid: st === "running" || st === "paused" ? s.pid : 0,
      ExitCode: s.exitCode ?? 0,
      Error: s.error ?? "",
      StartedAt: s.startedAt ?? zero,
      FinishedAt: s.finishedAt ?? zero,
      ...(s.health && { Health: s.health }),
    },
    Image: s.image,
    LogPath: s.logPath ?? "",
    Name: `/${s.name}`,
    RestartCount: s.restartCount ?? 0,
    HostConfig: {
      AutoRemove: s.autoRemove ?? false,
      RestartPolicy: {
        Name: s.restartPolicy?.name ?? "no",
        MaximumRetryCount: s.restartPolicy?.maxRetries ?? 0,
      },
      NetworkMode: c?.network.name ?? s.network ??
        (c?.namespaces.net.kind === "host" ? "host" : "none"),
      ReadonlyRootfs: c?.readOnly ?? false,
      SecurityOpt: s.securityOpt?.length ? s.securityOpt : null,
      CgroupParent: c?.cgroup.parent ?? "",
      Memory: c?.cgroup.limits.memory ?? 0,
      MemorySwap: c?.cgroup.limits.memorySwap ?? 0,
      NanoCpus: c?.cgroup.limits.cpuQuota && c.cgroup.limits.cpuPeriod
        ? Math.round((c.cgroup.limits.cpuQuota / c.cgroup.limits.cpuPeriod) * 1e9)
        : 0,
      CpuShares: c?.cgroup.limits.cpuShares ?? 0,
      CpusetCpus: c?.cgroup.limits.cpusetCpus ?? "",
      PidsLimit: c?.cgroup.limits.pidsLimit ?? null,
      CpuPeriod: c?.cgroup.limits.cpuPeriod ?? 0,
      CpuQuota: c?.cgroup.limits.cpuQuota ?? 0,
      CpuRealtimePeriod: c?.cgroup.limits.cpuRtPeriod ?? 0,
      CpuRealtimeRuntime: c?.cgroup.limits.cpuRtRuntime ?? 0,
      BlkioWeight: c?.cgroup.limits.blkioWeight ?? 0,
      MemorySwappiness: c?.cgroup.limits.memorySwappiness ?? null,
      OomKillDisable: c?.cgroup.limits.oomKillDisable ?? false,
      Init: c?.init ?? null,
      ShmSize: c?.shmSize ?? 67108864,
      Sysctls: c?.sysctl ?? null,
      Devices: (c?.devices ?? []).map((d) => ({
        PathOnHost: d.source ?? d.path,
        PathInContainer: d.path,
        CgroupPermissions: "rwm",
      })),
      Dns: c?.network.dns?.servers ?? [],
      DnsSearch: c?.network.dns?.search ?? [],
      DnsOptions: c?.network.dns?.options ?? [],
      // --add-host lines name one host; --link lines (alias, hostname, name) are Links in docker's.
      ExtraHosts: c?.network.extraHosts?.filter((h) => h.names.length === 1)
        .map((h) => `${h.names[0]}:${h.ip}`) ?? null,
      ContainerIDFile: s.cidfile ?? "",
      LogConfig: {
        Type: "json-file",
        Config: s.logOptions
          ? { "max-size": String(s.logOptions.maxSize), "max-file": String(s.logOptions.maxFiles) }
          : {},
      },
    },
    Mounts: mounts,
    Config: {
      Hostname: c?.hostname ?? s.id.slice(0, 12),
      User: c ? `${c.process.uid}:${c.process.gid}` : "",
      Tty: c?.process.terminal ?? false,
      OpenStdin: c?.process.stdin ?? false,
      Env: c?.process.env ?? [],
      Cmd: s.command,
      Image: s.image,
      WorkingDir: c?.process.cwd ?? "/",
      Labels: s.labels ?? {},
      Domainname: c?.domainname ?? "",
      StdinOnce: s.stdinOnce ?? false,
      ...(c?.exposedPorts?.length &&
        { ExposedPorts: Object.fromEntries(c.exposedPorts.map((p) => [p, {}])) }),
      ...(c?.healthcheck && { Healthcheck: c.healthcheck.config }),
      ...(c?.stopSignal && { StopSignal: c.stopSignal }),
      ...(c?.stopTimeout !== undefined && { StopTimeout: c.stopTimeout }),
      ...(c?.network.mac && { MacAddress: c.network.mac }),
    },
    NetworkSettings: {
      IPAddress: s.ip ?? "",
      IPPrefixLen: s.prefixLen ?? 0,
      Gateway: s.gateway ?? "",
      MacAddress: s.mac ?? "",
      Ports: ports,
      Networks: networksObject(s),
    },
    GraphDriver: {
      Name: "overlay",
      Data: { UpperDir: `${s.dir}/upper`, WorkDir: `${s.dir}/work`, MergedDir: `${s.dir}/merged` },
    },
  };
}

export { formatTemplate } from "./output.ts";

const INSPECT_TYPES = ["container", "image", "network", "volume"];

/**
 * docker inspect's search: a container, else an image, a network, a volume
 * (or only the `type` asked for); "No such object" when nothing has the name.
 */
async function inspectAny(
  dir: StateDir,
  g: Globals,
  ref: string,
  o: { type?: string; size?: boolean },
): Promise<unknown> {
  const want = (t: string) => o.type === undefined || o.type === t;
  if (want("container")) {
    try {
      const s = dir.find(ref);
      const obj = inspectObject(s);
      if (o.size) {
        const { treeSize } = await import("../os/tree.ts");
        obj.SizeRw = treeSize(`${s.dir}/upper`);
      }
      return obj;
    } catch (e) {
      if (o.type === "container" || !/^No such container/.test((e as Error).message)) throw e;
    }
  }
  if (want("image")) {
    // The index and the stored config: neither the schema nor node:crypto is loaded.
    const { inspectImage, NoSuchImageError } = await import("../image/find.ts");
    const { Store } = await import("../image/store.ts");
    try {
      return inspectImage(Store.open(g.root), ref);
    } catch (e) {
      if (o.type === "image" || !(e instanceof NoSuchImageError)) throw e;
    }
  }
  if (want("network")) {
    const { networkInspectObject } = await import("./network.ts");
    const n = networkInspectObject(g, ref);
    if (n) return n;
    if (o.type === "network") throw new Error(`network ${ref} not found`);
  }
  if (want("volume")) {
    const { VolumeStore } = await import("../engine/volume.ts");
    try {
      return new VolumeStore(g.root).get(ref);
    } catch (e) {
      if (o.type === "volume") throw e;
    }
  }
  throw new Error(`No such object: ${ref}`);
}

/** The processes in a container's cgroup, as `ps -ef` prints them. */
async function top(s: ContainerState): Promise<string> {
  const { containerProcesses } = await import("../engine/top.ts");
  const { titles, processes } = containerProcesses(s);
  const rows = [titles, ...processes];
  const widths = titles.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => (c < r.length - 1 ? v.padEnd(widths[c]) : v)).join("  "))
    .join("\n");
}

async function logs(dir: StateDir, ref: string, argv: readonly string[]): Promise<number> {
  const { opts } = parseArgs(argv, LOGS_OPTIONS);
  const s = dir.find(ref);
  if (!s.logPath) {
    throw new Error(
      `Container ${s.name} has no log: only detached containers (run -d) keep their output`,
    );
  }
  const tailOpt = opts.tail as string | undefined;
  let tail: number | undefined;
  if (tailOpt !== undefined && tailOpt !== "all") {
    if (!/^\d+$/.test(tailOpt)) throw new UsageError(`invalid --tail ${JSON.stringify(tailOpt)}`);
    tail = Number(tailOpt);
  }
  const enc = new TextEncoder();
  const print = async (r: LogRecord) => {
    const line = opts.timestamps ? `${r.time} ${r.log}` : r.log;
    const out = r.stream === "stderr" ? Deno.stderr : Deno.stdout;
    const b = enc.encode(line);
    for (let off = 0; off < b.length;) off += await out.write(b.subarray(off));
  };
  await emitLog(s.logPath, {
    maxFiles: s.logOptions?.maxFiles ?? 1,
    tail,
    follow: opts.follow === true,
    ended: () => logEnded(dir, s.id),
    emit: print,
  });
  return 0;
}

/** Runs one of the lifecycle commands. */
export async function lifecycleCommand(
  cmd: string,
  argv: readonly string[],
  g: Globals,
): Promise<number> {
  const dir = new StateDir(g.stateDir);
  const help = lifecycleHelp(cmd);
  if (help && (argv[0] === "--help" || (cmd !== "exec" && argv.includes("--help")))) {
    console.log(help);
    return 0;
  }
  switch (cmd) {
    case "start": {
      const { opts, positionals } = parseArgs(argv, START_OPTIONS);
      requireRefs(cmd, positionals);
      if (opts.attach || opts.interactive) {
        if (positionals.length > 1) {
          throw new UsageError("you cannot start and attach multiple containers at once");
        }
        return await startAndAttach(dir, g, positionals[0], {
          stdin: opts.interactive === true,
          detachKeys: opts["detach-keys"] as string | undefined,
        });
      }
      return await each(positionals, (ref) => start(dir, g, ref));
    }
    case "stop":
    case "restart": {
      const { opts, positionals } = parseArgs(argv, STOP_OPTIONS);
      requireRefs(cmd, positionals);
      const t = opts.time === undefined ? undefined : seconds(opts.time as string, 10);
      const sig = opts.signal ? signalArg(opts.signal as string) : undefined;
      return await each(positionals, async (ref) => {
        const s = dir.find(ref);
        // The container's own --stop-signal and --stop-timeout (or its image's STOPSIGNAL).
        const own = s.config?.stopSignal;
        const timeout = t ?? s.config?.stopTimeout ?? 10;
        await stopContainer(
          dir,
          s,
          timeout < 0 ? 365 * 86400 : timeout,
          sig ?? (own ? signalArg(own) : "SIGTERM"),
        );
        if (cmd === "restart") await start(dir, g, s.id, ref);
        else console.log(ref);
      });
    }
    case "kill": {
      const { opts, positionals } = parseArgs(argv, KILL_OPTIONS);
      requireRefs(cmd, positionals);
      const sig = signalArg((opts.signal as string | undefined) ?? "KILL");
      return await each(positionals, async (ref) => {
        const s = dir.find(ref);
        if (!isRunning(s)) throw new Error(`Container ${s.id.slice(0, 12)} is not running`);
        if (sig === "SIGKILL" || sig === "SIGTERM") {
          await dir.update(s.id, (cur) => ({ ...cur, stoppedByUser: true }));
        }
        signalContainer(s, sig, dir.dir);
        console.log(ref);
      });
    }
    case "wait": {
      const { positionals } = parseArgs(argv, []);
      requireRefs(cmd, positionals);
      return await each(positionals, async (ref) => {
        const s = dir.find(ref);
        // A --rm container's state and exit record go together: keep the record while it exists.
        let seen: number | undefined;
        const end = await waitRecorded(dir, s.id, 365 * 86400_000, () => {
          seen = readExit(dir, s.id)?.exitCode ?? seen;
        });
        console.log(end?.exitCode ?? seen ?? s.exitCode ?? 0);
      });
    }
    case "logs": {
      const { positionals } = parseArgs(argv, LOGS_OPTIONS, { stopAfterPositionals: 1 });
      if (positionals.length !== 1) throw new UsageError(`"ctr logs" requires one container`);
      const rest = argv.filter((a) => a !== positionals[0]);
      return await logs(dir, positionals[0], rest);
    }
    case "inspect": {
      const { opts, positionals } = parseArgs(argv, INSPECT_OPTIONS);
      requireRefs(cmd, positionals);
      const type = opts.type as string | undefined;
      if (type !== undefined && !INSPECT_TYPES.includes(type)) {
        throw new UsageError(`"${type}" is not a valid value for --type`);
      }
      await reconcile(dir);
      const found: unknown[] = [];
      let code = 0;
      for (const ref of positionals) {
        try {
          found.push(await inspectAny(dir, g, ref, { type, size: opts.size === true }));
        } catch (e) {
          console.error(`ctr: ${(e as Error).message}`);
          code = 1;
        }
      }
      return printInspected(found, opts.format as string | undefined) || code;
    }
    case "top": {
      const { positionals } = parseArgs(argv, []);
      if (positionals.length < 1) throw new UsageError(`"ctr top" requires one container`);
      const s = dir.find(positionals[0]);
      if (!isRunning(s)) throw new Error(`Container ${s.id.slice(0, 12)} is not running`);
      console.log(await top(s));
      return 0;
    }
    case "port": {
      const { positionals } = parseArgs(argv, []);
      if (positionals.length < 1) throw new UsageError(`"ctr port" requires one container`);
      const s = dir.find(positionals[0]);
      for (const p of portsText(s).split(", ").filter(Boolean)) {
        const [host, ctr] = p.split("->");
        console.log(`${ctr} -> ${host}`);
      }
      return 0;
    }
    case "exec": {
      const { execCommand } = await import("./exec.ts");
      return await execCommand(argv, g);
    }
    case "__start": {
      const s = dir.get(argv[0]);
      if (!s?.config) throw new Error(`No such container: ${argv[0]}`);
      const { startDetached } = await import("../engine/detach.ts");
      return await startDetached(s.config, g, {
        existing: true,
        report: true,
        record: { stoppedByUser: false, restartCount: 0 },
        log: s.logOptions,
      });
    }
    case "__exited": {
      const { exitedCommand } = await import("../engine/detach.ts");
      return await exitedCommand(argv[0], g);
    }
  }
  throw new UsageError(`unknown command: ${cmd}`);
}

/** Usage of the lifecycle commands, for --help. */
const HELP: Record<string, [string, string, readonly OptionSpec[]]> = {
  start: [
    "[OPTIONS] CONTAINER...",
    "Start created or stopped containers, detached (-a: attached), on their kept changes",
    START_OPTIONS,
  ],
  stop: ["[OPTIONS] CONTAINER...", "Stop containers: the stop signal, then SIGKILL", STOP_OPTIONS],
  restart: ["[OPTIONS] CONTAINER...", "Stop and start containers", STOP_OPTIONS],
  kill: ["[OPTIONS] CONTAINER...", "Send a signal to containers (default SIGKILL)", KILL_OPTIONS],
  wait: ["CONTAINER...", "Wait for containers to end; print their exit codes", []],
  logs: ["[OPTIONS] CONTAINER", "Show the output of a detached container", LOGS_OPTIONS],
  inspect: [
    "[OPTIONS] NAME|ID...",
    "Show details of containers, images, networks or volumes as JSON",
    INSPECT_OPTIONS,
  ],
  exec: [
    "[OPTIONS] CONTAINER COMMAND [ARG...]",
    "Run a command in a running container",
    EXEC_OPTIONS,
  ],
  top: ["CONTAINER", "Show the processes of a container", []],
  port: ["CONTAINER", "Show a container's published ports", []],
};

/** The --help text of a lifecycle command, or undefined for the internal ones. */
export function lifecycleHelp(cmd: string): string | undefined {
  const h = HELP[cmd];
  if (!h) return undefined;
  const [args, what, opts] = h;
  return `Usage: ctr ${cmd} ${args}\n\n${what}.${
    opts.length ? `\n\nOptions:\n${optionsHelp(opts.filter((o) => o.name !== "help"))}` : ""
  }`;
}
