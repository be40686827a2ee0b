/** The precompiled default filter is the compiler's output, and is used only for the default caps. */
import assert from "node:assert/strict";
import { DEFAULT_CAPS } from "../../lib/runtime/capabilities.ts";
import { compileFilter } from "../../lib/runtime/seccomp/compile.ts";
import { defaultProfile } from "../../lib/runtime/seccomp/default.ts";
import { precompiledDefaultFilter } from "../../lib/runtime/seccomp/precompiled.ts";

Deno.test("precompiledDefaultFilter() is what compileFilter() makes of the default profile now", () => {
  for (const arch of ["x86_64", "aarch64"] as const) {
    const fresh = compileFilter(defaultProfile(DEFAULT_CAPS, arch), { arch });
    assert.deepEqual(
      precompiledDefaultFilter(DEFAULT_CAPS, arch),
      fresh,
      "lib/runtime/seccomp/default_filter_data.ts is stale: run deno run -A scripts/gen_default_filter.ts",
    );
  }
});

Deno.test("precompiledDefaultFilter() serves only docker's default capability set", () => {
  const reordered = [...DEFAULT_CAPS].reverse().map((c) => `cap_${c.toLowerCase()}`);
  assert.ok(precompiledDefaultFilter(reordered, "x86_64"));
  assert.equal(precompiledDefaultFilter([...DEFAULT_CAPS, "SYS_ADMIN"], "x86_64"), undefined);
  assert.equal(precompiledDefaultFilter(DEFAULT_CAPS.slice(1), "aarch64"), undefined);
  assert.equal(precompiledDefaultFilter([], "aarch64"), undefined);
});
