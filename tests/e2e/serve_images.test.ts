/**
 * The image routes of `ctr serve` driven by docker's own clients (root):
 * Debian's docker CLI (20.10) loads, tags, lists with filters, shows
 * history, saves and loads again, removes (docker's 409 when a container
 * uses the image), prunes, builds (and runs what it built), commits and
 * imports; pushes to and pulls from a docker-registry on 127.0.0.1; the
 * Python SDK builds, pulls, lists and removes, with credentials in
 * X-Registry-Auth; a build context that tries to write outside is refused,
 * and a build stops when its client goes away. Nothing is left behind: no
 * build directory, mount, cgroup, container or process.
 */
import assert from "node:assert/strict";
import { busyboxImageTar, census, rootTest, tempDir } from "../_helpers.ts";
import { DOCKER } from "../_docker.ts";
import { dockerOk, hasPythonSdk, runPython, type Server, startServer } from "../_serve.ts";
import { startRegistry, which } from "../_registry.ts";
import { readEvents } from "../../lib/engine/events.ts";

const dec = new TextDecoder();

/** Runs `docker ARGS` and asserts it succeeded; its stdout. */
const ok = dockerOk;

/** A build context directory with these files. */
function contextDir(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) Deno.writeTextFileSync(`${dir}/${name}`, text);
  return dir;
}

/**
 * What the tests leave behind: the mounts, the store's containers and build
 * directories, the state's records. (The machine's cgroups are counted by
 * container below: other users' containers come and go meanwhile.)
 */
function leftBehind(s: Server) {
  const c = census(s.store);
  let builds = 0;
  try {
    builds = [...Deno.readDirSync(`${s.store}/build/tmp`)].length;
  } catch { /* no build made one */ }
  const records = [...Deno.readDirSync(s.state)].filter((e) => /^[0-9a-f]{64}\./.test(e.name));
  return { mounts: c.mounts, containers: c.containers, records: records.length, builds };
}

/**
 * After the server stopped: as `before`; no cgroup, veth or rule of the
 * containers the server made (its events name them), no process that
 * names the store (watchers, build steps, the server itself).
 */
function assertClean(s: Server, before: ReturnType<typeof leftBehind>): void {
  assert.deepEqual(leftBehind(s), before);
  const ids = readEvents(s.state).filter((e) => e.Type === "container").map((e) => e.Actor.ID);
  const l = census(s.store, { stateDir: s.state, ids, markers: [s.store] });
  assert.deepEqual(
    { cgroups: l.cgroupDirs, veths: l.veths, rules: l.rules, processes: l.processes },
    { cgroups: 0, veths: 0, rules: 0, processes: 0 },
  );
}

/** The actions of the image events the server recorded, each once, sorted. */
function imageActions(s: Server): string[] {
  return [
    ...new Set(readEvents(s.state).filter((e) => e.Type === "image").map((e) => e.Action)),
  ].sort();
}

/** Removes the server's containers and stops it (exit code 0). */
async function finish(s: Server): Promise<void> {
  const left = (await s.docker(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
  if (left.length) await s.docker(["rm", "-f", ...left]);
  assert.equal(await s.stop(), 0);
}

if (!DOCKER) {
  Deno.test({
    name: "ctr serve images: docker's CLI [skipped: docker.io is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest(
    "ctr serve images: docker's CLI loads, tags, lists, saves, removes, prunes",
    async () => {
      const s = await startServer();
      const before = leftBehind(s);
      try {
        assert.match(await ok(s, ["load", "-i", await busyboxImageTar()]), /busybox:latest/);
        await ok(s, ["tag", "busybox", "mine:1"]);
        await ok(s, ["tag", "busybox:latest", "other/mine:2"]);
        const shortId = (await ok(s, ["images", "-q", "busybox"])).trim();
        const several = await s.docker(["rmi", shortId]);
        assert.equal(several.code, 1);
        assert.match(
          several.stderr,
          new RegExp(
            `conflict: unable to delete ${shortId} \\(must be forced\\) - image is referenced in multiple repositories`,
          ),
        );
        const rows = (await ok(s, ["images", "--format", "{{.Repository}}:{{.Tag}}"])).trim()
          .split("\n").sort();
        assert.deepEqual(rows, ["busybox:latest", "mine:1", "other/mine:2"]);
        assert.equal(
          (await ok(s, ["images", "--filter", "reference=mine", "--format", "{{.Repository}}"]))
            .trim(),
          "mine",
        );
        assert.equal(
          (await ok(s, ["images", "--format", "{{.Repository}}", "*/mine"])).trim(),
          "other/mine",
        );
        assert.equal((await ok(s, ["images", "-q", "--filter", "dangling=true"])).trim(), "");
        const bad = await s.docker(["images", "--filter", "colour=red"]);
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /Invalid filter 'colour'/);

        // History: the top row carries the ID.
        const id = (await ok(s, ["inspect", "-f", "{{.Id}}", "busybox"])).trim();
        const hist =
          (await ok(s, ["history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}", "busybox"]))
            .trim().split("\n");
        assert.equal(hist[0].split("|")[0], id);
        assert.match(hist.at(-1)!, /busybox/);

        // save | load: the archive holds the images with their names.
        const archive = `${tempDir()}/images.tar`;
        await ok(s, ["save", "-o", archive, "busybox", "mine:1"]);
        assert.match(await ok(s, ["rmi", "mine:1"]), /^Untagged: mine:1$/m);
        const loaded = await ok(s, ["load", "-i", archive]);
        assert.match(loaded, /Loaded image: mine:1/);
        assert.equal(
          await ok(s, ["run", "--rm", "--network", "none", "mine:1", "echo", "back"]),
          "back\n",
        );

        // rmi: untag, then delete with the last name; 409 while a container uses it.
        assert.match(await ok(s, ["rmi", "other/mine:2", "mine:1"]), /Untagged: other\/mine:2/);
        await ok(s, ["create", "--name", "user", "--network", "none", "busybox", "true"]);
        const inUse = await s.docker(["rmi", "busybox"]);
        assert.equal(inUse.code, 1);
        assert.match(
          inUse.stderr,
          /Error response from daemon: conflict: unable to remove repository reference "busybox" \(must force\) - container [0-9a-f]{12} is using its referenced image [0-9a-f]{12}/,
        );
        const byId = await s.docker(["rmi", id.slice(7, 19)]);
        assert.match(
          byId.stderr,
          /unable to delete [0-9a-f]{12} \(must be forced\) - image is being used by stopped container/,
        );
        await ok(s, ["rm", "user"]);
        const gone = await ok(s, ["rmi", "busybox"]);
        assert.match(gone, /^Untagged: busybox:latest\nDeleted: sha256:[0-9a-f]{64}\n$/);
        assert.equal((await ok(s, ["images", "-q"])).trim(), "");
        const missing = await s.docker(["rmi", "busybox"]);
        assert.match(missing.stderr, /No such image: busybox/);

        // prune: an image without a name goes, the named one stays.
        await ok(s, ["load", "-i", archive]);
        await ok(s, ["rmi", "busybox"]); // mine:1 still names it
        await ok(s, ["import", "-", "imported:1"], "");
        const untagged = (await ok(s, ["import", "-c", 'CMD ["sh"]', "-"], "")).trim();
        assert.match(untagged, /^sha256:[0-9a-f]{64}$/);
        assert.equal(
          (await ok(s, ["images", "-q", "--no-trunc", "--filter", "dangling=true"])).trim(),
          untagged,
        );
        const pruned = await ok(s, ["image", "prune", "-f"]);
        assert.match(pruned, new RegExp(`deleted: ${untagged}`));
        assert.match(pruned, /Total reclaimed space: /);
        assert.deepEqual(
          (await ok(s, ["images", "--format", "{{.Repository}}:{{.Tag}}"])).trim().split("\n")
            .sort(),
          ["imported:1", "mine:1"],
        );
        // prune -a: named images go too, but not one a container uses.
        await ok(s, ["create", "--name", "keeper", "--network", "none", "mine:1", "true"]);
        const all = await ok(s, ["image", "prune", "-a", "-f"]);
        assert.match(all, /untagged: imported:1/);
        assert.doesNotMatch(all, /mine/);
        assert.equal((await ok(s, ["images", "--format", "{{.Repository}}"])).trim(), "mine");
        await ok(s, ["rm", "keeper"]);
        // The events the command line records for the same work.
        assert.deepEqual(imageActions(s), ["delete", "import", "load", "save", "tag", "untag"]);
      } finally {
        await finish(s);
      }
      assertClean(s, before);
    },
  );

  rootTest("ctr serve images: docker's CLI builds, runs what it built, commits", async () => {
    const s = await startServer();
    const before = leftBehind(s);
    try {
      await ok(s, ["load", "-i", await busyboxImageTar()]);
      const dir = contextDir({
        Dockerfile: "FROM busybox\nRUN echo built > /b\nCOPY f /f\nLABEL team=images\n" +
          'CMD ["cat", "/b", "/f"]\n',
        f: "copied\n",
      });
      const built = await s.docker(["build", "-t", "x:1", "-t", "x:2", dir]);
      assert.equal(built.code, 0, built.stderr);
      assert.match(built.stdout, /^Step 1\/\d : FROM busybox/m);
      assert.match(built.stdout, /^Step \d\/\d : RUN echo built > \/b$/m);
      assert.match(built.stdout, /^Successfully built [0-9a-f]{12}$/m);
      assert.match(built.stdout, /^Successfully tagged x:1$/m);
      assert.match(built.stdout, /^Successfully tagged x:2$/m);
      assert.equal(await ok(s, ["run", "--rm", "--network", "none", "x:1"]), "built\ncopied\n");
      assert.equal(
        (await ok(s, ["images", "--filter", "label=team=images", "--format", "{{.Tag}}"])).trim()
          .split("\n").sort().join(","),
        "1,2",
      );
      // -q: only the ID.
      const quiet = await ok(s, ["build", "-q", dir]);
      assert.match(quiet, /^sha256:[0-9a-f]{64}\n$/);

      // A failed RUN: docker's message, its exit code; a failed COPY: 1.
      const failing = contextDir({ Dockerfile: "FROM busybox\nRUN echo going; exit 3\n" });
      const f = await s.docker(["build", failing]);
      assert.equal(f.code, 3, f.stderr);
      assert.match(f.stdout, /going/);
      assert.match(
        f.stderr,
        /The command '\/bin\/sh -c echo going; exit 3' returned a non-zero code: 3/,
      );
      const noFile = contextDir({ Dockerfile: "FROM busybox\nCOPY nothere /x\n" });
      const n = await s.docker(["build", noFile]);
      assert.equal(n.code, 1);
      assert.match(n.stderr, /nothere/);
      const syntax = contextDir({ Dockerfile: "FROM busybox\nBOGUS x\n" });
      const sx = await s.docker(["build", syntax]);
      assert.equal(sx.code, 1);
      assert.match(sx.stderr, /BOGUS|unknown instruction/i);
      const plat = await s.docker(["build", "--platform", "linux/s390x", dir]);
      assert.notEqual(plat.code, 0);
      assert.match(plat.stderr, /ctr builds for this host only/);

      // commit: the container's change and a new CMD.
      await ok(s, [
        "run",
        "-d",
        "--name",
        "c",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo committed > /c; exec sleep 1000",
      ]);
      for (let i = 0; i < 100; i++) {
        if ((await s.docker(["exec", "c", "cat", "/c"])).stdout === "committed\n") break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const cid = (await ok(s, ["commit", "-c", 'CMD ["cat", "/c"]', "-m", "snap", "c", "snap:1"]))
        .trim();
      assert.match(cid, /^sha256:[0-9a-f]{64}$/);
      assert.equal(await ok(s, ["run", "--rm", "--network", "none", "snap:1"]), "committed\n");
      assert.equal((await ok(s, ["inspect", "-f", "{{.Comment}}", "snap:1"])).trim(), "snap");
      await ok(s, ["rm", "-f", "c"]);
      assert.match(await ok(s, ["builder", "prune", "-f"]), /Total reclaimed space/);
    } finally {
      await finish(s);
    }
    assertClean(s, before);
  });
}

if (!DOCKER || !which("docker-registry")) {
  Deno.test({
    name:
      "ctr serve images: push and pull [skipped: docker.io or docker-registry is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest(
    "ctr serve images: docker's CLI pushes to and pulls from a registry on 127.0.0.1",
    async () => {
      const reg = await startRegistry();
      const s = await startServer();
      const before = leftBehind(s);
      try {
        await ok(s, ["load", "-i", await busyboxImageTar()]);
        const name = `${reg.domain}/team/box:1`;
        await ok(s, ["tag", "busybox", name]);
        const pushed = await ok(s, ["push", name]);
        assert.match(
          pushed,
          new RegExp(`The push refers to repository \\[${reg.domain}/team/box\\]`),
        );
        assert.match(pushed, /: Pushed$/m);
        const digest = /^1: digest: (sha256:[0-9a-f]{64}) size: \d+$/m.exec(pushed)?.[1];
        assert.ok(digest, pushed);
        // Pulled into an empty store: every layer, the digest, the status.
        await ok(s, ["rmi", name, "busybox"]);
        assert.equal((await ok(s, ["images", "-q"])).trim(), "");
        const pulled = await ok(s, ["pull", name]);
        assert.match(pulled, /^1: Pulling from team\/box$/m);
        assert.match(pulled, /Pull complete/);
        assert.match(pulled, new RegExp(`^Digest: ${digest}$`, "m"));
        assert.match(pulled, new RegExp(`^Status: Downloaded newer image for ${name}$`, "m"));
        assert.equal((await ok(s, ["pull", name])).includes("Image is up to date"), true);
        assert.equal(
          await ok(s, ["run", "--rm", "--network", "none", name, "echo", "pulled"]),
          "pulled\n",
        );
        // What the registry does not have: docker's 404, not a stream.
        const none = await s.docker(["pull", `${reg.domain}/team/nothere:1`]);
        assert.equal(none.code, 1);
        assert.match(none.stderr, /Error response from daemon: .*(not found|unknown)/i);
        // docker run pulls a missing image through the same route.
        await ok(s, ["rmi", name]);
        assert.equal(
          await ok(s, ["run", "--rm", "--network", "none", name, "echo", "ran"]),
          "ran\n",
        );
        const actions = imageActions(s);
        assert.ok(actions.includes("pull") && actions.includes("push"), actions.join(","));
      } finally {
        await finish(s);
        await reg.stop();
      }
      assertClean(s, before);
    },
  );
}

if (!DOCKER || !hasPythonSdk() || !which("docker-registry")) {
  Deno.test({
    name:
      "ctr serve images: docker's Python SDK [skipped: python3-docker, docker.io or docker-registry is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest(
    "ctr serve images: docker's Python SDK builds, pulls, lists, removes, commits",
    async () => {
      const reg = await startRegistry();
      const s = await startServer();
      const before = leftBehind(s);
      try {
        await ok(s, ["load", "-i", await busyboxImageTar()]);
        const name = `${reg.domain}/py/box:1`;
        await ok(s, ["tag", "busybox", name]);
        await ok(s, ["push", name]);
        await ok(s, ["rmi", name]);
        const dir = contextDir({ Dockerfile: "FROM busybox\nRUN echo from-path > /p\n" });
        const script = `
import io, docker
c = docker.DockerClient(base_url="unix://${s.sock}")
img, logs = c.images.build(path=${JSON.stringify(dir)}, tag="py:path", rm=True)
print(",".join(img.tags))
f = io.BytesIO(b"FROM busybox\\nRUN echo from-file > /f\\n")
img2, _ = c.images.build(fileobj=f, tag="py:file")
print(c.containers.run("py:file", "cat /f", remove=True, network_mode="none").decode().strip())
try:
    c.images.build(fileobj=io.BytesIO(b"FROM busybox\\nRUN exit 7\\n"))
except docker.errors.BuildError as e:
    print("BuildError", e.msg)
p = c.images.pull(${JSON.stringify(`${reg.domain}/py/box`)}, tag="1")
print(${JSON.stringify(name)} in p.tags)
print(sorted(t for i in c.images.list() for t in i.tags))
print(len(c.images.list(filters={"reference": "py"})))
c.images.remove("py:path")
c.images.remove("py:file")
print(sorted(t for i in c.images.list() for t in i.tags))
w = c.containers.run("busybox", ["sh", "-c", "echo made > /m; exec sleep 1000"], detach=True, network_mode="none")
while w.exec_run("cat /m").output != b"made\\n": pass
snap = w.commit(repository="py", tag="snap", message="by sdk", conf={"Cmd": ["cat", "/m"], "Env": ["WHO=sdk"]})
w.remove(force=True)
print(c.containers.run("py:snap", remove=True, network_mode="none").decode().strip(), snap.attrs["Comment"])
print("WHO=sdk" in snap.attrs["Config"]["Env"])
c.images.remove("py:snap")
`;
        const out = await runPython(script);
        assert.ok(out.success, out.stderr);
        assert.deepEqual(out.lines, [
          "py:path",
          "from-file",
          "BuildError The command '/bin/sh -c exit 7' returned a non-zero code: 7",
          "True",
          `['${name}', 'busybox:latest', 'py:file', 'py:path']`,
          "2",
          `['${name}', 'busybox:latest']`,
          "made by sdk",
          "True",
        ]);
      } finally {
        await finish(s);
        await reg.stop();
      }
      assertClean(s, before);
    },
  );
}

if (!DOCKER || !hasPythonSdk() || !which("docker-registry") || !which("htpasswd")) {
  Deno.test({
    name:
      "ctr serve images: X-Registry-Auth and hostile contexts [skipped: python3-docker, docker.io, docker-registry or htpasswd is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest(
    "ctr serve images: X-Registry-Auth and X-Registry-Config credentials; a hostile context stays inside; a build ends with its client",
    async () => {
      const dir = tempDir();
      const line = await new Deno.Command("htpasswd", {
        args: ["-nbB", "bob", "pa55word"],
        stdout: "piped",
      })
        .output();
      Deno.writeTextFileSync(`${dir}/htpasswd`, dec.decode(line.stdout).trim() + "\n");
      const reg = await startRegistry(
        ["auth:", "  htpasswd:", "    realm: ctr-test", `    path: ${dir}/htpasswd`].join("\n"),
      );
      const s = await startServer();
      const before = leftBehind(s);
      const mark = `ctr-evil-${crypto.randomUUID().slice(0, 8)}`;
      try {
        // docker login: the server asks the registry; the CLI keeps what works in its config.
        const config = tempDir();
        const bad = await s.docker([
          "--config",
          config,
          "login",
          "-u",
          "bob",
          "-p",
          "nope",
          reg.domain,
        ]);
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, /401|unauthorized|denied/i);
        const login = await s.docker(
          ["--config", config, "login", "-u", "bob", "--password-stdin", reg.domain],
          "pa55word\n",
        );
        assert.equal(login.code, 0, login.stderr);
        assert.match(login.stdout, /Login Succeeded/);
        assert.match(Deno.readTextFileSync(`${config}/config.json`), new RegExp(reg.domain));
        await ok(s, ["load", "-i", await busyboxImageTar()]);
        const name = `${reg.domain}/auth/box`;
        await ok(s, ["tag", "busybox", `${name}:1`]);
        const script = `
import io, tarfile, docker
c = docker.DockerClient(base_url="unix://${s.sock}")
good = {"username": "bob", "password": "pa55word"}
# docker's push reports a refusal in its stream (the SDK returns the stream's text).
r = c.images.push("${name}", tag="1", auth_config={"username": "bob", "password": "wrong"})
print("denied" if '"errorDetail"' in r and "401" in r else r)
for line in c.images.push("${name}", tag="1", auth_config=good, stream=True, decode=True):
    if "error" in line: print("error", line["error"])
    if "aux" in line: print("aux", line["aux"]["Tag"])
c.images.remove("${name}:1")
print(c.images.pull("${name}", tag="1", auth_config=good).id == c.images.get("busybox").id)

# Contexts that try to write outside: .., an absolute path, through a symlink.
def context(*entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kw in (("Dockerfile", {"data": b"FROM busybox\\nCOPY . /ctx\\n"}),) + entries:
            ti = tarfile.TarInfo(name)
            data = kw.get("data", b"x")
            ti.type = kw.get("type", tarfile.REGTYPE)
            ti.linkname = kw.get("linkname", "")
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            t.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    buf.seek(0)
    return buf
def build(buf):
    try:
        last = list(c.api.build(fileobj=buf, custom_context=True, tag="evil:1", decode=True))[-1]
        return last.get("error") or "built"
    except docker.errors.APIError as e:
        return f"{e.status_code} {e.explanation}"
print(build(context(("../../../../tmp/${mark}-dots", {}))))
print(build(context(("/tmp/${mark}-abs", {}))))
print(build(context(("up", {"type": tarfile.SYMTYPE, "linkname": "/tmp"}), ("up/${mark}-link", {}))))

# A client that goes away in the middle of a RUN step stops the build.
import socket
body = context(("Dockerfile", {"data": b"FROM busybox\\nRUN echo started; sleep 60\\n"})).getvalue()
conn = socket.socket(socket.AF_UNIX)
conn.connect("${s.sock}")
conn.sendall(b"POST /v1.41/build HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
got = b""
while b"started" not in got:
    got += conn.recv(4096)
conn.close()
print("left")

# A base image behind auth: the build pulls it with X-Registry-Config's credentials.
import base64, json
c.images.remove("${name}:1")
def raw_build(headers):
    body = context(("Dockerfile", {"data": b"FROM ${name}:1\\nRUN true\\n"})).getvalue()
    conn = socket.socket(socket.AF_UNIX)
    conn.connect("${s.sock}")
    conn.sendall(b"POST /v1.41/build?t=authbuilt HTTP/1.1\\r\\nHost: x\\r\\n" + headers +
        b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body)
    got = b""
    while True:
        d = conn.recv(65536)
        if not d: break
        got += d
    conn.close()
    return got.decode()
anon = raw_build(b"")
print("refused" if "401" in anon and "Successfully" not in anon else anon)
conf = base64.urlsafe_b64encode(json.dumps({"${reg.domain}": good}).encode())
authed = raw_build(b"X-Registry-Config: " + conf + b"\\r\\n")
print("built" if "Successfully tagged authbuilt:latest" in authed else authed)
`;
        const out = await runPython(script);
        assert.ok(out.success, out.stderr);
        assert.deepEqual(out.lines, [
          "denied",
          "aux 1",
          "True",
          `400 Error processing tar file: Cannot extract the layer: Entry escapes the root: ../../../../tmp/${mark}-dots`,
          `400 Error processing tar file: Cannot extract the layer: Entry escapes the root: /tmp/${mark}-abs`,
          `400 Error processing tar file: Cannot extract the layer: Entry escapes the root: up/${mark}-link (up is a symlink)`,
          "left",
          "refused",
          "built",
        ]);
        // Its step ends at once, not after the minute it asked for.
        let builds = 1;
        for (let i = 0; i < 100 && builds > 0; i++) {
          await new Promise((r) => setTimeout(r, 100));
          builds = [...Deno.readDirSync(`${s.store}/build/tmp`)].length;
        }
        assert.equal(builds, 0, "the build goes on without its client");
        for (const f of [`/tmp/${mark}-dots`, `/tmp/${mark}-abs`, `/tmp/${mark}-link`]) {
          assert.throws(() => Deno.lstatSync(f), `${f} was written outside the context`);
        }
      } finally {
        await finish(s);
        await reg.stop();
      }
      assertClean(s, before);
    },
  );
}
