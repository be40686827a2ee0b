/**
 * ctr cp (root): both directions, running and stopped containers, docker's
 * placement rules, tar streams, ownership, and the container's root as a
 * jail: symlinks in the container never lead to host files, whichever way
 * the copy goes.
 */
import assert from "node:assert/strict";
import { ctrCommand, tempDir, testRootfs } from "../_helpers.ts";
import { envTest } from "./_cli_env.ts";

const dec = new TextDecoder();

/** Runs a command with bytes on stdin; its stdout as bytes. */
async function bytes(
  argv: string[],
  stdin?: Uint8Array,
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const [cmd, ...args] = argv;
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: out.stdout, stderr: dec.decode(out.stderr) };
}

/** ctr with bytes on stdin. */
const ctrBytes = (args: string[], stdin?: Uint8Array) => bytes([...ctrCommand(), ...args], stdin);
/** tar with bytes on stdin; its archive or listing. */
const tarRun = async (args: string[], input?: Uint8Array) => {
  const r = await bytes(["tar", ...args], input);
  return { ok: r.code === 0, out: r.stdout, err: r.stderr };
};

envTest("cp: host to a running container and back, with docker's placement rules", async (env) => {
  await env.runD([
    "--name",
    "box",
    "--rootfs",
    testRootfs(),
    "sh",
    "-c",
    "mkdir -p /data/sub; echo in > /data/sub/f; sleep 1000",
  ]);
  const host = tempDir();
  Deno.writeTextFileSync(`${host}/a.txt`, "hello\n");
  Deno.chmodSync(`${host}/a.txt`, 0o640);
  Deno.mkdirSync(`${host}/dir/inner`, { recursive: true });
  Deno.writeTextFileSync(`${host}/dir/inner/b`, "b\n");
  Deno.symlinkSync("inner/b", `${host}/dir/link`);
  // A file into a directory, under its own name; as a new name; a directory into a directory.
  await env.ok(["cp", `${host}/a.txt`, "box:/tmp"]);
  await env.ok(["cp", `${host}/a.txt`, "box:/tmp/renamed"]);
  await env.ok(["cp", `${host}/dir`, "box:/tmp"]);
  await env.ok(["cp", `${host}/dir/.`, "box:/data"]);
  const ls = await env.ok([
    "exec",
    "box",
    "sh",
    "-c",
    "cat /tmp/a.txt /tmp/renamed /tmp/dir/inner/b /data/inner/b; readlink /tmp/dir/link; stat -c '%a %u:%g' /tmp/a.txt",
  ]);
  assert.equal(ls, "hello\nhello\nb\nb\ninner/b\n640 0:0\n");
  // And back: a file, a directory (as a new name), a file onto an existing one.
  const back = tempDir();
  await env.ok(["cp", "box:/data/sub/f", back]);
  await env.ok(["cp", "box:/data", `${back}/d2`]);
  Deno.writeTextFileSync(`${back}/over`, "old contents that are longer\n");
  await env.ok(["cp", "box:data/sub/f", `${back}/over`]);
  assert.equal(Deno.readTextFileSync(`${back}/f`), "in\n");
  assert.equal(Deno.readTextFileSync(`${back}/d2/sub/f`), "in\n");
  assert.equal(Deno.readLinkSync(`${back}/d2/link`), "inner/b");
  assert.equal(Deno.readTextFileSync(`${back}/over`), "in\n");
  // docker's errors, exit status 1.
  const missing = await env.c(["cp", "box:/nope", back]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No such container:path: box:\/nope/);
  const noDir = await env.c(["cp", `${host}/a.txt`, "box:/no/such/"]);
  assert.equal(noDir.code, 1);
  assert.match(noDir.stderr, /No such container:path: box:\/no\/such/);
  assert.equal((await env.c(["cp", `${host}/dir`, "box:/tmp/a.txt"])).code, 1);
  assert.equal((await env.c(["cp", "a", "b"])).code, 125);
});

envTest("cp: a container's symlinks never lead to host files, in either direction", async (env) => {
  // A host directory with a secret; the container points at it, absolutely and upwards.
  const secretDir = tempDir();
  Deno.writeTextFileSync(`${secretDir}/secret`, "host secret\n");
  await env.runD([
    "--name",
    "jail",
    "--rootfs",
    testRootfs(),
    "sh",
    "-c",
    `ln -s ${secretDir} /abs; ln -s ../../../../../../.. /up; ln -s / /root-link; ` +
    "mkdir /d; ln -s / /d/escape; echo mine > /etc/mine; sleep 1000",
  ]);
  const out = tempDir();
  // Reading: the absolute link resolves in the container, where that directory is not.
  const r1 = await env.c(["cp", "jail:/abs/secret", `${out}/x`]);
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /No such container:path/);
  // `..` stops at the container's root: /up/etc/mine is the container's /etc/mine.
  await env.ok(["cp", "jail:/up/etc/mine", `${out}/mine`]);
  assert.equal(Deno.readTextFileSync(`${out}/mine`), "mine\n");
  // A symlink inside a copied directory is copied as a symlink, never followed.
  await env.ok(["cp", "jail:/d", `${out}/d`]);
  assert.equal(Deno.readLinkSync(`${out}/d/escape`), "/");
  // Writing: through /up and /root-link the file lands in the container's /tmp, not the host's.
  const file = `${tempDir()}/planted-${crypto.randomUUID().slice(0, 8)}`;
  Deno.writeTextFileSync(file, "planted\n");
  const name = file.slice(file.lastIndexOf("/") + 1);
  await env.ok(["cp", file, "jail:/up/tmp/"]);
  await env.ok(["cp", file, "jail:/root-link/etc/"]);
  assert.throws(() => Deno.statSync(`/tmp/${name}`));
  assert.throws(() => Deno.statSync(`/etc/${name}`));
  assert.equal(
    await env.ok(["exec", "jail", "cat", `/tmp/${name}`, `/etc/${name}`]),
    "planted\nplanted\n",
  );
  // Through the absolute link: the host directory is never written.
  const r2 = await env.c(["cp", file, "jail:/abs/"]);
  assert.equal(r2.code, 1);
  assert.deepEqual([...Deno.readDirSync(secretDir)].map((e) => e.name), ["secret"]);
  // A tar stream whose entries climb out, or go through a symlink it made, is refused.
  const evil = tempDir();
  Deno.symlinkSync("/", `${evil}/link`);
  const viaLink = await tarRun(["-c", "-C", evil, "link"]);
  Deno.removeSync(`${evil}/link`);
  Deno.mkdirSync(`${evil}/link`);
  Deno.writeTextFileSync(`${evil}/link/${name}-2`, "x");
  const second = await tarRun(["-c", "-C", evil, `link/${name}-2`]);
  // Two archives in a row (the symlink, then a file below it) as one stream.
  const both = new Uint8Array([...viaLink.out.slice(0, viaLink.out.length - 1024), ...second.out]);
  const r3 = await ctrBytes(
    ["--root", env.store, "--state-dir", env.state, "cp", "-", "jail:/tmp"],
    both,
  );
  assert.notEqual(r3.code, 0);
  assert.throws(() => Deno.statSync(`/${name}-2`));
  const up = await tarRun(["-c", "-P", "--transform", "s,^,../../,", "-C", evil, "link"]);
  const r4 = await ctrBytes(
    ["--root", env.store, "--state-dir", env.state, "cp", "-", "jail:/tmp"],
    up.out,
  );
  assert.notEqual(r4.code, 0);
  assert.match(r4.stderr, /escapes the root/);
});

envTest(
  "cp: a stopped container's layers and upper directory; tar streams; -a keeps ids",
  async (env) => {
    await env.runD([
      "--name",
      "st",
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      "echo x > /etc/made; exit 0",
    ]);
    await env.ok(["wait", "st"]);
    const host = tempDir();
    Deno.writeTextFileSync(`${host}/owned`, "o\n");
    Deno.chownSync(`${host}/owned`, 1234, 2345);
    // Into a directory the image has (copied up into the upper layer), with and without -a.
    await env.ok(["cp", `${host}/owned`, "st:/usr/"]);
    await env.ok(["cp", "-a", `${host}/owned`, "st:/usr/kept"]);
    const upper = `${
      env.stateOf((await env.ok(["inspect", "-f", "{{.Id}}", "st"])).trim()).dir
    }/upper`;
    assert.equal(Deno.statSync(`${upper}/usr/owned`).uid, 0);
    assert.equal(Deno.statSync(`${upper}/usr/kept`).uid, 1234);
    assert.equal(Deno.statSync(`${upper}/usr/kept`).gid, 2345);
    assert.match(await env.ok(["diff", "st"]), /^C \/usr\nA \/usr\/kept\nA \/usr\/owned$/m);
    // Out of the layers (a file the image has) and the upper directory, as a tar on stdout.
    const t = await ctrBytes(["--root", env.store, "--state-dir", env.state, "cp", "st:/etc", "-"]);
    assert.equal(t.code, 0, t.stderr);
    const list = dec.decode((await tarRun(["-t"], t.stdout)).out).split("\n");
    assert.ok(
      list.includes("etc/") && list.includes("etc/made") && list.includes("etc/passwd"),
      list.join(" "),
    );
    // A tar on stdin into the stopped container; it starts with it.
    const src = tempDir();
    Deno.mkdirSync(`${src}/in/deep`, { recursive: true });
    Deno.writeTextFileSync(`${src}/in/deep/file`, "from tar\n");
    const archive = await tarRun(["-c", "-C", src, "in"]);
    const r = await ctrBytes(
      ["--root", env.store, "--state-dir", env.state, "cp", "-", "st:/"],
      archive.out,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(Deno.readTextFileSync(`${upper}/in/deep/file`), "from tar\n");
    const notDir = await ctrBytes([
      "--root",
      env.store,
      "--state-dir",
      env.state,
      "cp",
      "-",
      "st:/etc/made",
    ], archive.out);
    assert.equal(notDir.code, 1);
    assert.match(notDir.stderr, /must be a directory/);
  },
);
