/**
 * Root's containers with a user namespace of their own (--userns, --uidmap)
 * on an image (root): the layers are idmapped mounts, so the container's
 * root owns the image's files as the host's root does, files of uid 33 and
 * 1000 keep their owners, and copy-up works (it failed with EOVERFLOW or
 * EACCES on layers whose owners the namespace did not map).
 */
import assert from "node:assert/strict";
import { ctr, rootTest, tempStore } from "../_helpers.ts";
import { ownersImage } from "./_rootless.ts";

const store = tempStore();
let loaded = false;

async function load(): Promise<void> {
  if (loaded) return;
  const r = await ctr(["--root", store, "load", "-i", await ownersImage()]);
  assert.equal(r.code, 0, r.stderr);
  loaded = true;
}

rootTest("userns: an image's files keep their owners in a remapped container", async () => {
  await load();
  const r = await ctr([
    "--root",
    store,
    "run",
    "--rm",
    "--userns",
    "owners",
    "sh",
    "-c",
    "cat /proc/self/uid_map; stat -c '%u:%g %n' /etc /owners/www /owners/app /owners/far",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n").map((l) => l.trim().split(/\s+/).join(" "));
  assert.match(lines[0], /^0 \d+ 65536$/);
  assert.deepEqual(lines.slice(1, 5), [
    "0:0 /etc",
    "33:33 /owners/www",
    "1000:1000 /owners/app",
    "65534:65534 /owners/far",
  ]);
  assert.doesNotMatch(r.stderr, /idmapped/);
});

rootTest("userns: the remapped root changes the image's files (copy-up)", async () => {
  await load();
  const r = await ctr([
    "--root",
    store,
    "run",
    "--name",
    "copyup",
    "--uidmap",
    "0:300000:2000",
    "owners",
    "sh",
    "-c",
    "echo x >> /etc/passwd && mkdir /etc/new && echo y >> /owners/www/index.html && " +
    "stat -c '%u:%g %n' /etc/passwd /owners/www/index.html",
  ]);
  try {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "0:0 /etc/passwd\n33:33 /owners/www/index.html\n");
    const id = JSON.parse((await ctr(["--root", store, "inspect", "copyup"])).stdout)[0].Id;
    const upper = `${store}/containers/${id}/upper`;
    // On the host, the copies belong to the ids the namespace maps them to.
    assert.equal(Deno.statSync(`${upper}/etc/passwd`).uid, 300000);
    assert.equal(Deno.statSync(`${upper}/owners/www/index.html`).uid, 300033);
  } finally {
    assert.equal((await ctr(["--root", store, "rm", "-f", "copyup"])).code, 0);
  }
});
