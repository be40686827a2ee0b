/** Root filesystem options, without root. */
import assert from "node:assert/strict";
import { tmpfsOptions } from "../../lib/runtime/rootfs.ts";

Deno.test("tmpfsOptions() follows docker's defaults", () => {
  assert.deepEqual(tmpfsOptions(""), { flags: 2 | 4 | 8, data: "mode=1777" });
  assert.deepEqual(tmpfsOptions("ro,exec,size=1m"), { flags: 1 | 2 | 4, data: "size=1m" });
  assert.throws(() => tmpfsOptions("bogus"), /Unknown tmpfs option/);
});
