/**
 * `ctr serve`'s networks, volumes and events, driven by Debian's docker CLI
 * (20.10, root): networks made, listed, inspected and removed, containers
 * that reach each other by name on one, a container connected and
 * disconnected before it starts; volumes whose data outlives the containers
 * that wrote it, refused removal while in use; the events of all of it,
 * past and followed. At the end no container, bridge, veth, lease, rule,
 * mount or cgroup of the test's is left. The same through docker's Python SDK.
 */
import assert from "node:assert/strict";
import { busyboxImageTar, type Census, census, rootTest } from "../_helpers.ts";
import { DOCKER } from "../_docker.ts";
import { CLIENT, dockerOk, hasPythonSdk, runPython, type Server, startServer } from "../_serve.ts";

/** Runs a docker command that must succeed; its stdout, trimmed. */
const ok = async (s: Server, args: string[]) => (await dockerOk(s, args)).trim();

/** Runs a docker command that must fail; its stderr. */
async function fails(s: Server, args: string[]): Promise<string> {
  const r = await s.docker(args);
  assert.notEqual(r.code, 0, `docker ${args.join(" ")} succeeded: ${r.stdout}`);
  return r.stderr;
}

/** Removes what a failed test left, stops the server, and checks the census. */
async function finish(s: Server, ids: Set<string>, before: Census) {
  const left = (await s.docker(["ps", "-aq", "--no-trunc"])).stdout.split("\n").filter(Boolean);
  for (const id of left) ids.add(id);
  if (left.length) await s.docker(["rm", "-f", ...left]);
  await s.docker(["network", "prune", "-f"]);
  await s.docker(["volume", "prune", "-f"]);
  assert.equal(await s.stop(), 0);
  const after = census(s.store, { stateDir: s.state, ids, markers: [s.store] });
  assert.deepEqual(
    { mounts: after.mounts, cgroups: after.cgroups, containers: after.containers },
    { mounts: before.mounts, cgroups: before.cgroups, containers: before.containers },
  );
  assert.deepEqual(
    [after.veths, after.leases, after.rules, after.cgroupDirs, after.processes],
    [0, 0, 0, 0, 0],
    "veths, leases, rules, cgroups, processes of the test's containers",
  );
}

const WEB =
  "mkdir -p /www; echo served by $(hostname) > /www/index.html; exec httpd -f -p 80 -h /www";

if (!DOCKER) {
  Deno.test({
    name: "ctr serve: networks and volumes [skipped: docker.io is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest(
    "ctr serve: docker's network commands, and containers that reach each other by name",
    async () => {
      const s = await startServer();
      const before = census(s.store);
      const ids = new Set<string>();
      const t0 = Math.floor(Date.now() / 1000);
      try {
        await ok(s, ["load", "-i", await busyboxImageTar()]);
        const id = await ok(s, ["network", "create", "--label", "team=a", "n1"]);
        assert.match(id, /^[0-9a-f]{64}$/);
        const bridge = `/sys/class/net/ctr-${id.slice(0, 11)}`;
        assert.match(
          await fails(s, ["network", "create", "n1"]),
          /network with name n1 already exists/,
        );
        assert.equal(
          await ok(s, ["network", "ls", "-f", "label=team=a", "--format", "{{.Name}}"]),
          "n1",
        );
        assert.equal(await ok(s, ["network", "ls", "-f", "label=team=b", "-q"]), "");
        assert.equal(
          await ok(s, ["network", "ls", "--format", "{{.Name}} {{.Driver}}"]),
          "bridge bridge\nhost host\nn1 bridge\nnone null",
        );
        assert.equal(
          await ok(s, [
            "network",
            "inspect",
            "-f",
            '{{.Id}} {{.Driver}} {{.Scope}} {{index .Labels "team"}} {{len .IPAM.Config}}',
            "n1",
          ]),
          `${id} bridge local a 1`,
        );
        assert.match(await fails(s, ["network", "inspect", "nope"]), /No such network: nope/);
        // Driver options and --internal, as docker's CLI sends them (Options, Internal).
        await ok(s, [
          "network",
          "create",
          "--internal",
          "-o",
          "com.docker.network.driver.mtu=1400",
          "n0",
        ]);
        assert.equal(
          await ok(s, [
            "network",
            "inspect",
            "-f",
            '{{.Internal}} {{index .Options "com.docker.network.driver.mtu"}}',
            "n0",
          ]),
          "true 1400",
        );
        assert.equal(
          await ok(s, [
            "run",
            "--rm",
            "--network",
            "n0",
            "busybox",
            "sh",
            "-c",
            "cat /sys/class/net/eth0/mtu; ip route | grep -c default || true",
          ]),
          "1400\n0",
        );
        assert.match(
          await fails(s, ["network", "create", "-o", "com.docker.network.driver.mtu=9", "n9"]),
          /driver\.mtu: 68-65535/,
        );
        await ok(s, ["network", "rm", "n0"]);
        assert.match(
          await fails(s, ["network", "rm", "bridge"]),
          /bridge is a pre-defined network and cannot be removed/,
        );

        // Two containers on n1: the second fetches from the first by its name.
        ids.add(
          await ok(s, ["run", "-d", "--network", "n1", "--name", "a", "busybox", "sh", "-c", WEB]),
        );
        const aId = [...ids][0];
        let page = "";
        for (let i = 0; i < 30 && !page.startsWith("served"); i++) {
          const r = await s.docker([
            "run",
            "--rm",
            "--network",
            "n1",
            "busybox",
            "wget",
            "-qO-",
            "http://a/",
          ]);
          page = r.stdout;
          if (!page.startsWith("served")) await new Promise((r) => setTimeout(r, 200));
        }
        assert.equal(page, `served by ${aId.slice(0, 12)}\n`);
        assert.equal(
          await ok(s, [
            "network",
            "inspect",
            "-f",
            "{{range $k, $v := .Containers}}{{$k}} {{$v.Name}} {{$v.MacAddress}}{{end}}",
            "n1",
          ]),
          `${aId} a ${await ok(s, ["inspect", "-f", "{{.NetworkSettings.MacAddress}}", "a"])}`,
        );
        assert.ok(
          Deno.statSync(bridge).isDirectory,
          "the network's bridge exists while it is used",
        );
        assert.match(await fails(s, ["network", "rm", "n1"]), /in use by container/);
        assert.match(
          await fails(s, ["network", "connect", "n1", "a"]),
          /endpoint with name a already exists in network n1/,
        );

        // Connected before it starts, with an alias; disconnected, it no longer reaches a.
        const cId = await ok(s, [
          "create",
          "--name",
          "c",
          "--network",
          "none",
          "busybox",
          "sh",
          "-c",
          "wget -qO- http://a/ && grep -c cee /etc/hosts",
        ]);
        ids.add(cId);
        await ok(s, ["network", "connect", "--alias", "cee", "n1", "c"]);
        assert.equal(
          await ok(s, [
            "inspect",
            "-f",
            '{{json (index .NetworkSettings.Networks "n1").Aliases}}',
            "c",
          ]),
          '["cee"]',
        );
        const started = await s.docker(["start", "-a", "c"]);
        assert.equal(started.code, 0, started.stderr);
        assert.match(started.stdout, /^served by [0-9a-f]{12}\n[1-9]\n$/);
        await ok(s, ["network", "disconnect", "n1", "c"]);
        assert.equal(
          await ok(s, ["inspect", "-f", "{{json .NetworkSettings.Networks}}", "c"]),
          "{}",
        );
        assert.match(
          await fails(s, ["network", "disconnect", "n1", "c"]),
          /not connected to network n1/,
        );
        // Started again, without a network: its second end is in inspect.
        const state =
          "{{.State.StartedAt}} {{.State.Status}} {{.State.ExitCode}} {{.State.FinishedAt}}";
        const first = (await ok(s, ["inspect", "-f", state, "c"])).split(" ")[0];
        await ok(s, ["start", "c"]);
        let end: string[] = [];
        for (let i = 0; i < 100; i++) {
          end = (await ok(s, ["inspect", "-f", state, "c"])).split(" ");
          if (end[0] !== first && end[1] === "exited" && end[3] > end[0]) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const logs = (await s.docker(["logs", "c"])).stdout;
        assert.deepEqual(
          end.slice(1, 3),
          ["exited", "1"],
          `no network: a is out of reach: ${end} ${logs}`,
        );

        // A running container joins a second network at once (eth1) and leaves it.
        await ok(s, ["network", "create", "n3"]);
        await ok(s, ["network", "connect", "--alias", "ay", "n3", "a"]);
        assert.match(
          await ok(s, ["exec", "a", "ip", "-o", "-4", "addr", "show", "eth1"]),
          /inet 10\.\d+\.\d+\.\d+\//,
        );
        assert.equal(
          await ok(s, ["run", "--rm", "--network", "n3", "busybox", "wget", "-qO-", "http://ay/"]),
          `served by ${aId.slice(0, 12)}`,
        );
        assert.equal(
          await ok(s, [
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            "a",
          ]),
          "n1 n3",
        );
        await ok(s, ["network", "disconnect", "n3", "a"]);
        assert.match(await fails(s, ["exec", "a", "ip", "addr", "show", "eth1"]), /eth1/);
        await ok(s, ["network", "rm", "n3"]);

        await ok(s, ["rm", "-f", "a", "c"]);
        assert.equal(await ok(s, ["network", "rm", "n1"]), "n1");
        assert.throws(() => Deno.statSync(bridge), "the bridge goes with its network");
        await ok(s, ["network", "create", "n2"]);
        assert.match(await ok(s, ["network", "prune", "-f"]), /Deleted Networks:\nn2/);
        assert.equal(await ok(s, ["network", "ls", "-q", "-f", "type=custom"]), "");

        // The events of all of it, as docker's CLI prints them.
        const ev = await ok(s, [
          "events",
          "--since",
          String(t0),
          "--until",
          String(Math.ceil(Date.now() / 1000) + 1),
          "--filter",
          "type=network",
          "--format",
          "{{.Action}} {{.Actor.Attributes.name}}{{with .Actor.Attributes.container}} {{.}}{{end}}",
        ]);
        const lines = ev.split("\n").map((l) => l.trim());
        assert.equal(lines[0], "create n1");
        assert.ok(lines.includes(`connect n1 ${aId}`), ev);
        assert.ok(lines.includes(`connect n1 ${cId}`), ev);
        assert.ok(lines.includes(`disconnect n1 ${aId}`), ev);
        assert.ok(lines.includes("destroy n1"), ev);
        assert.ok(lines.includes("destroy n2"), ev);
      } finally {
        await finish(s, ids, before);
      }
    },
  );

  rootTest(
    "ctr serve: docker's volume commands, data that outlives its containers, and events",
    async () => {
      const s = await startServer();
      const before = census(s.store);
      const ids = new Set<string>();
      const t0 = Math.floor(Date.now() / 1000);
      try {
        await ok(s, ["load", "-i", await busyboxImageTar()]);
        assert.equal(await ok(s, ["volume", "create", "--label", "k=v", "v1"]), "v1");
        assert.equal(await ok(s, ["volume", "ls", "-q", "-f", "label=k=v"]), "v1");
        assert.equal(await ok(s, ["volume", "ls", "-q", "-f", "label=k=w"]), "");
        assert.equal(
          await ok(s, [
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels.k}} {{.Mountpoint}}",
            "v1",
          ]),
          `v1 local local v ${s.store}/volumes/v1/_data`,
        );
        // The local driver's options (DriverOpts): a tmpfs while a container uses it.
        await ok(s, [
          "volume",
          "create",
          "-o",
          "type=tmpfs",
          "-o",
          "device=tmpfs",
          "-o",
          "o=size=2m",
          "vt",
        ]);
        assert.equal(
          await ok(s, ["volume", "inspect", "-f", "{{.Options.type}} {{.Options.o}}", "vt"]),
          "tmpfs size=2m",
        );
        assert.match(
          await ok(s, ["run", "--rm", "-v", "vt:/t", "busybox", "df", "-k", "/t"]),
          /\s2048\s/,
        );
        assert.match(
          await fails(s, ["volume", "create", "-o", "type=tmpfs", "vbad"]),
          /missing required option: "device"/,
        );
        await ok(s, ["volume", "rm", "vt"]);
        assert.match(await fails(s, ["volume", "inspect", "nope"]), /No such volume: nope/);

        const run = (args: string[]) => ok(s, ["run", "--rm", "--network", "none", ...args]);
        await run(["-v", "v1:/data", "busybox", "sh", "-c", "echo kept > /data/f"]);
        assert.equal(await run(["-v", "v1:/data", "busybox", "cat", "/data/f"]), "kept");
        // A --mount of a volume that does not exist yet makes it.
        await run(["--mount", "type=volume,source=v2,target=/d", "busybox", "touch", "/d/x"]);
        assert.equal(await ok(s, ["volume", "ls", "-q"]), "v1\nv2");

        const holder = await ok(s, [
          "run",
          "-d",
          "--name",
          "holder",
          "--network",
          "none",
          "-v",
          "v1:/data",
          "busybox",
          "sleep",
          "1000",
        ]);
        ids.add(holder);
        assert.match(await fails(s, ["volume", "rm", "v1"]), /volume is in use: v1/);
        assert.equal(await ok(s, ["volume", "ls", "-q", "-f", "dangling=true"]), "v2");
        await ok(s, ["rm", "-f", "holder"]);
        assert.equal(await ok(s, ["volume", "rm", "v1"]), "v1");
        assert.match(await fails(s, ["volume", "inspect", "v1"]), /No such volume: v1/);
        assert.match(await ok(s, ["volume", "prune", "-f"]), /Deleted Volumes:\nv2/);
        assert.equal(await ok(s, ["volume", "ls", "-q"]), "");

        // The run's events with docker's fields, between --since and --until.
        const until = String(Math.ceil(Date.now() / 1000) + 1);
        const json = await ok(s, [
          "events",
          "--since",
          String(t0),
          "--until",
          until,
          "--filter",
          "container=holder",
          "--format",
          "{{json .}}",
        ]);
        const events = json.split("\n").map((l) => JSON.parse(l));
        // In their order, once each (a kill may come between start and die).
        const order = ["create", "start", "die", "destroy"].map((a) =>
          events.findIndex((e) => e.Type === "container" && e.Action === a)
        );
        assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), json);
        for (const e of events) {
          assert.equal(e.Actor.ID, holder);
          assert.equal(e.id, holder);
          assert.equal(e.status, e.Action);
          assert.equal(e.from, "busybox");
          assert.equal(e.Actor.Attributes.name, "holder");
          assert.equal(e.scope, "local");
          assert.ok(e.time >= t0 && e.timeNano >= t0 * 1e9, JSON.stringify(e));
        }
        const vol = await ok(s, [
          "events",
          "--since",
          String(t0),
          "--until",
          until,
          "--filter",
          "volume=v1",
          "--format",
          "{{.Type}} {{.Action}}",
        ]);
        const actions = vol.split("\n");
        assert.equal(actions[0], "volume create");
        assert.ok(actions.includes("volume mount") && actions.includes("volume unmount"), vol);
        assert.equal(actions[actions.length - 1], "volume destroy");

        // Followed: a client without --until sees an event as it happens.
        const follow = new Deno.Command(CLIENT, {
          args: ["events", "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}}"],
          env: { DOCKER_HOST: `unix://${s.sock}` },
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const reader = follow.stdout.getReader();
        await new Promise((r) => setTimeout(r, 500));
        await ok(s, ["volume", "create", "v3"]);
        let seen = "";
        const deadline = Date.now() + 10_000;
        while (!seen.includes("\n") && Date.now() < deadline) {
          const chunk = await Promise.race([
            reader.read(),
            new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now())),
          ]);
          if (!chunk || chunk.done) break;
          seen += new TextDecoder().decode(chunk.value);
        }
        follow.kill("SIGTERM");
        await reader.cancel().catch(() => {});
        await follow.status;
        await follow.stderr.cancel().catch(() => {});
        assert.equal(seen, "create v3\n");
        assert.equal(await ok(s, ["volume", "rm", "v3"]), "v3");
        assert.equal(await ok(s, ["version", "--format", "{{.Server.Os}}"]), "linux");
      } finally {
        await finish(s, ids, before);
      }
    },
  );
}

if (!DOCKER || !hasPythonSdk()) {
  Deno.test({
    name: "ctr serve: networks and volumes with docker's Python SDK " +
      "[skipped: python3-docker or docker.io is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest(
    "ctr serve: docker's Python SDK makes, connects and removes networks and volumes",
    async () => {
      const s = await startServer();
      const before = census(s.store);
      const ids = new Set<string>();
      try {
        await ok(s, ["load", "-i", await busyboxImageTar()]);
        const script = `
import docker
c = docker.DockerClient(base_url="unix://${s.sock}")
n = c.networks.create("pynet", driver="bridge", labels={"k": "v"})
print(n.name, n.attrs["Labels"]["k"], [x.name for x in c.networks.list(filters={"label": "k=v"})])
v = c.volumes.create("pyvol", labels={"k": "v"})
print(v.name, [x.name for x in c.volumes.list(filters={"label": "k=v"})])
box = c.containers.create("busybox", "cat /data/f", network="pynet",
                          volumes={"pyvol": {"bind": "/data", "mode": "rw"}})
print(box.id)
c.containers.run("busybox", "sh -c 'echo vol > /data/f'", volumes=["pyvol:/data"],
                 network_mode="none", remove=True)
n.disconnect(box)
n.connect(box, aliases=["boxy"])
box.start()
print(box.wait()["StatusCode"], box.logs().decode().strip())
box.reload()
print(box.attrs["NetworkSettings"]["Networks"]["pynet"]["Aliases"])
box.remove()
n.remove()
v.remove()
print(len(c.networks.list(filters={"type": "custom"})), len(c.volumes.list()))
`;
        const out = await runPython(script);
        const lines = out.lines;
        if (lines[2]) ids.add(lines[2]);
        assert.ok(out.success, out.stderr);
        assert.deepEqual([...lines.slice(0, 2), ...lines.slice(3)], [
          "pynet v ['pynet']",
          "pyvol ['pyvol']",
          "0 vol",
          "['boxy']",
          "0 0",
        ]);
      } finally {
        await finish(s, ids, before);
      }
    },
  );
}
