/**
 * A ctr process killed with SIGKILL (root): its container dies with it
 * (PDEATHSIG), `ctr ps -a` tells the truth, and `ctr rm -f` removes the
 * directory, state, cgroup, lease and NAT rules it could not remove itself.
 */
import assert from "node:assert/strict";
import {
  census,
  ctr,
  ctrSpawn,
  rootTest,
  tempDir,
  tempStore,
  testRootfs,
  waitForFile,
} from "../_helpers.ts";

rootTest("crash: after SIGKILL of ctr, ps reports the truth and rm -f leaves nothing", async () => {
  const store = tempStore();
  const hadBridge = [...Deno.readDirSync("/sys/class/net")].some((e) => e.name === "ctr0");
  const before = census(store);
  const name = `crash${Math.floor(Math.random() * 1e6)}`;
  const pidfile = `${tempDir()}/pid`;
  const proc = ctrSpawn([
    "--root",
    store,
    "run",
    "--net",
    "-p",
    `${20000 + Math.floor(Math.random() * 20000)}:80`,
    "-m",
    "64m",
    "--name",
    name,
    "--pidfile",
    pidfile,
    "--rootfs",
    testRootfs(),
    "sleep",
    "60",
  ]);
  const pid = Number(await waitForFile(pidfile));
  const state = JSON.parse(
    [...Deno.readDirSync("/run/ctr")].filter((e) => e.name.endsWith(".json"))
      .map((e) => Deno.readTextFileSync(`/run/ctr/${e.name}`)).find((t) =>
        t.includes(`"name": "${name}"`)
      )!,
  );
  proc.kill("SIGKILL");
  await proc.output();
  for (let i = 0; i < 100; i++) {
    try {
      Deno.statSync(`/proc/${pid}`);
      await new Promise((r) => setTimeout(r, 20));
    } catch {
      break;
    }
  }
  assert.ok(
    Object.values(state.cgroupPaths as Record<string, string>).some((p) => {
      try {
        return Deno.statSync(p).isDirectory;
      } catch {
        return false;
      }
    }),
    "the dead ctr left its cgroup",
  );
  // ps notices that nobody waits for it any more: exited, status unknown (255), released.
  const ps = await ctr(["ps", "-a"]);
  assert.match(ps.stdout, new RegExp(`Exited \\(255\\) .*\\s+${name}$`, "m"), ps.stdout);
  const rm = await ctr(["--root", store, "rm", "-f", name]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.deepEqual({ ...census(store), links: 0 }, { ...before, links: 0 });
  for (const p of Object.values(state.cgroupPaths as Record<string, string>)) {
    assert.throws(() => Deno.statSync(p));
  }
  const leases = JSON.parse(Deno.readTextFileSync("/run/ctr/networks/bridge.json"));
  assert.ok(!leases.leases.some((l: { containerId: string }) => l.containerId === state.id));
  let nft = "";
  try {
    nft = new TextDecoder().decode(
      new Deno.Command("nft", { args: ["list", "ruleset"], stdout: "piped" }).outputSync().stdout,
    );
  } catch { /* no nft */ }
  assert.doesNotMatch(nft, new RegExp(`ctr:${state.id}`));
  assert.ok(!(await ctr(["ps", "-a"])).stdout.includes(name));
  if (!hadBridge) await new Deno.Command("ip", { args: ["link", "del", "ctr0"] }).output();
});
