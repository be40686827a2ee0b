/**
 * Packet filter rules of ctr's containers: outbound masquerade, published
 * ports (DNAT) and the isolation of ctr's bridges from each other. With
 * nf_tables they live in one table, `ip ctr`, owned by ctr and written over
 * netlink (nft.ts: one transaction per change, no `nft` process); where the
 * kernel has no nf_tables, with iptables, in chains CTR and CTR-POSTROUTING
 * (nat) and CTR-FORWARD (filter).
 * Every rule carries the comment `ctr:<container id>`, so one container's
 * rules are removed without touching another's, and the table (or the
 * chains) go when no rule is left.
 *
 * IP forwarding is switched on when a container needs it (masquerade, or a
 * port published on a non-loopback address) and, when ctr switched it on,
 * switched off again with the last rule.
 *
 *     table ip ctr
 *       prerouting  (nat, dstnat)  iifname != BR fib daddr type local tcp dport HP dnat to IP:CP
 *       output      (nat, dstnat)  ip daddr != 127.0.0.0/8 fib daddr type local tcp dport HP dnat to IP:CP
 *       postrouting (nat, srcnat)  ip saddr IP oifname != BR masquerade
 *       forward     (filter)       iifname BR oifname "ctr*" oifname != BR ct status ! dnat drop
 *                                  (internal) ip saddr IP iifname BR oifname != BR drop,
 *                                  ip daddr IP oifname BR iifname != BR drop
 * @module
 */

import { FileLock } from "../os/lock.ts";
import { BRIDGE_PREFIX } from "./networks.ts";
import {
  type Change,
  ctStateNotIn,
  ctStatusLacks,
  dnatTo,
  dport,
  drop,
  fibDaddrTypeLocal,
  type Hook,
  iifname,
  ipDaddr,
  ipSaddr,
  masquerade,
  Nftables,
  oifname,
  ruleText,
  type Statement,
  type Table,
} from "./nft.ts";
import { isLoopback, type PortMapping } from "./ports.ts";
import { commentContainer, MAX_ENDPOINTS, ruleComment } from "./names.ts";

export { ruleComment };

/** What installs the rules: nf_tables over netlink, the iptables program, or nothing. */
export type NatBackend = "nft" | "iptables" | "none";

/** What is missing, in the words of the warnings. */
export const NO_BACKEND = "the kernel has no nf_tables and iptables was not found";
/** The warning when ports are published on a host without nf_tables or iptables. */
export const PORTS_NEED_BACKEND = `published ports need nftables or iptables: ${NO_BACKEND}`;
/** The warning when outbound NAT is asked for on a host without nf_tables or iptables. */
export const NAT_NEEDS_BACKEND = `outbound NAT needs nftables or iptables: ${NO_BACKEND}`;
/** The warning when an internal network's container gets no rules (it still has no route out). */
export const INTERNAL_NEEDS_BACKEND =
  `an internal network keeps forwarded traffic out with nftables or iptables: ${NO_BACKEND}`;
/** The warning when forwarding is on and nothing keeps networks apart. */
export const NOT_ISOLATED =
  `containers on different networks are not isolated: IP forwarding is on and ${NO_BACKEND}`;

const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";

/** The rules one container needs. */
export interface ContainerRules {
  readonly containerId: string;
  /** Which of its networks these rules are for (its comment's suffix); default 0, the first. */
  readonly endpoint?: number;
  /** The bridge of its network. */
  readonly bridge: string;
  /** Its address. */
  readonly ip: string;
  /** Masquerade what it sends out of other interfaces than its bridge. */
  readonly masquerade: boolean;
  /** Published ports, host ports chosen (not 0). */
  readonly ports: readonly PortMapping[];
  /**
   * No userspace proxy serves 127.0.0.1 (a detached container): ports
   * published on every address or on a loopback address are DNATed from
   * 127.0.0.0/8 too, with the bridge's route_localnet on and the loopback
   * source masqueraded, as docker does without its proxy.
   */
  readonly loopback?: boolean;
  /**
   * The network is internal: nothing the container sends leaves by another
   * interface than its bridge, and nothing from elsewhere is forwarded in.
   */
  readonly internal?: boolean;
}

/** Whether the rules need IP forwarding. */
export function needsForwarding(r: Pick<ContainerRules, "masquerade" | "ports">): boolean {
  return r.masquerade || r.ports.some((p) => !isLoopback(p.hostIp));
}

/** The published ports that get DNAT rules (not those on a loopback address: the proxy's). */
function natPorts(r: ContainerRules): PortMapping[] {
  return r.ports.filter((p) => !isLoopback(p.hostIp));
}

function checkRules(r: ContainerRules): void {
  if (!/^[0-9a-f]{1,64}$/.test(r.containerId)) {
    throw new Error(`Invalid container id: ${r.containerId}`);
  }
  const k = r.endpoint ?? 0;
  if (!Number.isInteger(k) || k < 0 || k >= MAX_ENDPOINTS) {
    throw new Error(`Invalid endpoint index: ${k}`);
  }
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(r.bridge)) throw new Error(`Invalid bridge name: ${r.bridge}`);
  const ips = [r.ip, ...r.ports.map((p) => p.hostIp).filter((x) => x !== undefined)];
  for (const ip of ips) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip!)) throw new Error(`Invalid IPv4 address: ${ip}`);
  }
  for (const p of r.ports) {
    if (p.hostPort < 1 || p.hostPort > 65535) {
      throw new Error(`Host port not chosen: ${p.hostPort}`);
    }
  }
}

// ---------------------------------------------------------------------------
// nf_tables

/** The chains of ctr's table: every one a base chain with policy accept. */
const NFT_CHAINS: readonly { chain: string; base: Hook }[] = [
  { chain: "prerouting", base: { type: "nat", hook: "prerouting", priority: -100 } },
  { chain: "output", base: { type: "nat", hook: "output", priority: -100 } },
  { chain: "postrouting", base: { type: "nat", hook: "postrouting", priority: 100 } },
  { chain: "forward", base: { type: "filter", hook: "forward", priority: 0 } },
  { chain: "input", base: { type: "filter", hook: "input", priority: 0 } },
];

/** The changes that create the table and its chains (idempotent: an existing one is kept). */
export function nftTableChanges(): Change[] {
  return [{ add: "table" }, ...NFT_CHAINS.map((c) => ({ add: "chain" as const, ...c }))];
}

/** The same as nft commands. */
export function nftTableCommands(table: string): string[] {
  const t = `ip ${table}`;
  return [
    `add table ${t}`,
    ...NFT_CHAINS.map(({ chain, base: b }) =>
      `add chain ${t} ${chain} { type ${b.type} hook ${b.hook} priority ${b.priority}; policy accept; }`
    ),
  ];
}

/** One rule of a container: its chain and statements (the comment is the container's). */
export interface NftContainerRule {
  readonly chain: string;
  readonly statements: readonly Statement[];
}

/** The nf_tables rules of one container, in the order they are added. */
export function nftRules(r: ContainerRules): NftContainerRule[] {
  checkRules(r);
  const br = r.bridge;
  const out: NftContainerRule[] = [
    {
      chain: "forward",
      statements: [
        iifname(br),
        oifname(`${BRIDGE_PREFIX}*`),
        oifname(br, "!="),
        ctStatusLacks("dnat"),
        drop(),
      ],
    },
  ];
  if (r.internal) {
    out.push(
      { chain: "forward", statements: [ipSaddr(r.ip), iifname(br), oifname(br, "!="), drop()] },
      { chain: "forward", statements: [ipDaddr(r.ip), oifname(br), iifname(br, "!="), drop()] },
    );
  }
  if (r.masquerade) {
    out.push({
      chain: "postrouting",
      statements: [ipSaddr(r.ip), oifname(br, "!="), masquerade()],
    });
  }
  for (const p of natPorts(r)) {
    const to = [dport(p.protocol, p.hostPort), dnatTo(r.ip, p.containerPort)];
    const dst = p.hostIp === undefined ? fibDaddrTypeLocal() : ipDaddr(p.hostIp);
    out.push({ chain: "prerouting", statements: [iifname(br, "!="), dst, ...to] });
    out.push({ chain: "output", statements: [ipDaddr("127.0.0.0/8", "!="), dst, ...to] });
  }
  const local = loopbackPorts(r);
  for (const p of local) {
    out.push({
      chain: "output",
      statements: [
        ipDaddr(p.hostIp === undefined ? "127.0.0.0/8" : p.hostIp),
        dport(p.protocol, p.hostPort),
        dnatTo(r.ip, p.containerPort),
      ],
    });
  }
  if (local.length > 0) {
    out.push({
      chain: "postrouting",
      statements: [ipSaddr("127.0.0.0/8"), ipDaddr(r.ip), oifname(br), masquerade()],
    });
    // route_localnet on the bridge must not let containers reach the host's 127.0.0.1 services.
    // (Replies to the host's own connections arrive so too, once de-masqueraded: keep those.)
    out.push({
      chain: "input",
      statements: [
        iifname(br),
        ipDaddr("127.0.0.0/8"),
        ctStateNotIn(["established", "related"]),
        drop(),
      ],
    });
  }
  return out;
}

/** The changes that add one container's rules, each with its comment. */
export function nftRuleChanges(r: ContainerRules): Change[] {
  const comment = ruleComment(r.containerId, r.endpoint);
  return nftRules(r).map((x) => ({ add: "rule", ...x, comment }));
}

/** The same rules as nft commands, as `nft list` prints them (for people and tests). */
export function nftRuleCommands(table: string, r: ContainerRules): string[] {
  const comment = ruleComment(r.containerId, r.endpoint);
  return nftRules(r).map((x) =>
    `add rule ip ${table} ${x.chain} ${ruleText(x.statements, comment)}`
  );
}

/** The ports that 127.0.0.1 reaches through rules (no proxy): all-address and loopback ones. */
export function loopbackPorts(r: ContainerRules): PortMapping[] {
  if (!r.loopback) return [];
  return r.ports.filter((p) => p.hostIp === undefined || isLoopback(p.hostIp));
}

// ---------------------------------------------------------------------------
// iptables

/** One iptables rule: its table, chain and the arguments after `-A CHAIN`. */
export interface IptablesRule {
  readonly table: "nat" | "filter";
  readonly chain: string;
  readonly args: readonly string[];
}

/** The chains of an iptables owner name (CTR, CTR-POSTROUTING, CTR-FORWARD) and their jumps. */
export function iptablesChains(prefix: string): {
  table: "nat" | "filter";
  chain: string;
  jumps: { from: string; args: string[]; insert: boolean }[];
}[] {
  const p = prefix.toUpperCase();
  return [
    {
      table: "nat",
      chain: p,
      jumps: [
        { from: "PREROUTING", args: ["-m", "addrtype", "--dst-type", "LOCAL"], insert: false },
        {
          from: "OUTPUT",
          args: ["!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL"],
          insert: false,
        },
      ],
    },
    {
      table: "nat",
      chain: `${p}-POSTROUTING`,
      jumps: [{ from: "POSTROUTING", args: [], insert: false }],
    },
    {
      // Published ports reached from 127.0.0.0/8 when no proxy serves them.
      table: "nat",
      chain: `${p}-OUTPUT`,
      jumps: [{ from: "OUTPUT", args: ["-d", "127.0.0.0/8"], insert: false }],
    },
    {
      table: "filter",
      chain: `${p}-INPUT`,
      jumps: [{ from: "INPUT", args: [], insert: true }],
    },
    {
      table: "filter",
      chain: `${p}-FORWARD`,
      jumps: [{ from: "FORWARD", args: [], insert: true }],
    },
  ];
}

/** The iptables rules of one container. */
export function iptablesRuleArgs(prefix: string, r: ContainerRules): IptablesRule[] {
  checkRules(r);
  const p = prefix.toUpperCase();
  const tag = ["-m", "comment", "--comment", ruleComment(r.containerId, r.endpoint)];
  const out: IptablesRule[] = [
    // Bridged traffic (br_netfilter) enters and leaves by the same bridge: not ours to drop.
    {
      table: "filter",
      chain: `${p}-FORWARD`,
      args: ["-i", r.bridge, "-o", r.bridge, ...tag, "-j", "RETURN"],
    },
    {
      table: "filter",
      chain: `${p}-FORWARD`,
      args: [
        "-i",
        r.bridge,
        "-o",
        `${BRIDGE_PREFIX}+`,
        "-m",
        "conntrack",
        "!",
        "--ctstate",
        "DNAT",
        ...tag,
        "-j",
        "DROP",
      ],
    },
  ];
  if (r.internal) {
    const ip = `${r.ip}/32`;
    out.push(
      {
        table: "filter",
        chain: `${p}-FORWARD`,
        args: ["-s", ip, "-i", r.bridge, "!", "-o", r.bridge, ...tag, "-j", "DROP"],
      },
      {
        table: "filter",
        chain: `${p}-FORWARD`,
        args: ["-d", ip, "-o", r.bridge, "!", "-i", r.bridge, ...tag, "-j", "DROP"],
      },
    );
  }
  if (r.masquerade) {
    out.push({
      table: "nat",
      chain: `${p}-POSTROUTING`,
      args: ["-s", `${r.ip}/32`, "!", "-o", r.bridge, ...tag, "-j", "MASQUERADE"],
    });
  }
  // One port's DNAT rule in `chain`, after the rule's own address match.
  const dnat = (chain: string, match: string[], port: PortMapping): IptablesRule => ({
    table: "nat",
    chain,
    args: [
      ...match,
      "-p",
      port.protocol,
      "-m",
      port.protocol,
      "--dport",
      String(port.hostPort),
      ...tag,
      "-j",
      "DNAT",
      "--to-destination",
      `${r.ip}:${port.containerPort}`,
    ],
  });
  for (const port of natPorts(r)) {
    const dst = port.hostIp === undefined ? [] : ["-d", `${port.hostIp}/32`];
    out.push(dnat(p, ["!", "-i", r.bridge, ...dst], port));
  }
  const local = loopbackPorts(r);
  for (const port of local) {
    const dst = port.hostIp === undefined ? "127.0.0.0/8" : `${port.hostIp}/32`;
    out.push(dnat(`${p}-OUTPUT`, ["-d", dst], port));
  }
  if (local.length > 0) {
    out.push({
      table: "nat",
      chain: `${p}-POSTROUTING`,
      args: ["-s", "127.0.0.0/8", "-d", `${r.ip}/32`, "-o", r.bridge, ...tag, "-j", "MASQUERADE"],
    });
    // route_localnet on the bridge must not let containers reach the host's 127.0.0.1 services.
    out.push({
      table: "filter",
      chain: `${p}-INPUT`,
      args: [
        "-i",
        r.bridge,
        "-d",
        "127.0.0.0/8",
        "-m",
        "conntrack",
        "!",
        "--ctstate",
        "ESTABLISHED,RELATED",
        ...tag,
        "-j",
        "DROP",
      ],
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Running the tools

/** The path of an executable in PATH or the sbin directories, or undefined. */
export function findTool(name: string): string | undefined {
  const dirs = [
    ...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean),
    "/usr/local/sbin",
    "/usr/sbin",
    "/sbin",
  ];
  for (const d of dirs) {
    try {
      const st = Deno.statSync(`${d}/${name}`);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return `${d}/${name}`;
    } catch { /* not here */ }
  }
  return undefined;
}

/**
 * The backend this host has: nf_tables when the kernel answers a request
 * about `table` (no program needed), else the iptables program, else none.
 */
export function detectBackend(table = "ctr"): NatBackend {
  if (Nftables.available({ family: "ip", table })) return "nft";
  return findTool("iptables") ? "iptables" : "none";
}

interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function runTool(cmd: string, args: string[], stdin?: string): Promise<ToolResult> {
  const path = findTool(cmd);
  if (!path) throw new Error(`${cmd} was not found`);
  const child = new Deno.Command(path, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

async function mustRun(what: string, cmd: string, args: string[], stdin?: string): Promise<string> {
  const r = await runTool(cmd, args, stdin);
  if (r.code !== 0) {
    throw new Error(`${what}: ${cmd} ${args.join(" ")} failed (exit ${r.code}): ${r.stderr}`);
  }
  return r.stdout;
}

// ---------------------------------------------------------------------------
// The rules of ctr's containers

/** How the rules are kept. */
export interface NatOptions {
  /** ctr's runtime state directory: the lock and the saved ip_forward live in `<stateDir>/networks`. */
  readonly stateDir: string;
  /** The nft table, and the prefix of the iptables chains (upper-cased). Default "ctr". */
  readonly table?: string;
  /** Default: detected (nf_tables, else iptables, else none). */
  readonly backend?: NatBackend;
}

/** A rule of ctr's, as listed. */
export interface ListedRule {
  readonly chain: string;
  readonly comment?: string;
}

/** Adds and removes the rules of ctr's containers. */
export class Nat {
  readonly backend: NatBackend;
  readonly table: string;
  readonly #dir: string;

  constructor(opts: NatOptions) {
    this.table = opts.table ?? "ctr";
    if (!/^[a-z][a-z0-9_]{0,15}$/.test(this.table)) {
      throw new Error(`Invalid table name: ${this.table}`);
    }
    this.backend = opts.backend ?? detectBackend(this.table);
    this.#dir = `${opts.stateDir}/networks`;
  }

  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    Deno.mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const lock = await FileLock.acquire(`${this.#dir}/nat-${this.table}.lock`, "exclusive");
    try {
      return await fn();
    } finally {
      lock.release();
    }
  }

  /**
   * Adds a container's rules (switching IP forwarding on when they need it).
   * Returns warnings: what could not be done for want of nf_tables and iptables.
   */
  async add(r: ContainerRules): Promise<string[]> {
    checkRules(r);
    if (this.backend === "none") {
      const warnings: string[] = [];
      if (natPorts(r).length > 0) warnings.push(PORTS_NEED_BACKEND);
      if (r.masquerade) warnings.push(NAT_NEEDS_BACKEND);
      if (r.internal) warnings.push(INTERNAL_NEEDS_BACKEND);
      if (readForwarding() === "1") warnings.push(NOT_ISOLATED);
      return warnings;
    }
    await this.#locked(async () => {
      if (this.backend === "nft") {
        this.#nft(
          `Cannot add the rules of container ${short(r.containerId)}`,
          (nft) => nft.commit(this.#nftTable, [...nftTableChanges(), ...nftRuleChanges(r)]),
        );
      } else {
        await this.#iptablesAdd(r);
      }
      if (needsForwarding(r)) this.#enableForwarding();
    });
    return [];
  }

  /**
   * Removes a container's rules of one endpoint, or of all its endpoints when
   * none is named (no error when it has none); the table goes with the last
   * rule.
   */
  async remove(containerId: string, endpoint?: number): Promise<void> {
    if (this.backend === "none") return;
    const mine = (comment: string | undefined) =>
      endpoint === undefined
        ? commentContainer(comment) === containerId
        : comment === ruleComment(containerId, endpoint);
    await this.#locked(async () => {
      const left = this.backend === "nft"
        ? this.#nftRemove(containerId, mine)
        : await this.#iptablesRemove(containerId, mine);
      if (left === 0) this.#restoreForwarding();
    });
  }

  /** ctr's rules now (empty when the table or chains are absent). */
  async list(): Promise<ListedRule[]> {
    if (this.backend === "none") return [];
    if (this.backend === "nft") {
      return this.#nft(
        "Cannot list ctr's rules",
        (nft) => nft.rules(this.#nftTable).map((x) => ({ chain: x.chain, comment: x.comment })),
      );
    }
    const out: ListedRule[] = [];
    for (const c of iptablesChains(this.table)) {
      for (const line of await this.#iptablesList(c.table, c.chain) ?? []) {
        out.push({ chain: c.chain, comment: iptablesComment(line) });
      }
    }
    return out;
  }

  /** Whether ctr's nf_tables table (or any of its iptables chains) exists. */
  async exists(): Promise<boolean> {
    if (this.backend === "nft") {
      return this.#nft("Cannot look up ctr's table", (nft) => nft.tableExists(this.#nftTable));
    }
    if (this.backend === "iptables") {
      for (const c of iptablesChains(this.table)) {
        if (await this.#iptablesList(c.table, c.chain) !== undefined) return true;
      }
    }
    return false;
  }

  get #nftTable(): Table {
    return { family: "ip", table: this.table };
  }

  /** Runs `fn` with an nf_tables socket; a failure reads `what: nf_tables: ...`. */
  #nft<T>(what: string, fn: (nft: Nftables) => T): T {
    try {
      using nft = Nftables.open();
      return fn(nft);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Deletes the container's rules, found by their comment in a dump of the
   * table, in one transaction; the table instead when no other rule is left.
   * Returns how many rules are left.
   */
  #nftRemove(containerId: string, isMine: (comment: string | undefined) => boolean): number {
    return this.#nft(`Cannot remove the rules of container ${short(containerId)}`, (nft) => {
      const rules = nft.rules(this.#nftTable);
      if (rules.length === 0 && !nft.tableExists(this.#nftTable)) return 0; // nothing of anyone's
      const mine = rules.filter((x) => isMine(x.comment));
      const left = rules.length - mine.length;
      if (left === 0) nft.commit(this.#nftTable, [{ delete: "table" }]);
      else {
        nft.commit(
          this.#nftTable,
          mine.map((x) => ({ delete: "rule", chain: x.chain, handle: x.handle })),
        );
      }
      return left;
    });
  }

  /** The rule lines of a chain (`-A CHAIN ...`), or undefined when the chain does not exist. */
  async #iptablesList(table: string, chain: string): Promise<string[] | undefined> {
    const r = await runTool("iptables", ["-w", "-t", table, "-S", chain]);
    if (r.code !== 0) return undefined;
    return r.stdout.split("\n").filter((l) => l.startsWith(`-A ${chain} `));
  }

  async #iptablesAdd(r: ContainerRules): Promise<void> {
    const what = `Cannot add the rules of container ${short(r.containerId)}`;
    for (const c of iptablesChains(this.table)) {
      if (await this.#iptablesList(c.table, c.chain) === undefined) {
        await mustRun(what, "iptables", ["-w", "-t", c.table, "-N", c.chain]);
      }
      for (const j of c.jumps) {
        const spec = [j.from, ...j.args, "-j", c.chain];
        const check = await runTool("iptables", ["-w", "-t", c.table, "-C", ...spec]);
        if (check.code !== 0) {
          await mustRun(what, "iptables", ["-w", "-t", c.table, j.insert ? "-I" : "-A", ...spec]);
        }
      }
    }
    for (const rule of iptablesRuleArgs(this.table, r)) {
      await mustRun(what, "iptables", ["-w", "-t", rule.table, "-A", rule.chain, ...rule.args]);
    }
  }

  async #iptablesRemove(
    containerId: string,
    isMine: (comment: string | undefined) => boolean,
  ): Promise<number> {
    const what = `Cannot remove the rules of container ${short(containerId)}`;
    let left = 0;
    const empty: ReturnType<typeof iptablesChains> = [];
    for (const c of iptablesChains(this.table)) {
      const lines = await this.#iptablesList(c.table, c.chain);
      if (lines === undefined) continue;
      // Rule numbers are 1-based positions; deleting from the end keeps the others' numbers.
      const mine = lines.flatMap((l, i) => isMine(iptablesComment(l)) ? [i + 1] : []);
      for (const n of mine.reverse()) {
        await mustRun(what, "iptables", ["-w", "-t", c.table, "-D", c.chain, String(n)]);
      }
      left += lines.length - mine.length;
      if (lines.length === mine.length) empty.push(c);
    }
    if (left === 0) {
      for (const c of empty) {
        for (const j of c.jumps) {
          await runTool("iptables", ["-w", "-t", c.table, "-D", j.from, ...j.args, "-j", c.chain]);
        }
        await mustRun(what, "iptables", ["-w", "-t", c.table, "-X", c.chain]);
      }
    }
    return left;
  }

  /** The file that says ctr switched forwarding on (and so switches it off). */
  get #savedForwarding(): string {
    return `${this.#dir}/ip_forward-${this.table}.ctr`;
  }

  #enableForwarding(): void {
    if (readForwarding() === "1") return;
    Deno.writeTextFileSync(this.#savedForwarding, "0\n");
    Deno.writeTextFileSync(IP_FORWARD, "1\n");
  }

  #restoreForwarding(): void {
    try {
      Deno.statSync(this.#savedForwarding);
    } catch {
      return; // ctr did not switch it on
    }
    Deno.writeTextFileSync(IP_FORWARD, "0\n");
    Deno.removeSync(this.#savedForwarding);
  }
}

/** The ctr tag of a rule line of `iptables -S` (`--comment ctr:<id>[-k]`, maybe quoted). */
function iptablesComment(line: string): string | undefined {
  return /--comment "?(ctr:[0-9a-f]+(?:-\d+)?)/.exec(line)?.[1];
}

/** net.ipv4.ip_forward now ("0" or "1"). */
export function readForwarding(): string {
  return Deno.readTextFileSync(IP_FORWARD).trim();
}

function short(id: string): string {
  return id.slice(0, 12);
}
