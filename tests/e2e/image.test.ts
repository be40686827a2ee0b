/**
 * Images end to end (root): the busybox image made by
 * scripts/busybox_image.sh loaded into a temporary store, listed, resolved
 * and checked file by file; layers stacked by overlayfs; save and load round
 * trips; removal with shared layers; parallel loads; and, when skopeo is
 * installed, interchange with skopeo's docker-archive, oci-archive, oci and
 * dir transports.
 */
import assert from "node:assert/strict";
import { IS_ROOT, rootTest, tempDir, tempStore } from "../_helpers.ts";
import {
  hostPlatform,
  inspectImage,
  listImages,
  loadArchive,
  openStore,
  removeImage,
  resolveImage,
  saveArchive,
  type Store,
} from "../../lib/image/mod.ts";
import { lgetxattr } from "../../lib/image/_fs.ts";

const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const dec = new TextDecoder();

function run(cmd: string, args: string[]): string {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

const images: Record<string, string> = {};

/** The archive of scripts/busybox_image.sh (made once per test file). */
function busyboxImage(multi = false): string {
  const key = multi ? "multi" : "single";
  if (!images[key]) {
    const out = `${tempDir()}/${key}.tar`;
    run("bash", [`${REPO}/scripts/busybox_image.sh`, ...(multi ? ["--multi"] : []), out]);
    images[key] = out;
  }
  return images[key];
}

function loadedStore(): Store {
  return openStore(tempStore());
}

function files(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    out.push(prefix + e.name);
    if (e.isDirectory) out.push(...files(`${dir}/${e.name}`, `${prefix}${e.name}/`));
  }
  return out;
}

rootTest("image: busybox_image.sh makes an image that loads, lists and resolves", async () => {
  const store = loadedStore();
  const r = await loadArchive(store, busyboxImage());
  assert.equal(r.format, "docker-save");
  assert.deepEqual(r.images.map((i) => i.names), [["busybox:latest"]]);
  const list = listImages(store);
  assert.equal(list.length, 1);
  assert.deepEqual(list[0].tags, ["busybox:latest"]);
  assert.equal(list[0].architecture, hostPlatform().architecture);
  assert.equal(list[0].os, "linux");
  assert.ok(list[0].size > 1_000_000, `size ${list[0].size}`);
  const img = await resolveImage(store, "busybox");
  assert.equal(img.name, "docker.io/library/busybox:latest");
  assert.equal(img.layers.length, 1);
  const root = img.layers[0];
  assert.ok(root.startsWith(`${store.root}/layers/sha256/`));
  const bb = Deno.statSync(`${root}/bin/busybox`);
  assert.ok(bb.isFile && bb.size > 1_000_000 && (bb.mode! & 0o111) !== 0);
  assert.ok(Deno.lstatSync(`${root}/bin/sh`).isSymlink);
  assert.match(Deno.readTextFileSync(`${root}/etc/passwd`), /^root:x:0:0:/);
  assert.equal(Deno.statSync(`${root}/tmp`).mode! & 0o7777, 0o1777);
  assert.deepEqual(img.config.config?.Cmd, ["sh"]);
  assert.match(img.config.config?.Env?.[0] ?? "", /^PATH=/);
  assert.equal(img.config.history?.length, 1);
  assert.equal(img.config.rootfs.diff_ids.length, 1);
  const info = inspectImage(store, "busybox:latest");
  assert.equal(info.Id, img.id);
  assert.deepEqual(info.RepoTags, ["busybox:latest"]);
  assert.deepEqual(info.LayerDirs, img.layers);
  // The busybox binary runs from the extracted layer.
  assert.match(run(`${root}/bin/busybox`, ["echo", "from the layer"]), /from the layer/);
});

rootTest("image: layers with whiteouts and an opaque dir stack as docker's do", async () => {
  const store = loadedStore();
  await loadArchive(store, busyboxImage());
  await loadArchive(store, busyboxImage(true));
  const img = await resolveImage(store, "busybox:multi");
  assert.equal(img.layers.length, 3);
  // The base layer is shared with busybox:latest: extracted once.
  assert.equal(img.layers[2], (await resolveImage(store, "busybox")).layers[0]);
  assert.equal([...Deno.readDirSync(`${store.root}/layers/sha256`)].length, 3);
  const top = img.layers[0];
  assert.ok(Deno.lstatSync(`${top}/data/gone`).isCharDevice);
  assert.equal(Deno.lstatSync(`${top}/etc/motd`).rdev, 0);
  assert.deepEqual(
    lgetxattr(`${top}/data/dir`, "trusted.overlay.opaque"),
    new TextEncoder().encode("y"),
  );
  // overlayfs, in a mount namespace of its own, shows what a container sees.
  const mnt = tempDir();
  const seen = run("unshare", [
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    `mount -t overlay overlay -o lowerdir=${img.layers.join(":")} ${mnt} && ` +
    `cd ${mnt} && find data etc/motd 2>/dev/null | sort; true`,
  ]);
  assert.deepEqual(seen.trim().split("\n"), [
    "data",
    "data/added",
    "data/dir",
    "data/dir/new",
    "data/keep",
  ]);
});

rootTest("image: save then load gives the same images, names and layers", async () => {
  const store = loadedStore();
  await loadArchive(store, busyboxImage());
  await loadArchive(store, busyboxImage(true));
  const out = `${tempDir()}/saved.tar`;
  await saveArchive(store, ["busybox", "busybox:multi"], out);
  const members = run("tar", ["tf", out]).trim().split("\n");
  for (const f of ["index.json", "manifest.json", "oci-layout", "repositories"]) {
    assert.ok(members.includes(f), `${f} in ${members}`);
  }
  const again = `${tempDir()}/again.tar`;
  await saveArchive(store, ["busybox", "busybox:multi"], again);
  assert.deepEqual(Deno.readFileSync(again), Deno.readFileSync(out), "saves are reproducible");
  const other = loadedStore();
  const r = await loadArchive(other, out);
  assert.equal(r.format, "oci-layout");
  const strip = (s: Store) =>
    listImages(s).map(({ id, digest, tags, size }) => ({ id, digest, tags, size }));
  assert.deepEqual(strip(other), strip(store));
  const a = await resolveImage(store, "busybox:multi");
  const b = await resolveImage(other, "busybox:multi");
  for (let i = 0; i < a.layers.length; i++) {
    assert.deepEqual(files(b.layers[i]), files(a.layers[i]));
  }
  // docker-save readers see manifest.json.
  const manifest = JSON.parse(run("tar", ["xOf", out, "manifest.json"]));
  assert.deepEqual(manifest.map((m: { RepoTags: string[] }) => m.RepoTags), [["busybox:latest"], [
    "busybox:multi",
  ]]);
});

rootTest("image: rmi keeps layers another image shares; prune removes what is left", async () => {
  const store = loadedStore();
  await loadArchive(store, busyboxImage());
  await loadArchive(store, busyboxImage(true));
  const base = (await resolveImage(store, "busybox")).layers[0];
  const r = await removeImage(store, "busybox");
  assert.deepEqual(r.untagged, ["busybox:latest"]);
  assert.equal(r.deleted.length, 1);
  assert.equal(r.gc?.layers.length, 0);
  assert.equal(r.gc?.blobs.length, 2); // its manifest and config; the layer blob is shared
  assert.ok(Deno.statSync(`${base}/bin/busybox`).isFile);
  await removeImage(store, "busybox:multi");
  assert.deepEqual(listImages(store), []);
  assert.deepEqual([...Deno.readDirSync(`${store.root}/layers/sha256`)], []);
  assert.deepEqual([...Deno.readDirSync(`${store.root}/blobs/sha256`)], []);
});

rootTest(
  "image: parallel loads in several processes and a prune never corrupt the store",
  async () => {
    const store = loadedStore();
    const script = `${tempDir()}/load.ts`;
    Deno.writeTextFileSync(
      script,
      `import { loadArchive, openStore, prune } from "${REPO}/lib/image/mod.ts";\n` +
        `const s = openStore(Deno.args[0]);\n` +
        `if (Deno.args[1] === "prune") await prune(s); else await loadArchive(s, Deno.args[1]);\n`,
    );
    const procs = [busyboxImage(), busyboxImage(true), "prune", busyboxImage(), busyboxImage(true)]
      .map((arg) =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--config", `${REPO}/deno.json`, script, store.root, arg],
          stdout: "piped",
          stderr: "piped",
        }).spawn()
      );
    const outs = await Promise.all(procs.map((p) => p.output()));
    for (const o of outs) assert.equal(o.code, 0, dec.decode(o.stderr));
    assert.deepEqual(listImages(store).map((i) => i.tags).sort(), [["busybox:latest"], [
      "busybox:multi",
    ]]);
    assert.equal([...Deno.readDirSync(`${store.root}/layers/sha256`)].length, 3);
    const leftovers = [
      ...Deno.readDirSync(`${store.root}/layers/sha256`),
      ...Deno.readDirSync(`${store.root}/blobs/sha256`),
    ].filter((e) => e.name.startsWith(".tmp"));
    assert.deepEqual(leftovers, []);
    await resolveImage(store, "busybox:multi");
  },
);

const SKOPEO = (() => {
  try {
    return new Deno.Command("skopeo", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

function skopeoTest(name: string, fn: () => Promise<void>): void {
  if (!SKOPEO) {
    Deno.test({ name: `${name} [skipped: skopeo is not installed]`, ignore: true, fn });
    return;
  }
  rootTest(name, fn);
}

skopeoTest("image: skopeo reads what ctr saves (docker-archive: and oci-archive:)", async () => {
  const store = loadedStore();
  await loadArchive(store, busyboxImage());
  const out = `${tempDir()}/saved.tar`;
  await saveArchive(store, ["busybox"], out);
  const img = await resolveImage(store, "busybox");
  for (const ref of [`docker-archive:${out}`, `oci-archive:${out}:latest`]) {
    const info = JSON.parse(run("skopeo", ["inspect", ref]));
    assert.equal(info.Architecture, hostPlatform().architecture, ref);
    assert.equal(info.Os, "linux", ref);
    assert.deepEqual(info.Layers, img.manifest.layers.map((l) => l.digest), ref);
  }
  const config = JSON.parse(run("skopeo", ["inspect", "--config", `docker-archive:${out}`]));
  assert.deepEqual(config.rootfs.diff_ids, img.config.rootfs.diff_ids);
});

skopeoTest("image: ctr loads what skopeo writes (oci-archive:, oci: with zstd, dir:)", async () => {
  const src = `docker-archive:${busyboxImage()}`;
  const original = await (async () => {
    const s = loadedStore();
    await loadArchive(s, busyboxImage());
    return await resolveImage(s, "busybox");
  })();
  const d = tempDir();
  const cases: [string, string[], string | undefined, string][] = [
    [`${d}/x.tar`, [`oci-archive:${d}/x.tar:busybox:copied`], undefined, "busybox:copied"],
    [`${d}/oci`, ["--dest-compress-format", "zstd", `oci:${d}/oci:v1`], "zstd:v1", "zstd:v1"],
    [`${d}/dir`, [`dir:${d}/dir`], "fromdir:1", "fromdir:1"],
  ];
  for (const [path, dest, name, shown] of cases) {
    run("skopeo", ["copy", "--quiet", src, ...dest]);
    const store = loadedStore();
    const r = await loadArchive(store, path, name ? { name } : {});
    assert.deepEqual(r.images[0].names, [shown], path);
    const img = await resolveImage(store, shown);
    assert.deepEqual(img.config.rootfs.diff_ids, original.config.rootfs.diff_ids, path);
    assert.deepEqual(files(img.layers[0]), files(original.layers[0]), path);
    if (name === "zstd:v1") {
      const blob = store.blobPath(img.manifest.layers[0].digest as `sha256:${string}`);
      const head = Deno.readFileSync(blob).subarray(0, 4);
      assert.deepEqual([...head], [0x28, 0xb5, 0x2f, 0xfd], "the layer is zstd");
    }
  }
});

if (!IS_ROOT) {
  Deno.test({ name: "image: end-to-end tests [skipped: needs root]", ignore: true, fn() {} });
}
