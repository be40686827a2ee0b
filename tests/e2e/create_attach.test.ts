/**
 * `ctr create`, `ctr start -a/-i` and `ctr attach` end to end (root): a
 * created container is recorded and not started; start -ai round-trips
 * stdin and the exit code; attach reaches a detached container's stdio
 * through its watcher, with a pty (raw input, detach keys, attach again)
 * and without (output, signals passed on); a foreground `run -t` goes the
 * same way. Terminals come from util-linux `script`.
 */
import assert from "node:assert/strict";
import {
  census,
  containerBench,
  ctrCommand,
  ctrSpawn,
  rootTest,
  tempDir,
  testRootfs,
  which,
} from "../_helpers.ts";

const { store, state, c, inspect, stateFiles, test: caTest } = containerBench();
const dec = new TextDecoder();

const SCRIPT = which("script") !== undefined;

/**
 * Runs ctr ARGS on a terminal (`script`), typing `keys` (each after its
 * pause in ms); returns the terminal's output and ctr's exit code.
 */
async function onTerminal(
  args: string[],
  keys: [number, string][],
): Promise<{ code: number; text: string }> {
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const line = [...ctrCommand(), "--root", store, "--state-dir", state, ...args].map(q).join(" ");
  const proc = new Deno.Command("script", {
    args: ["-qec", line, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = proc.stdin.getWriter();
  for (const [pause, text] of keys) {
    await new Promise((r) => setTimeout(r, pause));
    await w.write(new TextEncoder().encode(text)).catch(() => {});
  }
  const out = proc.output();
  // script ends at the end of its input; let ctr finish first.
  await new Promise((r) => setTimeout(r, 1500));
  await w.close().catch(() => {});
  const o = await out;
  return { code: o.code, text: dec.decode(o.stdout) };
}

caTest("create: recorded as Created, started by start, removed without -f", async () => {
  const before = census(store);
  const cid = `${tempDir()}/cid`;
  const made = await c([
    "create",
    "--name",
    "made",
    "--cidfile",
    cid,
    "--rootfs",
    testRootfs(),
    "sh",
    "-c",
    "echo started; exit 4",
  ]);
  assert.equal(made.code, 0, made.stderr);
  const id = made.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal(Deno.readTextFileSync(cid), id);
  assert.match((await c(["ps", "-a"])).stdout, /Created\s+made$/m);
  assert.doesNotMatch((await c(["ps"])).stdout, /made/);
  assert.equal(
    await inspect("made", "{{.State.Status}} {{.State.Pid}} {{.State.Running}}"),
    "created 0 false",
  );
  assert.equal((await c(["start", "made"])).stdout, "made\n");
  assert.equal((await c(["wait", "made"])).stdout.trim(), "4");
  assert.equal((await c(["logs", "made"])).stdout, "started\n");
  assert.equal(await inspect("made", "{{.State.Status}} {{.State.ExitCode}}"), "exited 4");
  // A created container that never ran is removed without -f.
  await c(["create", "--name", "idle", "--rootfs", testRootfs(), "true"]);
  assert.equal((await c(["rm", "idle"])).code, 0);
  assert.equal((await c(["rm", "made"])).code, 0);
  assert.deepEqual(stateFiles(), []);
  assert.equal(census(store).containers, before.containers);
  // create takes run's flags, but not -d, and not an unknown one.
  const d = await c(["create", "-d", "--rootfs", testRootfs(), "true"]);
  assert.equal(d.code, 125);
  assert.match(d.stderr, /unknown flag: --detach/);
  const bogus = await c(["create", "--bogus", "--rootfs", testRootfs(), "true"]);
  assert.match(bogus.stderr, /unknown flag: --bogus/);
});

caTest(
  "create -i, start -ai: stdin reaches the container, output and exit code come back",
  async () => {
    await c([
      "create",
      "--name",
      "echoer",
      "-i",
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      'while read l; do echo "got $l"; echo "err $l" >&2; done; exit 3',
    ]);
    const r = await c(["start", "-ai", "echoer"], { stdin: "one\ntwo\n" });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "got one\ngot two\n");
    assert.equal(r.stderr, "err one\nerr two\n");
    // start -ai again: a new run on the same container, attached again.
    const again = await c(["start", "-ai", "echoer"], { stdin: "three\n" });
    assert.equal(again.code, 3);
    assert.equal(again.stdout, "got three\n");
    assert.equal((await c(["logs", "echoer"])).stdout, "got one\ngot two\ngot three\n");
    assert.equal(
      await inspect("echoer", "{{.Config.OpenStdin}} {{.Config.StdinOnce}}"),
      "true true",
    );
  },
);

caTest(
  "attach: no pty: the output as it comes, SIGINT passed on, stopped ones refused",
  async () => {
    const run = await c([
      "run",
      "-d",
      "--name",
      "ticker",
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      'trap "echo got INT; exit 5" INT; while :; do echo tick; sleep 0.1; done',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const proc = ctrSpawn(["--root", store, "--state-dir", state, "attach", "ticker"]);
    const reader = proc.stdout.getReader();
    let seen = "";
    while (!seen.includes("tick\ntick\n")) {
      const { value, done } = await reader.read();
      assert.ok(!done, "attach ended early");
      seen += dec.decode(value);
    }
    reader.releaseLock();
    proc.kill("SIGINT");
    const out = await proc.output();
    assert.equal(out.code, 5, dec.decode(out.stderr));
    assert.match(dec.decode(out.stdout), /got INT\n$/);
    const stopped = await c(["attach", "ticker"]);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /You cannot attach to a stopped container, start it first/);
    const none = await c(["attach", "nosuch"]);
    assert.match(none.stderr, /No such container: nosuch/);
  },
);

rootTest(
  `attach: with a pty: input, ctrl-p ctrl-q detaches, attach again, the exit code${
    SCRIPT ? "" : " [skipped: util-linux script is not installed]"
  }`,
  async () => {
    if (!SCRIPT) return;
    try {
      // A foreground run -t: through its watcher, so the detach keys leave it running.
      const first = await onTerminal(
        ["run", "-it", "--name", "shell", "--rootfs", testRootfs(), "sh"],
        [[1500, "echo one $((1+1))\r"], [800, "\x10\x11"]],
      );
      assert.equal(first.code, 0, first.text);
      assert.match(first.text, /one 2/);
      assert.equal(await inspect("shell", "{{.State.Running}}"), "true");
      // ctrl-p alone, then something else: both reach the shell (no detach).
      const second = await onTerminal(
        ["attach", "--detach-keys", "ctrl-x", "shell"],
        [[1000, "echo two $((2+2))\r"], [500, "\x10\r"], [500, "\x18"]],
      );
      assert.equal(second.code, 0, second.text);
      assert.match(second.text, /two 4/);
      assert.equal(await inspect("shell", "{{.State.Running}}"), "true");
      const last = await onTerminal(["attach", "shell"], [[1000, "tty; exit 7\r"]]);
      assert.equal(last.code, 7, last.text);
      assert.match(last.text, /\/dev\/pts\/0/);
      assert.equal(await inspect("shell", "{{.State.ExitCode}}"), "7");
      // start -ai on a pty container: attached again, exit code again.
      const again = await onTerminal(["start", "-ai", "shell"], [[1500, "exit 9\r"]]);
      assert.equal(again.code, 9, again.text);
      // run -t --rm: the exit code, and nothing is left once ctr returns.
      const rm = await onTerminal(
        ["run", "--rm", "-t", "--rootfs", testRootfs(), "sh", "-c", "tty; exit 5"],
        [],
      );
      assert.equal(rm.code, 5, rm.text);
      assert.match(rm.text, /\/dev\/pts\/0/);
    } finally {
      const left = stateFiles();
      if (left.length) await c(["rm", "-f", ...left]);
    }
    assert.deepEqual(stateFiles(), []);
  },
);

caTest("attach: a foreground container without a pty has no watcher to attach to", async () => {
  const pidfile = `${tempDir()}/pid`;
  const proc = ctrSpawn([
    "--root",
    store,
    "--state-dir",
    state,
    "run",
    "--rm",
    "--name",
    "fg",
    "--pidfile",
    pidfile,
    "--rootfs",
    testRootfs(),
    "sleep",
    "30",
  ]);
  for (let i = 0; i < 200; i++) {
    try {
      if (Deno.readTextFileSync(pidfile).trim()) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 25));
  }
  const r = await c(["attach", "fg"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has no watcher to attach to/);
  proc.kill("SIGKILL");
  await proc.output();
});
