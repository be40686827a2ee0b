/**
 * Images without root: references, the store (verified and atomic blob
 * writes, garbage collection, leases), the layer extraction policy against
 * hostile tars, image configs, archive validation. Tests that need root for
 * a kernel privilege (devices, owners, trusted xattrs) say so and skip.
 */
import assert from "node:assert/strict";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { IS_ROOT, rootTest, tempDir } from "../_helpers.ts";
import { makeTar, streamOf, type TarEntry } from "../_tar.ts";
import {
  familiarize,
  formatReference,
  normalizeReference,
  parseReference,
} from "../../lib/image/reference.ts";
import { checkDigest, Hasher, sha256 } from "../../lib/image/digest.ts";
import { entryPath, extractLayer, LayerError, whiteoutOf } from "../../lib/image/layer.ts";
import { lgetxattr } from "../../lib/image/_fs.ts";
import { Store } from "../../lib/image/store.ts";
import { imageProcess } from "../../lib/image/container_defaults.ts";
import { mergeEnv } from "../../lib/config/container.ts";
import type { ImageConfig } from "../../lib/image/schema.ts";
import {
  findImage,
  listImages,
  loadArchive,
  prune,
  removeImage,
  resolveImage,
  tagImage,
} from "../../lib/image/mod.ts";
import { formatImageTable, humanAge, humanSize } from "../../lib/image/mod.ts";

const HEX = "a".repeat(64);

// ---------------------------------------------------------------- references

Deno.test("parseReference() normalizes docker's short forms", () => {
  const cases: [string, string, string][] = [
    ["alpine", "docker.io/library/alpine:latest", "alpine:latest"],
    ["alpine:3.19", "docker.io/library/alpine:3.19", "alpine:3.19"],
    ["user/app", "docker.io/user/app:latest", "user/app:latest"],
    ["docker.io/library/alpine", "docker.io/library/alpine:latest", "alpine:latest"],
    ["index.docker.io/library/alpine:1", "docker.io/library/alpine:1", "alpine:1"],
    ["host:5000/ns/name:tag", "host:5000/ns/name:tag", "host:5000/ns/name:tag"],
    ["localhost/name", "localhost/name:latest", "localhost/name:latest"],
    ["localhost:5000/a/b/c", "localhost:5000/a/b/c:latest", "localhost:5000/a/b/c:latest"],
    ["quay.io/x/y:v1.2_3-rc", "quay.io/x/y:v1.2_3-rc", "quay.io/x/y:v1.2_3-rc"],
    ["[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"],
    ["a__b/c-d--e.f", "docker.io/a__b/c-d--e.f:latest", "a__b/c-d--e.f:latest"],
    [`name@sha256:${HEX}`, `docker.io/library/name@sha256:${HEX}`, `name@sha256:${HEX}`],
    [
      `name:tag@sha256:${HEX}`,
      `docker.io/library/name:tag@sha256:${HEX}`,
      `name:tag@sha256:${HEX}`,
    ],
  ];
  for (const [input, full, short] of cases) {
    const ref = normalizeReference(input);
    assert.equal(formatReference(ref), full, input);
    assert.equal(familiarize(full), short, input);
  }
  assert.deepEqual(parseReference("alpine"), { domain: "docker.io", path: "library/alpine" });
  assert.equal(parseReference(`x@sha256:${HEX}`).tag, undefined);
  // An uppercase first component is a registry host, as docker reads it.
  assert.equal(parseReference("Host/app").domain, "Host");
});

Deno.test("parseReference() says what is wrong with a malformed reference", () => {
  const bad: [string, RegExp][] = [
    ["", /empty/],
    ["Alpine", /repository name "Alpine" must be lowercase/],
    ["docker.io/User/app", /must be lowercase/],
    ["alpine:bad/tag", /the registry "alpine:bad" is not a host name/],
    ["alpine:-x", /tag "-x" may hold only/],
    ["alpine:a+b", /tag "a\+b"/],
    [`alpine:${"t".repeat(129)}`, /longer than 128 characters/],
    ["alpine:", /the tag is empty/],
    ["alpine@sha256:abc", /bad digest: "sha256:abc" is not sha256:<64 lowercase hex digits>/],
    [`alpine@sha256:${"A".repeat(64)}`, /bad digest/],
    [`alpine@sha512:${"a".repeat(128)}`, /sha512 is not supported/],
    [HEX, /image ID, not a repository name/],
    ["a//b", /empty component/],
    ["a..b", /name component "a..b"/],
    ["-a", /name component "-a"/],
    [`${"a".repeat(250)}/b`, /longer than 255/],
  ];
  for (const [input, re] of bad) {
    assert.throws(() => parseReference(input), re, input);
    assert.throws(() => parseReference(input), /^InvalidReferenceError: Invalid reference/, input);
  }
  assert.ok(parseReference(`alpine:${"t".repeat(128)}`).tag);
  assert.throws(() => checkDigest("md5:abc"), /Invalid digest/);
});

// ---------------------------------------------------------------- store

Deno.test("Store.putBlob() verifies the digest while writing and keeps nothing bad", async () => {
  const store = Store.open(tempDir());
  const data = new TextEncoder().encode("hello blob");
  const d = sha256(data);
  const got = await store.putBlobBytes(data, { digest: d, size: data.length });
  assert.deepEqual(got, { digest: d, size: data.length });
  assert.ok(store.hasBlob(d));
  assert.equal(Deno.readTextFileSync(store.blobPath(d)), "hello blob");
  const wrong = sha256("something else");
  await assert.rejects(
    () => store.putBlobBytes(data, { digest: wrong }),
    /is corrupt: it has the digest/,
  );
  assert.ok(!store.hasBlob(wrong));
  await assert.rejects(() => store.putBlobBytes(data, { size: 3 }), /larger than 3 bytes/);
  await assert.rejects(() => store.putBlobBytes(data, { size: 30 }), /has 10 bytes, 30 expected/);
  // Nothing half-written remains beside the blobs.
  const names = [...Deno.readDirSync(`${store.root}/blobs/sha256`)].map((e) => e.name);
  assert.deepEqual(names, [d.slice(7)]);
  assert.deepEqual(store.readBlob(d), data);
  Deno.writeTextFileSync(store.blobPath(d), "tampered");
  assert.throws(() => store.readBlob(d), /is corrupt in the store/);
});

Deno.test("Store: leftovers of an interrupted run are never trusted and gc removes them", async () => {
  const store = Store.open(tempDir());
  const blobDir = `${store.root}/blobs/sha256`;
  Deno.writeTextFileSync(`${blobDir}/.tmp-0123`, "half a blob");
  // A layer directory renamed into place but never recorded in the index.
  const hex = "b".repeat(64);
  Deno.mkdirSync(`${store.root}/layers/sha256/${hex}/etc`, { recursive: true });
  Deno.mkdirSync(`${store.root}/layers/sha256/.tmp-abcd/x`, { recursive: true });
  assert.equal(store.hasLayer(`sha256:${hex}`), false);
  const orphan = await store.putBlobBytes(new TextEncoder().encode("orphan"));
  const r = await store.gc();
  assert.deepEqual(r.blobs, [orphan.digest]);
  assert.deepEqual(r.layers, [`sha256:${hex}`]);
  assert.deepEqual([...Deno.readDirSync(blobDir)], []);
  assert.deepEqual([...Deno.readDirSync(`${store.root}/layers/sha256`)], []);
});

Deno.test("Store.updateIndex() replaces the index atomically", async () => {
  const store = Store.open(tempDir());
  await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      store.updateIndex((idx) => {
        idx.names[`docker.io/library/n${i}:latest`] = `sha256:${HEX}`;
      })),
  );
  assert.equal(Object.keys(store.readIndex().names).length, 8);
  assert.deepEqual(
    [...Deno.readDirSync(store.root)].map((e) => e.name).filter((n) => n.startsWith(".tmp")),
    [],
  );
  Deno.writeTextFileSync(`${store.root}/images.json`, "{");
  assert.throws(() => store.readIndex(), /is not JSON/);
});

// ---------------------------------------------------------------- extraction

function extractTo(entries: TarEntry[] | Uint8Array): { dir: string; run: Promise<unknown> } {
  const dir = `${tempDir()}/layer`;
  const bytes = entries instanceof Uint8Array ? entries : makeTar(entries);
  return { dir, run: extractLayer(streamOf(bytes), dir) };
}

async function refused(entries: TarEntry[], message: string | RegExp): Promise<void> {
  const { dir, run } = extractTo(entries);
  await assert.rejects(() => run as Promise<unknown>, (e: Error) => {
    assert.ok(e instanceof LayerError, `${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
  // The temporary directory is gone, and nothing was written beside it.
  assert.throws(() => Deno.lstatSync(dir), Deno.errors.NotFound);
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  assert.deepEqual([...Deno.readDirSync(parent)], []);
}

Deno.test("entryPath() and whiteoutOf() normalize names and find whiteouts", () => {
  assert.equal(entryPath("./a/b"), "a/b");
  assert.equal(entryPath("a//./b/"), "a/b");
  assert.equal(entryPath("./"), "");
  assert.equal(entryPath("/"), "");
  assert.equal(entryPath("."), "");
  assert.throws(() => entryPath("../x"), /Entry escapes the root: \.\.\/x/);
  assert.throws(() => entryPath("a/../../x"), /escapes/);
  assert.throws(() => entryPath("/etc/passwd"), /Entry escapes the root: \/etc\/passwd/);
  assert.deepEqual(whiteoutOf("a/.wh.b"), { kind: "whiteout", path: "a/b" });
  assert.deepEqual(whiteoutOf(".wh.top"), { kind: "whiteout", path: "top" });
  assert.deepEqual(whiteoutOf("a/b/.wh..wh..opq"), { kind: "opaque", dir: "a/b" });
  assert.deepEqual(whiteoutOf("a/.wh..wh.plnk"), { kind: "meta" });
  assert.equal(whiteoutOf("a/b"), undefined);
});

Deno.test("extractLayer() refuses ../ escapes", async () => {
  await refused(
    [{ name: "ok", data: "x" }, { name: "../../etc/passwd", data: "pwned" }],
    "Cannot extract the layer: Entry escapes the root: ../../etc/passwd",
  );
  await refused([{ name: "a/../../b", data: "x" }], /Entry escapes the root: a\/\.\.\/\.\.\/b/);
});

Deno.test("extractLayer() refuses absolute names", async () => {
  await refused(
    [{ name: "/etc/ctr-test-absolute", data: "pwned" }],
    "Cannot extract the layer: Entry escapes the root: /etc/ctr-test-absolute",
  );
  assert.throws(() => Deno.lstatSync("/etc/ctr-test-absolute"), Deno.errors.NotFound);
});

Deno.test("extractLayer() refuses entries under a symlink (a -> /etc, then a/passwd)", async () => {
  const before = Deno.readTextFileSync("/etc/passwd");
  await refused(
    [
      { name: "a", type: "symlink", linkname: "/etc" },
      { name: "a/passwd", data: "root::0:0::/:/bin/sh\n" },
    ],
    "Cannot extract the layer: Entry escapes the root: a/passwd (a is a symlink)",
  );
  assert.equal(Deno.readTextFileSync("/etc/passwd"), before);
  const outside = tempDir();
  await refused(
    [
      { name: "d/", type: "dir" },
      { name: "d/up", type: "symlink", linkname: "../../../../../../../.." + outside },
      { name: "d/up/x/", type: "dir" },
    ],
    /Entry escapes the root: d\/up\/x\/ \(d\/up is a symlink\)/,
  );
  // A relative symlink inside the layer is refused as a parent too.
  await refused(
    [{ name: "lib", type: "symlink", linkname: "usr/lib" }, { name: "lib/x", data: "" }],
    /lib\/x \(lib is a symlink\)/,
  );
  // A file replaced by a symlink later in the same layer is a symlink from then on.
  await refused(
    [
      { name: "b/", type: "dir" },
      { name: "b", type: "symlink", linkname: outside },
      { name: "b/f", data: "x" },
    ],
    /b\/f \(b is a symlink\)/,
  );
  assert.deepEqual([...Deno.readDirSync(outside)], []);
});

Deno.test("extractLayer() refuses hardlinks to outside or through a symlink", async () => {
  await refused(
    [{ name: "h", type: "link", linkname: "../../etc/passwd" }],
    "Cannot extract the layer: Hardlink escapes the root: h -> ../../etc/passwd",
  );
  await refused(
    [{ name: "h", type: "link", linkname: "/etc/passwd" }],
    /Hardlink escapes the root: h -> \/etc\/passwd/,
  );
  await refused(
    [{ name: "s", type: "symlink", linkname: "/etc" }, {
      name: "h",
      type: "link",
      linkname: "s/passwd",
    }],
    /Hardlink escapes the root: h -> s\/passwd \(through a symlink\)/,
  );
  await refused(
    [{ name: "h", type: "link", linkname: "missing" }],
    /target missing does not exist/,
  );
});

Deno.test("extractLayer() writes files, dirs, links, modes and times; diff_id is the tar's sha256", async () => {
  const entries: TarEntry[] = [
    { name: "./", type: "dir", mode: 0o755 },
    { name: "./bin/", type: "dir", mode: 0o755, mtime: 1600000000 },
    { name: "./bin/busybox", data: "#!binary", mode: 0o755, mtime: 1500000000 },
    { name: "./bin/sh", type: "symlink", linkname: "busybox" },
    { name: "./bin/su", data: "suid", mode: 0o4755 },
    { name: "./bin/ln", type: "link", linkname: "bin/busybox" },
    { name: "./shared/", type: "dir", mode: 0o2775 },
    { name: "./tmp/", type: "dir", mode: 0o1777 },
    { name: "./implied/deep/file", data: "parents made on the way" },
    { name: "./pipe", type: "fifo", mode: 0o640 },
    { name: "./dup", data: "first" },
    { name: "./dup", data: "second" },
  ];
  const tarBytes = makeTar(entries);
  const { dir, run } = extractTo(tarBytes);
  const info = await run as { diffId: string; size: number; compression: string };
  assert.equal(info.diffId, sha256(tarBytes));
  assert.equal(info.size, tarBytes.length);
  assert.equal(info.compression, "none");
  assert.equal(Deno.readTextFileSync(`${dir}/bin/busybox`), "#!binary");
  assert.equal(Deno.readLinkSync(`${dir}/bin/sh`), "busybox");
  assert.equal(Deno.statSync(`${dir}/bin/su`).mode! & 0o7777, 0o4755);
  assert.equal(Deno.statSync(`${dir}/shared`).mode! & 0o7777, 0o2775);
  assert.equal(Deno.statSync(`${dir}/tmp`).mode! & 0o7777, 0o1777);
  assert.equal(Deno.statSync(`${dir}`).mode! & 0o7777, 0o755);
  assert.equal(Deno.statSync(`${dir}/implied`).mode! & 0o7777, 0o755);
  assert.equal(Deno.statSync(`${dir}/bin/ln`).ino, Deno.statSync(`${dir}/bin/busybox`).ino);
  assert.equal(Deno.readTextFileSync(`${dir}/implied/deep/file`), "parents made on the way");
  assert.ok(Deno.lstatSync(`${dir}/pipe`).isFifo);
  assert.equal(Deno.readTextFileSync(`${dir}/dup`), "second");
  assert.equal(Deno.statSync(`${dir}/bin/busybox`).mtime!.getTime(), 1500000000_000);
  assert.equal(Deno.statSync(`${dir}/bin`).mtime!.getTime(), 1600000000_000);
});

Deno.test("extractLayer() reads gzip and zstd layers to the same diff_id", async () => {
  const tarBytes = makeTar([{ name: "f", data: "compressed content ".repeat(100) }]);
  for (
    const [bytes, kind] of [[gzipSync(tarBytes), "gzip"], [zstdCompressSync(tarBytes), "zstd"]]
  ) {
    const { dir, run } = extractTo(new Uint8Array(bytes as Uint8Array));
    const info = await run as { diffId: string; compression: string };
    assert.equal(info.compression, kind);
    assert.equal(info.diffId, sha256(tarBytes));
    assert.equal(Deno.readTextFileSync(`${dir}/f`), "compressed content ".repeat(100));
  }
});

Deno.test("extractLayer() refuses a truncated tar and leaves nothing", async () => {
  const tarBytes = makeTar([{ name: "f", data: "x".repeat(5000) }]);
  const { dir, run } = extractTo(tarBytes.slice(0, 2048));
  await assert.rejects(
    () => run as Promise<unknown>,
    /Cannot extract the layer: the tar is truncated/,
  );
  assert.throws(() => Deno.lstatSync(dir), Deno.errors.NotFound);
});

rootTest("extractLayer() keeps owners, then setuid bits (chown clears them)", async () => {
  const { dir, run } = extractTo([
    { name: "suid", data: "x", mode: 0o6755, uid: 1234, gid: 5678 },
    { name: "link", type: "symlink", linkname: "suid", uid: 42, gid: 43 },
    { name: "d/", type: "dir", mode: 0o750, uid: 7, gid: 8 },
  ]);
  await run;
  const st = Deno.lstatSync(`${dir}/suid`);
  assert.deepEqual([st.uid, st.gid, st.mode! & 0o7777], [1234, 5678, 0o6755]);
  const ln = Deno.lstatSync(`${dir}/link`);
  assert.deepEqual([ln.uid, ln.gid], [42, 43]);
  const d = Deno.lstatSync(`${dir}/d`);
  assert.deepEqual([d.uid, d.gid, d.mode! & 0o7777], [7, 8, 0o750]);
});

rootTest("extractLayer() makes device nodes", async () => {
  const { dir, run } = extractTo([
    { name: "dev/null", type: "char", devmajor: 1, devminor: 3, mode: 0o666 },
    { name: "dev/loop9", type: "block", devmajor: 7, devminor: 9, mode: 0o660 },
  ]);
  await run;
  const nul = Deno.lstatSync(`${dir}/dev/null`);
  assert.ok(nul.isCharDevice);
  assert.equal(nul.rdev, (1 << 8) | 3);
  assert.equal(nul.mode! & 0o7777, 0o666);
  const loop = Deno.lstatSync(`${dir}/dev/loop9`);
  assert.ok(loop.isBlockDevice);
  assert.equal(loop.rdev, (7 << 8) | 9);
});

rootTest(
  "extractLayer() turns whiteouts into 0/0 devices and .wh..wh..opq into opaque dirs",
  async () => {
    const { dir, run } = extractTo([
      { name: "etc/", type: "dir" },
      { name: "etc/.wh.motd", data: "" },
      { name: ".wh.gone", data: "" },
      { name: "data/dir/.wh..wh..opq", data: "" },
      { name: "data/dir/new", data: "new" },
      { name: "data/.wh..wh.plnk", type: "dir" },
    ]);
    await run;
    for (const p of ["etc/motd", "gone"]) {
      const st = Deno.lstatSync(`${dir}/${p}`);
      assert.ok(st.isCharDevice, p);
      assert.equal(st.rdev, 0);
    }
    assert.deepEqual(
      lgetxattr(`${dir}/data/dir`, "trusted.overlay.opaque"),
      new TextEncoder().encode("y"),
    );
    assert.deepEqual(
      lgetxattr(`${dir}/data/dir`, "user.overlay.opaque"),
      new TextEncoder().encode("y"),
    );
    assert.equal(lgetxattr(`${dir}/data`, "trusted.overlay.opaque"), undefined);
    assert.deepEqual([...Deno.readDirSync(`${dir}/data/dir`)].map((e) => e.name), ["new"]);
    assert.deepEqual([...Deno.readDirSync(`${dir}/data`)].map((e) => e.name), ["dir"]);
    assert.deepEqual([...Deno.readDirSync(`${dir}/etc`)].map((e) => e.name), ["motd"]);
  },
);

rootTest("extractLayer() keeps PAX xattrs, binary ones included, after chown", async () => {
  // vfs_cap_data v2 for cap_net_raw,cap_setuid+ep: bytes above 0x7f are not UTF-8.
  const cap = new Uint8Array([
    0x01,
    0x00,
    0x00,
    0x02,
    0xc0,
    0x20,
    0x00,
    0x00,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  const { dir, run } = extractTo([
    {
      name: "bin/ping",
      data: "ping",
      mode: 0o755,
      uid: 10,
      pax: { "SCHILY.xattr.security.capability": cap, "SCHILY.xattr.user.note": "héllo" },
    },
    { name: "lib", type: "dir", pax: { "LIBARCHIVE.xattr.user.b64": btoa("\x00\xff") } },
    { name: "evil", data: "", pax: { "SCHILY.xattr.trusted.overlay.redirect": "/etc" } },
  ]);
  const info = await run as { warnings: string[] };
  assert.deepEqual(lgetxattr(`${dir}/bin/ping`, "security.capability"), cap);
  assert.equal(new TextDecoder().decode(lgetxattr(`${dir}/bin/ping`, "user.note")), "héllo");
  assert.deepEqual(lgetxattr(`${dir}/lib`, "user.b64"), new Uint8Array([0, 255]));
  assert.equal(lgetxattr(`${dir}/evil`, "trusted.overlay.redirect"), undefined);
  assert.match(
    info.warnings.join("\n"),
    /evil: ignored the overlay attribute trusted.overlay.redirect/,
  );
  assert.equal(Deno.statSync(`${dir}/bin/ping`).uid, 10);
});

Deno.test({
  name: IS_ROOT
    ? "extractLayer() without chown skips devices it may not make [skipped: runs as root]"
    : "extractLayer() without chown skips devices it may not make",
  ignore: IS_ROOT,
  fn: async () => {
    const dir = `${tempDir()}/layer`;
    const info = await extractLayer(
      streamOf(makeTar([{ name: "null", type: "char", devmajor: 1, devminor: 3 }])),
      dir,
    );
    assert.match(info.warnings.join(), /null: device node not created/);
  },
});

// ---------------------------------------------------------------- image config

const cfg = (config: Record<string, unknown>): ImageConfig => ({
  architecture: "amd64",
  os: "linux",
  config,
  rootfs: { type: "layers", diff_ids: [] },
});

Deno.test("imageProcess() combines the image and the command line as docker does", () => {
  const img = cfg({
    Entrypoint: ["/entry.sh"],
    Cmd: ["serve", "--port", "80"],
    Env: ["PATH=/opt/bin:/bin", "A=1", "B=2"],
    WorkingDir: "/app",
    User: "app:staff",
    ExposedPorts: { "80/tcp": {}, "53/udp": {} },
  });
  const base = imageProcess(img);
  assert.deepEqual(base.args, ["/entry.sh", "serve", "--port", "80"]);
  assert.deepEqual(base.env, ["PATH=/opt/bin:/bin", "A=1", "B=2"]);
  assert.equal(base.cwd, "/app");
  assert.equal(base.user, "app:staff");
  assert.deepEqual(base.exposedPorts, ["53/udp", "80/tcp"]);
  // A command replaces Cmd, keeps the Entrypoint.
  assert.deepEqual(imageProcess(img, { command: ["sh"] }).args, ["/entry.sh", "sh"]);
  // --entrypoint replaces the Entrypoint and drops the image's Cmd.
  assert.deepEqual(imageProcess(img, { entrypoint: "/bin/sh" }).args, ["/bin/sh"]);
  assert.deepEqual(imageProcess(img, { entrypoint: "/bin/sh", command: ["-c", "id"] }).args, [
    "/bin/sh",
    "-c",
    "id",
  ]);
  // --entrypoint "" clears the Entrypoint and keeps the Cmd.
  assert.deepEqual(imageProcess(img, { entrypoint: "" }).args, ["serve", "--port", "80"]);
  const over = imageProcess(img, { env: ["B=3", "C=4"], workdir: "/tmp", user: "0" });
  assert.deepEqual(over.env, ["PATH=/opt/bin:/bin", "A=1", "B=3", "C=4"]);
  assert.equal(over.cwd, "/tmp");
  assert.equal(over.user, "0");
  const bare = imageProcess(cfg({ Cmd: ["sh"] }));
  assert.match(bare.env[0], /^PATH=\/usr\/local\/sbin:/);
  assert.equal(bare.cwd, "/");
  assert.equal(bare.user, "");
  assert.throws(() => imageProcess(cfg({})), /No command specified/);
  assert.deepEqual(imageProcess(cfg({ Cmd: ["x"] }), { entrypoint: "" }).args, ["x"]);
  assert.deepEqual(mergeEnv(["A=1", "B"], ["A=2"]), ["A=2", "B"]);
});

Deno.test("humanSize(), humanAge() and the images table read as docker's", () => {
  assert.equal(humanSize(0), "0B");
  assert.equal(humanSize(2140160), "2.14MB");
  assert.equal(humanSize(1000), "1kB");
  const now = Date.parse("2024-01-10T00:00:00Z");
  assert.equal(humanAge("2024-01-09T23:59:30Z", now), "30 seconds ago");
  assert.equal(humanAge("2024-01-09T21:00:00Z", now), "3 hours ago");
  assert.equal(humanAge("2024-01-01T00:00:00Z", now), "9 days ago");
  assert.equal(humanAge(undefined, now), "N/A");
  const table = formatImageTable([{
    id: `sha256:${"c".repeat(64)}`,
    digest: `sha256:${HEX}`,
    names: [],
    tags: ["busybox:latest"],
    created: "2024-01-09T21:00:00Z",
    size: 2140160,
    architecture: "amd64",
    os: "linux",
    layers: 1,
  }], now);
  assert.equal(
    table,
    "REPOSITORY   TAG      IMAGE ID       CREATED       SIZE\n" +
      "busybox      latest   cccccccccccc   3 hours ago   2.14MB",
  );
});

// ---------------------------------------------------------------- archives

interface Layout {
  dir: string;
  manifest: Record<string, unknown>;
  config: Record<string, unknown>;
}

/** An OCI image layout directory with one image of one layer. */
function ociLayout(edit: (l: Layout) => void = () => {}): string {
  const dir = tempDir();
  Deno.mkdirSync(`${dir}/blobs/sha256`, { recursive: true });
  const blob = (data: Uint8Array | string) => {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const d = sha256(bytes);
    Deno.writeFileSync(`${dir}/blobs/sha256/${d.slice(7)}`, bytes);
    return { digest: d, size: bytes.length };
  };
  const layer = makeTar([{ name: "etc/", type: "dir" }, { name: "etc/hello", data: "hi\n" }]);
  const gz = new Uint8Array(gzipSync(layer));
  const l: Layout = {
    dir,
    config: {
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["sh"] },
      rootfs: { type: "layers", diff_ids: [sha256(layer)] },
    },
    manifest: {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...blob(gz) }],
    },
  };
  edit(l);
  const config = blob(JSON.stringify(l.config));
  l.manifest.config ??= { mediaType: "application/vnd.oci.image.config.v1+json", ...config };
  const manifest = blob(JSON.stringify(l.manifest));
  Deno.writeTextFileSync(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  Deno.writeTextFileSync(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": "localhost/test:1" },
      }],
    }),
  );
  return dir;
}

Deno.test("loadArchive() reads an OCI layout directory; tag, resolve, remove, prune", async () => {
  const store = Store.open(tempDir());
  const r = await loadArchive(store, ociLayout());
  assert.equal(r.format, "oci-layout");
  assert.deepEqual(r.images.map((i) => i.names), [["localhost/test:1"]]);
  const [img] = listImages(store);
  assert.deepEqual(img.tags, ["localhost/test:1"]);
  const resolved = await resolveImage(store, "localhost/test:1");
  assert.equal(resolved.layers.length, 1);
  assert.equal(Deno.readTextFileSync(`${resolved.layers[0]}/etc/hello`), "hi\n");
  assert.deepEqual(resolved.config.config?.Cmd, ["sh"]);
  // By ID prefix and by digest.
  assert.equal(findImage(store.readIndex(), img.id.slice(7, 19))?.record.digest, img.digest);
  assert.equal(
    findImage(store.readIndex(), `localhost/test@${img.digest}`)?.record.digest,
    img.digest,
  );
  await assert.rejects(() => resolveImage(store, "nothere"), /No such image: nothere/);
  assert.equal(await tagImage(store, "localhost/test:1", "other:2"), "docker.io/library/other:2");
  await assert.rejects(() => removeImage(store, img.id), /has several names/);
  const un = await removeImage(store, "localhost/test:1");
  assert.deepEqual(un, { untagged: ["localhost/test:1"], deleted: [] });
  const gone = await removeImage(store, "other:2");
  assert.deepEqual(gone.deleted, [img.digest]);
  assert.equal(gone.gc?.blobs.length, 3);
  assert.equal(gone.gc?.layers.length, 1);
  assert.deepEqual(listImages(store), []);
  assert.deepEqual([...Deno.readDirSync(`${store.root}/blobs/sha256`)], []);
  assert.deepEqual([...Deno.readDirSync(`${store.root}/layers/sha256`)], []);
});

Deno.test("prune() keeps layers leased by a running container until released", async () => {
  const store = Store.open(tempDir());
  await loadArchive(store, ociLayout());
  const img = await resolveImage(store, "localhost/test:1", { lease: true });
  await store.updateIndex((idx) => {
    idx.names = {};
  });
  const first = await prune(store, { untagged: true });
  assert.equal(first.images.length, 1);
  assert.equal(first.busy.length, 1);
  assert.ok(Deno.statSync(img.layers[0]).isDirectory);
  img.release();
  const second = await prune(store);
  assert.equal(second.layers.length, 1);
  assert.throws(() => Deno.statSync(img.layers[0]), Deno.errors.NotFound);
});

Deno.test("loadArchive() validates manifests and configs and keeps nothing from a bad archive", async () => {
  const cases: [(l: Layout) => void, RegExp][] = [
    [
      (l) => (l.config.rootfs as { diff_ids: string[] }).diff_ids.push(sha256("x")),
      /lists 2 diff_ids for 1 layers/,
    ],
    [
      (l) => (l.config.rootfs as { diff_ids: string[] }).diff_ids = [sha256("other")],
      /has the diff_id sha256:.*but the image config says/,
    ],
    [
      (l) => ((l.manifest.layers as { mediaType: string }[])[0].mediaType = "text/plain"),
      /layers.0.mediaType: not a layer media type/,
    ],
    [(l) => ((l.manifest.layers as { size: number }[])[0].size = 1), /larger than 1 bytes/],
    [
      (l) => ((l.manifest.layers as { digest: string }[])[0].digest = "sha256:zz"),
      /layers.0.digest: "sha256:zz" is not sha256/,
    ],
    [(l) => (l.config.os = "windows"), /is for windows: ctr runs linux images/],
    [(l) => delete l.config.architecture, /Invalid image config .*architecture/],
    [(l) => (l.manifest.schemaVersion = 1), /Invalid image manifest .*schemaVersion/],
  ];
  for (const [edit, re] of cases) {
    const store = Store.open(tempDir());
    await assert.rejects(() => loadArchive(store, ociLayout(edit)), re, re.source);
    assert.deepEqual(listImages(store), [], re.source);
    await store.gc();
    assert.deepEqual([...Deno.readDirSync(`${store.root}/blobs/sha256`)], [], re.source);
    assert.deepEqual([...Deno.readDirSync(`${store.root}/layers/sha256`)], [], re.source);
  }
  const store = Store.open(tempDir());
  await assert.rejects(() => loadArchive(store, tempDir()), /is not an image archive/);
});

Deno.test("loadArchive() reads a docker-save tar with legacy symlinked layers", async () => {
  const layer = makeTar([{ name: "f", data: "layer" }]);
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [sha256(layer), sha256(layer)] },
  });
  const confHex = sha256(config).slice(7);
  const archive = makeTar([
    { name: "aaa/layer.tar", data: layer },
    { name: "bbb/layer.tar", type: "symlink", linkname: "../aaa/layer.tar" },
    { name: `${confHex}.json`, data: config },
    {
      name: "manifest.json",
      data: JSON.stringify([{
        Config: `${confHex}.json`,
        RepoTags: ["app:v1"],
        Layers: ["aaa/layer.tar", "bbb/layer.tar"],
      }]),
    },
  ]);
  const path = `${tempDir()}/a.tar`;
  Deno.writeFileSync(path, archive);
  const store = Store.open(tempDir());
  const r = await loadArchive(store, path);
  assert.equal(r.format, "docker-save");
  assert.deepEqual(r.images[0].names, ["app:v1"]);
  const img = await resolveImage(store, "app:v1");
  assert.equal(img.layers.length, 1); // the same layer twice is stacked once
  assert.equal(img.id, sha256(config));
  // Nothing staged is left beside the blobs.
  const names = [...Deno.readDirSync(`${store.root}/blobs/sha256`)].map((e) => e.name);
  assert.ok(names.every((n) => !n.startsWith(".tmp")), names.join());
  const bad = makeTar([{ name: "../escape", data: "x" }]);
  Deno.writeFileSync(path, bad);
  await assert.rejects(() => loadArchive(store, path), /has an entry outside it: \.\.\/escape/);
});

Deno.test("the store's index is checked when read: a bad one names the file and the field", () => {
  const store = Store.open(tempDir());
  const file = `${store.root}/images.json`;
  const d = `sha256:${"a".repeat(64)}`;
  const good = {
    version: 1,
    images: {
      [d]: {
        digest: d,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: d,
        layers: [d],
        blobs: [d],
        architecture: "amd64",
        os: "linux",
        size: 10,
        loaded: "2026-01-01T00:00:00Z",
      },
    },
    names: { "docker.io/library/busybox:latest": d },
    layers: { [d]: { size: 10 } },
  };
  Deno.writeTextFileSync(file, JSON.stringify(good));
  assert.deepEqual(store.readIndex(), good);
  const bad: [unknown, RegExp][] = [
    [[], /: the index: expected an object$/],
    [{ ...good, version: 2 }, /: version: expected 1$/],
    [{ ...good, names: { a: "sha256:short" } }, /: names\.a: expected a sha256 digest$/],
    [
      { ...good, images: { [d]: { ...good.images[d], layers: [d, 3] } } },
      new RegExp(`: images\\.${d}\\.layers\\.1: expected a sha256 digest$`),
    ],
    [
      { ...good, images: { [d]: { ...good.images[d], size: "10" } } },
      new RegExp(`: images\\.${d}\\.size: expected a number$`),
    ],
    [{ ...good, layers: { [d]: {} } }, new RegExp(`: layers\\.${d}\\.size: expected a number$`)],
  ];
  for (const [value, message] of bad) {
    Deno.writeTextFileSync(file, JSON.stringify(value));
    assert.throws(() => store.readIndex(), (e: Error) => {
      assert.ok(e.message.startsWith(`Invalid image index ${file}: `), e.message);
      assert.match(e.message, message);
      return true;
    });
  }
  Deno.writeTextFileSync(file, "{");
  assert.throws(() => store.readIndex(), /is not JSON/);
});

Deno.test("sha256() (JavaScript) agrees with the standard vectors and with the streaming Hasher (node:crypto)", async () => {
  assert.equal(
    sha256(""),
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(
    sha256("abc"),
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  const data = crypto.getRandomValues(new Uint8Array(65536));
  const big = new Uint8Array(3 * 65536 + 17);
  for (let i = 0; i < big.length; i += data.length) big.set(data.subarray(0, big.length - i), i);
  const h = new Hasher();
  h.update(big.subarray(0, 1000));
  h.update(big.subarray(1000));
  assert.equal(sha256(big), h.digest());
  const web = new Uint8Array(await crypto.subtle.digest("SHA-256", big));
  assert.equal(
    sha256(big),
    `sha256:${Array.from(web, (b) => b.toString(16).padStart(2, "0")).join("")}`,
  );
});
