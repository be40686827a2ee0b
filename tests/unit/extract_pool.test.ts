/**
 * The extraction pool (lib/image/extract_pool.ts): layers extracted on worker
 * threads give what extraction in this thread gives, failures included; a
 * worker that cannot run hands its jobs back to this thread; jobs not begun
 * can be cancelled while those begun finish.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { tempDir } from "../_helpers.ts";
import { makeTar, type TarEntry } from "../_tar.ts";
import { extractHere, ExtractPool, poolSize } from "../../lib/image/extract_pool.ts";
import { sha256 } from "../../lib/image/digest.ts";
import type { OwnedEntry } from "../../lib/os/privileged.ts";

/** A gzip'd layer in a file of its own, and its uncompressed bytes. */
function blobFile(entries: TarEntry[]): { path: string; tar: Uint8Array } {
  const tar = makeTar(entries);
  const path = `${tempDir()}/blob`;
  Deno.writeFileSync(path, new Uint8Array(gzipSync(tar)));
  return { path, tar };
}

/** The tree under `dir`: each path with its kind, mode and content or link. */
function tree(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
    const p = `${dir}/${e.name}`;
    const st = Deno.lstatSync(p);
    const mode = (st.mode! & 0o7777).toString(8);
    if (e.isSymlink) out.push(`${prefix}${e.name} -> ${Deno.readLinkSync(p)}`);
    else if (e.isDirectory) {
      out.push(`${prefix}${e.name}/ ${mode} ${st.mtime!.getTime()}`);
      out.push(...tree(p, `${prefix}${e.name}/`));
    } else if (!st.isFile) out.push(`${prefix}${e.name} ${mode} device ${st.rdev}`);
    else out.push(`${prefix}${e.name} ${mode} ${st.mtime!.getTime()} ${Deno.readTextFileSync(p)}`);
  }
  return out;
}

const LAYER: TarEntry[] = [
  { name: "./", type: "dir", mode: 0o755 },
  { name: "./bin/", type: "dir", mode: 0o755, mtime: 1600000000 },
  { name: "./bin/tool", data: "#!binary", mode: 0o755, mtime: 1500000000 },
  { name: "./bin/alias", type: "symlink", linkname: "tool" },
  { name: "./etc/", type: "dir", mode: 0o750, mtime: 1600000001 },
  { name: "./etc/conf", data: "key=value\n", mode: 0o640 },
  { name: "./etc/.wh.old", data: "" },
  { name: "./many/", type: "dir", mode: 0o755, mtime: 1600000002 },
  ...Array.from({ length: 200 }, (_, i) => ({ name: `./many/f${i}`, data: `file ${i}\n` })),
];

Deno.test("ExtractPool: layers extracted on workers, side by side, as in this thread", async () => {
  const a = blobFile(LAYER);
  const b = blobFile([{ name: "./other", data: "second layer" }, ...LAYER.slice(1, 3)]);
  const here = `${tempDir()}/here`;
  const mine = await extractHere(a.path, here);
  const pool = new ExtractPool(2);
  try {
    const [ia, ib] = await Promise.all([
      pool.extract(a.path, `${tempDir()}/a`),
      pool.extract(b.path, `${tempDir()}/b`),
    ]);
    assert.deepEqual(pool.counts, { workers: 2, here: 0 });
    assert.equal(ia.diffId, sha256(a.tar));
    assert.equal(ib.diffId, sha256(b.tar));
    assert.deepEqual(ia, mine);
    assert.equal(ia.compression, "gzip");
  } finally {
    pool.close();
  }
});

Deno.test("ExtractPool: a worker's tree is the same as this thread's, file by file", async () => {
  const a = blobFile(LAYER);
  const [here, there] = [`${tempDir()}/here`, `${tempDir()}/there`];
  await extractHere(a.path, here);
  const pool = new ExtractPool(1);
  try {
    await pool.extract(a.path, there);
  } finally {
    pool.close();
  }
  const t = tree(there);
  assert.deepEqual(t, tree(here));
  assert.ok(
    t.includes("bin/alias -> tool") && t.includes("many/f199 644 1700000000000 file 199\n"),
    t.join("\n"),
  );
});

Deno.test("ExtractPool: a refused layer fails with the same message and leaves nothing", async () => {
  const bad = blobFile([{ name: "ok", data: "x" }, { name: "../../etc/passwd", data: "pwned" }]);
  const parent = tempDir();
  const pool = new ExtractPool(1);
  try {
    await assert.rejects(
      () => pool.extract(bad.path, `${parent}/layer`),
      (e: Error) => {
        assert.equal(
          e.message,
          "Cannot extract the layer: Entry escapes the root: ../../etc/passwd",
        );
        assert.equal(e.name, "LayerError");
        return true;
      },
    );
    assert.deepEqual([...Deno.readDirSync(parent)], []);
    // The worker goes on with the next job.
    const good = blobFile(LAYER.slice(0, 3));
    const info = await pool.extract(good.path, `${parent}/next`);
    assert.equal(info.diffId, sha256(good.tar));
    assert.deepEqual(pool.counts, { workers: 2, here: 0 });
  } finally {
    pool.close();
  }
});

Deno.test("ExtractPool: owners are listed on the worker and handed back (no chown)", async () => {
  const a = blobFile([
    { name: "./", type: "dir", mode: 0o755 },
    { name: "./srv/", type: "dir", mode: 0o755, uid: 33, gid: 33 },
    { name: "./srv/www", data: "page", uid: 33, gid: 33 },
    { name: "./usr/bin/suid", data: "s", mode: 0o4755, uid: 1000, gid: 1000 },
    { name: "./root-owned", data: "r" },
  ]);
  const owners: OwnedEntry[] = [];
  const pool = new ExtractPool(1);
  try {
    await pool.extract(a.path, `${tempDir()}/layer`, { chown: false, owners });
  } finally {
    pool.close();
  }
  const here: OwnedEntry[] = [];
  await extractHere(a.path, `${tempDir()}/layer`, { chown: false, owners: here });
  assert.deepEqual(owners, here);
  assert.deepEqual(owners.map((o) => `${o.path} ${o.uid}:${o.gid} ${o.mode ?? ""}`), [
    "srv/www 33:33 ",
    `usr/bin/suid 1000:1000 ${0o4755}`,
    "srv 33:33 ", // a directory's metadata comes once its content is written
  ]);
});

Deno.test("ExtractPool: a worker that cannot run hands its jobs to this thread", async () => {
  const a = blobFile(LAYER);
  const broken = "data:application/javascript,throw new Error('no such worker')";
  const pool = new ExtractPool(2, broken);
  try {
    const dirs = [`${tempDir()}/a`, `${tempDir()}/b`, `${tempDir()}/c`];
    const infos = await Promise.all(dirs.map((d) => pool.extract(a.path, d)));
    for (const i of infos) assert.equal(i.diffId, sha256(a.tar));
    assert.deepEqual(pool.counts, { workers: 0, here: 3 });
    for (const d of dirs) assert.ok(Deno.statSync(`${d}/many/f0`).isFile);
  } finally {
    pool.close();
  }
});

Deno.test("ExtractPool: cancelWaiting fails the jobs not begun; the one begun finishes", async () => {
  const a = blobFile(LAYER);
  const pool = new ExtractPool(1);
  const parent = tempDir();
  try {
    const first = pool.extract(a.path, `${parent}/first`);
    const second = pool.extract(a.path, `${parent}/second`);
    pool.cancelWaiting(new Error("a download failed"));
    await assert.rejects(() => second, /a download failed/);
    assert.equal((await first).diffId, sha256(a.tar));
    assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["first"]);
  } finally {
    pool.close();
  }
  await assert.rejects(
    () => pool.extract(a.path, `${parent}/late`),
    /the extraction pool is closed/,
  );
});

Deno.test("poolSize() is at most the jobs, the processors and 4", () => {
  assert.equal(poolSize(0), 0);
  assert.equal(poolSize(1), 1);
  assert.equal(poolSize(100), Math.min(navigator.hardwareConcurrency, 4));
});

Deno.test("extractHere(): a directory that exists already is refused, the blob's file closed", async () => {
  const a = blobFile(LAYER);
  const dir = tempDir();
  const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
  const before = fds();
  await assert.rejects(() => extractHere(a.path, dir), Deno.errors.AlreadyExists);
  assert.equal(fds(), before);
  assert.deepEqual([...Deno.readDirSync(dir)], []);
});
