/**
 * Pruning without root: docker's filters (until, label), its prompt, its
 * sizes and warning text, and the temporary files of writers that died.
 */
import assert from "node:assert/strict";
import { parsePruneFilters, parseUntil, passes } from "../../lib/engine/prune.ts";
import { humanSize, systemPruneWarning } from "../../lib/cli/prune.ts";
import { confirm, readLine } from "../../lib/cli/prompt.ts";
import { createAtomic, sweepTemp, writeAtomic } from "../../lib/os/atomic.ts";
import { StateDir } from "../../lib/engine/state.ts";
import { tempDir } from "../_helpers.ts";

const NOW = Date.parse("2026-06-01T12:00:00Z");

Deno.test("parseUntil() takes Go durations, Unix seconds and RFC 3339 times", () => {
  assert.equal(parseUntil("10m", NOW), NOW - 600_000);
  assert.equal(parseUntil("1h30m", NOW), NOW - 5_400_000);
  assert.equal(parseUntil("1.5s", NOW), NOW - 1500);
  assert.equal(parseUntil("1700000000", NOW), 1_700_000_000_000);
  assert.equal(parseUntil("1700000000.5", NOW), 1_700_000_000_500);
  assert.equal(parseUntil("2026-05-01T00:00:00Z", NOW), Date.parse("2026-05-01T00:00:00Z"));
  assert.equal(parseUntil("2026-05-01", NOW), Date.parse("2026-05-01"));
  for (const bad of ["", "yesterday", "10x", "-5m", "2026-13-45T99:00:00Z"]) {
    assert.throws(() => parseUntil(bad, NOW), /invalid until/, bad);
  }
});

Deno.test("parsePruneFilters() reads until, label and label!, and refuses the rest", () => {
  assert.deepEqual(
    parsePruneFilters(["until=1h", "label=a", "label=b=c", "label!=d=e"], NOW),
    {
      until: NOW - 3_600_000,
      labels: [
        { key: "a", value: undefined, negate: false },
        { key: "b", value: "c", negate: false },
        { key: "d", value: "e", negate: true },
      ],
    },
  );
  assert.throws(() => parsePruneFilters(["dangling=true"]), /invalid filter "dangling=true"/);
  assert.throws(() => parsePruneFilters(["label="]), /the label has no key/);
});

Deno.test("passes() keeps what is newer than until, and what the labels exclude", () => {
  const f = parsePruneFilters(["until=1h", "label=app", "label!=keep=yes"], NOW);
  const old = new Date(NOW - 7_200_000).toISOString();
  const young = new Date(NOW - 60_000).toISOString();
  assert.equal(passes(f, old, { app: "web" }), true);
  assert.equal(passes(f, young, { app: "web" }), false);
  assert.equal(passes(f, old, {}), false);
  assert.equal(passes(f, old, { app: "web", keep: "yes" }), false);
  assert.equal(passes(f, old, { app: "web", keep: "no" }), true);
  assert.equal(passes(f, undefined, { app: "web" }), false);
  assert.equal(passes({ labels: [] }, undefined), true);
});

Deno.test("humanSize() prints sizes as docker's go-units does", () => {
  assert.equal(humanSize(0), "0B");
  assert.equal(humanSize(999), "999B");
  assert.equal(humanSize(1000), "1kB");
  assert.equal(humanSize(1234), "1.234kB");
  assert.equal(humanSize(12_345_678), "12.35MB");
  assert.equal(humanSize(3 * 10 ** 9), "3GB");
});

Deno.test("systemPruneWarning() words the warning as docker does for the options", () => {
  assert.equal(
    systemPruneWarning({ all: false, volumes: false, filters: [] }),
    "WARNING! This will remove:\n" +
      "  - all stopped containers\n" +
      "  - all networks not used by at least one container\n" +
      "  - all dangling images\n" +
      "  - unused build cache\n" +
      "\nAre you sure you want to continue?",
  );
  assert.equal(
    systemPruneWarning({ all: true, volumes: true, filters: ["until=1h"] }),
    "WARNING! This will remove:\n" +
      "  - all stopped containers\n" +
      "  - all networks not used by at least one container\n" +
      "  - all volumes not used by at least one container\n" +
      "  - all images without at least one container associated to them\n" +
      "  - all build cache\n" +
      "\n  Items to be pruned will be filtered with:\n  - until=1h\n" +
      "\nAre you sure you want to continue?",
  );
});

/** A reader over fixed bytes, as stdin would give them. */
function input(text: string) {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (at >= bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, bytes.length - at);
      p.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

Deno.test("confirm() asks once on stdout; only y or Y is a yes, the end of input a no", async () => {
  for (
    const [answer, yes] of [
      ["y\n", true],
      ["Y\n", true],
      [" y \n", true],
      ["yes\n", false],
      ["n\n", false],
      ["\n", false],
      ["", false],
      ["y", true],
    ] as const
  ) {
    const written: string[] = [];
    const output = {
      writeSync: (p: Uint8Array) => (written.push(new TextDecoder().decode(p)), p.length),
    };
    assert.equal(await confirm("Go?", { input: input(answer), output }), yes, answer);
    assert.deepEqual(written, ["Go? [y/N] "]);
  }
});

Deno.test("readLine() stops at the newline and leaves the rest unread", async () => {
  const r = input("first\nsecond\n");
  assert.equal(await readLine(r), "first");
  assert.equal(await readLine(r), "second");
  assert.equal(await readLine(r), undefined);
});

Deno.test("sweepTemp() removes the temporary files of dead writers only", () => {
  const dir = tempDir();
  writeAtomic(`${dir}/a.json`, "{}\n");
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.json"]);
  // A pid above any kernel's pid_max is a writer that is gone; our own is alive.
  const dead = `${dir}/b.json.${4194304 + 7}.0123abcd.tmp`;
  const live = `${dir}/c.json.${Deno.pid}.0123abcd.tmp`;
  for (const f of [dead, live, `${dir}/notes.tmp`]) Deno.writeTextFileSync(f, "");
  assert.deepEqual(sweepTemp(dir), [dead]);
  assert.deepEqual(
    [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
    ["a.json", `c.json.${Deno.pid}.0123abcd.tmp`, "notes.tmp"],
  );
  assert.deepEqual(sweepTemp(`${dir}/missing`), []);
  // With a prefix, only the temporary files of the names it starts.
  const other = `${dir}/d.json.${4194304 + 8}.0123abcd.tmp`;
  const mine = `${dir}/e.json.${4194304 + 9}.0123abcd.tmp`;
  for (const f of [other, mine]) Deno.writeTextFileSync(f, "");
  assert.deepEqual(sweepTemp(dir, "e."), [mine]);
  assert.deepEqual(sweepTemp(dir), [other]);
});

Deno.test("StateDir.remove() takes a dead writer's temporary record with the container", () => {
  const dir = new StateDir(tempDir());
  const id = "a".repeat(64);
  const other = "b".repeat(64);
  Deno.writeTextFileSync(`${dir.dir}/${id}.json`, "{}\n");
  const leftovers = [
    `${id}.json.${4194304 + 7}.0123abcd.tmp`,
    `${other}.json.${4194304 + 7}.0123abcd.tmp`,
  ];
  for (const f of leftovers) Deno.writeTextFileSync(`${dir.dir}/${f}`, "");
  dir.remove(id);
  assert.deepEqual([...Deno.readDirSync(dir.dir)].map((e) => e.name), [leftovers[1]]);
});

Deno.test("createAtomic() links a whole new file into place, never over an old one", () => {
  const dir = tempDir();
  createAtomic(`${dir}/a.json`, '{"a":1}\n');
  assert.equal(Deno.readTextFileSync(`${dir}/a.json`), '{"a":1}\n');
  assert.equal(Deno.statSync(`${dir}/a.json`).mode! & 0o777, 0o600);
  assert.throws(() => createAtomic(`${dir}/a.json`, "{}\n"), /EEXIST/);
  assert.equal(Deno.readTextFileSync(`${dir}/a.json`), '{"a":1}\n');
  // No temporary name ever shows in the directory.
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.json"]);
});

Deno.test("writeAtomic() volatile: swaps the new file in and the old one out, or renames", () => {
  const dir = tempDir();
  writeAtomic(`${dir}/a.json`, "1\n", { volatile: true }); // nothing to swap with: a rename
  writeAtomic(`${dir}/a.json`, "2\n", { volatile: true });
  assert.equal(Deno.readTextFileSync(`${dir}/a.json`), "2\n");
  assert.equal(Deno.statSync(`${dir}/a.json`).mode! & 0o777, 0o600);
  // The old file went with its temporary name.
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.json"]);
});
