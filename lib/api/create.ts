/**
 * `POST /containers/create`: the API's Config and HostConfig as the docker
 * run flags ctr's command line takes, so that a container made through the
 * API passes every check `ctr create` makes and gets the same
 * configuration. Fields ctr does not know are refused by name rather than
 * dropped, unless they hold their default.
 * @module
 */

import { HttpError } from "./http.ts";

type Json = Record<string, unknown>;

/** What create runs: docker's run argv (AutoRemove is `--rm`). */
export interface CreateArgs {
  readonly argv: string[];
}

const str = (v: unknown) => typeof v === "string" && v !== "" ? v : undefined;
const list = (v: unknown) => Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];
const num = (v: unknown) => typeof v === "number" && v !== 0 ? v : undefined;

/** Config (+ HostConfig) → argv for parseRunArgs; `name` from the query. */
export function createArgs(body: Json, name?: string): CreateArgs {
  const image = str(body.Image);
  if (!image) throw new HttpError(400, "Config.Image: an image is required");
  const h = (body.HostConfig ?? {}) as Json;
  const a: string[] = [];
  const flag = (f: string, v: string | undefined) => v !== undefined && a.push(`--${f}=${v}`);
  const bool = (f: string, v: unknown) => v === true && a.push(`--${f}`);
  if (name) flag("name", name.replace(/^\//, ""));
  flag("hostname", str(body.Hostname));
  flag("domainname", str(body.Domainname));
  flag("user", str(body.User));
  flag("workdir", str(body.WorkingDir));
  bool("tty", body.Tty);
  bool("interactive", body.OpenStdin);
  for (const e of list(body.Env)) flag("env", e);
  for (const [k, v] of Object.entries((body.Labels ?? {}) as Record<string, string>)) {
    flag("label", `${k}=${v}`);
  }
  for (const p of Object.keys((body.ExposedPorts ?? {}) as Json)) flag("expose", p);
  flag("stop-signal", str(body.StopSignal));
  if (typeof body.StopTimeout === "number") flag("stop-timeout", String(body.StopTimeout));
  // The API's Entrypoint is a list; docker's flag takes one word, the rest goes before Cmd.
  let entryRest: string[] = [];
  const ep = body.Entrypoint;
  if (Array.isArray(ep) && ep.length) {
    flag("entrypoint", String(ep[0]));
    entryRest = list(ep.slice(1));
  } else if (typeof ep === "string" && ep !== "") flag("entrypoint", ep);
  if (body.Healthcheck) {
    const hc = body.Healthcheck as Json;
    const test = list(hc.Test);
    if (test[0] === "NONE") a.push("--no-healthcheck");
    else if (test.length > 1) {
      flag("health-cmd", test[0] === "CMD-SHELL" ? test[1] : test.slice(1).join(" "));
    }
    const dur = (k: string, f: string) => num(hc[k]) && flag(f, `${Number(hc[k]) / 1e6}ms`);
    dur("Interval", "health-interval");
    dur("Timeout", "health-timeout");
    dur("StartPeriod", "health-start-period");
    if (num(hc.Retries)) flag("health-retries", String(hc.Retries));
  }

  a.push(...volumeArgs(body, h), ...networkArgs(body, h));
  const ports = (h.PortBindings ?? {}) as Record<string, { HostIp?: string; HostPort?: string }[]>;
  for (const [port, binds] of Object.entries(ports)) {
    for (const b of binds ?? [{}]) {
      const ip = b.HostIp ? `${b.HostIp}:` : "";
      flag("publish", `${ip}${b.HostPort ?? ""}:${port}`);
    }
  }
  bool("publish-all", h.PublishAllPorts);
  for (const [f, v] of resourceFlags(h)) flag(f, v);
  for (const c of list(h.CapAdd)) flag("cap-add", c);
  for (const c of list(h.CapDrop)) flag("cap-drop", c);
  bool("privileged", h.Privileged);
  bool("read-only", h.ReadonlyRootfs);
  bool("init", h.Init);
  for (const o of list(h.SecurityOpt)) flag("security-opt", o);
  for (const d of list(h.Dns)) flag("dns", d);
  for (const d of list(h.DnsSearch)) flag("dns-search", d);
  for (const d of list(h.DnsOptions)) flag("dns-option", d);
  for (const e of list(h.ExtraHosts)) flag("add-host", e);
  for (const [path, opts] of Object.entries((h.Tmpfs ?? {}) as Record<string, string>)) {
    flag("tmpfs", opts ? `${path}:${opts}` : path);
  }
  for (const [k, v] of Object.entries((h.Sysctls ?? {}) as Record<string, string>)) {
    flag("sysctl", `${k}=${v}`);
  }
  flag("ipc", str(h.IpcMode));
  flag("pid", str(h.PidMode));
  flag("uts", str(h.UTSMode));
  flag("userns", str(h.UsernsMode));
  flag("cgroupns", str(h.CgroupnsMode));
  if (num(h.ShmSize)) flag("shm-size", String(h.ShmSize));
  if (num(h.OomScoreAdj)) flag("oom-score-adj", String(h.OomScoreAdj));
  const restart = restartFlag(h);
  if (restart !== undefined && restart !== "no") flag("restart", restart);
  const log = h.LogConfig as { Type?: string; Config?: Record<string, string> } | undefined;
  if (log?.Type) flag("log-driver", log.Type);
  for (const [k, v] of Object.entries(log?.Config ?? {})) flag("log-opt", `${k}=${v}`);
  for (
    const d of (h.Devices ?? []) as {
      PathOnHost: string;
      PathInContainer?: string;
      CgroupPermissions?: string;
    }[]
  ) {
    flag(
      "device",
      [d.PathOnHost, d.PathInContainer || d.PathOnHost, d.CgroupPermissions || "rwm"].join(":"),
    );
  }
  if (h.Runtime !== undefined && h.Runtime !== "" && h.Runtime !== "runc") {
    flag("runtime", String(h.Runtime));
  }

  const cmd = list(body.Cmd);
  bool("rm", h.AutoRemove);
  return { argv: [...a, image, ...entryRest, ...cmd] };
}

/** HostConfig's resources as docker's run and update flags (name, value), in one place for both. */
function resourceFlags(h: Json): [string, string][] {
  const out: [string, string][] = [];
  const n = (f: string, v: unknown, scale = 1) =>
    num(v) && out.push([f, String(Number(v) / scale)]);
  n("memory", h.Memory);
  n("memory-swap", h.MemorySwap);
  n("memory-reservation", h.MemoryReservation);
  n("cpus", h.NanoCpus, 1e9);
  n("cpu-shares", h.CpuShares);
  n("cpu-quota", h.CpuQuota);
  n("cpu-period", h.CpuPeriod);
  n("blkio-weight", h.BlkioWeight);
  if (str(h.CpusetCpus)) out.push(["cpuset-cpus", h.CpusetCpus as string]);
  if (str(h.CpusetMems)) out.push(["cpuset-mems", h.CpusetMems as string]);
  n("pids-limit", h.PidsLimit);
  return out;
}

/** RestartPolicy as the --restart flag's value (`on-failure:3`), if one is given. */
function restartFlag(h: Json): string | undefined {
  const rp = h.RestartPolicy as { Name?: string; MaximumRetryCount?: number } | undefined;
  if (!rp?.Name) return undefined;
  return rp.MaximumRetryCount ? `${rp.Name}:${rp.MaximumRetryCount}` : rp.Name;
}

/**
 * `POST /containers/{id}/update`'s body as `ctr update`'s options (flag
 * name to value), so that the command's checks and parsing apply.
 */
export function updateOptions(body: Json): Record<string, string> {
  const opts: Record<string, string> = Object.fromEntries(resourceFlags(body));
  const restart = restartFlag(body);
  if (restart !== undefined) opts.restart = restart;
  return opts;
}

/**
 * The volume flags: Binds (`-v`, named volumes made when missing), Mounts
 * (`--mount`), VolumesFrom, and Config.Volumes that nothing else mounts as
 * anonymous volumes (where docker's CLI puts `-v /path`).
 */
function volumeArgs(body: Json, h: Json): string[] {
  const a: string[] = [];
  const targets = new Set<string>();
  for (const b of list(h.Binds)) {
    a.push(`--volume=${b}`);
    targets.add(b.split(":")[1] ?? b);
  }
  for (const m of (h.Mounts ?? []) as Json[]) {
    a.push(`--mount=${mountSpec(m)}`);
    targets.add(String(m.Target ?? ""));
  }
  for (const v of list(h.VolumesFrom)) a.push(`--volumes-from=${v}`);
  for (const path of Object.keys((body.Volumes ?? {}) as Json)) {
    if (!targets.has(path)) a.push(`--volume=${path}`);
  }
  return a;
}

/** One of HostConfig.Mounts as the `--mount` value docker's CLI would have sent it from. */
function mountSpec(m: Json): string {
  const type = str(m.Type) ?? "volume";
  const parts = [`type=${type}`];
  if (str(m.Source)) parts.push(`source=${m.Source}`);
  if (!str(m.Target)) throw new HttpError(400, "Mounts: a mount needs a Target");
  parts.push(`target=${m.Target}`);
  if (m.ReadOnly === true) parts.push("readonly");
  const bind = (m.BindOptions ?? {}) as Json;
  if (str(bind.Propagation)) parts.push(`bind-propagation=${bind.Propagation}`);
  if (bind.NonRecursive === true) parts.push("bind-nonrecursive");
  const vol = (m.VolumeOptions ?? {}) as Json;
  if (vol.NoCopy === true) parts.push("volume-nocopy");
  const driver = (vol.DriverConfig ?? {}) as Json;
  if (str(driver.Name)) parts.push(`volume-driver=${driver.Name}`);
  for (const [k, v] of Object.entries((driver.Options ?? {}) as Json)) {
    parts.push(`volume-opt=${k}=${v}`);
  }
  const tmpfs = (m.TmpfsOptions ?? {}) as Json;
  if (num(tmpfs.SizeBytes)) parts.push(`tmpfs-size=${tmpfs.SizeBytes}`);
  if (num(tmpfs.Mode)) parts.push(`tmpfs-mode=${Number(tmpfs.Mode).toString(8)}`);
  // A value with a comma would split: quoted as a CSV field, as docker's CLI reads --mount.
  return parts.map((p) => (p.includes(",") ? `"${p.replaceAll('"', '""')}"` : p)).join(",");
}

/**
 * The network flags: NetworkMode (`default` is the bridge, as docker's) and
 * its endpoint in NetworkingConfig: aliases, a fixed address, links. docker
 * 20.10 takes one endpoint at create; more are joined with connect.
 */
function networkArgs(body: Json, h: Json): string[] {
  const mode = str(h.NetworkMode);
  const net = mode === undefined || mode === "default" ? "bridge" : mode;
  const a = [`--network=${net}`];
  const endpoints = ((body.NetworkingConfig ?? {}) as Json).EndpointsConfig as Json | undefined;
  const names = Object.keys(endpoints ?? {});
  if (names.length > 1) {
    throw new HttpError(
      400,
      `Container cannot be connected to network endpoints: ${names.join(", ")}`,
    );
  }
  if (names.length === 0) return a;
  // docker's CLI since 25 names the endpoint as the mode it sends: `default` is the bridge there too.
  const named = names[0] === "default" ? "bridge" : names[0];
  if (named !== net) {
    throw new HttpError(
      400,
      `NetworkingConfig names network ${names[0]}, HostConfig.NetworkMode ${net}`,
    );
  }
  const ep = (endpoints![names[0]] ?? {}) as Json;
  const aliases = list(ep.Aliases);
  if (aliases.length && (net === "bridge" || net === "host" || net === "none")) {
    throw new HttpError(
      400,
      "network-scoped alias is supported only for containers in user defined networks",
    );
  }
  for (const alias of aliases) a.push(`--network-alias=${alias}`);
  const ip = str(((ep.IPAMConfig ?? {}) as Json).IPv4Address);
  if (ip) a.push(`--ip=${ip}`);
  for (const l of list(ep.Links)) a.push(`--link=${l}`);
  return a;
}
