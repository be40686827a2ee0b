/**
 * What each Dockerfile instruction does to the image config, and the history
 * entry it leaves: ENV, LABEL, CMD, ENTRYPOINT, USER, WORKDIR, EXPOSE,
 * VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER and ARG change
 * the config only (`empty_layer`); RUN, COPY and ADD add a layer (its diff_id
 * goes to rootfs.diff_ids), WORKDIR too when it had to create the directory.
 *
 * History `created_by` follows docker: metadata steps as the classic builder
 * wrote them (`/bin/sh -c #(nop)  CMD ["sh"]`), RUN/COPY/ADD as BuildKit does
 * (`RUN |1 A=b /bin/sh -c make # buildkit`); `style: "buildkit"` writes every
 * entry the BuildKit way. Also the process a RUN starts (shell form through
 * SHELL, heredocs). Pure: instructions must already be substituted
 * (expand.ts); nothing here reads the host.
 * @module
 */

import { SIGNALS } from "../../../ffi/constants.ts";
import { DEFAULT_PATH } from "../../config/container.ts";
import type { Digest } from "../digest.ts";
import type { Platform } from "../platform.ts";
import type { ImageConfig } from "../schema.ts";
import {
  type CommandLine,
  type HealthConfig,
  heredocText,
  type Instruction,
  parseHeredocMarker,
  type RunInstruction,
} from "./dockerfile.ts";
import { goQuote } from "../../format/units.ts";

/** The history comment BuildKit writes. */
export const HISTORY_COMMENT = "buildkit.dockerfile.v0";

/** The shell of shell-form commands when the image sets none. */
export const DEFAULT_SHELL: readonly string[] = ["/bin/sh", "-c"];

/** How history entries are worded. */
export type HistoryStyle = "docker" | "buildkit";

/** The process settings of an image config, with the fields a build sets. */
export interface BuildSettings {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  OnBuild?: string[] | null;
  Shell?: string[];
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  [key: string]: unknown;
}

/** A history entry. */
export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An image config being built (a mutable copy; ImageConfig once done). */
export interface BuildImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config: BuildSettings;
  rootfs: { type: "layers"; diff_ids: string[] };
  history: HistoryEntry[];
  [key: string]: unknown;
}

/** An error in what an instruction asks of the config (a bad signal, a bad port). */
export class ConfigError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = "ConfigError";
  }
}

/**
 * The config a stage starts from: a copy of the base image's (without its
 * `created`), or an empty one for `scratch`; PATH is added when the image
 * has none (as docker does). The base's ONBUILD triggers are returned apart:
 * they run first in this stage and are not inherited.
 */
export function startConfig(
  base: ImageConfig | undefined,
  platform: Platform,
): { config: BuildImageConfig; triggers: string[] } {
  const copy = structuredClone(base ?? {}) as Partial<BuildImageConfig>;
  const settings: BuildSettings = { ...(copy.config ?? {}) };
  const triggers = settings.OnBuild ?? [];
  delete settings.OnBuild;
  settings.Env = [...(settings.Env ?? [])];
  if (!settings.Env.some((e) => e.startsWith("PATH="))) settings.Env.push(`PATH=${DEFAULT_PATH}`);
  delete copy.created;
  const config: BuildImageConfig = {
    ...copy,
    architecture: copy.architecture ?? platform.architecture,
    os: copy.os ?? platform.os,
    ...(base === undefined && platform.variant && { variant: platform.variant }),
    config: settings,
    rootfs: { type: "layers", diff_ids: [...(copy.rootfs?.diff_ids ?? [])] },
    history: [...(copy.history ?? [])],
  };
  return { config, triggers };
}

/** Go's `%q` of a []string: `["a" "b"]`. */
function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(" ")}]`;
}

/** Go's `%v` of a []string: `[a b]`. */
function goList(list: readonly string[]): string {
  return `[${list.join(" ")}]`;
}

/** Go's time.Duration.String() of nanoseconds: `5s`, `1m30s`, `300ms`, `0s`. */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trim(n / 1e3)}µs`;
  else if (n < 1e9) out = `${trim(n / 1e6)}ms`;
  else {
    const h = Math.floor(n / 3600e9);
    n -= h * 3600e9;
    const m = Math.floor(n / 60e9);
    n -= m * 60e9;
    out = `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${trim(n / 1e9)}s`;
  }
  return (neg ? "-" : "") + out;
}

function trim(x: number): string {
  return String(Number(x.toFixed(9)));
}

/** `%+v` of docker's HealthcheckConfig. */
function healthText(h: HealthConfig): string {
  return `{Test:${goList(h.Test)} Interval:${goDuration(h.Interval ?? 0)} Timeout:${
    goDuration(h.Timeout ?? 0)
  } StartPeriod:${goDuration(h.StartPeriod ?? 0)} StartInterval:${
    goDuration(h.StartInterval ?? 0)
  } Retries:${h.Retries ?? 0}}`;
}

/** A command line as the config stores it: exec form as is, shell form through the shell. */
export function withShell(config: BuildImageConfig, cmd: CommandLine): string[] {
  if (cmd.form === "exec") return [...cmd.args];
  const shell = config.config.Shell?.length ? config.config.Shell : DEFAULT_SHELL;
  return [...shell, cmd.text];
}

/** EXPOSE values as `port/proto`, ranges expanded (docker drops any ip and host port). */
export function exposedPorts(specs: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of specs) {
    // [ip:][hostPort:]containerPort[/proto]: only the container port matters.
    const noIp = raw.replace(/^\[[^\]]*\]:/, "");
    const container = noIp.slice(noIp.lastIndexOf(":") + 1);
    const slash = container.indexOf("/");
    const range = slash === -1 ? container : container.slice(0, slash);
    const proto = slash === -1 ? "tcp" : container.slice(slash + 1).toLowerCase();
    if (range === "") {
      throw new ConfigError(`invalid port: ${JSON.stringify(raw)}: no port specified`);
    }
    if (!["tcp", "udp", "sctp"].includes(proto)) {
      throw new ConfigError(`invalid port: ${JSON.stringify(raw)}: invalid proto: ${proto}`);
    }
    const [a, b] = range.split("-", 2);
    const start = Number(a), end = b === undefined || b === a ? start : Number(b);
    if (!/^\d+$/.test(a) || (b !== undefined && !/^\d+$/.test(b)) || end > 65535 || end < start) {
      throw new ConfigError(`invalid containerPort: ${range}`);
    }
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

/** Checks a STOPSIGNAL value the way docker's signal.ParseSignal does. */
export function checkSignal(sig: string): void {
  if (/^\d+$/.test(sig)) {
    if (Number(sig) === 0) throw new ConfigError(`Invalid signal: ${sig}`);
    return;
  }
  const name = sig.toUpperCase().replace(/^SIG/, "");
  if (
    `SIG${name}` in SIGNALS || /^RTMIN(\+([1-9]|1[0-5]))?$|^RTMAX(-([1-9]|1[0-5]))?$/.test(name)
  ) return;
  throw new ConfigError(`Invalid signal: ${sig}`);
}

/** docker's NormalizeWorkdir: a relative WORKDIR is joined to the current one, then cleaned. */
export function normalizeWorkdir(current: string, path: string): string {
  const joined = path.startsWith("/") ? path : `${current || "/"}/${path}`;
  const parts: string[] = [];
  for (const p of joined.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return "/" + parts.join("/");
}

/** Options of applyInstruction. */
export interface ApplyOptions {
  /** The history entry's time (RFC 3339); omitted when undefined. */
  readonly created?: string;
  /** The layer the step produced (RUN, COPY, ADD, and WORKDIR when it created the directory). */
  readonly layer?: Digest;
  /** RUN: the history line (from runHistory); other instructions' lines are derived here. */
  readonly createdBy?: string;
  /** ARG: the text StageScope.declare returned. */
  readonly argText?: string;
  /** Wording of the history (default "docker"). */
  readonly style?: HistoryStyle;
  /** Whether a CMD was set earlier in this stage (an ENTRYPOINT clears an inherited CMD only). */
  readonly cmdSet?: boolean;
}

/** The history text of a metadata instruction (BuildKit's words). */
function metadataText(
  ins: Instruction,
  config: BuildImageConfig,
  opts: ApplyOptions,
): string | undefined {
  switch (ins.kind) {
    case "ENV":
    case "LABEL":
      return `${ins.kind} ${ins.pairs.map((p) => `${p.key}=${p.value}`).join(" ")}`;
    case "CMD":
    case "ENTRYPOINT":
      return `${ins.kind} ${goQuoteList(withShell(config, ins.command))}`;
    case "USER":
      return `USER ${ins.user}`;
    case "EXPOSE":
      return `EXPOSE ${goList(exposedPorts(ins.ports))}`;
    case "VOLUME":
      return `VOLUME ${goList(ins.paths)}`;
    case "STOPSIGNAL":
      return `STOPSIGNAL ${ins.signal}`;
    case "SHELL":
      return `SHELL ${goList(ins.shell)}`;
    case "MAINTAINER":
      return `MAINTAINER ${ins.maintainer}`;
    case "HEALTHCHECK":
      return `HEALTHCHECK ${healthText(ins.health)}`;
    case "ARG":
      return opts.argText ??
        `ARG ${
          ins.args.map((a) => (a.value === undefined ? a.name : `${a.name}=${a.value}`)).join(" ")
        }`;
    case "WORKDIR":
      return `WORKDIR ${normalizeWorkdir(config.config.WorkingDir ?? "", ins.path)}`;
    default:
      return undefined;
  }
}

/** COPY/ADD history text, as BuildKit writes it (sources and dest as substituted). */
export function copyHistory(ins: Instruction): string {
  if (ins.kind !== "COPY" && ins.kind !== "ADD") throw new Error(`${ins.kind} is not COPY or ADD`);
  const parts: string[] = [ins.kind];
  if (ins.kind === "COPY" && ins.parents) parts.push("--parents");
  if (ins.chown) parts.push(`--chown=${ins.chown}`);
  if (ins.chmod) parts.push(`--chmod=${ins.chmod}`);
  parts.push(...ins.sources, ...ins.contents.map((c) => `<<${c.path}`), ins.dest);
  return `${parts.join(" ")} # buildkit`;
}

/**
 * Applies one (substituted) instruction to a config: returns a new config
 * with the change and its history entry. FROM, ONBUILD's trigger and RUN's
 * process are not config changes; RUN/COPY/ADD need `opts.layer` (or are
 * recorded as empty layers).
 */
export function applyInstruction(
  config: BuildImageConfig,
  ins: Instruction,
  opts: ApplyOptions = {},
): BuildImageConfig {
  const next: BuildImageConfig = structuredClone(config);
  const c = next.config;
  const style = opts.style ?? "docker";
  const text = metadataText(ins, config, opts);
  switch (ins.kind) {
    case "ENV":
      for (const p of ins.pairs) {
        const env = c.Env ?? [];
        const i = env.findIndex((e) =>
          e.slice(0, e.indexOf("=") === -1 ? e.length : e.indexOf("=")) === p.key
        );
        if (i === -1) env.push(`${p.key}=${p.value}`);
        else env[i] = `${p.key}=${p.value}`;
        c.Env = env;
      }
      break;
    case "LABEL":
      c.Labels = { ...(c.Labels ?? {}) };
      for (const p of ins.pairs) c.Labels[p.key] = p.value;
      break;
    case "CMD":
      c.Cmd = withShell(config, ins.command);
      c.ArgsEscaped = true;
      break;
    case "ENTRYPOINT":
      c.Entrypoint = withShell(config, ins.command);
      if (ins.command.form === "exec" && ins.command.args.length === 0) c.Entrypoint = null;
      if (!opts.cmdSet) c.Cmd = null;
      break;
    case "USER":
      c.User = ins.user;
      break;
    case "WORKDIR":
      c.WorkingDir = normalizeWorkdir(c.WorkingDir ?? "", ins.path);
      break;
    case "EXPOSE":
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of exposedPorts(ins.ports)) c.ExposedPorts[p] = {};
      break;
    case "VOLUME":
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of ins.paths) {
        if (v === "") throw new ConfigError("VOLUME specified can not be an empty string");
        c.Volumes[v] = {};
      }
      break;
    case "STOPSIGNAL":
      checkSignal(ins.signal);
      c.StopSignal = ins.signal;
      break;
    case "SHELL":
      c.Shell = [...ins.shell];
      break;
    case "MAINTAINER":
      next.author = ins.maintainer;
      break;
    case "HEALTHCHECK":
      c.Healthcheck = { ...ins.health, Test: [...ins.health.Test] };
      break;
    case "ONBUILD":
      c.OnBuild = [...(c.OnBuild ?? []), ins.expression];
      return next; // BuildKit records no history entry for ONBUILD
    case "ARG":
      break;
    case "RUN":
    case "COPY":
    case "ADD": {
      const createdBy = opts.createdBy ??
        (ins.kind === "RUN" ? `RUN ${commandText(ins.command)} # buildkit` : copyHistory(ins));
      if (opts.layer) next.rootfs.diff_ids.push(opts.layer);
      next.history.push(entry(createdBy, !opts.layer, opts, style));
      return finish(next, opts);
    }
    case "FROM":
      throw new Error("FROM starts a stage: use startConfig");
  }
  if (ins.kind === "WORKDIR" && opts.layer) next.rootfs.diff_ids.push(opts.layer);
  const line = style === "docker" ? `/bin/sh -c #(nop)  ${text}` : text!;
  next.history.push(entry(line, !(ins.kind === "WORKDIR" && opts.layer), opts, style));
  return finish(next, opts);
}

function commandText(cmd: CommandLine): string {
  return cmd.form === "exec" ? cmd.args.join(" ") : cmd.text;
}

function entry(
  createdBy: string,
  empty: boolean,
  opts: ApplyOptions,
  style: HistoryStyle,
): HistoryEntry {
  return {
    ...(opts.created !== undefined && { created: opts.created }),
    created_by: createdBy,
    ...(style === "buildkit" && { comment: HISTORY_COMMENT }),
    ...(empty && { empty_layer: true }),
  };
}

function finish(config: BuildImageConfig, opts: ApplyOptions): BuildImageConfig {
  if (opts.created !== undefined) config.created = opts.created;
  return config;
}

/** One step for imageConfigFor: a substituted instruction and what executing it gave. */
export interface ConfigChange extends ApplyOptions {
  readonly instruction: Instruction;
}

/**
 * The config after a sequence of steps on a base config (from startConfig):
 * the config fields, the history entries and rootfs.diff_ids, per the OCI
 * image spec. ENTRYPOINT clears a CMD inherited from the base, not one set
 * earlier in the same steps (as docker).
 */
export function imageConfigFor(
  base: BuildImageConfig,
  changes: readonly ConfigChange[],
): BuildImageConfig {
  let config = base;
  let cmdSet = false;
  for (const ch of changes) {
    config = applyInstruction(config, ch.instruction, { ...ch, cmdSet: ch.cmdSet ?? cmdSet });
    if (ch.instruction.kind === "CMD") cmdSet = true;
  }
  return config;
}

/** A file a RUN needs mounted (a heredoc script with a `#!` line). */
export interface RunFile {
  /** Its path in the container (under /dev/pipes/, read-only). */
  readonly path: string;
  readonly data: string;
  readonly mode: number;
}

/** What a RUN starts. */
export interface RunProcess {
  /** The argv, the shell included. */
  readonly args: string[];
  /** Files to mount read-only into the container first. */
  readonly files: RunFile[];
  /** The history line (`RUN |1 A=b /bin/sh -c make # buildkit`). */
  readonly createdBy: string;
}

/**
 * The process of a (substituted) RUN in a stage whose config is `config`:
 * shell form goes through SHELL (or /bin/sh -c); a lone heredoc runs as the
 * script (through a file in /dev/pipes/ when it starts with `#!`); other
 * heredocs are handed to the shell as written. `historyPrefix` is
 * StageScope.historyPrefix() (the build args the history names).
 */
export function runProcess(
  config: BuildImageConfig,
  run: RunInstruction,
  historyPrefix = "",
): RunProcess {
  let args = run.command.form === "exec" ? [...run.command.args] : [run.command.text];
  const files: RunFile[] = [];
  if (run.heredocs.length > 0 && run.command.form === "shell") {
    const lone = parseHeredocMarker(args[0]);
    if (lone && run.heredocs.length >= 1) {
      const data = heredocText(run.heredocs[0]);
      if (data.startsWith("#!")) {
        const path = `/dev/pipes/${run.heredocs[0].name}`;
        files.push({ path, data, mode: 0o755 });
        args = [path];
      } else args = [data];
    } else {
      args = [args[0] + run.heredocs.map((h) => `\n${h.content}${h.name}`).join("")];
    }
  }
  if (run.command.form === "shell") {
    const shell = config.config.Shell?.length ? config.config.Shell : DEFAULT_SHELL;
    args = [...shell, args.join(" ")];
  }
  const createdBy = `RUN ${[historyPrefix, ...args].filter((s) => s !== "").join(" ")} # buildkit`;
  return { args, files, createdBy };
}

/** The finished config, for the store: created set, empty optional fields dropped. */
export function finalConfig(config: BuildImageConfig, created?: string): ImageConfig {
  const out = structuredClone(config);
  if (created !== undefined) out.created = created;
  const c = out.config;
  for (const k of ["Cmd", "Entrypoint", "OnBuild"] as const) if (c[k] === null) delete c[k];
  if (c.OnBuild && c.OnBuild.length === 0) delete c.OnBuild;
  return out as unknown as ImageConfig;
}
