/**
 * The cgroup v2 device filter (BPF): its bytecode (no root), and its effect on
 * a real process in a cgroup2 directory (root, when cgroup2 is mounted).
 */
import assert from "node:assert/strict";
import { attachDeviceFilter, deviceProgram } from "../../lib/cgroups/device_bpf.ts";
import { DEFAULT_DEVICE_RULES } from "../../lib/cgroups/limits.ts";
import { IS_ROOT } from "../_helpers.ts";

Deno.test("deviceProgram() encodes one block per rule and denies by default", () => {
  const p = deviceProgram([{ type: "c", major: 1, minor: 3, access: "rwm" }]);
  const words = [...Array(p.length / 8)].map((_, i) => [...p.subarray(i * 8, i * 8 + 8)]);
  // 7 loads/shifts, then: type check, major, minor, r0 = 1, exit; then r0 = 0, exit.
  assert.equal(words.length, 7 + 5 + 2);
  assert.deepEqual(words[7], [0x55, 0x03, 4, 0, 2, 0, 0, 0], "if type != char skip 4");
  assert.deepEqual(words[8], [0x55, 0x05, 3, 0, 1, 0, 0, 0], "if major != 1 skip 3");
  assert.deepEqual(words[9], [0x55, 0x06, 2, 0, 3, 0, 0, 0], "if minor != 3 skip 2");
  assert.deepEqual(words.at(-2), [0xb7, 0, 0, 0, 0, 0, 0, 0], "r0 = 0: deny");
  assert.equal(deviceProgram(DEFAULT_DEVICE_RULES).length % 8, 0);
});

function cgroup2Mount(): string | undefined {
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-");
    if (dash > 0 && f[dash + 1] === "cgroup2") return f[4];
  }
  return undefined;
}

const mount = IS_ROOT ? cgroup2Mount() : undefined;

Deno.test({
  name: !IS_ROOT
    ? "device filter on a cgroup2 directory [skipped: needs root]"
    : !mount
    ? "device filter on a cgroup2 directory [skipped: no cgroup2 mount]"
    : "device filter on a cgroup2 directory: allowed devices open, others do not",
  ignore: !IS_ROOT || !mount,
  sanitizeResources: false,
  async fn() {
    const own = Deno.readTextFileSync("/proc/self/cgroup").split("\n").find((l) =>
      l.startsWith("0::")
    )!.slice(3);
    const dir = `${mount}${own === "/" ? "" : own}/ctr-devtest-${Math.floor(Math.random() * 1e6)}`;
    Deno.mkdirSync(dir);
    const child = new Deno.Command("sh", {
      args: [
        "-c",
        "read x; (echo a > /dev/null) 2>/dev/null && echo null-ok; (head -c1 /dev/zero > /dev/null) 2>/dev/null && echo zero-ok; true",
      ],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    try {
      attachDeviceFilter(dir, [{ type: "c", major: 1, minor: 3, access: "rwm" }]);
      Deno.writeTextFileSync(`${dir}/cgroup.procs`, String(child.pid));
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("go\n"));
      await w.close();
      const out = new TextDecoder().decode((await child.output()).stdout);
      assert.match(out, /null-ok/);
      assert.doesNotMatch(out, /zero-ok/, "/dev/zero is not on the list");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
      for (let i = 0; i < 50; i++) {
        try {
          Deno.removeSync(dir);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  },
});
