/** Plan model, executor and stub tests that need no root. */
import assert from "node:assert/strict";
import { errno, errnoName, SyscallError } from "../../ffi/errno.ts";
import { rawSyscall } from "../../ffi/stub.ts";
import { sysno } from "../../ffi/syscalls.ts";
import {
  formatPlan,
  formatStep,
  int,
  type Plan,
  PlanError,
  slot,
  type Step,
  str,
  syncPoint,
  validate,
} from "../../lib/runtime/plan.ts";
import { spawn, waitPidfd } from "../../lib/runtime/spawn.ts";
import { close, pipe, readSync } from "../../ffi/sys.ts";

Deno.test("ctr_syscall returns the kernel's result and -errno", () => {
  assert.equal(rawSyscall(sysno("getpid")), Deno.pid);
  assert.equal(rawSyscall(sysno("close"), 1 << 20), -errno("EBADF"));
  assert.equal(errnoName(1), "EPERM");
  assert.match(
    new SyscallError("mount", 1, "proc on /proc").message,
    /^mount proc on \/proc: EPERM \(Operation not permitted\)$/,
  );
});

Deno.test("validate() finds bad plans", () => {
  const s = slot("fd");
  const problems = validate({
    cloneFlags: 0,
    steps: [
      { call: "close", args: [{ ref: s }], label: "uses a slot nobody saved" },
      {
        call: "close",
        args: [int(1)],
        label: "three tolerated",
        tolerate: ["ENOENT", "EBADF", "EPERM"],
      },
      { call: "close", args: [int(1)], label: "unknown errno", tolerate: ["EWHAT"] },
      {
        call: "mount",
        args: [int(1), int(2), int(3), int(4), int(5), int(6), int(7)],
        label: "seven args",
      },
      { call: "read", args: [int(0)], label: "fork and expect", fork: true, expect: true },
    ],
  });
  assert.equal(problems.length, 6, problems.join("\n"));
  assert.ok(problems.some((p) => /reads slot fd before/.test(p)));
  assert.ok(problems.some((p) => /ends with read, not execve/.test(p)));
  assert.deepEqual(
    validate({
      cloneFlags: 0,
      steps: [{
        call: "execve",
        args: [str("/bin/true"), { strv: ["true"] }, { strv: [] }],
        label: "exec",
      }],
    }),
    [],
  );
});

Deno.test("formatPlan() prints strace-style lines with flags by name", () => {
  const out = formatPlan({
    cloneFlags: 0,
    steps: [
      {
        call: "mount",
        args: [str("proc"), str("/proc"), str("proc"), int(14, "MS_NOSUID|MS_NODEV|MS_NOEXEC"), {
          int: 0,
          show: "NULL",
        }],
        label: "mount proc",
        tolerate: ["ENOENT"],
      },
      ...syncPoint(1, "pty"),
    ],
  }, "CLONE_NEWPID");
  assert.match(out, /^clone\(CLONE_NEWPID\)$/m);
  assert.match(
    out,
    /0 {2}mount\("proc", "\/proc", "proc", MS_NOSUID\|MS_NODEV\|MS_NOEXEC, NULL\)\s+# mount proc \[ok: ENOENT\]/,
  );
  assert.match(out, /write\(errWrite, \{sync, 1\}, 16\)/);
  assert.match(out, /read\(syncRead, buf, 1\).*\[0 fails\]/);
});

function execTrue(): Plan["steps"][number] {
  return {
    call: "execve",
    args: [str("/bin/true"), { strv: ["true"] }, { strv: [] }],
    label: "exec /bin/true",
  };
}

Deno.test("spawn() runs a plan in a child and serves its sync points", async () => {
  const [r, w] = pipe();
  const phases: number[] = [];
  const s = await spawn({
    cloneFlags: 0,
    steps: [
      ...syncPoint(0, "start"),
      {
        call: "write",
        args: [int(w), { bytes: new TextEncoder().encode("hi"), show: '"hi"' }, int(2)],
        label: "say hi",
      },
      { call: "close", args: [int(1 << 20)], label: "tolerated failure", tolerate: ["EBADF"] },
      ...syncPoint(2, "later"),
      execTrue(),
    ],
  }, (phase, pid) => {
    phases.push(phase);
    assert.ok(pid > 0);
  });
  close(w);
  const buf = new Uint8Array(8);
  assert.equal(new TextDecoder().decode(buf.subarray(0, readSync(r, buf))), "hi");
  close(r);
  assert.deepEqual(phases, [0, 2]);
  assert.deepEqual(await waitPidfd(s.pidfd), { code: 0 });
  close(s.pidfd);
});

Deno.test("spawn() reports the failing step with its errno", async () => {
  await assert.rejects(
    spawn({
      cloneFlags: 0,
      steps: [{ call: "close", args: [int(1 << 20)], label: "close a bad fd" }, execTrue()],
    }),
    (e: unknown) =>
      e instanceof PlanError && e.index === 0 && e.errno === errno("EBADF") &&
      /close a bad fd: close: EBADF/.test(e.message),
  );
  await assert.rejects(
    spawn({
      cloneFlags: 0,
      steps: [{
        call: "execve",
        args: [str("/nonexistent"), { strv: ["x"] }, { strv: [] }],
        label: "exec missing",
      }],
    }),
    (e: unknown) => e instanceof PlanError && e.errno === errno("ENOENT"),
  );
});

Deno.test("spawn(): a saved result feeds a later step (slots)", async () => {
  const fd = slot("fd");
  const [r, w] = pipe();
  const s = await spawn({
    cloneFlags: 0,
    steps: [
      { call: "dup3", args: [int(w), int(100), int(0)], label: "dup the pipe to 100", save: fd },
      {
        call: "write",
        args: [{ ref: fd }, { bytes: new TextEncoder().encode("ok"), show: '"ok"' }, int(2)],
        label: "write via the slot",
      },
      execTrue(),
    ],
  });
  close(w);
  assert.equal(s.slots.get("fd"), 100n);
  const buf = new Uint8Array(8);
  assert.equal(new TextDecoder().decode(buf.subarray(0, readSync(r, buf))), "ok");
  close(r);
  await waitPidfd(s.pidfd);
  close(s.pidfd);
});

/** struct iovec { void *iov_base; size_t iov_len; } for `data`; the base is filled in by the executor. */
function iovec(
  data: Uint8Array,
): { bytes: Uint8Array; show: string; pointers: { at: number; to: Uint8Array }[] } {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setBigUint64(8, BigInt(data.length), true);
  return { bytes: b, show: `{${data.length} bytes}`, pointers: [{ at: 0, to: data }] };
}

Deno.test("spawn() writes the address of a pointed-to buffer into a struct argument", async () => {
  const [r, w] = pipe();
  const hello = new TextEncoder().encode("hello, iovec");
  const s = await spawn({
    cloneFlags: 0,
    steps: [
      { call: "writev", args: [int(w), iovec(hello), int(1)], label: "write through an iovec" },
      execTrue(),
    ],
  });
  close(w);
  const buf = new Uint8Array(64);
  assert.equal(new TextDecoder().decode(buf.subarray(0, readSync(r, buf))), "hello, iovec");
  close(r);
  assert.deepEqual(await waitPidfd(s.pidfd), { code: 0 });
  close(s.pidfd);
});

Deno.test("validate() rejects a pointer outside its struct", () => {
  const arg = {
    bytes: new Uint8Array(16),
    show: "s",
    pointers: [{ at: 12, to: new Uint8Array(1) }],
  };
  const problems = validate({
    cloneFlags: 0,
    steps: [{ call: "writev", args: [int(1), arg, int(1)], label: "bad iovec" }, execTrue()],
  });
  assert.deepEqual(problems, ["step 0 (bad iovec): pointer at byte 12 outside the 16-byte struct"]);
  const ok = { ...arg, pointers: [{ at: 8, to: new Uint8Array(1) }] };
  assert.deepEqual(
    validate({ cloneFlags: 0, steps: [{ call: "writev", args: [ok], label: "ok" }, execTrue()] }),
    [],
  );
  assert.match(formatStep({ call: "writev", args: [int(1), ok], label: "ok" }), /^writev\(1, s\)/);
});

Deno.test("spawn(): a fork's parent side may go on at its own steps (a jump)", async () => {
  const [r, w] = pipe();
  const say = (text: string): Step => ({
    call: "write",
    args: [
      int(w),
      { bytes: new TextEncoder().encode(text), show: JSON.stringify(text) },
      int(text.length),
    ],
    label: `say ${text}`,
  });
  const child = slot("forked");
  const s = await spawn({
    cloneFlags: 0,
    steps: [
      {
        call: "clone",
        args: [int(17, "SIGCHLD"), int(0), int(0), int(0), int(0)],
        label: "fork",
        fork: true,
        parentJump: 3,
        save: child,
      },
      say("c"),
      { call: "exit_group", args: [int(0)], label: "the child ends" },
      say("p"),
      execTrue(),
    ],
  });
  close(w);
  assert.deepEqual(await waitPidfd(s.pidfd), { code: 0 });
  close(s.pidfd);
  const got = new Uint8Array(8);
  let text = "";
  for (let n; (n = readSync(r, got)) > 0;) text += new TextDecoder().decode(got.subarray(0, n));
  close(r);
  assert.deepEqual([...text].sort(), ["c", "p"]);
  assert.ok(Number(s.slots.get("forked")) > 0, "the parent side saved the child's pid");
  assert.deepEqual(
    validate({
      cloneFlags: 0,
      steps: [{ call: "getpid", args: [], label: "x", parentJump: 1 }, execTrue()],
    }),
    ["step 0 (x): a parent jump needs a fork"],
  );
});
