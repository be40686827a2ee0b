/**
 * Images through the command line (root): load the busybox image made from
 * Debian's busybox-static, list, tag, save, remove, and run containers on it;
 * a multi-layer image's deletions and opaque directories are honoured.
 */
import assert from "node:assert/strict";
import { census, ctr, rootTest, tempDir, tempStore } from "../_helpers.ts";

const repo = new URL("../..", import.meta.url).pathname;
const store = tempStore();
/** `ctr run --rm` on this file's store, never pulling: tests send no traffic to registries. */
const runLocal = (args: string[], opts: { stdin?: string } = {}) =>
  ctr(["--root", store, "run", "--rm", "--pull", "never", ...args], opts);
let loaded = false;

async function image(multi = false): Promise<string> {
  const dir = tempDir();
  const tar = `${dir}/${multi ? "multi" : "single"}.tar`;
  const out = await new Deno.Command("bash", {
    args: [`${repo}scripts/busybox_image.sh`, ...(multi ? ["--multi"] : []), tar],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return tar;
}

async function ensureLoaded() {
  if (loaded) return;
  const r = await ctr(["--root", store, "load", "-i", await image()]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Loaded image: busybox:latest$/m);
  loaded = true;
}

rootTest("image: load, list, tag, inspect and remove with docker's output", async () => {
  await ensureLoaded();
  const list = await ctr(["--root", store, "images"]);
  assert.match(list.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/m);
  assert.match(list.stdout, /^busybox\s+latest\s+[0-9a-f]{12}\s+/m);
  assert.equal(
    (await ctr(["--root", store, "tag", "busybox", "localhost:5000/team/bb:v1"])).code,
    0,
  );
  assert.match(
    (await ctr(["--root", store, "images"])).stdout,
    /^localhost:5000\/team\/bb\s+v1\s/m,
  );
  const insp = JSON.parse((await ctr(["--root", store, "image", "inspect", "busybox"])).stdout);
  assert.equal(insp[0].Os, "linux");
  assert.deepEqual(insp[0].Config.Cmd, ["sh"]);
  const rmi = await ctr(["--root", store, "rmi", "localhost:5000/team/bb:v1"]);
  assert.equal(rmi.stdout.trim(), "Untagged: localhost:5000/team/bb:v1");
  const bad = await ctr(["--root", store, "tag", "busybox", "Bad/Upper"]);
  assert.equal(bad.code, 125);
});

rootTest(
  "image: run uses the image's Cmd, Env and layers; the command line overrides",
  async () => {
    await ensureLoaded();
    const r = await runLocal(["-i", "busybox"], {
      stdin: "echo $PATH; hostname | wc -c\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n13\n");
    const e = await runLocal([
      "--entrypoint",
      "/bin/echo",
      "busybox",
      "x",
      "y",
    ]);
    assert.equal(e.stdout, "x y\n");
    const u = await runLocal([
      "-u",
      "app",
      "-w",
      "/tmp",
      "busybox",
      "sh",
      "-c",
      "id -u; pwd",
    ]);
    assert.equal(u.stdout, "1000\n/tmp\n");
    const ns = await runLocal([
      "--userns",
      "--tmpfs",
      "/scratch",
      "busybox",
      "sh",
      "-c",
      // Image files keep their host owners (nobody here): reads work, writes go to mounts.
      "head -1 /etc/passwd > /scratch/p && cat /scratch/p",
    ]);
    assert.equal(ns.stdout, "root:x:0:0:root:/root:/bin/sh\n", ns.stderr);
  },
);

rootTest(
  "image: a multi-layer image hides deleted files and opaque directories' old content",
  async () => {
    const r = await ctr(["--root", store, "load", "-i", await image(true)]);
    assert.equal(r.code, 0, r.stderr);
    const out = await runLocal([
      "busybox:multi",
      "sh",
      "-c",
      "find /data | sort; ls /etc/motd 2>&1; true",
    ]);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.trim().split("\n");
    assert.deepEqual(lines.slice(0, -1), [
      "/data",
      "/data/added",
      "/data/dir",
      "/data/dir/new",
      "/data/keep",
    ]);
    assert.match(lines.at(-1)!, /No such file or directory/);
  },
);

rootTest("image: save then load into an empty store gives the same image", async () => {
  await ensureLoaded();
  const out = `${tempDir()}/saved.tar`;
  assert.equal((await ctr(["--root", store, "save", "-o", out, "busybox"])).code, 0);
  const other = tempStore();
  const r = await ctr(["--root", other, "load", "-i", out]);
  assert.equal(r.code, 0, r.stderr);
  const id = (s: string) => JSON.parse(s)[0].Id;
  assert.equal(
    id((await ctr(["--root", other, "image", "inspect", "busybox"])).stdout),
    id((await ctr(["--root", store, "image", "inspect", "busybox"])).stdout),
  );
  assert.equal(
    (await ctr(["--root", other, "run", "--rm", "--pull", "never", "busybox", "true"])).code,
    0,
  );
});

rootTest("image: 20 runs on an image leave nothing behind", async () => {
  await ensureLoaded();
  const before = census(store);
  for (let i = 0; i < 20; i++) {
    assert.equal(
      (await runLocal(["busybox", "true"])).code,
      0,
    );
  }
  assert.deepEqual(census(store), before);
});
