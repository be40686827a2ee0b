/**
 * Makes docs/cli.md: docker's commands and flags beside ctr's (lib/cli/flags_table.ts).
 *
 *     deno run -A scripts/gen_cli_table.ts            # docs/cli.md from the recorded help texts
 *     deno run -A scripts/gen_cli_table.ts --record   # first record docker's help texts again
 *
 * `--record` runs Debian's docker client (`$DOCKER`, else /usr/bin/docker: the
 * docker.io package; a newer docker on PATH has other flags) with `--help`
 * for itself, every command it lists, and the subcommands of the management
 * commands ctr has, and writes each text to tests/fixtures/docker-20.10-help/.
 * Help needs no daemon. ctr's side comes from its own command table and the
 * option tables it points at (what `ctr COMMAND --help` prints), so a flag
 * added to ctr shows up here at the next run; the unit test
 * tests/unit/cli_table.test.ts says when docs/cli.md is behind.
 */

import { ctrTables } from "../lib/cli/commands.ts";
import {
  cliTable,
  type DockerHelp,
  helpFileName,
  parseDockerHelp,
} from "../lib/cli/flags_table.ts";

const repo = new URL("..", import.meta.url).pathname;
/** Where docker's help texts are kept. */
export const HELP_DIR = `${repo}tests/fixtures/docker-20.10-help`;
/** The management commands whose subcommands are recorded (those ctr has). */
const MANAGEMENT = ["container", "image", "network", "system", "volume", "builder"];

async function dockerHelp(docker: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(docker, {
    args: [...args, "--help"],
    env: { COLUMNS: "80" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success || !text.includes("Usage:")) {
    throw new Error(
      `${docker} ${args.join(" ")} --help failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

/** Records docker's help texts into HELP_DIR. */
async function record(docker: string): Promise<void> {
  Deno.mkdirSync(HELP_DIR, { recursive: true });
  const top = await dockerHelp(docker, []);
  Deno.writeTextFileSync(`${HELP_DIR}/${helpFileName("")}`, top);
  for (const c of parseDockerHelp(top).commands) {
    const text = await dockerHelp(docker, [c.name]);
    Deno.writeTextFileSync(`${HELP_DIR}/${helpFileName(c.name)}`, text);
    if (!MANAGEMENT.includes(c.name)) continue;
    for (const s of parseDockerHelp(text).commands) {
      const name = `${c.name} ${s.name}`;
      Deno.writeTextFileSync(
        `${HELP_DIR}/${helpFileName(name)}`,
        await dockerHelp(docker, [c.name, s.name]),
      );
    }
  }
}

/** The recorded help texts, parsed, by command name. */
export function recordedHelps(dir = HELP_DIR): Map<string, DockerHelp> {
  const helps = new Map<string, DockerHelp>();
  for (const e of Deno.readDirSync(dir)) {
    if (!e.name.endsWith(".txt")) continue;
    const name = e.name === "docker.txt" ? "" : e.name.slice(0, -4).replaceAll("_", " ");
    helps.set(name, parseDockerHelp(Deno.readTextFileSync(`${dir}/${e.name}`)));
  }
  return helps;
}

/** docs/cli.md as the recorded help and ctr's tables give it now. */
export async function currentTable(): Promise<string> {
  return cliTable(recordedHelps(), await ctrTables());
}

if (import.meta.main) {
  if (Deno.args.includes("--record")) {
    await record(Deno.env.get("DOCKER") ?? "/usr/bin/docker");
  }
  const md = await currentTable();
  Deno.writeTextFileSync(`${repo}docs/cli.md`, md);
  console.error(`gen_cli_table: wrote docs/cli.md (${md.split("\n").length} lines)`);
}
