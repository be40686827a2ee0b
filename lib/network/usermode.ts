/**
 * User-mode network stacks: a container's network without privileges.
 * Debian's slirp4netns, or pasta (Debian's passt), joins the container's
 * user and network namespaces, makes its interface there (a tap device) and
 * carries its traffic through ordinary sockets of the user's on the host:
 * outbound connections, and published ports, which listen on the host
 * (`-p 127.0.0.1:8080:80`). Each runs as a process of its own beside the
 * container, started by the parent at phase 0 while the container waits,
 * recorded in the container's state and stopped when it is released.
 *
 * slirp4netns: the container is 10.0.2.100/24 on tap0, its gateway 10.0.2.2
 * and its resolver 10.0.2.3 (slirp's own, forwarding to the host's);
 * connections to the host's loopback are refused (--disable-host-loopback).
 * Ports are added through its API socket. pasta: the container gets the
 * host's address and routes on an interface of the same name, its resolver
 * at 169.254.1.1 is forwarded to the host's; ports are given on its command
 * line; nothing is forwarded to the host's loopback (-T none, --no-map-gw).
 * @module
 */

import { F, O } from "../../ffi/constants.ts";
import { close, open, pipe, readAsync } from "../../ffi/sys.ts";
import type { PortMapping, UserModeNet } from "../config/container.ts";
import { isAlive, type ProcessRef, processStartTime } from "../os/proc.ts";
import { int, type Plan, PlanError } from "../runtime/plan.ts";
import { spawn } from "../runtime/spawn.ts";
import { closeOtherFds, dupTo, execPath, unblockSignals } from "../runtime/steps.ts";
import { formatPort } from "./ports.ts";

/** Where the programs are (Debian's packages put them here). */
export const USER_MODE_PROGRAMS: Readonly<Record<UserModeNet, string>> = {
  slirp4netns: "/usr/bin/slirp4netns",
  pasta: "/usr/bin/pasta",
};

/** The Debian package of each program, for messages. */
const PACKAGE: Readonly<Record<UserModeNet, string>> = {
  slirp4netns: "slirp4netns",
  pasta: "passt",
};

/** slirp4netns's fixed addresses (its default 10.0.2.0/24). */
export const SLIRP = { ip: "10.0.2.100", gateway: "10.0.2.2", dns: "10.0.2.3", prefixLen: 24 };

/** The address pasta answers DNS queries at, forwarding them to the host's resolver. */
export const PASTA_DNS = "169.254.1.1";

/** A user-mode stack serving a container. */
export interface UserModeNetwork {
  readonly kind: UserModeNet;
  /** Its process, for the state record (released by stopUserModeNet). */
  readonly process: ProcessRef;
  /** The published ports, host ports chosen. */
  readonly ports: readonly PortMapping[];
  /** The container's address and gateway where the stack fixes them (slirp4netns). */
  readonly ip?: string;
  readonly prefixLen?: number;
  readonly gateway?: string;
  /** The resolver the container's resolv.conf names. */
  readonly nameserver: string;
  /** Stops the stack (the container's network goes with it). */
  teardown(): Promise<void>;
}

/** How to start a stack for the container whose PID 1 is `pid`. */
export interface UserModeOptions {
  readonly ports: readonly PortMapping[];
  /** The container has a user namespace of its own, to join before its network namespace. */
  readonly userns: boolean;
  /** A directory of the container's: the stack's log goes there. */
  readonly dir: string;
  /**
   * Where slirp4netns's API socket is made while ports are added (a short
   * path: a socket's name holds at most 107 bytes), e.g. `STATE/ID12.slirp`.
   */
  readonly socket: string;
  /** Stop it when this process ends (a foreground container: nobody else would). */
  readonly dieWithUs: boolean;
  /** The program's path (default USER_MODE_PROGRAMS). */
  readonly program?: string;
}

/** A free TCP or UDP port of the host address, for `-p` without a host port. */
function freePort(p: PortMapping): number {
  const hostname = p.hostIp ?? "0.0.0.0";
  if (p.protocol === "udp") {
    const l = Deno.listenDatagram({ hostname, port: 0, transport: "udp" });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    return port;
  }
  const l = Deno.listen({ hostname, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The ports with a host port chosen where `-p` gave none. */
function chosenPorts(ports: readonly PortMapping[]): PortMapping[] {
  return ports.map((p) => (p.hostPort === 0 ? { ...p, hostPort: freePort(p) } : p));
}

/** Stops a recorded stack process (if it is still that process). */
export function stopUserModeNet(p: ProcessRef | undefined): void {
  if (!p || !isAlive(p)) return;
  try {
    Deno.kill(p.pid, "SIGTERM");
  } catch { /* gone */ }
}

/** The last line of a stack's log, for an error. */
function lastLogLine(log: string): string {
  try {
    const lines = Deno.readTextFileSync(log).split("\n").map((l) => l.trim())
      .filter((l) => l && !l.startsWith("Failed to send") && !/^child failed/.test(l));
    return lines.pop() ?? "";
  } catch {
    return "";
  }
}

/** Starts the user-mode stack `kind` for the container whose PID 1 (waiting) is `pid`. */
export async function startUserModeNet(
  kind: UserModeNet,
  pid: number,
  o: UserModeOptions,
): Promise<UserModeNetwork> {
  const program = o.program ?? USER_MODE_PROGRAMS[kind];
  try {
    Deno.statSync(program);
  } catch {
    throw new Error(`--net=${kind} needs ${program}: install Debian's ${PACKAGE[kind]} package`);
  }
  checkTun(kind);
  return kind === "slirp4netns" ? await slirp4netns(program, pid, o) : await pasta(program, pid, o);
}

/**
 * Both stacks open /dev/net/tun as the user (the tap device is made in the
 * container's namespaces, where the user is root, but the device node is
 * the host's): Debian's udev makes it 0666; a host that keeps it 0600
 * leaves user-mode networks to root.
 */
function checkTun(kind: UserModeNet): void {
  try {
    Deno.openSync("/dev/net/tun", { read: true, write: true }).close();
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied)) return; // let the stack say what it is
    let mode = "";
    try {
      mode = ` (mode 0${((Deno.statSync("/dev/net/tun").mode ?? 0) & 0o777).toString(8)})`;
    } catch { /* none */ }
    throw new Error(
      `--net=${kind} needs /dev/net/tun, which this user may not open${mode}: ` +
        "it is 0666 where udev makes it (chmod 666 /dev/net/tun)",
    );
  }
}

/**
 * The plan that runs a stack program as a process of its own: its own
 * session (a ^C for the container does not reach it), stdin and stdout on
 * /dev/null, stderr to its log, `keep` fds inherited at their numbers.
 */
export function stackPlan(
  argv: readonly string[],
  o: { readonly log: number; readonly keep: readonly number[] },
): Plan {
  return {
    cloneFlags: 0,
    steps: [
      { call: "setsid", args: [], label: "a session of its own" },
      dupTo({ fd: "devNull" }, 0, "stdin from /dev/null"),
      dupTo({ fd: "devNull" }, 1, "stdout to /dev/null"),
      dupTo(int(o.log), 2, "stderr to the log"),
      closeOtherFds(3),
      ...o.keep.map((fd) => ({
        call: "fcntl" as const,
        args: [int(fd), int(F.SETFD, "F_SETFD"), int(0)],
        label: `keep fd ${fd} across exec`,
      })),
      unblockSignals(),
      execPath(argv[0], argv, ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], `exec ${argv[0]}`),
    ],
  };
}

/** Runs a stack program by its plan; returns its pid and a pidfd (the caller's). */
async function startStack(plan: Plan, what: string): Promise<{ pid: number; pidfd: number }> {
  try {
    const s = await spawn(plan);
    return { pid: s.pid, pidfd: s.pidfd };
  } catch (e) {
    if (e instanceof PlanError) throw new Error(`Cannot start ${what}: ${e.message}`);
    throw e;
  }
}

/** Reads one byte from `fd` within `ms`; false on EOF or timeout (then `onTimeout` ran). */
async function readyWithin(fd: number, ms: number, onTimeout: () => void): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<number>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve(-1);
    }, ms);
  });
  try {
    const n = await Promise.race([readAsync(fd, new Uint8Array(1), "the ready pipe"), timeout]);
    return n > 0;
  } finally {
    clearTimeout(timer);
  }
}

async function slirp4netns(
  program: string,
  pid: number,
  o: UserModeOptions,
): Promise<UserModeNetwork> {
  const ports = chosenPorts(o.ports);
  const log = `${o.dir}/slirp4netns.log`;
  const api = o.socket;
  if (new TextEncoder().encode(api).length > 107) {
    throw new Error(`The socket path ${api} is too long for a unix socket (at most 107 bytes)`);
  }
  const [readyR, readyW] = pipe();
  // The exit pipe's write end stays in this process only: when it ends, slirp4netns does.
  const [exitR, exitW] = o.dieWithUs ? pipe() : [-1, -1];
  const logFd = open(log, O.WRONLY | O.CREAT | O.TRUNC | O.CLOEXEC, 0o600);
  const argv = [
    program,
    "--configure",
    "--mtu=65520",
    "--disable-host-loopback",
    `--ready-fd=${readyW}`,
    ...(exitR >= 0 ? [`--exit-fd=${exitR}`] : []),
    ...(ports.length > 0 ? [`--api-socket=${api}`] : []),
    ...(o.userns ? [`--userns-path=/proc/${pid}/ns/user`] : []),
    "--netns-type=path",
    `/proc/${pid}/ns/net`,
    "tap0",
  ];
  let started: { pid: number; pidfd: number };
  try {
    started = await startStack(
      stackPlan(argv, { log: logFd, keep: exitR >= 0 ? [readyW, exitR] : [readyW] }),
      "slirp4netns",
    );
  } catch (e) {
    for (const fd of [readyR, readyW, exitR, exitW]) if (fd >= 0) close(fd);
    throw e;
  } finally {
    close(logFd);
  }
  close(readyW);
  if (exitR >= 0) close(exitR);
  close(started.pidfd);
  const proc = { pid: started.pid, startTime: processStartTime(started.pid) ?? 0 };
  const stop = () => stopUserModeNet(proc);
  try {
    const ok = await readyWithin(readyR, 10_000, stop);
    if (!ok) {
      throw new Error(
        `slirp4netns did not configure the container's network: ${
          lastLogLine(log) || "no word from it"
        } (log: ${log})`,
      );
    }
    for (const p of ports) await addHostForward(api, p);
  } catch (e) {
    stop();
    if (exitW >= 0) close(exitW);
    throw e;
  } finally {
    close(readyR);
    try {
      Deno.removeSync(api);
    } catch { /* none: no ports */ }
  }
  return {
    kind: "slirp4netns",
    process: proc,
    ports,
    ip: SLIRP.ip,
    prefixLen: SLIRP.prefixLen,
    gateway: SLIRP.gateway,
    nameserver: SLIRP.dns,
    teardown() {
      stop();
      if (exitW >= 0) close(exitW);
      return Promise.resolve();
    },
  };
}

/** Asks slirp4netns (its API socket) to forward a host port to the container. */
async function addHostForward(api: string, p: PortMapping): Promise<void> {
  const request = {
    execute: "add_hostfwd",
    arguments: {
      proto: p.protocol,
      host_addr: p.hostIp ?? "0.0.0.0",
      host_port: p.hostPort,
      guest_port: p.containerPort,
    },
  };
  const conn = await Deno.connect({ transport: "unix", path: api });
  let reply: string;
  try {
    await conn.write(new TextEncoder().encode(JSON.stringify(request)));
    await conn.closeWrite();
    reply = await new Response(conn.readable).text();
  } catch (e) {
    try {
      conn.close();
    } catch { /* closed */ }
    throw new Error(`Cannot publish ${formatPort(p)} through slirp4netns: ${(e as Error).message}`);
  }
  let parsed: { error?: { desc?: string } } = {};
  try {
    parsed = JSON.parse(reply);
  } catch { /* not JSON: reported below */ }
  if (parsed.error || !reply.includes("return")) {
    throw new Error(
      `Cannot publish ${formatPort(p)} through slirp4netns: ${
        parsed.error?.desc ?? (reply.trim() || "no answer")
      }`,
    );
  }
}

/** pasta's forwarding spec for the ports of one protocol: `ADDR/HOST:CTR,...`, or none. */
export function pastaPortSpec(ports: readonly PortMapping[], protocol: "tcp" | "udp"): string {
  const of = ports.filter((p) => p.protocol === protocol);
  if (of.length === 0) return "none";
  return of.map((p) => `${p.hostIp ? `${p.hostIp}/` : ""}${p.hostPort}:${p.containerPort}`)
    .join(",");
}

async function pasta(program: string, pid: number, o: UserModeOptions): Promise<UserModeNetwork> {
  const ports = chosenPorts(o.ports);
  const pidFile = `${o.dir}/pasta.pid`;
  const log = `${o.dir}/pasta.log`;
  const args = [
    "--config-net",
    "--quiet",
    "--pid",
    pidFile,
    "--log-file",
    log,
    "-t",
    pastaPortSpec(ports, "tcp"),
    "-u",
    pastaPortSpec(ports, "udp"),
    "-T",
    "none",
    "-U",
    "none",
    "--no-map-gw",
    "--dns-forward",
    PASTA_DNS,
    ...(o.userns ? ["--userns", `/proc/${pid}/ns/user`] : []),
    "--netns",
    `/proc/${pid}/ns/net`,
  ];
  // pasta sets the namespace up, then goes to the background and its first process exits.
  const out = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  let stackPid = 0;
  try {
    stackPid = Number(Deno.readTextFileSync(pidFile).trim());
  } catch { /* not written: it failed */ }
  try {
    Deno.removeSync(pidFile);
  } catch { /* none */ }
  if (!out.success || !(stackPid > 0)) {
    const err = new TextDecoder().decode(out.stderr).split("\n").map((l) => l.trim())
      .filter((l) => l && !l.startsWith("Failed to send")).pop();
    throw new Error(
      `pasta did not configure the container's network: ${
        err || lastLogLine(log) || `exit ${out.code}`
      }`,
    );
  }
  const proc = { pid: stackPid, startTime: processStartTime(stackPid) ?? 0 };
  return {
    kind: "pasta",
    process: proc,
    ports,
    nameserver: PASTA_DNS,
    teardown() {
      stopUserModeNet(proc);
      return Promise.resolve();
    },
  };
}
