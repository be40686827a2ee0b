/**
 * Named volumes: the store (lib/engine/volume.ts) on a temporary root, and the
 * `ctr volume` commands run in this process with their output captured.
 */

import assert from "node:assert/strict";
import { ctr, ctrCommand, rootTest, tempDir, tempStore, testRootfs } from "../_helpers.ts";
import {
  NoSuchVolumeError,
  resolveVolumeMount,
  VolumeInUseError,
  volumeMount,
  volumesInUse,
  VolumeStore,
} from "../../lib/engine/volume.ts";
import { treeSize } from "../../lib/os/tree.ts";
import { MS } from "../../ffi/constants.ts";
import { isVolumeName } from "../../lib/config/rules.ts";
import { volumeCommand } from "../../lib/cli/volume.ts";
import { UsageError } from "../../lib/cli/args.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ctr volume ARGS` in this process, capturing what it prints. */
async function volume(store: string, stateDir: string, args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const code = await volumeCommand(args, { root: store, stateDir, logLevel: "warn" });
    return { code, stdout: out.map((l) => l + "\n").join(""), stderr: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** A state directory recording one container that uses `volumes`, as ctr writes it. */
function stateWith(volumes: string[], id = "ab".repeat(32)): string {
  const dir = tempDir();
  const state = {
    id,
    name: "keen_hopper",
    pid: 0,
    startTime: 0,
    status: "exited",
    exitCode: 0,
    created: new Date().toISOString(),
    image: "busybox",
    command: ["sh"],
    dir: `${dir}/none`,
    cgroups: [],
    cgroupPaths: {},
    volumes,
  };
  Deno.writeTextFileSync(`${dir}/${id}.json`, JSON.stringify(state, null, 2));
  return dir;
}

/** Runs `fn`, which must throw an instance of `cls` whose message has `text`; returns the error. */
function throws<E extends Error>(
  fn: () => unknown,
  cls: new (...a: never[]) => E,
  text = "",
): E {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    assert.ok(
      e.message.includes(text),
      `${JSON.stringify(e.message)} lacks ${JSON.stringify(text)}`,
    );
    return e;
  }
  throw new assert.AssertionError({ message: `expected ${cls.name}, nothing was thrown` });
}

/** The same for a promise. */
async function rejects(
  fn: () => Promise<unknown>,
  cls: new (...a: never[]) => Error,
  text = "",
): Promise<void> {
  await assert.rejects(fn, (e: Error) => e instanceof cls && e.message.includes(text));
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("volume names follow docker's rule", () => {
  for (const ok of ["ab", "data", "my-vol_1.x", "A0", "0.0"]) assert.ok(isVolumeName(ok), ok);
  for (const bad of ["", "a", "-ab", ".ab", "_ab", "a/b", "../x", "..", "a b", "a:b", "é1"]) {
    assert.ok(!isVolumeName(bad), bad);
  }
  assert.ok(isVolumeName("a".repeat(255)));
  assert.ok(!isVolumeName("a".repeat(256)));
});

Deno.test("create a named volume: _data, volume.json with docker's keys", () => {
  const root = tempStore();
  const store = new VolumeStore(root);
  const v = store.create("data", { env: "test" });
  assert.deepEqual(v.Name, "data");
  assert.deepEqual(v.Mountpoint, `${root}/volumes/data/_data`);
  const st = Deno.statSync(v.Mountpoint);
  assert.ok(st.isDirectory);
  assert.deepEqual(st.mode! & 0o7777, 0o755);
  const record = JSON.parse(Deno.readTextFileSync(`${root}/volumes/data/volume.json`));
  assert.deepEqual(Object.keys(record).sort(), [
    "CreatedAt",
    "Driver",
    "Labels",
    "Mountpoint",
    "Name",
    "Options",
    "Scope",
  ]);
  assert.equal(record.Options, null);
  assert.deepEqual(record.Driver, "local");
  assert.deepEqual(record.Scope, "local");
  assert.deepEqual(record.Labels, { env: "test" });
  assert.match(record.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(store.get("data"), v);
});

Deno.test("create without a name makes a 64-hex name", () => {
  const store = new VolumeStore(tempStore());
  const a = store.create();
  const b = store.create();
  assert.match(a.Name, /^[0-9a-f]{64}$/);
  assert.ok(a.Name !== b.Name);
  assert.deepEqual(store.list().map((v) => v.Name).sort(), [a.Name, b.Name].sort());
});

Deno.test("create of an existing volume returns it, data and labels untouched", () => {
  const store = new VolumeStore(tempStore());
  const first = store.create("keep", { a: "1" });
  Deno.writeTextFileSync(`${first.Mountpoint}/f`, "x");
  const again = store.create("keep", { b: "2" });
  assert.deepEqual(again, first);
  assert.deepEqual(Deno.readTextFileSync(`${first.Mountpoint}/f`), "x");
  assert.deepEqual(store.list().length, 1);
});

Deno.test("bad names are refused with the rule", () => {
  const root = tempStore();
  const store = new VolumeStore(root);
  for (const bad of ["a", "../x", "a/b", "-x", ".hidden"]) {
    const e = throws(() => store.create(bad), Error);
    assert.match(e.message, /invalid volume name/);
    assert.match(e.message, /\[a-zA-Z0-9\]\[a-zA-Z0-9_\.-\]/);
  }
  throws(() => store.create("a".repeat(300)), Error, "longer than 255");
  assert.deepEqual(store.list(), []);
  throws(() => store.get("../volumes"), NoSuchVolumeError);
});

Deno.test("a directory that is not a volume is neither listed nor taken over", () => {
  const root = tempStore();
  const store = new VolumeStore(root);
  store.create("real");
  Deno.mkdirSync(`${root}/volumes/stray`);
  assert.deepEqual(store.list().map((v) => v.Name), ["real"]);
  throws(() => store.create("stray"), Error, "is not a volume");
  throws(() => store.get("stray"), Error, "without volume.json");
});

Deno.test("a leftover .tmp-* directory is never listed, and prune sweeps it", () => {
  const root = tempStore();
  const store = new VolumeStore(root);
  store.create("one");
  // What a create cut short leaves: a complete-looking volume under its hidden name.
  const tmp = `${root}/volumes/.tmp-crashed`;
  Deno.mkdirSync(`${tmp}/_data`, { recursive: true });
  Deno.writeTextFileSync(`${tmp}/volume.json`, JSON.stringify({ Name: "two" }));
  assert.deepEqual(store.list().map((v) => v.Name), ["one"]);
  throws(() => store.get(".tmp-crashed"), NoSuchVolumeError);
  const r = store.prune(new Set(["one"]));
  assert.deepEqual(r.removed, []);
  assert.ok(!exists(tmp));
  assert.deepEqual(store.list().map((v) => v.Name), ["one"]);
});

Deno.test("rm deletes the volume and its data", () => {
  const root = tempStore();
  const store = new VolumeStore(root);
  const v = store.create("gone");
  Deno.mkdirSync(`${v.Mountpoint}/sub`);
  Deno.writeTextFileSync(`${v.Mountpoint}/sub/f`, "data");
  store.remove("gone", () => undefined);
  assert.ok(!exists(`${root}/volumes/gone`));
  throws(() => store.get("gone"), NoSuchVolumeError, "No such volume: gone");
  throws(() => store.remove("gone", () => undefined), NoSuchVolumeError);
  // Nothing hidden is left behind either.
  assert.deepEqual([...Deno.readDirSync(`${root}/volumes`)].map((e) => e.name), [".lock"]);
});

Deno.test("rm of a volume in use is refused, naming the container", () => {
  const store = new VolumeStore(tempStore());
  store.create("xx");
  const id = "cd".repeat(32);
  const inUse = volumesInUse(stateWith(["xx"], id));
  assert.deepEqual([...inUse], [["xx", [id]]]);
  const e = throws(() => store.remove("xx", (n) => inUse.get(n)?.[0]), VolumeInUseError);
  assert.deepEqual(e.message, `volume is in use: xx (container ${id.slice(0, 12)})`);
  assert.deepEqual(store.get("xx").Name, "xx");
});

Deno.test("volumesInUse: every recorded container, none when the directory is missing", () => {
  const dir = stateWith(["a1", "b1"], "11".repeat(32));
  const other = JSON.parse(Deno.readTextFileSync(`${dir}/${"11".repeat(32)}.json`));
  Deno.writeTextFileSync(
    `${dir}/${"22".repeat(32)}.json`,
    JSON.stringify({ ...other, id: "22".repeat(32), status: "running", volumes: ["a1"] }),
  );
  // A container recorded before volumes existed has no `volumes` field.
  Deno.writeTextFileSync(
    `${dir}/${"33".repeat(32)}.json`,
    JSON.stringify({ ...other, id: "33".repeat(32), volumes: undefined }),
  );
  const m = volumesInUse(dir);
  assert.deepEqual(m.get("a1")?.sort(), ["11".repeat(32), "22".repeat(32)]);
  assert.deepEqual(m.get("b1"), ["11".repeat(32)]);
  assert.deepEqual(m.size, 2);
  assert.deepEqual(volumesInUse(`${dir}/missing`).size, 0);
});

Deno.test("prune keeps volumes in use and reports the bytes it reclaimed", () => {
  const store = new VolumeStore(tempStore());
  const used = store.create("used");
  Deno.writeTextFileSync(`${used.Mountpoint}/big`, "u".repeat(5000));
  const a = store.create("unused-a");
  Deno.writeTextFileSync(`${a.Mountpoint}/f`, "a".repeat(1000));
  Deno.mkdirSync(`${a.Mountpoint}/d`);
  Deno.writeTextFileSync(`${a.Mountpoint}/d/g`, "g".repeat(200));
  // A hard link shares its data: counted once.
  Deno.linkSync(`${a.Mountpoint}/f`, `${a.Mountpoint}/d/f-again`);
  const b = store.create("unused-b");
  Deno.writeTextFileSync(`${b.Mountpoint}/h`, "b".repeat(34));
  assert.deepEqual(treeSize(a.Mountpoint), 1200);
  const r = store.prune(new Set(["used"]));
  assert.deepEqual(r.removed, ["unused-a", "unused-b"]);
  assert.deepEqual(r.bytes, 1234);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(store.list().map((v) => v.Name), ["used"]);
  assert.deepEqual(Deno.readTextFileSync(`${used.Mountpoint}/big`).length, 5000);
});

Deno.test("resolveVolumeMount creates on demand and refuses what is not a name", () => {
  const root = tempStore();
  const path = resolveVolumeMount(root, "cache");
  assert.deepEqual(path, `${root}/volumes/cache/_data`);
  assert.ok(Deno.statSync(path).isDirectory);
  Deno.writeTextFileSync(`${path}/kept`, "1");
  // A second container gets the same directory, data included.
  assert.deepEqual(resolveVolumeMount(root, "cache"), path);
  assert.deepEqual(Deno.readTextFileSync(`${path}/kept`), "1");
  assert.deepEqual(resolveVolumeMount(root, "/srv/data"), "/srv/data");
  for (const bad of ["../x", "a/b", "./x", "x/../../etc", "a"]) {
    throws(() => resolveVolumeMount(root, bad), Error, "invalid volume name");
  }
  assert.deepEqual(new VolumeStore(root).list().map((v) => v.Name), ["cache"]);
  assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["volumes"]);
});

rootTest("a volume with a mount below _data is not deleted", async () => {
  const root = tempStore();
  const store = new VolumeStore(root);
  const v = store.create("mounted");
  Deno.writeTextFileSync(`${v.Mountpoint}/file`, "keep");
  const target = `${v.Mountpoint}/sub`;
  Deno.mkdirSync(target);
  const mount = await new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", target] })
    .output();
  assert.ok(mount.success, new TextDecoder().decode(mount.stderr));
  try {
    Deno.writeTextFileSync(`${target}/on-tmpfs`, "x");
    const e = throws(() => store.remove("mounted", () => undefined), Error);
    assert.match(e.message, /Refusing to remove volume mounted/);
    assert.ok(e.message.includes(target), e.message);
    const r = store.prune(new Set());
    assert.deepEqual(r.removed, []);
    assert.deepEqual(r.errors.length, 1);
    assert.match(r.errors[0], /^mounted: Refusing/);
    const cli = await volume(root, tempDir(), ["rm", "mounted"]);
    assert.deepEqual(cli.code, 1);
    assert.match(cli.stderr, /Refusing to remove volume mounted/);
    assert.deepEqual(Deno.readTextFileSync(`${v.Mountpoint}/file`), "keep");
    assert.deepEqual(Deno.readTextFileSync(`${target}/on-tmpfs`), "x");
    assert.deepEqual(store.list().map((x) => x.Name), ["mounted"]);
  } finally {
    const umount = await new Deno.Command("umount", { args: [target] }).output();
    assert.ok(umount.success, new TextDecoder().decode(umount.stderr));
  }
  store.remove("mounted", () => undefined);
  assert.ok(!exists(`${root}/volumes/mounted`));
});

Deno.test("ctr volume create, ls, ls -q, ls --format json", async () => {
  const root = tempStore();
  const state = tempDir();
  let r = await volume(root, state, ["create", "--label", "a=b", "--label", "c", "web-data"]);
  assert.deepEqual(r, { code: 0, stdout: "web-data\n", stderr: "" });
  r = await volume(root, state, ["create"]);
  assert.deepEqual(r.code, 0);
  const anon = r.stdout.trim();
  assert.match(anon, /^[0-9a-f]{64}$/);
  assert.deepEqual((await volume(root, state, ["create", "--name", "byflag"])).stdout, "byflag\n");

  // Listed by name; the anonymous name is random hex, so it may sort before
  // or after "byflag".
  const names = [anon, "byflag", "web-data"].sort();
  r = await volume(root, state, ["ls"]);
  assert.deepEqual(
    r.stdout,
    `DRIVER    VOLUME NAME\n${names.map((n) => `local     ${n}\n`).join("")}`,
  );
  r = await volume(root, state, ["ls", "-q"]);
  assert.deepEqual(r.stdout, names.map((n) => `${n}\n`).join(""));
  r = await volume(root, state, ["ls", "--format", "json"]);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.Name), names);
  assert.deepEqual(lines[2], {
    Driver: "local",
    Labels: "a=b,c=",
    Links: "N/A",
    Mountpoint: `${root}/volumes/web-data/_data`,
    Name: "web-data",
    Scope: "local",
    Size: "N/A",
  });
  r = await volume(root, state, ["ls", "--format", "{{.Name}} {{.Driver}}"]);
  assert.deepEqual(r.stdout, names.map((n) => `${n} local\n`).join(""));
  r = await volume(root, state, ["ls", "-f", "label=a=b"]);
  assert.deepEqual(r.stdout, "DRIVER    VOLUME NAME\nlocal     web-data\n");
  r = await volume(root, state, ["ls", "-q", "-f", "name=flag", "-f", "dangling=true"]);
  assert.deepEqual(r.stdout, "byflag\n");
  await rejects(() => volume(root, state, ["ls", "-f", "colour=red"]), UsageError);
  await rejects(() => volume(root, state, ["create", "a", "b"]), UsageError);
  await rejects(() => volume(root, state, ["create", "-d", "nfs", "xy"]), UsageError);
  await rejects(
    () => volume(root, state, ["create", "--opt", "x=y"]),
    Error,
    'invalid option key: "x"',
  );
  await rejects(
    () => volume(root, state, ["create", "--name", "xy", "zz"]),
    UsageError,
    "conflicting",
  );
  await rejects(() => volume(root, state, ["create", "x/y"]), Error, "invalid volume name");
  await rejects(() => volume(root, state, ["frob"]), UsageError, "unknown volume command");
  r = await volume(root, state, ["ls", "--help"]);
  assert.deepEqual(r.code, 0);
  assert.match(r.stdout, /ctr volume prune -f/);
});

Deno.test("ctr volume inspect prints a JSON array; a missing name is an error", async () => {
  const root = tempStore();
  const state = tempDir();
  await volume(root, state, ["create", "--label", "k=v", "one"]);
  await volume(root, state, ["create", "two"]);
  let r = await volume(root, state, ["inspect", "one", "two"]);
  assert.deepEqual(r.code, 0);
  assert.ok(r.stdout.startsWith("[\n    {\n        "), r.stdout);
  const got = JSON.parse(r.stdout);
  assert.deepEqual(got.length, 2);
  assert.deepEqual(Object.keys(got[0]), [
    "Name",
    "Driver",
    "Mountpoint",
    "CreatedAt",
    "Labels",
    "Options",
    "Scope",
  ]);
  assert.deepEqual(got[0].Labels, { k: "v" });
  assert.deepEqual(got[1].Mountpoint, `${root}/volumes/two/_data`);
  r = await volume(root, state, ["inspect", "one", "nope"]);
  assert.deepEqual(r.code, 1);
  assert.deepEqual(JSON.parse(r.stdout).map((v: { Name: string }) => v.Name), ["one"]);
  assert.deepEqual(r.stderr, "ctr: No such volume: nope");
  r = await volume(root, state, ["inspect", "-f", "{{.Name}}={{.Labels.k}}", "one"]);
  assert.deepEqual(r.stdout, "one=v\n");
  await rejects(() => volume(root, state, ["inspect"]), UsageError);
});

Deno.test("ctr volume rm: removed names printed, in use refused even with -f", async () => {
  const root = tempStore();
  const id = "ef".repeat(32);
  const state = stateWith(["busy"], id);
  for (const n of ["busy", "free1", "free2"]) await volume(root, state, ["create", n]);
  let r = await volume(root, state, ["rm", "free1", "free2"]);
  assert.deepEqual(r, { code: 0, stdout: "free1\nfree2\n", stderr: "" });
  r = await volume(root, state, ["rm", "-f", "busy"]);
  assert.deepEqual(r.code, 1);
  assert.deepEqual(r.stdout, "");
  assert.deepEqual(r.stderr, `ctr: volume is in use: busy (container ${id.slice(0, 12)})`);
  r = await volume(root, state, ["rm", "missing"]);
  assert.deepEqual(r.code, 1);
  assert.deepEqual(r.stderr, "ctr: No such volume: missing");
  // -f ignores missing volumes (docker prints them as removed).
  r = await volume(root, state, ["rm", "-f", "missing"]);
  assert.deepEqual(r, { code: 0, stdout: "missing\n", stderr: "" });
  assert.deepEqual((await volume(root, state, ["ls", "-q"])).stdout, "busy\n");
  // The container is gone: the volume is free, and its data goes with it.
  Deno.removeSync(`${state}/${id}.json`);
  r = await volume(root, state, ["rm", "busy"]);
  assert.deepEqual(r, { code: 0, stdout: "busy\n", stderr: "" });
  await rejects(() => volume(root, state, ["rm"]), UsageError);
});

Deno.test("ctr volume prune requires -f, prints what docker prints", async () => {
  const root = tempStore();
  const state = stateWith(["kept"]);
  await volume(root, state, ["create", "kept"]);
  await volume(root, state, ["create", "old"]);
  Deno.writeTextFileSync(`${root}/volumes/old/_data/f`, "z".repeat(1500));
  await rejects(() => volume(root, state, ["prune"]), UsageError, "--force");
  assert.deepEqual((await volume(root, state, ["ls", "-q"])).stdout, "kept\nold\n");
  let r = await volume(root, state, ["prune", "--force"]);
  assert.deepEqual(r, {
    code: 0,
    stdout: "Deleted Volumes:\nold\n\nTotal reclaimed space: 1.5kB\n",
    stderr: "",
  });
  r = await volume(root, state, ["prune", "-f"]);
  assert.deepEqual(r, { code: 0, stdout: "Total reclaimed space: 0B\n", stderr: "" });
  assert.deepEqual((await volume(root, state, ["ls", "-q"])).stdout, "kept\n");
});

Deno.test("ls on a store that has no volumes directory", async () => {
  const root = tempStore();
  assert.deepEqual(new VolumeStore(root).list(), []);
  const r = await volume(root, tempDir(), ["ls"]);
  assert.deepEqual(r.stdout, "DRIVER    VOLUME NAME\n");
  assert.ok(!exists(`${root}/volumes`));
});

Deno.test("concurrent creates from several processes: one volume per name, nothing half-made", async () => {
  const root = tempStore();
  const lib = new URL("../../lib/engine/volume.ts", import.meta.url).href;
  const code = `const { VolumeStore } = await import(${JSON.stringify(lib)});
    const s = new VolumeStore(${JSON.stringify(root)});
    for (let i = 0; i < 5; i++) { s.create("shared"); s.create(); }`;
  const runs = await Promise.all(
    Array.from(
      { length: 6 },
      () => new Deno.Command(Deno.execPath(), { args: ["eval", code], stderr: "piped" }).output(),
    ),
  );
  for (const r of runs) assert.ok(r.success, new TextDecoder().decode(r.stderr));
  const names = new VolumeStore(root).list().map((v) => v.Name);
  assert.equal(names.length, 31);
  assert.ok(names.includes("shared"));
  const hidden = [...Deno.readDirSync(`${root}/volumes`)].filter((e) => e.name.startsWith("."));
  assert.deepEqual(hidden.map((e) => e.name), [".lock"]);
});

Deno.test("the local driver's options: checked, and read as mount(8) reads them", () => {
  assert.equal(volumeMount(null), undefined);
  assert.deepEqual(
    volumeMount({ type: "tmpfs", device: "tmpfs", o: "size=1m,uid=1000,noexec,nosuid" }),
    { source: "tmpfs", type: "tmpfs", flags: MS.NOEXEC | MS.NOSUID, data: "size=1m,uid=1000" },
  );
  assert.deepEqual(volumeMount({ type: "none", device: "/srv/d", o: "bind,ro" }), {
    source: "/srv/d",
    type: "none",
    flags: MS.BIND | MS.RDONLY,
    data: "",
  });
  for (
    const [opts, why] of [
      [{ type: "tmpfs", device: "tmpfs", size: "1m" }, /invalid option key: "size"/],
      [{ type: "tmpfs" }, /missing required option: "device"/],
      [{ device: "/x", o: "bind" }, /missing required option: "type"/],
      [{ type: "none", device: "/srv" }, /type=none mounts nothing without o=bind/],
      [{ type: "none", device: "srv", o: "bind" }, /must be an absolute path/],
      [{ type: "tmpfs", device: "tmpfs", o: "rshared" }, /rshared is not for a volume's mount/],
    ] as const
  ) {
    assert.throws(() => volumeMount(opts as Record<string, string>), why);
  }
  // Refused before anything is made.
  const root = tempStore();
  const store = new VolumeStore(root);
  assert.throws(() => store.create("bad", {}, { type: "tmpfs" }), /missing required option/);
  assert.deepEqual(store.list(), []);
  const v = store.create("tv", {}, { type: "tmpfs", device: "tmpfs", o: "size=1m" });
  assert.deepEqual(v.Options, { type: "tmpfs", device: "tmpfs", o: "size=1m" });
  assert.deepEqual(store.get("tv").Options, v.Options);
});

rootTest(
  "a volume with options is mounted while containers use it, shared by them, and unmounted after",
  async () => {
    const root = tempStore();
    const state = tempDir();
    const c = (args: string[]) => ctr(["--root", root, "--state-dir", state, ...args]);
    const data = `${root}/volumes/tv/_data`;
    const mounted = (path: string) =>
      Deno.readTextFileSync("/proc/self/mountinfo").split("\n").some((l) =>
        l.split(" ")[4] === Deno.realPathSync(path)
      );
    const made = await c([
      "volume",
      "create",
      "-o",
      "type=tmpfs",
      "-o",
      "device=tmpfs",
      "-o",
      "o=size=1m,mode=0777",
      "tv",
    ]);
    assert.equal(made.code, 0, made.stderr);
    const inspected = JSON.parse((await c(["volume", "inspect", "tv"])).stdout)[0];
    assert.deepEqual(inspected.Options, { type: "tmpfs", device: "tmpfs", o: "size=1m,mode=0777" });
    assert.ok(!mounted(data), "nothing is mounted before a container uses it");

    const a = await c([
      "run",
      "-d",
      "--name",
      "va",
      "-v",
      "tv:/data",
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      "echo from-a > /data/f; sleep 60",
    ]);
    assert.equal(a.code, 0, a.stderr);
    try {
      assert.ok(mounted(data), "mounted while va runs");
      let seen = "";
      for (let i = 0; i < 50 && seen !== "from-a"; i++) {
        const b = await c(["run", "--rm", "-v", "tv:/d", "--rootfs", testRootfs(), "cat", "/d/f"]);
        seen = b.stdout.trim();
        if (seen !== "from-a") await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(seen, "from-a", "a second container shares the first one's mount");
      const df = await c([
        "run",
        "--rm",
        "-v",
        "tv:/d",
        "--rootfs",
        testRootfs(),
        "df",
        "-k",
        "/d",
      ]);
      assert.match(df.stdout, /\s1024\s/, df.stdout);
      assert.ok(mounted(data), "still mounted: va uses it");
    } finally {
      assert.equal((await c(["rm", "-f", "va"])).code, 0);
    }
    assert.ok(!mounted(data), "unmounted with its last user");
    const fresh = await c(["run", "--rm", "-v", "tv:/d", "--rootfs", testRootfs(), "ls", "/d"]);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.equal(fresh.stdout, "", "a tmpfs volume starts empty when mounted again");
    assert.ok(!mounted(data));

    // ctr killed after the mount, before and after the container runs: rm -f unmounts.
    for (const milestone of ["volumes: mounted", "plan: built", "exec'd"]) {
      const [cmd, ...pre] = ctrCommand();
      const killed = await new Deno.Command(cmd, {
        args: [...pre, "--root", root, "--state-dir", state, "run", "-d", "--name", "vk"]
          .concat(["-v", "tv:/d", "--rootfs", testRootfs(), "sleep", "60"]),
        env: { CTR_FAULT: milestone },
        stdout: "null",
        stderr: "null",
      }).output();
      assert.equal(killed.code, 137, milestone);
      assert.ok(mounted(data), `mounted when ctr died at ${milestone}`);
      assert.equal((await c(["rm", "-f", "vk"])).code, 0);
      assert.ok(!mounted(data), `unmounted by rm -f after a kill at ${milestone}`);
    }

    // A bind: the container writes into the host directory; removing the volume keeps its data.
    const host = tempDir();
    assert.equal(
      (await c([
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        `device=${host}`,
        "bv",
      ]))
        .code,
      0,
    );
    const w = await c([
      "run",
      "--rm",
      "-v",
      "bv:/b",
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      "echo hi > /b/x",
    ]);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(Deno.readTextFileSync(`${host}/x`), "hi\n");
    assert.ok(!mounted(`${root}/volumes/bv/_data`));
    assert.equal((await c(["volume", "rm", "bv", "tv"])).code, 0);
    assert.equal(Deno.readTextFileSync(`${host}/x`), "hi\n", "the device's data stays");

    const bad = await c(["volume", "create", "-o", "type=none", "-o", "device=/tmp", "nb"]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /type=none mounts nothing without o=bind/);
    assert.equal((await c(["volume", "ls", "-q"])).stdout, "");
  },
);
