/**
 * docs/cli.md: every command and flag of docker's command line (as docker
 * 20.10's `--help` texts list them) beside what ctr does with it: done,
 * refused (and why), or missing. Pure: the help texts and ctr's tables come
 * in as data, so the table can be checked without docker
 * (tests/unit/cli_table.test.ts) and remade by scripts/gen_cli_table.ts.
 * @module
 */

import type { OptionSpec } from "./args.ts";

/** A flag as docker's help lists it. */
export interface DockerFlag {
  readonly long: string;
  readonly short?: string;
  /** The value type docker names (`list`, `string`, `int`...), none for a boolean. */
  readonly type?: string;
  readonly help: string;
}

/** What one docker `--help` text says. */
export interface DockerHelp {
  readonly usage: string;
  readonly summary: string;
  readonly flags: readonly DockerFlag[];
  /** Commands it lists (`docker --help`, `docker container --help`), with their summaries. */
  readonly commands: readonly { name: string; summary: string; management: boolean }[];
}

const FLAG = /^ {2}(?:-(\S), )?\s*--([\w-]+)(?: (\w+))?(?: {2,}(.*))?$/;
const COMMAND = /^ {2}([a-z][\w-]*)\*? {2,}(.*)$/;

/** Parses a docker `--help` text (docker 20.10's layout: cobra's, wrapped at 80 columns). */
export function parseDockerHelp(text: string): DockerHelp {
  const lines = text.split("\n");
  let usage = "", summary = "", section = "";
  const flags: { long: string; short?: string; type?: string; help: string }[] = [];
  const commands: { name: string; summary: string; management: boolean }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("Usage:")) {
      usage = line.replace(/^Usage:\s+/, "").trim();
      // The summary: the first line after the usage (and its continuation lines).
      let j = i + 1;
      while (j < lines.length && (lines[j].trim() === "" || /^\s/.test(lines[j]))) j++;
      summary = (lines[j] ?? "").trim();
      continue;
    }
    if (/^[A-Z][\w ]*:$/.test(line)) {
      section = line.slice(0, -1);
      continue;
    }
    if (section === "Options") {
      const m = FLAG.exec(line);
      if (m) {
        flags.push({
          long: m[2],
          ...(m[1] && { short: m[1] }),
          ...(m[3] && { type: m[3] }),
          help: (m[4] ?? "").trim(),
        });
      } else if (/^\s{3,}\S/.test(line) && flags.length) {
        const last = flags[flags.length - 1];
        last.help = `${last.help} ${line.trim()}`.trim();
      }
    } else if (section === "Commands" || section === "Management Commands") {
      const m = COMMAND.exec(line);
      if (m) {
        commands.push({ name: m[1], summary: m[2].trim(), management: section !== "Commands" });
      }
    }
  }
  return { usage, summary, flags, commands };
}

/** What ctr does with a docker command or flag. */
export type Status = "done" | "refused" | "missing";

/** ctr's side: its commands (full names, `container ls`) and each one's options. */
export interface CtrTables {
  /** Commands ctr runs, with their option tables. */
  readonly commands: ReadonlyMap<string, readonly OptionSpec[]>;
  /** docker commands ctr refuses, and why. */
  readonly refusedCommands: Readonly<Record<string, string>>;
}

/** The status of a docker flag in a ctr option table. */
export function flagStatus(
  flag: DockerFlag,
  options: readonly OptionSpec[] | undefined,
): { status: Status; note: string } {
  const o = options?.find((x) => x.name === flag.long || (x.aliases ?? []).includes(flag.long));
  if (!o) return { status: "missing", note: "" };
  if (o.refused !== undefined) return { status: "refused", note: o.refused };
  const short = flag.short && o.short !== flag.short ? ` (no -${flag.short})` : "";
  return { status: "done", note: short.trim() };
}

function cell(s: string): string {
  return s.replaceAll("|", "\\|").replaceAll("\n", " ");
}

function count(rows: readonly { status: Status }[]): string {
  const n = (s: Status) => rows.filter((r) => r.status === s).length;
  return `${rows.length}: ${n("done")} done, ${n("refused")} refused, ${n("missing")} missing`;
}

/**
 * The whole of docs/cli.md. `helps` maps a docker command's full name
 * (`""` for `docker` itself, `run`, `container ls`) to its parsed help.
 */
export function cliTable(helps: ReadonlyMap<string, DockerHelp>, ctr: CtrTables): string {
  const top = helps.get("");
  if (!top) throw new Error("docker's own --help is missing from the recorded help texts");
  const commandRows: { name: string; status: Status; note: string; summary: string }[] = [];
  const statusOf = (name: string): { status: Status; note: string } => {
    if (ctr.commands.has(name)) return { status: "done", note: "" };
    const refused = ctr.refusedCommands[name] ?? ctr.refusedCommands[name.split(" ")[0]];
    if (refused !== undefined) return { status: "refused", note: refused };
    return { status: "missing", note: "" };
  };
  for (const c of top.commands) {
    commandRows.push({ name: c.name, summary: c.summary, ...statusOf(c.name) });
    if (!c.management) continue;
    for (const s of helps.get(c.name)?.commands ?? []) {
      const name = `${c.name} ${s.name}`;
      commandRows.push({ name, summary: s.summary, ...statusOf(name) });
    }
  }
  const out: string[] = [
    "# docker's command line in ctr",
    "",
    "Every command and flag of docker 20.10's command line (Debian's docker.io), with what ctr does with",
    "it: **done**, **refused** (with the reason: what one host or ctr's design does not have), or",
    "**missing**. Made by `deno run -A scripts/gen_cli_table.ts` from docker's help texts (recorded in",
    "`tests/fixtures/docker-20.10-help/`, so no docker is needed to check it) and ctr's own command and",
    "option tables (`lib/cli/commands.ts`); `tests/unit/cli_table.test.ts` fails when this file is not",
    "what they give.",
    "",
    `Commands ${count(commandRows)}. \`docker run\` flags ${
      count((helps.get("run")?.flags ?? []).map((f) => flagStatus(f, ctr.commands.get("run"))))
    }.`,
    "",
    "## Commands",
    "",
    "| command | ctr | note |",
    "| ------- | --- | ---- |",
    ...commandRows.map((r) => `| \`docker ${r.name}\` | ${r.status} | ${cell(r.note)} |`),
    "",
  ];
  const flagSection = (name: string) => {
    const help = helps.get(name);
    if (!help || help.flags.length === 0) return;
    const options = ctr.commands.get(name);
    const rows = help.flags.filter((f) => f.long !== "help").map((f) => ({
      f,
      ...flagStatus(f, options),
    }));
    if (rows.length === 0) return;
    out.push(
      `### \`docker ${name}\``,
      "",
      `${count(rows)}${options ? "" : " (ctr has no such command)"}.`,
      "",
      "| flag | ctr | note |",
      "| ---- | --- | ---- |",
      ...rows.map((r) =>
        `| \`${r.f.short ? `-${r.f.short}, ` : ""}--${r.f.long}${
          r.f.type ? ` ${r.f.type}` : ""
        }\` | ${r.status} | ${cell(r.note)} |`
      ),
      "",
    );
  };
  out.push("## Flags", "");
  flagSection("run");
  for (const r of commandRows) {
    if (r.name === "run" || r.status === "refused") continue;
    flagSection(r.name);
  }
  return out.join("\n");
}

/** The file name a command's recorded help has (`container ls` → `container_ls.txt`, docker's own → `docker.txt`). */
export function helpFileName(name: string): string {
  return name === "" ? "docker.txt" : `${name.replaceAll(" ", "_")}.txt`;
}
