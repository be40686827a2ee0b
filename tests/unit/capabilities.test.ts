/** Capability sets, without root. */
import assert from "node:assert/strict";
import { capMask, capSet } from "../../lib/runtime/capabilities.ts";

Deno.test("capSet() applies drop ALL, then adds, like docker", () => {
  assert.equal(capSet([], []).length, 14);
  assert.equal(capMask(capSet([], [])), 0xa80425fbn);
  assert.deepEqual(capSet(["SYS_ADMIN"], ["ALL"]), ["SYS_ADMIN"]);
  assert.equal(capSet(["ALL"], [], undefined, 40).length, 41);
  assert.throws(() => capSet(["BOGUS"], []), /Unknown capability/);
});

Deno.test("ambient capabilities are raised only where both permitted and inheritable", async () => {
  const { identitySteps } = await import("../../lib/runtime/process.ts");
  const raised = (inheritable: string[]) =>
    identitySteps(
      {
        uid: 0,
        gid: 0,
        groups: [],
        caps: ["KILL", "NET_BIND_SERVICE", "AUDIT_WRITE"],
        capSets: {
          effective: ["KILL", "NET_BIND_SERVICE", "AUDIT_WRITE"],
          permitted: ["KILL", "NET_BIND_SERVICE", "AUDIT_WRITE"],
          inheritable,
          ambient: ["KILL", "NET_BIND_SERVICE", "AUDIT_WRITE"],
        },
        noNewPrivileges: false,
      } as Parameters<typeof identitySteps>[0],
      40,
    )
      .filter((s) => s.label?.includes("in the ambient set")).map((s) => s.label);
  // `runc spec` writes ambient capabilities with no inheritable ones: runc's raises fail with
  // EPERM and it goes on, so ctr leaves them out rather than failing the start.
  assert.deepEqual(raised([]), []);
  assert.deepEqual(raised(["KILL"]), ["raise CAP_KILL in the ambient set"]);
});
