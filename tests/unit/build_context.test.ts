/**
 * The build context and COPY/ADD: .dockerignore (the reference's examples),
 * Go's filepath.Match, walking without following symlinks, unpacking a tar
 * context safely, source and destination rules, owners and modes, ADD of
 * archives and URLs, and the content digest of what a step reads.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { IS_ROOT, rootTest, tempDir } from "../_helpers.ts";
import { makeTar, streamOf } from "../_tar.ts";
import { lsetxattr, mknod } from "../../lib/image/_fs.ts";
import { sha256 } from "../../lib/image/digest.ts";
import {
  applyCopy,
  BuildContext,
  copyDigest,
  CopyError,
  type CopyRequest,
  detectArchive,
  fetchUrl,
  goMatch,
  isTarHeader,
  LayeredRoot,
  parseChmod,
  parseChown,
  parseDockerignore,
  PatternMatcher,
  planCopy,
  planMkdir,
  splitAddSources,
  unpackContext,
  urlFileName,
  userDb,
} from "../../lib/image/build/context.ts";

const enc = new TextEncoder();

/** Writes files: a path ending in / is a directory, `-> x` a symlink. */
function tree(root: string, spec: Record<string, string>): string {
  for (const [path, content] of Object.entries(spec)) {
    const full = `${root}/${path}`;
    const dir = full.replace(/\/[^/]*\/?$/, "");
    Deno.mkdirSync(dir, { recursive: true });
    if (path.endsWith("/")) Deno.mkdirSync(full, { recursive: true });
    else if (content.startsWith("-> ")) Deno.symlinkSync(content.slice(3), full);
    else Deno.writeTextFileSync(full, content);
  }
  return root;
}

/** The files of a directory: path → content, `dir/` for directories, `-> t` for symlinks. */
function listing(root: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (
    const e of [...Deno.readDirSync(`${root}/${rel}`)].sort((a, b) => a.name < b.name ? -1 : 1)
  ) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    const st = Deno.lstatSync(`${root}/${p}`);
    if (st.isSymlink) out[p] = `-> ${Deno.readLinkSync(`${root}/${p}`)}`;
    else if (st.isDirectory) {
      out[`${p}/`] = "";
      Object.assign(out, listing(root, p));
    } else out[p] = Deno.readTextFileSync(`${root}/${p}`);
  }
  return out;
}

function mode(p: string): number {
  return Deno.lstatSync(p).mode! & 0o7777;
}

async function copy(
  req: Partial<CopyRequest> & Pick<CopyRequest, "sources" | "dest">,
  ctx: string,
) {
  const context = BuildContext.open(ctx);
  const plan = await planCopy({ kind: "COPY", workdir: "/", from: context.source(), ...req });
  const out = tempDir();
  await applyCopy(plan, out);
  return { plan, out };
}

// ---------------------------------------------------------------- .dockerignore

Deno.test("parseDockerignore() reads comments, blanks, leading slashes and exceptions", () => {
  assert.deepEqual(
    parseDockerignore(
      "\uFEFF# comment\n*/temp*\n\n  */*/temp*  \n/foo/bar\n! README.md\n./a/../b\r\n #x\n",
    ),
    ["*/temp*", "*/*/temp*", "foo/bar", "!README.md", "b", "#x"],
  );
});

Deno.test("PatternMatcher follows the reference's .dockerignore examples", () => {
  const m = new PatternMatcher(["*/temp*", "*/*/temp*", "temp?"]);
  assert.ok(m.matches("somedir/temporary.txt"));
  assert.ok(m.matches("somedir/temp"));
  assert.ok(m.matches("somedir/subdir/temporary.txt"));
  assert.ok(m.matches("tempa"));
  assert.ok(!m.matches("temporary.txt"));
  assert.ok(!m.matches("a/b/c/temp"));
  const go = new PatternMatcher(["**/*.go"]);
  assert.ok(go.matches("main.go") && go.matches("a/b/c.go") && !go.matches("a/b/c.goo"));
  const md = new PatternMatcher(["*.md", "!README.md"]);
  assert.ok(md.matches("CHANGES.md") && !md.matches("README.md"));
  // The last pattern that matches decides.
  const a = new PatternMatcher(["*.md", "!README*.md", "README-secret.md"]);
  assert.ok(a.matches("README-secret.md") && !a.matches("README-public.md"));
  const b = new PatternMatcher(["*.md", "README-secret.md", "!README*.md"]);
  assert.ok(!b.matches("README-secret.md"));
  // A pattern that matches a directory matches what is inside it.
  const dir = new PatternMatcher(["node_modules", "build/"]);
  assert.ok(dir.matches("node_modules/x/y.js") && dir.matches("build/out"));
  // Only-include: exclude everything, then the exceptions.
  const inc = new PatternMatcher(["*", "!src", "!Dockerfile"]);
  assert.ok(inc.matches("secret.key") && !inc.matches("src/main.c") && !inc.matches("Dockerfile"));
  assert.throws(() => new PatternMatcher(["!"]), /illegal exclusion pattern/);
  assert.throws(() => new PatternMatcher(["a[b"]), /syntax error in pattern/);
});

Deno.test("goMatch() is Go's filepath.Match", () => {
  const yes: [string, string][] = [
    ["*.png", "a.png"],
    ["index.?s", "index.js"],
    ["index.?s", "index.ts"],
    ["arr[[]0].txt", "arr[0].txt"],
    ["[a-c]x", "bx"],
    ["[^a-c]x", "dx"],
    ["a\\*b", "a*b"],
    ["*", ".hidden"],
    ["a*b*c", "axxbyyc"],
  ];
  for (const [p, n] of yes) assert.ok(goMatch(p, n), `${p} ${n}`);
  const no: [string, string][] = [["*.png", "a/b.png"], ["?", "/"], ["[^a-c]x", "bx"], ["a*", "b"]];
  for (const [p, n] of no) assert.ok(!goMatch(p, n), `${p} ${n}`);
  assert.throws(() => goMatch("[", "a"), /syntax error in pattern/);
  assert.throws(() => goMatch("a\\", "a"), /syntax error in pattern/);
});

// ---------------------------------------------------------------- context

Deno.test("BuildContext.walk() skips excluded paths, never follows symlinks, enters for exceptions", () => {
  const dir = tree(tempDir(), {
    "Dockerfile": "FROM a",
    ".dockerignore": "node_modules\nlogs\n!logs/keep.log\n*.tmp\n",
    "src/main.c": "int main;",
    "src/x.tmp": "",
    "node_modules/big/index.js": "",
    "logs/a.log": "",
    "logs/keep.log": "kept",
    "link": "-> /etc",
  });
  const ctx = BuildContext.open(dir);
  const paths = [...ctx.walk()].map((e) => e.path);
  // `*.tmp` is matched from the context's root: it does not reach into src/.
  assert.deepEqual(paths, [
    ".dockerignore",
    "Dockerfile",
    "link",
    "logs/keep.log",
    "src",
    "src/main.c",
    "src/x.tmp",
  ]);
  assert.ok(ctx.excluded("node_modules/big/index.js"));
  assert.ok(!ctx.excluded("/Dockerfile"));
});

Deno.test("BuildContext.open() prefers the Dockerfile's own .dockerignore", () => {
  const dir = tree(tempDir(), {
    ".dockerignore": "a\n",
    "build/app.Dockerfile": "FROM x",
    "build/app.Dockerfile.dockerignore": "b\n",
    "a": "",
    "b": "",
  });
  assert.ok(BuildContext.open(dir).excluded("a"));
  const own = BuildContext.open(dir, { dockerfile: `${dir}/build/app.Dockerfile` });
  assert.ok(own.excluded("b") && !own.excluded("a"));
});

Deno.test("unpackContext() refuses a hostile tar and keeps .wh. names as files", async () => {
  const ok = `${tempDir()}/ctx`;
  await unpackContext(
    streamOf(makeTar([{ name: "Dockerfile", data: "FROM a" }, { name: ".wh.x", data: "y" }])),
    ok,
  );
  assert.deepEqual(listing(ok), { ".wh.x": "y", "Dockerfile": "FROM a" });
  const bad = `${tempDir()}/ctx`;
  await assert.rejects(
    () => unpackContext(streamOf(makeTar([{ name: "../escape", data: "x" }])), bad),
    /escapes the root/,
  );
  assert.throws(() => Deno.statSync(bad));
});

// ---------------------------------------------------------------- COPY

Deno.test("planCopy() follows docker's destination rules", async () => {
  const ctx = tree(tempDir(), { "a.txt": "A", "b.txt": "B", "dir/x": "X", "dir/sub/y": "Y" });
  let r = await copy({ sources: ["a.txt"], dest: "/abs/" }, ctx);
  assert.deepEqual(listing(r.out), { "abs/": "", "abs/a.txt": "A" });
  r = await copy({ sources: ["a.txt"], dest: "/abs" }, ctx);
  assert.deepEqual(listing(r.out), { "abs": "A" });
  r = await copy({ sources: ["a.txt"], dest: "rel/", workdir: "/usr/src/app" }, ctx);
  assert.deepEqual(Object.keys(listing(r.out)).pop(), "usr/src/app/rel/a.txt");
  r = await copy({ sources: ["dir"], dest: "/app" }, ctx);
  assert.deepEqual(listing(r.out), { "app/": "", "app/sub/": "", "app/sub/y": "Y", "app/x": "X" });
  r = await copy({ sources: ["../../dir/"], dest: ".", workdir: "/w" }, ctx);
  assert.ok("w/sub/y" in listing(r.out));
  await assert.rejects(
    () => copy({ sources: ["a.txt", "b.txt"], dest: "/dst" }, ctx),
    (e: unknown) =>
      e instanceof CopyError && /must be a directory and end with a \//.test(e.message),
  );
  await assert.rejects(
    () => copy({ sources: ["missing"], dest: "/" }, ctx),
    /"\/missing": not found/,
  );
});

Deno.test("planCopy() expands wildcards; one that matches nothing copies nothing", async () => {
  const ctx = tree(tempDir(), {
    "a.png": "1",
    "b.png": "2",
    "c.jpg": "3",
    "d/e.png": "4",
    "arr[0].txt": "5",
  });
  let r = await copy({ sources: ["*.png"], dest: "/dest/" }, ctx);
  assert.deepEqual(listing(r.out), { "dest/": "", "dest/a.png": "1", "dest/b.png": "2" });
  r = await copy({ sources: ["*/*.png", "arr[[]0].txt"], dest: "/dest/" }, ctx);
  assert.deepEqual(listing(r.out), { "dest/": "", "dest/arr[0].txt": "5", "dest/e.png": "4" });
  r = await copy({ sources: ["*.gif"], dest: "/dest/" }, ctx);
  assert.deepEqual(r.plan.ops, []);
  r = await copy({ sources: ["*"], dest: "/dest/", exclude: ["*.png", "d"] }, ctx);
  assert.deepEqual(Object.keys(listing(r.out)), ["dest/", "dest/arr[0].txt", "dest/c.jpg"]);
});

Deno.test("planCopy() hides what .dockerignore excludes", async () => {
  const ctx = tree(tempDir(), {
    ".dockerignore": "*.md\n!README.md\nsecret/\n",
    "README.md": "r",
    "NOTES.md": "n",
    "app/main.c": "m",
    "app/doc.md": "d",
    "secret/key": "k",
  });
  const r = await copy({ sources: ["."], dest: "/src/" }, ctx);
  assert.deepEqual(Object.keys(listing(r.out)), [
    "src/",
    "src/.dockerignore",
    "src/README.md",
    "src/app/",
    "src/app/doc.md", // *.md does not reach below the root
    "src/app/main.c",
  ]);
  await assert.rejects(
    () => copy({ sources: ["secret/key"], dest: "/" }, ctx),
    /not found \(or excluded by \.dockerignore\)/,
  );
});

Deno.test("planCopy() follows a source symlink inside the context and keeps symlinks below", async () => {
  const ctx = tree(tempDir(), {
    "real/f": "F",
    "real/rel": "-> f",
    "link": "-> real",
    "abs": "-> /real/f",
    "out": "-> /etc/passwd",
  });
  let r = await copy({ sources: ["link"], dest: "/d" }, ctx);
  assert.deepEqual(listing(r.out), { "d/": "", "d/f": "F", "d/rel": "-> f" });
  r = await copy({ sources: ["abs"], dest: "/d/" }, ctx); // /real/f is the context's, not the host's
  assert.deepEqual(listing(r.out), { "d/": "", "d/abs": "F" });
  await assert.rejects(() => copy({ sources: ["out"], dest: "/" }, ctx), /not found/);
});

Deno.test("planCopy() resolves the destination through the stage's symlinks, never out of its root", async () => {
  const image = tree(tempDir(), {
    "srv/app/": "",
    "etc/x": "old",
    "app": "-> /srv/app",
    "up": "-> ../../../srv",
  });
  const ctx = tree(tempDir(), { "f": "F" });
  const target = new LayeredRoot([image]);
  let r = await copy({ sources: ["f"], dest: "/app", target }, ctx);
  assert.deepEqual(listing(r.out), { "srv/": "", "srv/app/": "", "srv/app/f": "F" });
  r = await copy({ sources: ["f"], dest: "/up/app/", target }, ctx);
  assert.ok("srv/app/f" in listing(r.out));
  // --link: the destination is taken as written.
  r = await copy({ sources: ["f"], dest: "/app/" }, ctx);
  assert.deepEqual(listing(r.out), { "app/": "", "app/f": "F" });
  await assert.rejects(
    () => copy({ sources: ["f"], dest: "/etc/x/", target }, ctx),
    /cannot copy to non-directory: \/etc\/x/,
  );
});

Deno.test("planCopy() gives parents the stage's metadata, created ones 0755", async () => {
  const image = tree(tempDir(), { "opt/": "" });
  Deno.chmodSync(`${image}/opt`, 0o750);
  const ctx = tree(tempDir(), { "f": "F" });
  const r = await copy(
    { sources: ["f"], dest: "/opt/new/deep/", target: new LayeredRoot([image]) },
    ctx,
  );
  assert.equal(mode(`${r.out}/opt`), 0o750);
  assert.equal(mode(`${r.out}/opt/new`), 0o755);
  const c = await copy({ sources: ["f"], dest: "/x/y/", chmod: "700" }, ctx);
  assert.equal(mode(`${c.out}/x`), 0o700);
  assert.equal(mode(`${c.out}/x/y/f`), 0o700);
});

Deno.test("planMkdir() creates a missing WORKDIR and its parents, nothing when it exists", async () => {
  const image = tree(tempDir(), { "usr/": "", "srv": "-> /usr", "etc/file": "" });
  Deno.chmodSync(`${image}/usr`, 0o711);
  const target = new LayeredRoot([image]);
  const plan = planMkdir(target, "/srv/src/app", { owner: { uid: 5, gid: 6 } });
  assert.deepEqual(plan.ops.map((o) => o.op === "dir" && [o.path, o.meta.mode, o.meta.uid]), [
    ["/usr", 0o711, Deno.lstatSync(`${image}/usr`).uid],
    ["/usr/src", 0o755, 5],
    ["/usr/src/app", 0o755, 5],
  ]);
  const out = tempDir();
  await applyCopy(plan, out);
  assert.ok(Deno.statSync(`${out}/usr/src/app`).isDirectory);
  assert.deepEqual(planMkdir(target, "/usr").ops, []);
  assert.throws(() => planMkdir(target, "/etc/file/x"), /\/etc\/file is not a directory/);
});

Deno.test("planCopy() writes heredoc contents as files", async () => {
  const ctx = tempDir();
  const r = await copy({
    sources: [],
    contents: [{ path: "EOF", data: "hello world\n", expand: true }],
    dest: "greeting.txt",
    workdir: "/w",
  }, ctx);
  assert.deepEqual(listing(r.out), { "w/": "", "w/greeting.txt": "hello world\n" });
  assert.equal(mode(`${r.out}/w/greeting.txt`), 0o644);
});

Deno.test("parseChmod() takes octal and symbolic modes", () => {
  assert.equal(parseChmod("755").apply(0o600, false), 0o755);
  assert.throws(() => parseChmod("8"), /it should be octal string and between 0 and 07777/);
  assert.throws(() => parseChmod("17777"), /between 0 and 07777/);
  assert.equal(parseChmod("+x").apply(0o644, false), 0o755);
  assert.equal(parseChmod("u=rwX,go=rX").apply(0o600, false), 0o644);
  assert.equal(parseChmod("u=rwX,go=rX").apply(0o700, false), 0o755);
  assert.equal(parseChmod("u=rwX,go=rX").apply(0o700, true), 0o755);
  assert.equal(parseChmod("g=u").apply(0o640, false), 0o660);
  assert.equal(parseChmod("o-r,u+s").apply(0o755, false), 0o4751);
  assert.throws(() => parseChmod("z+q"), /invalid chmod parameter/);
});

Deno.test("parseChown() resolves names in the stage's passwd and group (the reference's forms)", () => {
  const db = userDb(
    "root:x:0:0::/root:/bin/sh\nbin:x:1:1::/bin:/sbin/nologin\nmyuser:x:1000:1001::/h:/bin/sh\n",
    "root:x:0:\nmygroup:x:2000:\n",
  );
  assert.deepEqual(parseChown("55:mygroup", db), { uid: 55, gid: 2000 });
  assert.deepEqual(parseChown("bin", db), { uid: 1, gid: 1 });
  assert.deepEqual(parseChown("1", db), { uid: 1, gid: 1 });
  assert.deepEqual(parseChown("10:11"), { uid: 10, gid: 11 });
  assert.deepEqual(parseChown("myuser:mygroup", db), { uid: 1000, gid: 2000 });
  assert.deepEqual(parseChown("myuser", db), { uid: 1000, gid: 1001 });
  assert.deepEqual(parseChown("root:root"), { uid: 0, gid: 0 });
  assert.throws(() => parseChown("nobody", db), /unable to find user nobody/);
  assert.throws(() => parseChown("1:nogroup", db), /unable to find group nogroup/);
});

rootTest(
  "applyCopy() sets owners: root's for the context, the source's for stages, --chown over both",
  async () => {
    const ctx = tree(tempDir(), { "f": "F", "d/g": "G" });
    Deno.chownSync(`${ctx}/f`, 1234, 1234);
    let r = await copy({ sources: ["f", "d"], dest: "/o/" }, ctx);
    assert.equal(Deno.lstatSync(`${r.out}/o/f`).uid, 0);
    r = await copy({ sources: ["f"], dest: "/o/", chown: { uid: 7, gid: 8 } }, ctx);
    const st = Deno.lstatSync(`${r.out}/o/f`);
    assert.deepEqual([st.uid, st.gid], [7, 8]);
    assert.deepEqual([Deno.lstatSync(`${r.out}/o`).uid, Deno.lstatSync(`${r.out}/o`).gid], [7, 8]);
    const stage = { root: new LayeredRoot([ctx]), keepOwners: true };
    const plan = await planCopy({
      kind: "COPY",
      sources: ["/f"],
      dest: "/o/",
      workdir: "/",
      from: stage,
    });
    const out = tempDir();
    await applyCopy(plan, out);
    assert.equal(Deno.lstatSync(`${out}/o/f`).uid, 1234);
  },
);

Deno.test("applyCopy() keeps hard links, modes and mtimes of the source", async () => {
  const ctx = tree(tempDir(), { "d/a": "same" });
  Deno.linkSync(`${ctx}/d/a`, `${ctx}/d/b`);
  Deno.chmodSync(`${ctx}/d/a`, 0o751);
  Deno.utimeSync(`${ctx}/d/a`, 1000, 1_600_000_000);
  const r = await copy({ sources: ["d"], dest: "/d" }, ctx);
  const a = Deno.lstatSync(`${r.out}/d/a`), b = Deno.lstatSync(`${r.out}/d/b`);
  assert.equal(a.ino, b.ino);
  assert.equal(a.mode! & 0o7777, 0o751);
  assert.equal(a.mtime!.getTime(), 1_600_000_000_000);
  assert.equal(r.plan.ops.filter((o) => o.op === "hardlink").length, 1);
});

Deno.test("copyDigest() covers paths, modes and contents, not times", async () => {
  const ctx = tree(tempDir(), { "d/a": "one", "d/b": "two" });
  const digest = async () => copyDigest((await copy({ sources: ["d"], dest: "/d" }, ctx)).plan);
  const first = await digest();
  Deno.utimeSync(`${ctx}/d/a`, 1, 1);
  assert.equal(await digest(), first);
  Deno.writeTextFileSync(`${ctx}/d/a`, "ONE");
  const changed = await digest();
  assert.notEqual(changed, first);
  Deno.chmodSync(`${ctx}/d/b`, 0o600);
  assert.notEqual(await digest(), changed);
});

Deno.test("planCopy() reads a stage through its layers: whiteouts and opaque directories", async () => {
  const lower = tree(tempDir(), { "etc/a": "A", "etc/b": "B", "opt/x/1": "1", "keep": "K" });
  const upper = tree(tempDir(), { "etc/c": "C", "opt/x/2": "2" });
  mknod(`${upper}/etc/b`, "char", 0); // a whiteout hides etc/b
  let opaque = true;
  try {
    lsetxattr(
      `${upper}/opt/x`,
      IS_ROOT ? "trusted.overlay.opaque" : "user.overlay.opaque",
      enc.encode("y"),
    );
  } catch {
    opaque = false; // no xattrs here
  }
  const root = new LayeredRoot([upper, lower]);
  assert.deepEqual(root.list("/etc"), ["a", "c"]);
  assert.equal(root.lstat("/etc/b"), undefined);
  if (opaque) assert.deepEqual(root.list("/opt/x"), ["2"]);
  const plan = await planCopy({
    kind: "COPY",
    sources: ["/"],
    dest: "/o",
    workdir: "/",
    from: { root, keepOwners: true },
  });
  const out = tempDir();
  await applyCopy(plan, out);
  const got = Object.keys(listing(out));
  assert.ok(got.includes("o/etc/a") && got.includes("o/etc/c") && !got.includes("o/etc/b"));
  if (opaque) assert.ok(!got.includes("o/opt/x/1") && got.includes("o/opt/x/2"));
});

// ---------------------------------------------------------------- ADD

function tool(name: string): boolean {
  try {
    return new Deno.Command(name, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test("detectArchive() recognizes tars by their bytes, never their names", async () => {
  const dir = tempDir();
  const tar = makeTar([{ name: "hello.txt", data: "hi" }]);
  Deno.writeFileSync(`${dir}/plain.bin`, tar);
  Deno.writeFileSync(`${dir}/fake.tar.gz`, new Uint8Array(0));
  Deno.writeTextFileSync(`${dir}/text.tar`, "not a tar at all");
  Deno.writeFileSync(`${dir}/x.tgz`, gzipSync(tar));
  assert.equal(await detectArchive(`${dir}/plain.bin`), "none");
  assert.equal(await detectArchive(`${dir}/x.tgz`), "gzip");
  assert.equal(await detectArchive(`${dir}/fake.tar.gz`), undefined);
  assert.equal(await detectArchive(`${dir}/text.tar`), undefined);
  assert.ok(isTarHeader(tar.subarray(0, 512)));
});

Deno.test("ADD unpacks a local tar into the destination; --unpack=false copies it", async () => {
  const ctx = tempDir();
  const tar = makeTar([
    { name: "pkg/", type: "dir" },
    { name: "pkg/bin", data: "#!", mode: 0o755 },
    { name: ".wh.keep", data: "k" },
  ]);
  Deno.writeFileSync(`${ctx}/app.tar.gz`, gzipSync(tar));
  let r = await copy({ kind: "ADD", sources: ["app.tar.gz"], dest: "/opt" }, ctx);
  assert.deepEqual(listing(r.out), {
    "opt/": "",
    "opt/.wh.keep": "k",
    "opt/pkg/": "",
    "opt/pkg/bin": "#!",
  });
  assert.equal(mode(`${r.out}/opt/pkg/bin`), 0o755);
  r = await copy({ kind: "ADD", sources: ["app.tar.gz"], dest: "/opt/", unpack: false }, ctx);
  assert.deepEqual(Object.keys(listing(r.out)), ["opt/", "opt/app.tar.gz"]);
  r = await copy({ sources: ["app.tar.gz"], dest: "/opt/" }, ctx); // COPY never unpacks
  assert.deepEqual(Object.keys(listing(r.out)), ["opt/", "opt/app.tar.gz"]);
});

for (const [toolName, flag] of [["xz", "-z"], ["bzip2", "-z"]] as const) {
  Deno.test({
    name: tool(toolName)
      ? `ADD unpacks a ${toolName} tar`
      : `ADD unpacks a ${toolName} tar [skipped: ${toolName} is not installed]`,
    ignore: !tool(toolName),
    fn: async () => {
      const ctx = tempDir();
      Deno.writeFileSync(`${ctx}/a.tar`, makeTar([{ name: "f", data: "compressed" }]));
      const out = new Deno.Command(toolName, { args: [flag, `${ctx}/a.tar`] }).outputSync();
      assert.ok(out.success);
      const [file] = [...Deno.readDirSync(ctx)].map((e) => e.name);
      const r = await copy({ kind: "ADD", sources: [file], dest: "/x/" }, ctx);
      assert.deepEqual(listing(r.out), { "x/": "", "x/f": "compressed" });
    },
  });
}

Deno.test("ADD of a URL: the file name from the URL, mode 0600, mtime from Last-Modified, not unpacked", async () => {
  assert.equal(urlFileName("https://example.com/foobar"), "foobar");
  assert.equal(urlFileName("https://example.com/a/b.tar.gz?x=1"), "b.tar.gz");
  assert.equal(urlFileName("https://example.com"), "__unnamed__");
  assert.deepEqual(
    splitAddSources(["a", "https://x/y", "git@github.com:u/r.git", "https://github.com/u/r.git"]),
    {
      local: ["a"],
      urls: ["https://x/y"],
      git: ["git@github.com:u/r.git", "https://github.com/u/r.git"],
    },
  );
  const tar = makeTar([{ name: "f", data: "x" }]);
  const fetchFn = (url: string) => {
    assert.equal(url, "https://example.com/foobar");
    return Promise.resolve({
      status: 200,
      headers: new Headers({ "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT" }),
      body: ReadableStream.from([tar]),
    });
  };
  const dl = await fetchUrl("https://example.com/foobar", fetchFn, { tmpDir: tempDir() });
  assert.equal(dl.name, "foobar");
  assert.equal(dl.digest, sha256(tar));
  await assert.rejects(
    () =>
      fetchUrl("https://example.com/foobar", fetchFn, {
        tmpDir: tempDir(),
        checksum: `sha256:${"0".repeat(64)}`,
      }),
    /its content has the digest sha256:[0-9a-f]{64}, --checksum says sha256:0+/,
  );
  let r = await copy({ kind: "ADD", sources: [], downloads: [dl], dest: "/" }, tempDir());
  assert.deepEqual(Object.keys(listing(r.out)), ["foobar"]);
  const st = Deno.lstatSync(`${r.out}/foobar`);
  assert.equal(st.mode! & 0o7777, 0o600);
  assert.equal(st.mtime!.toISOString(), "2015-10-21T07:28:00.000Z");
  r = await copy({ kind: "ADD", sources: [], downloads: [dl], dest: "/bar" }, tempDir());
  assert.deepEqual(Object.keys(listing(r.out)), ["bar"]);
  r = await copy(
    { kind: "ADD", sources: [], downloads: [dl], dest: "/d/", unpack: true },
    tempDir(),
  );
  assert.deepEqual(listing(r.out), { "d/": "", "d/f": "x" });
  await assert.rejects(
    () =>
      fetchUrl(
        "https://x/y",
        () => Promise.resolve({ status: 404, headers: new Headers(), body: null }),
        { tmpDir: tempDir() },
      ),
    /Cannot download https:\/\/x\/y: HTTP status 404/,
  );
});
