/**
 * The init of `run --init` (ffi/init/init.c) as a real process: its exit
 * codes, the signals it passes on, the lookup of the command along PATH,
 * and, as PID 1 of a new pid namespace (unshare, as root), the orphans it
 * reaps. The aarch64 build runs under qemu-user when it is installed.
 */
import assert from "node:assert/strict";
import { initElf } from "../../ffi/init.ts";
import { IS_ROOT, which } from "../_helpers.ts";

const dec = new TextDecoder();
const tmp = Deno.makeTempDirSync({ prefix: "ctr-init-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

const INIT = `${tmp}/ctr-init`;
Deno.writeFileSync(INIT, initElf(), { mode: 0o755 });

const QEMU = Deno.build.arch === "x86_64"
  ? which("qemu-aarch64-static") ?? which("qemu-aarch64")
  : undefined;

async function init(
  args: string[],
  o: { env?: Record<string, string>; runner?: string[] } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, ...pre] = o.runner ?? [INIT];
  const out = await new Deno.Command(cmd, {
    args: [...pre, "--", ...args],
    env: o.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("init: the embedded ELF files are small static executables", () => {
  for (const [arch, machine] of [["x86_64", 62], ["aarch64", 183]] as const) {
    const elf = initElf(arch);
    const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
    assert.deepEqual([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${arch}: ELF magic`);
    assert.equal(v.getUint16(16, true), 2, `${arch}: ET_EXEC`);
    assert.equal(v.getUint16(18, true), machine, `${arch}: e_machine`);
    assert.ok(elf.length < 8192, `${arch}: ${elf.length} bytes`);
  }
  assert.throws(() => initElf("mips"), /container init for architecture mips/);
});

Deno.test("init: exits with the command's code; 128+N when a signal N killed it", async () => {
  assert.equal((await init(["sh", "-c", "exit 7"])).code, 7);
  assert.equal((await init(["true"])).code, 0);
  assert.equal((await init(["sh", "-c", "kill -KILL $$"])).code, 137);
  const r = await init(["sh", "-c", 'echo "$0 $1 [$FOO]"', "a b", "c"], {
    env: { FOO: "bar" },
  });
  assert.equal(r.stdout, "a b c [bar]\n");
});

Deno.test("init: looks the command up along PATH; says why it cannot run it (127, 126)", async () => {
  const dir = `${tmp}/bin`;
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(`${dir}/hello`, "#!/bin/sh\necho from path\n", { mode: 0o755 });
  Deno.writeTextFileSync(`${dir}/noexec`, "#!/bin/sh\n", { mode: 0o644 });
  const path = { PATH: `/nonexistent:${dir}:/usr/bin:/bin` };
  assert.equal((await init(["hello"], { env: path })).stdout, "from path\n");
  const missing = await init(["no-such-command"], { env: path });
  assert.equal(missing.code, 127);
  assert.equal(
    missing.stderr,
    "ctr-init: exec no-such-command failed: No such file or directory\n",
  );
  const denied = await init([`${dir}/noexec`]);
  assert.equal(denied.code, 126);
  assert.match(denied.stderr, /exec .*noexec failed: Permission denied/);
  assert.equal((await init([])).code, 125);
});

Deno.test("init: passes SIGTERM, SIGINT and SIGUSR1 on to the command", async () => {
  for (const [sig, code] of [["SIGTERM", 42], ["SIGINT", 43], ["SIGUSR1", 44]] as const) {
    const name = sig.slice(3);
    const proc = new Deno.Command(INIT, {
      args: [
        "--",
        "sh",
        "-c",
        `trap 'exit ${code}' ${name}; echo ready; while :; do sleep 0.05; done`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = proc.stdout.getReader();
    const first = await reader.read();
    assert.equal(dec.decode(first.value), "ready\n");
    reader.releaseLock();
    proc.kill(sig);
    assert.equal((await proc.output()).code, code, sig);
  }
});

Deno.test({
  name: IS_ROOT
    ? "init: as PID 1 of a pid namespace it reaps orphans; a plain PID 1 leaves zombies"
    : "init: as PID 1 [skipped: needs root for a pid namespace]",
  ignore: !IS_ROOT || !which("unshare"),
  async fn() {
    // An orphan whose parent is gone goes to PID 1; `sleep` as PID 1 never reaps it.
    const script = '(sh -c "sleep 0.1" &); sleep 0.6; ' +
      "grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l";
    const withInit = await new Deno.Command("unshare", {
      args: ["--pid", "--fork", "--mount-proc", INIT, "--", "sh", "-c", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(withInit.code, 0, dec.decode(withInit.stderr));
    assert.equal(dec.decode(withInit.stdout).trim(), "0");
    // The same with a shell as PID 1 that execs into sleep: the orphan stays a zombie.
    const bare = await new Deno.Command("unshare", {
      args: [
        "--pid",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        '(sh -c "sleep 0.1" &); (sleep 0.6; grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null ' +
        "| wc -l) & exec sleep 1",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(dec.decode(bare.stdout).trim(), "1", dec.decode(bare.stderr));
  },
});

Deno.test({
  name: QEMU
    ? "init: the aarch64 build under qemu-user: exit codes, PATH, exec failure"
    : "init: the aarch64 build [skipped: qemu-aarch64-static is not installed]",
  ignore: !QEMU,
  async fn() {
    const arm = `${tmp}/ctr-init-aarch64`;
    Deno.writeFileSync(arm, initElf("aarch64"), { mode: 0o755 });
    const runner = [QEMU!, arm];
    assert.equal((await init(["sh", "-c", "exit 9"], { runner })).code, 9);
    assert.equal((await init(["sh", "-c", "echo ok"], { runner })).stdout, "ok\n");
    assert.equal((await init(["no-such-command"], { runner })).code, 127);
  },
});
