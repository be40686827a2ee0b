/**
 * docs/cli.md against docker's recorded help and ctr's command tables, the
 * command table against main.ts, and the option parser's docker forms
 * (refused flags, `--flag=false`). No root, no docker.
 */
import assert from "node:assert/strict";
import { parseArgs, UsageError } from "../../lib/cli/args.ts";
import { allCommands, COMMANDS, findCommand, MAIN_COMMANDS } from "../../lib/cli/commands.ts";
import { flagStatus, parseDockerHelp } from "../../lib/cli/flags_table.ts";
import { currentTable, HELP_DIR } from "../../scripts/gen_cli_table.ts";

const repo = new URL("../..", import.meta.url).pathname;

/** deno fmt aligns the tables and wraps the prose: compare words and cells only. */
function normalized(md: string): string {
  return md.replace(/-{3,}/g, "---").replace(/\s+/g, " ").replace(/ ?\| ?/g, "|").trim();
}

Deno.test("docs/cli.md is what docker's recorded help and ctr's tables give", async () => {
  const want = await currentTable();
  const have = Deno.readTextFileSync(`${repo}docs/cli.md`);
  assert.ok(
    normalized(want) === normalized(have),
    "docs/cli.md is out of date: run `deno run -A scripts/gen_cli_table.ts && deno fmt docs/cli.md`",
  );
});

Deno.test("parseDockerHelp() reads docker run's flags, their types and wrapped help", () => {
  const h = parseDockerHelp(Deno.readTextFileSync(`${HELP_DIR}/run.txt`));
  assert.equal(h.usage, "docker run [OPTIONS] IMAGE [COMMAND] [ARG...]");
  assert.equal(h.summary, "Run a command in a new container");
  assert.equal(h.flags.length, 95);
  const attach = h.flags.find((f) => f.long === "attach")!;
  assert.deepEqual(attach, {
    long: "attach",
    short: "a",
    type: "list",
    help: "Attach to STDIN, STDOUT or STDERR",
  });
  const blkio = h.flags.find((f) => f.long === "blkio-weight")!;
  assert.equal(
    blkio.help,
    "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)",
  );
  assert.equal(h.flags.find((f) => f.long === "rm")!.type, undefined);
  const top = parseDockerHelp(Deno.readTextFileSync(`${HELP_DIR}/docker.txt`));
  assert.ok(top.commands.some((c) => c.name === "container" && c.management));
  assert.ok(top.commands.some((c) => c.name === "cp" && !c.management));
});

Deno.test("flagStatus() finds a flag by name or alias, and reports refusals and short names", () => {
  const f = { long: "network", short: "n", type: "string", help: "" };
  assert.deepEqual(
    flagStatus(f, [{ name: "net", aliases: ["network"], type: "optional", help: "" }]),
    {
      status: "done",
      note: "(no -n)",
    },
  );
  assert.deepEqual(flagStatus(f, [{ name: "network", type: "string", help: "", refused: "why" }]), {
    status: "refused",
    note: "why",
  });
  assert.equal(flagStatus(f, []).status, "missing");
});

Deno.test("MAIN_COMMANDS are exactly the commands main.ts dispatches itself", () => {
  const src = Deno.readTextFileSync(`${repo}main.ts`);
  const cases = [...src.matchAll(/case "([a-z][\w-]*)":/g)].map((m) => m[1]);
  assert.deepEqual([...new Set(cases)].sort(), [...MAIN_COMMANDS].sort());
});

Deno.test("the command table: unique names, routes that lead to commands, options that load", async () => {
  const names = COMMANDS.map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
  for (const { path, spec } of allCommands()) {
    if (spec.routes && !spec.routes[0].includes("prune")) {
      assert.ok(findCommand(spec.routes[0]), `${path} routes to ${spec.routes[0]}`);
    }
    const options = (await spec.options?.()) ?? [];
    const long = options.map((o) => o.name);
    assert.equal(new Set(long).size, long.length, `${path}: a flag twice`);
    if (!spec.subcommands) assert.ok(spec.summary && spec.usage !== undefined, path);
  }
  for (
    const name of ["cp", "diff", "commit", "export", "import", "rename", "update", "events", "info"]
  ) {
    assert.ok(findCommand(name)?.run, `${name} runs through the table`);
  }
});

Deno.test("parseArgs(): a refused flag is an error naming it; --flag=false is kept as false", () => {
  const specs = [
    { name: "pause", short: "p", type: "bool" as const, help: "" },
    { name: "kernel-memory", type: "string" as const, help: "", refused: "deprecated" },
  ];
  assert.throws(
    () => parseArgs(["--kernel-memory", "1g", "c"], specs),
    (e: Error) =>
      e instanceof UsageError && e.message === "--kernel-memory is not supported: deprecated",
  );
  assert.equal(parseArgs(["--pause=false"], specs).opts.pause, false);
  assert.equal(parseArgs(["-p=false"], specs).opts.pause, false);
  assert.equal(parseArgs(["-p"], specs).opts.pause, true);
  assert.equal(parseArgs([], specs).opts.pause, undefined);
  assert.throws(() => parseArgs(["-p=maybe"], specs), UsageError);
});
