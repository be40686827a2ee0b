/**
 * The state directory without root: records written and read back whole
 * (bigints included), and containers found by full id, name or prefix.
 */
import assert from "node:assert/strict";
import { type ContainerState, StateDir } from "../../lib/engine/state.ts";
import { tempDir } from "../_helpers.ts";

const ID_A = "a".repeat(64);
const ID_B = "b".repeat(63) + "c";

function record(id: string, name: string, extra: Record<string, unknown> = {}): ContainerState {
  return {
    id,
    name,
    pid: 0,
    startTime: 0,
    status: "created",
    created: "2026-06-01T12:00:00Z",
    image: "busybox",
    command: ["true"],
    dir: `/var/lib/ctr/containers/${id}`,
    cgroups: [],
    cgroupPaths: {},
    ...extra,
  };
}

Deno.test("StateDir: a record reads back as written, its rlimits' bigints included", () => {
  const dir = new StateDir(tempDir());
  const rlimits = [{ type: "nofile", soft: 1024n, hard: 2n ** 63n - 1n }];
  const s = record(ID_A, "one", {
    labels: { "$bigint": "a label, not a number" },
    config: { process: { rlimits, args: ["true"] } },
  });
  dir.create(s);
  assert.deepEqual(dir.get(ID_A), s);
  assert.deepEqual(dir.list(), [s]);
  const next = { ...s, status: "running" as const, pid: 42 };
  dir.write(next);
  assert.deepEqual(dir.get(ID_A), next);
  assert.equal(dir.get(ID_B), undefined);
});

Deno.test("StateDir.find() takes a full id first, then a name, then a unique prefix", () => {
  const dir = new StateDir(tempDir());
  dir.create(record(ID_A, "one"));
  // A name that is another container's full id names that other container only by name.
  dir.create(record(ID_B, ID_A));
  assert.equal(dir.find(ID_A).id, ID_A);
  assert.equal(dir.find("one").id, ID_A);
  assert.equal(dir.find("bbb").id, ID_B);
  assert.throws(() => dir.find("ab"), /No such container: ab/);
  assert.throws(() => dir.find("c".repeat(64)), /No such container/);
});
