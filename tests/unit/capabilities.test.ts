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
