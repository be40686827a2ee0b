/**
 * Starts `cat /proc/self/cgroup` with spawn() into a cgroup2 directory and
 * reports where the child was before it ran anything and what it printed.
 * Imported by tests/cgroups.test.ts, and run as a program there under a
 * seccomp filter that hides clone3, for the fallback:
 *
 *     deno run -A tests/_clone_into.ts DIR     prints the Report as JSON
 */
import { O } from "../ffi/constants.ts";
import { close, open, pipe, readSync } from "../ffi/sys.ts";
import { int, str, syncPoint } from "../lib/runtime/plan.ts";
import { type CloneInto, spawn, waitPidfd } from "../lib/runtime/spawn.ts";

/** What the child saw and how it got into the cgroup. */
export interface Report {
  /** How often spawn() fell back to moving the child in (cgroup.procs). */
  moved: number;
  /** /proc/PID/cgroup at phase 0, before the child's first step. */
  atStart: string;
  /** The child's own /proc/self/cgroup. */
  out: string;
  /** Its exit code. */
  code: number;
}

function readText(fd: number): string {
  const dec = new TextDecoder();
  const buf = new Uint8Array(4096);
  let text = "";
  for (let n; (n = readSync(fd, buf)) > 0;) {
    text += dec.decode(buf.subarray(0, n), { stream: true });
  }
  return text + dec.decode();
}

/** Runs cat in `into` (its `join` is counted, then called). */
export async function catCgroupIn(into: CloneInto): Promise<Report> {
  let moved = 0;
  let atStart = "";
  const [r, w] = pipe();
  let wOpen = true;
  try {
    const s = await spawn({
      cloneFlags: 0,
      steps: [
        ...syncPoint(0, "wait for the parent"),
        { call: "dup3", args: [int(w), int(1), int(0)], label: "stdout to the pipe" },
        {
          call: "execve",
          args: [str("/bin/cat"), { strv: ["cat", "/proc/self/cgroup"] }, { strv: [] }],
          label: "exec cat",
        },
      ],
    }, (phase, pid) => {
      if (phase === 0) atStart = Deno.readTextFileSync(`/proc/${pid}/cgroup`);
    }, {
      cgroup: {
        ...into,
        join: (pid) => {
          moved++;
          into.join(pid);
        },
      },
    });
    close(w);
    wOpen = false;
    const out = readText(r);
    const { code } = await waitPidfd(s.pidfd);
    close(s.pidfd);
    return { moved, atStart, out, code };
  } finally {
    close(r);
    if (wOpen) close(w);
  }
}

if (import.meta.main) {
  const dir = Deno.args[0];
  const fd = open(dir, O.PATH | O.DIRECTORY | O.CLOEXEC);
  const report = await catCgroupIn({
    fd,
    path: dir,
    join: (pid) => Deno.writeTextFileSync(`${dir}/cgroup.procs`, String(pid)),
  });
  close(fd);
  console.log(JSON.stringify(report));
}
