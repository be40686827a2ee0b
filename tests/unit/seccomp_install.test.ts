/** The plan step that installs a seccomp filter (no root needed). */
import assert from "node:assert/strict";
import { PR } from "../../ffi/constants.ts";
import { FPROG_FILTER_OFFSET } from "../../ffi/seccomp.ts";
import { DEFAULT_CAPS } from "../../lib/runtime/capabilities.ts";
import { formatStep, int, slot, str, validate } from "../../lib/runtime/plan.ts";
import { compileFilter } from "../../lib/runtime/seccomp/compile.ts";
import { defaultProfile } from "../../lib/runtime/seccomp/default.ts";
import { LISTENER_SLOT, seccompSteps } from "../../lib/runtime/seccomp/install.ts";

Deno.test("seccompSteps() installs the program through struct sock_fprog", () => {
  const f = compileFilter(defaultProfile(DEFAULT_CAPS, "x86_64"), { arch: "x86_64" });
  const steps = seccompSteps(f);
  assert.equal(steps.length, 1);
  const [s] = steps;
  assert.equal(s.call, "seccomp");
  assert.equal(s.label, `install the seccomp filter (${f.instructions} instructions)`);
  assert.equal(s.save, undefined);
  const fprog = s.args[2];
  assert.ok("bytes" in fprog);
  assert.equal(new DataView(fprog.bytes.buffer).getUint16(0, true), f.instructions);
  assert.deepEqual(fprog.pointers, [{ at: FPROG_FILTER_OFFSET, to: f.program }]);
  assert.equal(
    formatStep(s).replace(/\s+#.*/, ""),
    `seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, {len=${f.instructions}, filter=[${f.instructions} instructions]})`,
  );
  const plan = {
    cloneFlags: 0,
    steps: [
      { call: "prctl" as const, args: [int(PR.SET_NO_NEW_PRIVS), int(1)], label: "no_new_privs" },
      ...steps,
      {
        call: "execve" as const,
        args: [str("/bin/true"), { strv: ["true"] }, { strv: [] }],
        label: "exec",
      },
    ],
  };
  assert.deepEqual(validate(plan), []);
});

Deno.test("seccompSteps() saves the listener fd of a notifying filter in a slot", () => {
  const f = compileFilter({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["getppid"], action: "SCMP_ACT_NOTIFY" }],
  }, { arch: "aarch64" });
  assert.equal(seccompSteps(f)[0].save, LISTENER_SLOT);
  const mine = slot("agent_fd");
  const [s] = seccompSteps(f, { listener: mine });
  assert.equal(s.save, mine);
  assert.match(formatStep(s), /SECCOMP_FILTER_FLAG_SPEC_ALLOW\|SECCOMP_FILTER_FLAG_NEW_LISTENER/);
  assert.match(formatStep(s), / -> \$agent_fd/);
});
