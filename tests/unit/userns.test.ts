/** User namespaces of a user without privileges (lib/runtime/userns.ts). */
import assert from "node:assert/strict";
import {
  composeIdMaps,
  helperPlan,
  mapHelperArgs,
  mapSize,
  rootlessIdMap,
  runInUserNamespace,
  setgroupsAllowed,
  subordinateRanges,
  withoutSetgroups,
} from "../../lib/runtime/userns.ts";
import { validate } from "../../lib/runtime/plan.ts";

const SUBUID = `# comment
alice:100000:65536
1001:300000:1000
bob:200000:65536
alice:bad:1
alice:500000:0
alice:400000:10
`;

Deno.test("subordinateRanges() takes a user's lines by name or uid, in file order", () => {
  assert.deepEqual(subordinateRanges(SUBUID, { name: "alice", id: 1001 }), [
    { start: 100000, count: 65536 },
    { start: 300000, count: 1000 },
    { start: 400000, count: 10 },
  ]);
  assert.deepEqual(subordinateRanges(SUBUID, { id: 1001 }), [{ start: 300000, count: 1000 }]);
  assert.deepEqual(subordinateRanges(SUBUID, { name: "carol", id: 1003 }), []);
  assert.deepEqual(subordinateRanges("", { name: "alice", id: 1 }), []);
});

Deno.test("rootlessIdMap() puts the user at 0 and the ranges from 1 on", () => {
  assert.deepEqual(rootlessIdMap(1001, [{ start: 100000, count: 65536 }, { start: 7, count: 3 }]), [
    { container: 0, host: 1001, size: 1 },
    { container: 1, host: 100000, size: 65536 },
    { container: 65537, host: 7, size: 3 },
  ]);
  assert.deepEqual(rootlessIdMap(1001, []), [{ container: 0, host: 1001, size: 1 }]);
  assert.equal(mapSize(rootlessIdMap(5, [{ start: 10, count: 20 }])), 21);
});

Deno.test("composeIdMaps() maps container ids through the user's namespace to host ids", () => {
  const user = rootlessIdMap(1001, [{ start: 100000, count: 100 }, { start: 500000, count: 100 }]);
  // podman's rootless --uidmap 0:1:150: container 0-149 are the user's ids 1-150.
  assert.deepEqual(composeIdMaps([{ container: 0, host: 1, size: 150 }], user), [
    { container: 0, host: 100000, size: 100 },
    { container: 100, host: 500000, size: 50 },
  ]);
  assert.deepEqual(composeIdMaps([{ container: 5, host: 0, size: 1 }], user), [
    { container: 5, host: 1001, size: 1 },
  ]);
  assert.throws(
    () => composeIdMaps([{ container: 0, host: 150, size: 100 }], user),
    /Cannot map 51: id 201 is not among the 201 ids this user owns \(0-200/,
  );
});

Deno.test("mapHelperArgs() gives newuidmap the pid and its triples", () => {
  assert.deepEqual(mapHelperArgs(42, rootlessIdMap(1001, [{ start: 100000, count: 65536 }])), [
    "42",
    "0",
    "1001",
    "1",
    "1",
    "100000",
    "65536",
  ]);
});

Deno.test("setgroupsAllowed() is false for a single mapped gid", () => {
  assert.equal(setgroupsAllowed([{ container: 0, host: 1000, size: 1 }]), false);
  assert.equal(setgroupsAllowed(rootlessIdMap(1000, [{ start: 1, count: 2 }])), true);
});

Deno.test("helperPlan() waits for the maps, becomes root, and execs the helper", () => {
  const single = [{ container: 0, host: 1000, size: 1 }];
  const plan = helperPlan(["/usr/bin/ctr", "__userns", "rm", "/x"], {
    env: ["PATH=/bin"],
    stderrFd: 9,
    gidMap: single,
    resetSignals: [13],
  });
  assert.deepEqual(validate(plan), []);
  const calls = plan.steps.map((s) => s.call);
  assert.deepEqual(calls.slice(0, 3), ["close", "close", "read"], "waits at phase 0 first");
  assert.ok(!calls.includes("setgroups"), "setgroups is denied with one gid");
  assert.ok(calls.indexOf("setresuid") > calls.indexOf("read"));
  assert.equal(calls.at(-1), "execve");
  const ranged = helperPlan(["/bin/true"], {
    env: [],
    stderrFd: 9,
    gidMap: rootlessIdMap(1000, [{ start: 100000, count: 65536 }]),
    resetSignals: [],
  });
  assert.ok(ranged.steps.some((s) => s.call === "setgroups"));
  assert.deepEqual(
    withoutSetgroups(ranged.steps).map((s) => s.call),
    ranged.steps.map((s) => s.call).filter((c) => c !== "setgroups"),
  );
});

Deno.test("runInUserNamespace() runs a program as root of a namespace made for it", () => {
  const uid = Deno.uid()!, gid = Deno.gid()!;
  const r = runInUserNamespace(["/bin/sh", "-c", "id -u >&2; cat /proc/self/uid_map >&2"], {
    uid: [{ container: 0, host: uid, size: 1 }],
    gid: [{ container: 0, host: gid, size: 1 }],
  }, { env: ["PATH=/usr/bin:/bin"] });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "));
  assert.deepEqual(lines, ["0", `0 ${uid} 1`]);
  const failed = runInUserNamespace(["/bin/sh", "-c", "echo why >&2; exit 3"], {
    uid: [{ container: 0, host: uid, size: 1 }],
    gid: [{ container: 0, host: gid, size: 1 }],
  }, { env: [] });
  assert.deepEqual(failed, { code: 3, stderr: "why\n" });
  assert.throws(
    () =>
      runInUserNamespace(["/nonexistent"], {
        uid: [{ container: 0, host: uid, size: 1 }],
        gid: [{ container: 0, host: gid, size: 1 }],
      }),
    /Cannot start \/nonexistent in a user namespace: exec the helper \/nonexistent.*ENOENT/,
  );
});
