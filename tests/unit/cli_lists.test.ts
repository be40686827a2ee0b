/**
 * What the list commands print and select: docker's units, times and
 * ellipsis, ps items and filters, image items, stats items, without root.
 */
import assert from "node:assert/strict";
import {
  binarySize,
  CONTAINER_LIST,
  decimalSize,
  ellipsis,
  formatList,
  goTimeString,
  humanDuration,
} from "../../lib/format/mod.ts";
import { psItem, selectContainers, statsItem } from "../../lib/cli/containers.ts";
import { netIo, systemCpuNs } from "../../lib/engine/stats.ts";
import { imageItem } from "../../lib/cli/image.ts";
import { Filters, labelMatches, nameMatches, referenceMatches } from "../../lib/cli/filters.ts";
import { UsageError } from "../../lib/cli/args.ts";
import type { ContainerState } from "../../lib/engine/state.ts";

Deno.test("humanDuration(), decimalSize(), binarySize() read as go-units'", () => {
  assert.equal(humanDuration(400), "Less than a second");
  assert.equal(humanDuration(1000), "1 second");
  assert.equal(humanDuration(59_900), "59 seconds");
  assert.equal(humanDuration(90_000), "About a minute");
  assert.equal(humanDuration(45 * 60_000), "45 minutes");
  assert.equal(humanDuration(80 * 60_000), "About an hour");
  assert.equal(humanDuration(5 * 3_600_000), "5 hours");
  assert.equal(humanDuration(3 * 86_400_000), "3 days");
  assert.equal(humanDuration(20 * 86_400_000), "2 weeks");
  assert.equal(humanDuration(200 * 86_400_000), "6 months");
  assert.equal(humanDuration(800 * 86_400_000), "2 years");
  assert.equal(decimalSize(0), "0B");
  assert.equal(decimalSize(124), "124B");
  assert.equal(decimalSize(1_984_321), "1.98MB");
  assert.equal(decimalSize(1_984_321, 4), "1.984MB");
  assert.equal(decimalSize(7168, 4), "7.168kB");
  assert.equal(binarySize(352_256), "344KiB");
  assert.equal(binarySize(25_276_166_144), "23.54GiB");
});

Deno.test("goTimeString() is Go's time.String(); ellipsis() is docker's", () => {
  const t = new Date(Date.UTC(2026, 11, 4, 5, 42, 5));
  assert.equal(goTimeString(t, 0), "2026-12-04 05:42:05 +0000 UTC");
  assert.equal(goTimeString(t, 90), "2026-12-04 07:12:05 +0130 +0130");
  assert.equal(ellipsis("sh -c 'mkdir /newdir; echo'", 20), "sh -c 'mkdir /newdi…");
  assert.equal(ellipsis("short", 20), "short");
  assert.equal(ellipsis("日本語日本語日本語日本語", 9), "日本語日…");
});

const now = Date.UTC(2026, 0, 10, 12);
function state(over: Partial<ContainerState>): ContainerState {
  return {
    id: "1234567890ab".padEnd(64, "0"),
    name: "web",
    pid: 0,
    startTime: 0,
    status: "running",
    created: new Date(now - 120_000).toISOString(),
    startedAt: new Date(now - 60_000).toISOString(),
    image: "busybox",
    command: ["sh", "-c", "sleep 1000; echo done"],
    dir: "/nowhere",
    cgroups: [],
    cgroupPaths: {},
    ...over,
  };
}

Deno.test("psItem() gives docker's container fields, as strings", () => {
  const it = psItem(state({ labels: { b: "2", a: "1" } }), { trunc: true, now });
  assert.deepEqual(it, {
    Command: '"sh -c \'sleep 1000; …"',
    CreatedAt: goTimeString(new Date(now - 120_000)),
    ID: "1234567890ab",
    Image: "busybox",
    Labels: "a=1,b=2",
    LocalVolumes: "0",
    Mounts: "",
    Names: "web",
    Networks: "none",
    Ports: "",
    RunningFor: "2 minutes ago",
    Size: "0B",
    State: "running",
    Status: "Up About a minute",
  });
  const full = psItem(
    state({ status: "exited", exitCode: 3, finishedAt: new Date(now - 5000).toISOString() }),
    {
      trunc: false,
      now,
      size: { rw: 124, rootFs: 1_984_000 },
    },
  );
  assert.equal(full.Command, `"sh -c 'sleep 1000; echo done'"`);
  assert.equal(full.ID.length, 64);
  assert.equal(full.Status, "Exited (3) 5 seconds ago");
  assert.equal(full.Size, "124B (virtual 1.98MB)");
  const table = formatList(undefined, [it], { kind: CONTAINER_LIST });
  assert.ok(
    table.startsWith(
      "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS",
    ),
    table,
  );
});

Deno.test("selectContainers(): docker's ps filters, -a, -n, newest first", () => {
  const at = (min: number) => new Date(now - min * 60_000).toISOString();
  const all = [
    state({ id: "a".repeat(64), name: "web-1", created: at(30), labels: { tier: "front" } }),
    state({ id: "b".repeat(64), name: "db", created: at(20), status: "exited", exitCode: 0 }),
    state({ id: "c".repeat(64), name: "web-2", created: at(10), status: "exited", exitCode: 137 }),
  ];
  const names = (f: string[], o = {}) =>
    selectContainers(
      all,
      Filters.parse(f, ["status", "name", "label", "exited", "id", "before", "since", "ancestor"]),
      o,
    )
      .map((s) => s.name);
  assert.deepEqual(names([]), ["web-1"]);
  assert.deepEqual(names([], { all: true }), ["web-2", "db", "web-1"]);
  assert.deepEqual(names(["status=exited"]), ["web-2", "db"]);
  assert.deepEqual(names(["name=web"], { all: true }), ["web-2", "web-1"]);
  assert.deepEqual(names(["name=^web-1$"], { all: true }), ["web-1"]);
  assert.deepEqual(names(["exited=137"], { all: true }), ["web-2"]);
  assert.deepEqual(names(["label=tier=front"], { all: true }), ["web-1"]);
  assert.deepEqual(names(["id=bbb"], { all: true }), ["db"]);
  assert.deepEqual(names(["before=web-2"], { all: true }), ["db", "web-1"]);
  assert.deepEqual(names(["since=web-1"], { all: true }), ["web-2", "db"]);
  assert.deepEqual(names([], { last: 2 }), ["web-2", "db"]);
  assert.deepEqual(names(["ancestor=busybox"], { all: true }).length, 3);
  assert.throws(() => names(["status=sleeping"]), UsageError);
  assert.throws(() => names(["colour=red"]), UsageError);
  assert.throws(() => names(["noequals"]), UsageError);
});

Deno.test("filters: label, name and reference matching", () => {
  assert.ok(labelMatches({ a: "1" }, "a"));
  assert.ok(labelMatches({ a: "1" }, "a=1"));
  assert.ok(!labelMatches({ a: "1" }, "a=2"));
  assert.ok(nameMatches("web-1", "web"));
  assert.ok(nameMatches("x(", "x("));
  assert.ok(referenceMatches("busybox:latest", "busybox"));
  assert.ok(referenceMatches("busybox:latest", "busy*"));
  assert.ok(referenceMatches("localhost:5000/team/bb:v1", "localhost:5000/team/*"));
  assert.ok(!referenceMatches("busybox:latest", "alpine"));
  assert.equal(Filters.parse(["dangling=true"], ["dangling"]).bool("dangling"), true);
  assert.throws(() => Filters.parse(["dangling=maybe"], ["dangling"]).bool("dangling"), UsageError);
});

Deno.test("imageItem() gives docker's image fields", () => {
  const img = {
    id: `sha256:${"bd7bb4179147".padEnd(64, "1")}` as const,
    digest: `sha256:${"a".repeat(64)}` as const,
    names: ["docker.io/library/busybox:latest"],
    tags: ["busybox:latest"],
    created: new Date(now - 3 * 86_400_000).toISOString(),
    size: 1_984_321,
    architecture: "amd64",
    os: "linux",
    layers: 1,
  };
  const it = imageItem(img, "busybox:latest", { trunc: true, now });
  assert.deepEqual(
    [it.Repository, it.Tag, it.ID, it.CreatedSince, it.Size, it.VirtualSize, it.Containers],
    ["busybox", "latest", "bd7bb4179147", "3 days ago", "1.98MB", "1.984MB", "N/A"],
  );
  const none = imageItem(img, undefined, { trunc: false, now });
  assert.deepEqual([none.Repository, none.Tag, none.ID], ["<none>", "<none>", img.id]);
});

Deno.test("systemCpuNs(): whole nanoseconds, as docker's clients decode them (uint64)", () => {
  // 13584826 ticks / 100 * 1e9 is 135848260000000.02 in floating point: Go's decoder refuses
  // the fraction, and Debian's 20.10 CLI then ends `stats --no-stream` with a bare "EOF".
  const stat = (ticks: number) => `cpu  ${ticks - 6} 1 1 1 1 1 1 0 0 0\ncpu0 1 0 0 0 0 0 0 0 0 0\n`;
  assert.equal(systemCpuNs(stat(13584826)), 135848260000000);
  for (let t = 13584826; t < 13584826 + 1000; t++) {
    const ns = systemCpuNs(stat(t));
    assert.equal(ns, t * 10_000_000);
    assert.match(JSON.stringify(ns), /^\d+$/);
  }
  assert.equal(systemCpuNs("intr 1 2\n"), 0);
});

Deno.test("statsItem() and netIo(): docker's stats fields, network bytes but lo's", () => {
  const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0:    2048      12    0    0    0     0          0         0      512       5    0    0    0     0       0          0
`;
  assert.deepEqual(netIo(dev), { rx: 2048, tx: 512 });
  const s = state({});
  const it = statsItem(s, {
    a: { cpu: { usageNs: 0 } },
    b: {
      cpu: { usageNs: 250_000_000 },
      memory: { usage: 352_256, limit: null },
      pids: { current: 3, limit: null },
    },
    dtMs: 500,
    memTotal: 25_276_166_144,
    net: netIo(dev),
  }, { trunc: true, ref: "web" });
  assert.deepEqual(it, {
    BlockIO: "0B / 0B",
    CPUPerc: "50.00%",
    Container: "web",
    ID: "1234567890ab",
    MemPerc: "0.00%",
    MemUsage: "344KiB / 23.54GiB",
    Name: "web",
    NetIO: "2.05kB / 512B",
    PIDs: "3",
  });
});
