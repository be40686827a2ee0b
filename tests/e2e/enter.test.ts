/**
 * `ctr enter` and `ctr ns` end to end (root): the entered process must really
 * be in the target's namespaces and see its root; pinned namespaces survive.
 */
import assert from "node:assert/strict";
import {
  census,
  ctr,
  rootTest,
  startContainer,
  tempDir,
  tempStore,
  testRootfs,
} from "../_helpers.ts";

const store = tempStore();

/** Starts a container running `script`. */
function container(script: string, extra: string[] = []) {
  return startContainer(store, [...extra, "sh", "-c", script]);
}

const nsInode = (pid: number | string, type: string) =>
  Deno.readLinkSync(`/proc/${pid}/ns/${type}`);

rootTest("enter: joins every namespace of a container and sees its root", async () => {
  const c = await container("sleep 60", ["--hostname", "target"]);
  try {
    const r = await ctr([
      "enter",
      String(c.pid),
      "sh",
      "-c",
      "hostname; echo $$; for t in uts pid net mnt ipc; do readlink /proc/self/ns/$t; done; ps -o pid,comm; head -1 /etc/passwd",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[0], "target");
    assert.notEqual(lines[1], "1");
    assert.ok(Number(lines[1]) < 100, "a pid of the container's namespace");
    assert.deepEqual(
      lines.slice(2, 7),
      ["uts", "pid", "net", "mnt", "ipc"].map((t) => nsInode(c.pid, t)),
    );
    assert.match(lines.slice(7).join("\n"), /^\s*1 sleep$/m, "ps shows the container's PID 1");
    assert.equal(lines.at(-1), Deno.readTextFileSync(`${testRootfs()}/etc/passwd`).split("\n")[0]);
  } finally {
    await c.stop();
  }
});

rootTest("enter: --ns net joins only the network namespace", async () => {
  const c = await container("sleep 60");
  try {
    const r = await ctr([
      "enter",
      String(c.pid),
      "--ns",
      "net",
      "readlink",
      "/proc/self/ns/net",
      "/proc/self/ns/mnt",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [net, mnt] = r.stdout.trim().split("\n");
    assert.equal(net, nsInode(c.pid, "net"));
    assert.equal(mnt, nsInode("self", "mnt"), "the mount namespace stays ctr's own");
    const links = await ctr(["enter", "--ns", "net", String(c.pid), "ls", "/sys/class/net"]);
    assert.equal(links.code, 0, links.stderr);
  } finally {
    await c.stop();
  }
});

rootTest("enter: the command's exit code comes back; 127 when not found", async () => {
  const c = await container("sleep 60");
  try {
    assert.equal((await ctr(["enter", String(c.pid), "sh", "-c", "exit 7"])).code, 7);
    const nf = await ctr(["enter", String(c.pid), "nosuchcmd"]);
    assert.equal(nf.code, 127);
    assert.match(nf.stderr, /not found/);
  } finally {
    await c.stop();
  }
});

rootTest("ns: tells which namespaces two processes share", async () => {
  const c = await container("sleep 60 & wait");
  try {
    let child = 0;
    for (let i = 0; i < 100 && !child; i++) {
      child = Number(
        Deno.readTextFileSync(`/proc/${c.pid}/task/${c.pid}/children`).trim().split(" ")[0],
      ) || 0;
      if (!child) await new Promise((r) => setTimeout(r, 20));
    }
    const r = await ctr(["ns", String(c.pid), String(child), String(Deno.pid)]);
    assert.equal(r.code, 0, r.stderr);
    const rows = Object.fromEntries(
      r.stdout.trim().split("\n").slice(1).map((l) => {
        const f = l.split(/\s{2,}/);
        return [f[0], f];
      }),
    );
    assert.equal(rows.uts[1], nsInode(c.pid, "uts").match(/\d+/)![0]);
    assert.equal(
      rows.uts[4],
      `${c.pid},${child}`,
      "the container's processes share uts; ctr does not",
    );
    assert.equal(rows.net[4], `${c.pid},${child}`);
    assert.equal(rows.user[4], "all", "no user namespace: all share the host's");
  } finally {
    await c.stop();
  }
});

rootTest("ns pin: a pinned network namespace outlives its process and can be entered", async () => {
  const dir = tempDir();
  const before = census(store).mounts;
  const c = await container("sleep 60");
  const inode = nsInode(c.pid, "net");
  const pin = await ctr(["ns", "pin", String(c.pid), "--ns", "net", `${dir}/net`]);
  assert.equal(pin.code, 0, pin.stderr);
  await c.stop();
  assert.throws(() => Deno.statSync(`/proc/${c.pid}`));
  const r = await ctr(["enter", "--ns", `net=${dir}/net`, "readlink", "/proc/self/ns/net"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), inode);
  assert.equal((await ctr(["ns", "unpin", `${dir}/net`])).code, 0);
  assert.equal(census(store).mounts, before);
  Deno.removeSync(dir, { recursive: true });
});

rootTest("enter/ns: bad input is a one-line error, exit 125", async () => {
  for (
    const args of [["enter", "99999999"], ["enter", "1", "--ns", "bogus"], ["enter"], [
      "ns",
      "99999999",
    ], ["ns", "pin", "1", "/tmp/x"]]
  ) {
    const r = await ctr(args);
    assert.equal(r.code, 125, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^ctr: /);
  }
});
