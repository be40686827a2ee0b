/**
 * events, info, system df and the list commands' formats through the
 * command line (root): events arrive in order with docker's fields and are
 * streamed to a follower; info and df report this host and this store.
 */
import assert from "node:assert/strict";
import { ctrCommand, testRootfs } from "../_helpers.ts";
import { envTest } from "./_cli_env.ts";

envTest("events: run -d, stop, rm arrive in order, with docker's fields", async (env) => {
  const since = String(Date.now() / 1000 - 1);
  const id = await env.runD([
    "--name",
    "ev",
    "-l",
    "tier=web",
    "--rootfs",
    testRootfs(),
    "sleep",
    "1000",
  ]);
  await env.ok(["stop", "-t", "1", "ev"]);
  await env.ok(["rm", "ev"]);
  const lines = (await env.ok([
    "events",
    "--since",
    since,
    "--until",
    "0s",
    "--filter",
    `container=${id.slice(0, 12)}`,
    "--format",
    "json",
  ])).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((e) => e.Action === "kill" ? `kill ${e.Actor.Attributes.signal}` : e.Action),
    ["create", "start", "kill 15", "kill 9", "die", "stop", "destroy"],
  );
  for (const e of lines) {
    assert.deepEqual(Object.keys(e), [
      "status",
      "id",
      "from",
      "Type",
      "Action",
      "Actor",
      "scope",
      "time",
      "timeNano",
    ]);
    assert.equal(e.Type, "container");
    assert.equal(e.status, e.Action);
    assert.equal(e.id, id);
    assert.equal(e.Actor.ID, id);
    assert.equal(e.Actor.Attributes.name, "ev");
    assert.equal(e.Actor.Attributes.tier, "web");
    assert.equal(e.scope, "local");
    assert.equal(e.time, Math.floor(e.timeNano / 1e9));
  }
  assert.equal(lines.find((e) => e.Action === "die").Actor.Attributes.exitCode, "137");
  assert.ok(lines.every((e, i) => i === 0 || e.timeNano >= lines[i - 1].timeNano));
  // The default line, and filters by event and type.
  const text = await env.ok(["events", "--since", since, "--until", "0s", "-f", "event=destroy"]);
  assert.match(
    text,
    new RegExp(
      `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}(Z|[+-]\\d\\d:\\d\\d) container destroy ${id} \\(image=${testRootfs()}, name=ev, tier=web\\)\\n$`,
    ),
  );
  assert.equal(await env.ok(["events", "--since", since, "--until", "0s", "-f", "type=image"]), "");
  assert.equal((await env.c(["events", "--since", "nonsense"])).code, 125);
  // A volume that `run -v` makes on the fly: created, mounted, unmounted, as docker records it.
  await env.ok(["run", "--rm", "-v", "onthefly:/v", "--rootfs", testRootfs(), "true"]);
  assert.equal(
    await env.ok([
      "events",
      "--since",
      since,
      "--until",
      "0s",
      "-f",
      "volume=onthefly",
      "--format",
      "{{.Type}} {{.Action}}",
    ]),
    "volume create\nvolume mount\nvolume unmount\n",
  );
});

envTest(
  "events: a follower sees what happens after it started, then stops at --until",
  async (env) => {
    const [cmd, ...pre] = ctrCommand();
    const until = String(Date.now() / 1000 + 6);
    const follower = new Deno.Command(cmd, {
      args: [
        ...pre,
        "--root",
        env.store,
        "--state-dir",
        env.state,
        "system",
        "events",
        "--until",
        until,
        "--format",
        "{{.Type}} {{.Action}}",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await new Promise((r) => setTimeout(r, 1500));
    await env.ok(["volume", "create", "followed"]);
    await env.ok(["volume", "rm", "followed"]);
    const out = await follower.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stdout), "volume create\nvolume destroy\n");
  },
);

envTest("info and system df: this host and this store, docker's text and fields", async (env) => {
  await env.busybox();
  await env.runD([
    "--name",
    "live",
    "-v",
    "dfvol:/data",
    "busybox",
    "sh",
    "-c",
    "echo abc > /data/f; sleep 1000",
  ]);
  const info = JSON.parse(await env.ok(["info", "--format", "json"]));
  assert.equal(info.Containers, 1);
  assert.equal(info.ContainersRunning, 1);
  assert.equal(info.Images, 1);
  assert.equal(info.NCPU, navigator.hardwareConcurrency);
  assert.equal(info.KernelVersion, Deno.osRelease());
  assert.equal(info.DockerRootDir, env.store);
  assert.equal(
    await env.ok(["system", "info", "-f", "{{.OSType}}/{{.Architecture}} {{.Driver}}"]),
    `linux/${Deno.build.arch} overlay\n`,
  );
  const text = await env.ok(["info"]);
  assert.match(
    text,
    /^Server:\n Containers: 1\n {2}Running: 1\n {2}Paused: 0\n {2}Stopped: 0\n Images: 1\n/m,
  );
  assert.match(text, /^ Storage Driver: overlay$/m);
  const df = (await env.ok(["system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}"]))
    .trim().split("\n");
  assert.deepEqual(df, ["Images|1|1", "Containers|1|1", "Local Volumes|1|1", "Build Cache|0|0"]);
  assert.match(await env.ok(["system", "df"]), /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\n/);
  const v = await env.ok(["system", "df", "-v"]);
  assert.match(v, /^Images space usage:\n\nREPOSITORY\s+TAG\s+IMAGE ID/);
  assert.match(v, /^dfvol\s+1\s+4B$/m);
  await env.ok(["rm", "-f", "live"]);
  await env.ok(["volume", "rm", "dfvol"]);
});

envTest("ps, images, inspect: templates, json lines, filters, management forms", async (env) => {
  await env.busybox();
  const id = await env.runD(["--name", "a1", "-l", "role=db", "busybox", "sleep", "1000"]);
  const done = await env.runD(["--name", "a2", "busybox", "sh", "-c", "exit 3"]);
  await env.ok(["wait", done]);
  assert.equal(
    await env.ok(["ps", "--format", "{{.Names}} {{.Image}} {{.Command}} {{.State}}"]),
    'a1 busybox "sleep 1000" running\n',
  );
  assert.equal(
    await env.ok(["container", "ls", "-a", "-q", "--no-trunc", "-f", "status=exited"]),
    `${done}\n`,
  );
  assert.equal(
    await env.ok(["ps", "-a", "-f", "exited=3", "--format", "{{.ID}}"]),
    `${done.slice(0, 12)}\n`,
  );
  assert.equal(await env.ok(["ps", "-f", "label=role=db", "-q"]), `${id.slice(0, 12)}\n`);
  assert.equal(
    await env.ok(["ps", "-a", "-f", "ancestor=busybox", "-q"]).then((s) => s.split("\n").length),
    3,
  );
  assert.equal(await env.ok(["ps", "-n", "1", "--format", "{{.Names}}"]), "a2\n");
  const json = (await env.ok(["ps", "-a", "--format", "json"])).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(Object.keys(json[0]), [
    "Command",
    "CreatedAt",
    "ID",
    "Image",
    "Labels",
    "LocalVolumes",
    "Mounts",
    "Names",
    "Networks",
    "Ports",
    "RunningFor",
    "Size",
    "State",
    "Status",
  ]);
  assert.match(await env.ok(["ps", "-s"]), /^CONTAINER ID .* NAMES\s+SIZE\n.*B \(virtual .*B\)$/ms);
  assert.match(
    await env.ok(["ps", "--format", "table {{.ID}}\\t{{.Names}}"]),
    new RegExp(`^CONTAINER ID   NAMES\\n${id.slice(0, 12)}   a1\\n$`),
  );
  assert.equal(
    await env.ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]),
    "busybox:latest\n",
  );
  assert.equal(
    await env.ok(["image", "ls", "-f", "reference=busy*", "-q"]).then((s) => s.length),
    13,
  );
  assert.equal(
    await env.ok(["images", "-f", "dangling=true"]),
    "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n",
  );
  assert.match(await env.ok(["images", "--digests"]), /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID/);
  assert.equal(await env.ok(["inspect", "-f", "{{.Config.Cmd}}", "busybox"]), "[sh]\n");
  assert.equal(
    await env.ok(["inspect", "--type", "container", "-f", "{{.State.Status}}", "a1"]),
    "running\n",
  );
  assert.equal(await env.ok(["container", "inspect", "-f", "{{.State.ExitCode}}", "a2"]), "3\n");
  assert.equal((await env.c(["container", "inspect", "busybox"])).code, 1);
  assert.equal(
    await env.ok(["network", "ls", "--format", "{{.Name}} {{.Driver}}"]),
    "bridge bridge\nhost host\nnone null\n",
  );
  assert.equal(
    await env.ok(["network", "inspect", "-f", "{{.Name}} {{.Driver}}", "bridge"]),
    "bridge bridge\n",
  );
  assert.equal((await env.c(["ps", "--filter", "colour=red"])).code, 125);
});
