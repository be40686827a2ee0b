/**
 * Rootless ctr (root only, to make the throwaway users; the built file):
 * users without privileges run containers in their own store and state,
 * root in the container is the user, the other ids are the user's
 * subordinate ids, image files keep their owners, one user cannot see
 * another's containers, and nothing is written to the system's store.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import {
  busyboxImage,
  createUser,
  ctrAs,
  listing,
  ownersImage,
  processesOf,
  rootlessName,
  rootlessSkip,
  type TestUser,
} from "./_rootless.ts";

const skip = rootlessSkip() !== undefined;
/** The system store and state: what they hold before, to compare at the end. */
const before = skip ? new Map() : new Map([...listing("/var/lib/ctr"), ...listing("/run/ctr")]);

let alice: TestUser | undefined;
let bob: TestUser | undefined;

/** A user with a subordinate range and the busybox image; state in the /tmp fallback. */
async function withRange(): Promise<TestUser> {
  if (alice) return alice;
  alice = createUser("a", { sub: true });
  const r = await ctrAs(alice, ["load", "-i", await busyboxImage()]);
  assert.equal(r.code, 0, r.stderr);
  return alice;
}

/** A user without subordinate ids, with an $XDG_RUNTIME_DIR. */
function withoutRange(): TestUser {
  return bob ??= createUser("b", { sub: false, runtimeDir: true });
}

function rootlessTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: rootlessName(name),
    ignore: skip,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}

const storeOf = (u: TestUser) => `${u.home}/.local/share/ctr`;
const stateOf = (u: TestUser) => u.runtimeDir ? `${u.runtimeDir}/ctr` : `/tmp/ctr-${u.uid}`;

rootlessTest("rootless: version says so; the store and state are the user's, 0700", async () => {
  const u = await withRange();
  const r = await ctrAs(u, ["version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^mode: rootless \\(uid ${u.uid}\\)$`, "m"));
  assert.match(r.stdout, new RegExp(`^store: ${storeOf(u)}$`, "m"));
  assert.match(r.stdout, new RegExp(`^state: /tmp/ctr-${u.uid}$`, "m"));
  for (const d of [storeOf(u), stateOf(u)]) {
    const st = Deno.statSync(d);
    assert.equal(st.uid, u.uid, d);
    assert.equal(st.mode! & 0o777, 0o700, d);
  }
});

rootlessTest("rootless: run --rm maps the container's root to the user", async () => {
  const u = await withRange();
  const hostNet = Deno.readLinkSync("/proc/self/ns/net");
  const r = await ctrAs(u, [
    "run",
    "--rm",
    "busybox",
    "sh",
    "-c",
    "id; hostname; cat /proc/self/uid_map /proc/self/gid_map; echo pid=$$; " +
    "readlink /proc/self/ns/net; ls /proc/1/status; ip -o link | cut -d: -f2",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n").map((l) => l.trim().split(/\s+/).join(" "));
  assert.equal(lines[0], "uid=0(root) gid=0(root) groups=0(root)");
  assert.match(lines[1], /^[0-9a-f]{12}$/);
  const map = [`0 ${u.uid} 1`, `1 ${u.sub!.start} 65536`];
  assert.deepEqual(lines.slice(2, 4), map);
  assert.deepEqual(lines.slice(4, 6), [`0 ${u.gid} 1`, `1 ${u.sub!.start} 65536`]);
  assert.equal(lines[6], "pid=1");
  assert.match(lines[7], /^net:\[\d+\]$/);
  assert.notEqual(lines[7], hostNet, "its own network namespace");
  assert.equal(lines[8], "/proc/1/status", "its own /proc");
  assert.deepEqual(lines.slice(9).filter(Boolean), ["lo"]);
  assert.deepEqual([...Deno.readDirSync(`${storeOf(u)}/containers`)], [], "--rm leaves nothing");
});

rootlessTest("rootless: files written to a bind-mounted directory are the user's", async () => {
  const u = await withRange();
  const dir = `${u.home}/data`;
  Deno.mkdirSync(dir);
  Deno.chownSync(dir, u.uid, u.gid);
  const r = await ctrAs(u, [
    "run",
    "--rm",
    "-v",
    `${dir}:/data`,
    "busybox",
    "sh",
    "-c",
    "echo hi > /data/by-root && mkdir /data/www && chown 33:33 /data/www && ls -ln /data",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\s0\s+0\s+\d+ .* by-root$/m);
  assert.equal(Deno.statSync(`${dir}/by-root`).uid, u.uid);
  assert.equal(Deno.statSync(`${dir}/by-root`).gid, u.gid);
  assert.equal(Deno.statSync(`${dir}/www`).uid, u.sub!.start + 32);
  assert.equal(Deno.readTextFileSync(`${dir}/by-root`), "hi\n");
});

rootlessTest(
  "rootless: a detached container's processes have subordinate ids; ps, exec, logs, stop, rm",
  async () => {
    const u = await withRange();
    const name = "sleeper";
    const run = await ctrAs(u, [
      "run",
      "-d",
      "--name",
      name,
      "-u",
      "1000",
      "busybox",
      "sh",
      "-c",
      "echo started; exec sleep 600",
    ]);
    assert.equal(run.code, 0, run.stderr);
    try {
      const ps = await ctrAs(u, ["ps"]);
      assert.match(ps.stdout, new RegExp(`\\s${name}$`, "m"));
      const pid = Number((await ctrAs(u, ["inspect", "-f", "{{.State.Pid}}", name])).stdout);
      assert.ok(pid > 0);
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      const hostUid = u.sub!.start + 999;
      assert.match(status, new RegExp(`^Uid:\\s+${hostUid}\\s+${hostUid}\\s`, "m"));
      const ps1 = new Deno.Command("ps", { args: ["-o", "uid=,args=", "-p", String(pid)] })
        .outputSync();
      assert.match(new TextDecoder().decode(ps1.stdout), new RegExp(`^\\s*${hostUid} sleep 600`));
      const ex = await ctrAs(u, ["exec", name, "sh", "-c", "id -u; echo $$"]);
      assert.equal(ex.code, 0, ex.stderr);
      assert.equal(ex.stdout.split("\n")[0], "1000");
      for (let i = 0; i < 50 && !(await ctrAs(u, ["logs", name])).stdout.includes("started"); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await ctrAs(u, ["logs", name])).stdout, "started\n");
      const stop = await ctrAs(u, ["stop", "-t", "1", name]);
      assert.equal(stop.code, 0, stop.stderr);
      assert.match((await ctrAs(u, ["ps", "-a"])).stdout, /Exited \(137\)/);
    } finally {
      const rm = await ctrAs(u, ["rm", "-f", name]);
      assert.equal(rm.code, 0, rm.stderr);
    }
    assert.deepEqual([...Deno.readDirSync(`${storeOf(u)}/containers`)], []);
    assert.deepEqual(processesOf(u), [], "no process of the user is left");
  },
);

rootlessTest("rootless: an image's files of uid 0, 33 and 1000 keep their owners", async () => {
  const u = await withRange();
  const load = await ctrAs(u, ["load", "-i", await ownersImage()]);
  assert.equal(load.code, 0, load.stderr);
  assert.match(load.stderr, /1 file\(s\) keep root's owner: id\(s\) 70000 are outside/);
  const r = await ctrAs(u, [
    "run",
    "--rm",
    "owners",
    "sh",
    "-c",
    "cd /owners && stat -c '%u:%g %a %n' root www www/index.html app suid far && " +
    "stat -c '%u:%g %N' link && echo more >> www/index.html && stat -c '%u:%g' www/index.html",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.split("\n");
  assert.deepEqual(out.slice(0, 8), [
    "0:0 644 root",
    "33:33 750 www",
    "33:33 644 www/index.html",
    "1000:1000 644 app",
    "1000:1000 4755 suid",
    "0:0 644 far",
    "33:33 'link' -> 'www'",
    "33:33",
  ]);
  // On the host, the layer holds them as the user's subordinate ids.
  const layers = `${storeOf(u)}/layers/sha256`;
  const layer = [...Deno.readDirSync(layers)].map((e) => `${layers}/${e.name}`)
    .find((l) => {
      try {
        return Deno.statSync(`${l}/owners`).isDirectory;
      } catch {
        return false;
      }
    })!;
  assert.ok(layer, "the owners layer is in the store");
  assert.equal(Deno.lstatSync(`${layer}/owners/www`).uid, u.sub!.start + 32);
  assert.equal(Deno.lstatSync(`${layer}/owners/link`).uid, u.sub!.start + 32);
  assert.equal(Deno.lstatSync(`${layer}/owners/app`).uid, u.sub!.start + 999);
  assert.equal(Deno.lstatSync(`${layer}/owners/root`).uid, u.uid);
  assert.equal(Deno.lstatSync(`${layer}/owners/suid`).mode! & 0o7777, 0o4755);
  // Removing the image deletes files the user does not own itself (through the helper).
  assert.equal((await ctrAs(u, ["rmi", "owners"])).code, 0);
  const prune = await ctrAs(u, ["image", "prune", "-a", "-f"]);
  assert.equal(prune.code, 0, prune.stderr);
  assert.throws(() => Deno.statSync(layer), Deno.errors.NotFound);
  assert.equal((await ctrAs(u, ["load", "-i", await busyboxImage()])).code, 0);
});

/** The path of a program on PATH, or undefined. */
function which(name: string): string | undefined {
  for (const d of ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
    try {
      Deno.statSync(`${d}/${name}`);
      return `${d}/${name}`;
    } catch { /* next */ }
  }
  return undefined;
}

const registryTools = ["docker-registry", "skopeo"].filter((t) => !which(t));

Deno.test({
  name: rootlessName(
    "rootless: pull from a registry on 127.0.0.1 gives the layers their owners",
    registryTools.length ? `needs ${registryTools.join(" and ")}` : undefined,
  ),
  ignore: skip || registryTools.length > 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const u = await withRange();
    const dir = tempDir();
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    Deno.writeTextFileSync(
      `${dir}/config.yml`,
      `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/s\n` +
        `http:\n  addr: 127.0.0.1:${port}\n`,
    );
    const registry = new Deno.Command(which("docker-registry")!, {
      args: ["serve", `${dir}/config.yml`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      for (let i = 0; i < 100; i++) {
        try {
          await (await fetch(`http://127.0.0.1:${port}/v2/`)).body?.cancel();
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const ref = `127.0.0.1:${port}/test/owners:latest`;
      const push = new Deno.Command("skopeo", {
        args: [
          "copy",
          "-q",
          "--dest-tls-verify=false",
          `docker-archive:${await ownersImage()}`,
          `docker://${ref}`,
        ],
        stderr: "piped",
      }).outputSync();
      assert.ok(push.success, new TextDecoder().decode(push.stderr));
      const pull = await ctrAs(u, ["pull", ref]);
      assert.equal(pull.code, 0, pull.stderr);
      const r = await ctrAs(u, [
        "run",
        "--rm",
        ref,
        "stat",
        "-c",
        "%u:%g %n",
        "/owners/www",
        "/owners/app",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "33:33 /owners/www\n1000:1000 /owners/app\n");
      assert.equal((await ctrAs(u, ["rmi", ref])).code, 0);
    } finally {
      registry.kill("SIGTERM");
      await registry.status;
    }
  },
});

rootlessTest("rootless: what a container wrote as other users goes with --rm", async () => {
  const u = await withRange();
  const r = await ctrAs(u, [
    "run",
    "--rm",
    "busybox",
    "sh",
    "-c",
    "mkdir -p /srv/a/b && touch /srv/a/b/f && chown -R 1000:1000 /srv/a && chmod 700 /srv/a /srv/a/b",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...Deno.readDirSync(`${storeOf(u)}/containers`)], []);
});

rootlessTest("rootless: another user cannot see or touch the containers", async () => {
  const a = await withRange();
  const b = withoutRange();
  const run = await ctrAs(a, ["run", "-d", "--name", "private", "busybox", "sleep", "600"]);
  assert.equal(run.code, 0, run.stderr);
  try {
    const ps = await ctrAs(b, ["ps", "-a"]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.doesNotMatch(ps.stdout, /private/);
    for (
      const args of [
        ["--state-dir", stateOf(a), "ps", "-a"],
        ["--state-dir", stateOf(a), "--root", storeOf(a), "rm", "-f", "private"],
        ["--root", storeOf(a), "images"],
      ]
    ) {
      const r = await ctrAs(b, args);
      assert.notEqual(r.code, 0, `${args.join(" ")}: ${r.stdout}`);
      assert.match(r.stderr, /denied|Refusing|belongs to uid/i, args.join(" "));
    }
    assert.match((await ctrAs(a, ["ps"])).stdout, /\sprivate$/m, "still running");
  } finally {
    assert.equal((await ctrAs(a, ["rm", "-f", "private"])).code, 0);
  }
});

rootlessTest("rootless: a user without subordinate ids gets a single-id namespace", async () => {
  const u = withoutRange();
  const load = await ctrAs(u, ["load", "-i", await busyboxImage()]);
  assert.equal(load.code, 0, load.stderr);
  const first = await ctrAs(u, ["run", "--rm", "busybox", "sh", "-c", "cat /proc/self/uid_map"]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout.trim().split(/\s+/).join(" "), `0 ${u.uid} 1`);
  assert.match(
    first.stderr,
    /has no subordinate uids in \/etc\/subuid: containers get a single-id/,
  );
  const again = await ctrAs(u, ["run", "--rm", "busybox", "id", "-u"]);
  assert.equal(again.stdout, "0\n");
  assert.equal(again.stderr, "", "said once");
  const other = await ctrAs(u, ["run", "--rm", "-u", "1000", "busybox", "true"]);
  assert.equal(other.code, 125);
  assert.match(other.stderr, /set gid 1000: setresgid: EINVAL .*not mapped/);
  assert.equal(Deno.statSync(stateOf(u)).uid, u.uid, "state in $XDG_RUNTIME_DIR/ctr");
});

rootlessTest("rootless: what needs root is refused with the reason", async () => {
  const u = await withRange();
  const cases: [string[], RegExp][] = [
    [["--userns=host"], /--userns=host is not possible rootless/],
    [["--net=front"], /--net=front is not possible rootless: ctr networks are bridges/],
    [["--net=container:x"], /not possible rootless: each container has a user namespace/],
  ];
  for (const [flags, why] of cases) {
    const r = await ctrAs(u, ["run", "--rm", ...flags, "busybox", "true"]);
    assert.equal(r.code, 125, flags.join(" "));
    assert.match(r.stderr, why);
  }
  const net = await ctrAs(u, ["network", "create", "front"]);
  assert.equal(net.code, 125);
  assert.match(net.stderr, /ctr networks are bridges, which need root/);
});

rootlessTest("rootless: nothing is written to the system's store or state", async () => {
  await withRange();
  withoutRange();
  const after = new Map([...listing("/var/lib/ctr"), ...listing("/run/ctr")]);
  const ours = (uid: number) =>
    [alice, bob].some((u) =>
      u && (uid === u.uid || (u.sub && uid >= u.sub.start && uid < u.sub.start + u.sub.count))
    );
  const changed = [...after].filter(([p, uid]) => before.get(p) !== uid && ours(uid));
  // Others may use the system store meanwhile: what these users made would be theirs.
  assert.deepEqual(changed, [], "no file of the test users in /var/lib/ctr or /run/ctr");
});
