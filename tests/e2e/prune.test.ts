/**
 * `ctr container prune` and `ctr system prune` (root): docker's prompt and
 * output, filters, the `container` management commands, and the sweep of
 * what crashed ctr processes left with no record (cgroups, a container
 * directory, a lease, a veth, temporary files, an exit record), which must spare what is
 * recorded, what holds processes and what is too young to be an orphan.
 */
import assert from "node:assert/strict";
import { ctr, leftovers, rootTest, tempDir, tempStore, testRootfs } from "../_helpers.ts";

const store = tempStore();
const state = tempDir();
const c = (args: string[], opts: { stdin?: string } = {}) =>
  ctr(["--root", store, "--state-dir", state, ...args], opts);

const hex = (bytes: number) =>
  [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0"))
    .join("");

async function runExited(name: string, command: string[]): Promise<string> {
  const r = await c(["run", "--name", name, "--rootfs", testRootfs(), ...command]);
  assert.equal(r.code, 0, r.stderr);
  const id = (await c(["inspect", "-f", "{{.Id}}", name])).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  return id;
}

rootTest("container prune: docker's prompt, a no by default, its output on a yes", async () => {
  const a = await runExited("prune-a", ["sh", "-c", "head -c 1500 /dev/zero > /f"]);
  const b = await runExited("prune-b", ["true"]);
  const prompt = "WARNING! This will remove all stopped containers.\n" +
    "Are you sure you want to continue? [y/N] ";
  for (const stdin of [undefined, "n\n", "yes\n", "\n"]) {
    const r = await c(["container", "prune"], { stdin });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, prompt, JSON.stringify(stdin));
  }
  assert.equal((await c(["container", "ls", "-aq"])).stdout.trim().split("\n").length, 2);
  // Younger than the filter's time: kept.
  const kept = await c(["container", "prune", "-f", "--filter", "until=1h"]);
  assert.equal(kept.stdout, "Total reclaimed space: 0B\n");
  const r = await c(["container", "prune"], { stdin: "Y\n" });
  assert.equal(r.code, 0, r.stderr);
  const [head, ...ids] = r.stdout.slice(prompt.length).split("\n");
  assert.equal(head, "Deleted Containers:");
  assert.deepEqual(ids.slice(0, 2).sort(), [a, b].sort());
  assert.deepEqual(ids.slice(2), ["", "Total reclaimed space: 1.5kB", ""]);
  assert.equal((await c(["ps", "-aq"])).stdout, "");
  assert.equal((await c(["container", "prune", "-f"])).stdout, "Total reclaimed space: 0B\n");
  const bad = await c(["container", "prune", "-f", "--filter", "until=soon"]);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /invalid until "soon"/);
});

rootTest("system prune: asks first, removes stopped containers, spares running ones", async () => {
  await runExited("sys-a", ["true"]);
  const running = await c([
    "run",
    "-d",
    "--name",
    "sys-b",
    "--rootfs",
    testRootfs(),
    "sleep",
    "60",
  ]);
  assert.equal(running.code, 0, running.stderr);
  const no = await c(["system", "prune"]);
  assert.match(no.stdout, /^WARNING! This will remove:\n {2}- all stopped containers\n/);
  assert.match(no.stdout, /Are you sure you want to continue\? \[y\/N\] $/);
  assert.equal((await c(["ps", "-aq"])).stdout.trim().split("\n").length, 2);
  const yes = await c(["system", "prune", "-f"]);
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: \S+\n$/);
  assert.equal((await c(["container", "ls", "-q"])).stdout.trim().length, 12);
  assert.equal((await c(["container", "rm", "-f", "sys-b"])).code, 0);
});

/** Our own cgroup's `ctr` level in every hierarchy, as a container records it. */
async function ctrLevels(): Promise<string[]> {
  const r = await c(["run", "-d", "--name", "levels", "--rootfs", testRootfs(), "sleep", "60"]);
  assert.equal(r.code, 0, r.stderr);
  const paths = JSON.parse(Deno.readTextFileSync(`${state}/${r.stdout.trim()}.json`)).cgroupPaths;
  const levels = Object.values(paths as Record<string, string>).map((p) =>
    p.slice(0, p.lastIndexOf("/"))
  );
  // The levels stay while it runs; it goes at the end of the test.
  return levels;
}

rootTest("system prune sweeps what crashed ctr processes left with no record", async () => {
  const levels = await ctrLevels();
  const orphan = hex(32), young = hex(32);
  const bridge = `ctrt${hex(2)}`, peer = `vp${hex(3)}`;
  const old = new Date(Date.now() - 10 * 60_000);
  const made: string[] = [];
  try {
    // Cgroups of a container nobody recorded: old and empty (swept), and one just made
    // (kept: another ctr may be setting that container up right now).
    for (const l of levels) {
      for (const id of [orphan, young]) {
        Deno.mkdirSync(`${l}/${id}`);
        made.push(`${l}/${id}`);
      }
      Deno.utimeSync(`${l}/${orphan}`, old, old);
    }
    // Its directory, a temporary file of a dead writer, and a lease whose owner is gone.
    Deno.mkdirSync(`${store}/containers/${orphan}/upper`, { recursive: true });
    Deno.writeTextFileSync(`${state}/${orphan}.json.${4194304 + 7}.0123abcd.tmp`, "{");
    Deno.writeTextFileSync(`${state}/${orphan}.exit`, '{"exitCode":0}');
    Deno.mkdirSync(`${state}/networks`, { recursive: true });
    Deno.writeTextFileSync(
      `${state}/networks/bridge.json`,
      JSON.stringify({
        version: 1,
        network: "bridge",
        subnet: "10.123.0.0/16",
        leases: [{
          ip: "10.123.200.7",
          containerId: orphan,
          pid: 4194304 + 7,
          startTime: 1,
          created: old.toISOString(),
        }],
      }),
    );
    // Its veth, on a ctr bridge (its peer in this namespace too: nothing else holds it).
    const ip = (...args: string[]) => new Deno.Command("ip", { args }).outputSync().success;
    assert.ok(ip("link", "add", bridge, "type", "bridge"));
    assert.ok(ip("link", "add", `veth${orphan.slice(0, 8)}`, "type", "veth", "peer", "name", peer));
    assert.ok(ip("link", "set", `veth${orphan.slice(0, 8)}`, "master", bridge));
    const scope = { stateDir: state, ids: [orphan], markers: [orphan] };
    const before = leftovers(store, scope);
    assert.deepEqual(
      [before.cgroupDirs, before.containerDirs, before.leases, before.veths, before.stateRecords],
      // The running container has a directory and a record too.
      [levels.length, 2, 1, 1, 3],
    );

    const r = await c(["system", "prune", "-f"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Deleted Leftovers:\n/);
    for (const l of levels) assert.ok(r.stdout.includes(`cgroup ${l}/${orphan}\n`), r.stdout);
    assert.ok(r.stdout.includes(`container directory ${store}/containers/${orphan}\n`));
    assert.ok(r.stdout.includes("lease 10.123.200.7 (bridge)\n"));
    assert.ok(r.stdout.includes(`temporary file ${state}/${orphan}.json.`));
    assert.ok(r.stdout.includes(`exit record ${state}/${orphan}.exit\n`));
    assert.ok(r.stdout.includes(`veth veth${orphan.slice(0, 8)}\n`), r.stdout);
    assert.deepEqual(
      leftovers(store, scope),
      { ...before, cgroupDirs: 0, containerDirs: 1, leases: 0, veths: 0, stateRecords: 1 },
    );
    // The recorded, running container and the young orphan are still there.
    for (const l of levels) Deno.statSync(`${l}/${young}`);
    assert.equal((await c(["ps", "-q"])).stdout.trim().length, 12);
  } finally {
    for (const d of made.reverse()) {
      try {
        Deno.removeSync(d);
      } catch { /* swept */ }
    }
    await c(["rm", "-f", "levels"]);
    for (const link of [bridge, peer]) {
      await new Deno.Command("ip", { args: ["link", "del", link], stderr: "null" }).output();
    }
  }
});
