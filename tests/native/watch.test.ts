/**
 * The detached-container watcher (ffi/watch/watch.c) as a real process: bash
 * starts a producer writing into two FIFOs, opens their read ends and execs
 * the watcher, which so becomes the producer's parent, as it does for a
 * container. The aarch64 build runs under qemu-user when it is installed.
 */
import assert from "node:assert/strict";
import { watcherElf } from "../../ffi/watch.ts";
import {
  CLIENT_FRAME,
  clientFrame,
  FrameReader,
  helloFrame,
  STREAM,
} from "../../lib/engine/attach.ts";
import { enosysWrapper, which } from "../_helpers.ts";

const repo = new URL("../..", import.meta.url).pathname;
const dec = new TextDecoder();
const enc = new TextEncoder();

const tmpRoot = Deno.makeTempDirSync({ prefix: "ctr-watch-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(tmpRoot, { recursive: true }));

/** The watcher for this host, as an executable file. */
const WATCH = `${tmpRoot}/ctr-watch`;
Deno.writeFileSync(WATCH, watcherElf(), { mode: 0o755 });

const QEMU = Deno.build.arch === "x86_64"
  ? which("qemu-aarch64-static") ?? which("qemu-aarch64")
  : undefined;
const WATCH_AARCH64 = `${tmpRoot}/ctr-watch-aarch64`;
if (QEMU) Deno.writeFileSync(WATCH_AARCH64, watcherElf("aarch64"), { mode: 0o755 });

/**
 * A wrapper that makes pidfd_open fail with ENOSYS (seccomp) and execs its
 * arguments: the watcher behind it must poll waitid(WNOHANG) instead, as on
 * a kernel older than 5.3.
 */
const NOPIDFD = enosysWrapper(434); // pidfd_open, on x86_64 and aarch64

interface LogRecord {
  log: string;
  stream: string;
  time: string;
}

interface ExitRecord {
  exitCode: number;
  signal: number;
  finishedAt: string;
}

interface WatchOpts {
  /** Shell commands of the producer; its stdout and stderr go to the watcher. */
  producer: string;
  /** The command that runs the watcher (default: the host build). */
  runner?: string[];
  log?: string;
  maxSize?: number;
  maxFiles?: number;
  /** "--" and a command to exec when done. */
  then?: string[];
  env?: { [k: string]: string };
  dir?: string;
  /** Called with the watcher's pid once the watcher runs. */
  during?: (pid: number) => Promise<void>;
}

interface WatchResult {
  code: number;
  stderr: string;
  dir: string;
  log: string;
  exit: ExitRecord;
  records: LogRecord[];
  exitText: string;
}

function newDir(): string {
  return Deno.makeTempDirSync({ dir: tmpRoot, prefix: "run-" });
}

function records(text: string): LogRecord[] {
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

function readRecords(path: string): LogRecord[] {
  return records(Deno.readTextFileSync(path));
}

/** Waits until `pid` runs the program `exe`. */
async function waitForExec(pid: number, exe: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    try {
      if (Deno.readLinkSync(`/proc/${pid}/exe`) === exe) return;
    } catch { /* not there yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`process ${pid} never ran ${exe}`);
}

/** Runs producer and watcher; returns what the watcher wrote. */
async function watch(o: WatchOpts): Promise<WatchResult> {
  const dir = o.dir ?? newDir();
  const runner = o.runner ?? [WATCH];
  const log = o.log ?? `${dir}/log`;
  const args = [
    String(o.maxSize ?? 0),
    String(o.maxFiles ?? 1),
    `${dir}/exit`,
    ...(o.then ? ["--", ...o.then] : []),
  ];
  // FIFOs open in the same order on both sides (o, then e): each open waits for its peer.
  // The producer starts only once bash ($$) has become the watcher: bash reaps the
  // children it knows of, and would take the exit status of a quick producer.
  const script = 'cd "$D" && mkfifo o e || exit 99\n' +
    '{ while [ "$(readlink /proc/$$/exe)" = "$BASH" ]; do sleep 0.005; done\n' +
    'eval "$PRODUCER"; } >o 2>e &\n' +
    "exec 3<o 4<e\n" +
    'exec "${@:1:$N}" "$!" 3 4 "${@:$((N + 1))}"';
  const child = new Deno.Command("bash", {
    args: ["-c", script, "bash", ...runner, log, ...args],
    env: { ...o.env, D: dir, PRODUCER: o.producer, N: String(runner.length) },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (o.during) {
    const exe = runner[0] === NOPIDFD ? runner[1] : runner[0];
    await waitForExec(child.pid, exe);
    await o.during(child.pid);
  }
  const out = await child.output();
  const stderr = dec.decode(out.stderr);
  let exitText = "";
  try {
    exitText = Deno.readTextFileSync(`${dir}/exit`);
  } catch { /* asserted by the caller */ }
  let recs: LogRecord[] = [];
  try {
    recs = readRecords(log);
  } catch { /* no log */ }
  return {
    code: out.code,
    stderr,
    dir,
    log,
    exit: exitText ? JSON.parse(exitText) : undefined,
    records: recs,
    exitText,
  };
}

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

function assertRecent(time: string): void {
  assert.match(time, TIME);
  const t = new Date(time).getTime();
  assert.ok(!Number.isNaN(t), time);
  assert.ok(Math.abs(Date.now() - t) < 10_000, `${time} is not within 10 s of now`);
}

function logs(recs: LogRecord[], stream = "stdout"): string[] {
  return recs.filter((r) => r.stream === stream).map((r) => r.log);
}

/** Links of a process's open fds. */
function fdLinks(pid: number): string[] {
  const links: string[] = [];
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      links.push(Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`));
    } catch { /* closed meanwhile */ }
  }
  return links;
}

function pss(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`).match(/^Pss:\s+(\d+) kB/m);
  assert.ok(m, `no Pss in /proc/${pid}/smaps_rollup`);
  return Number(m[1]);
}

Deno.test("watch: the embedded ELF files are static executables for their architecture", () => {
  for (const [arch, machine] of [["x86_64", 62], ["aarch64", 183]] as const) {
    const elf = watcherElf(arch);
    const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
    assert.deepEqual([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${arch}: ELF magic`);
    assert.equal(v.getUint16(16, true), 2, `${arch}: ET_EXEC`);
    assert.equal(v.getUint16(18, true), machine, `${arch}: e_machine`);
    assert.ok(elf.length < 16384, `${arch}: ${elf.length} bytes`);
  }
  assert.throws(() => watcherElf("mips"), /watcher for architecture mips/);
});

Deno.test("watch: stdout and stderr lines become records of their stream; exit 0", async () => {
  const r = await watch({ producer: "echo out1; echo err1 >&2; echo out2; printf 'err2\\n' >&2" });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(logs(r.records), ["out1\n", "out2\n"]);
  assert.deepEqual(logs(r.records, "stderr"), ["err1\n", "err2\n"]);
  for (const rec of r.records) {
    assert.deepEqual(Object.keys(rec), ["log", "stream", "time"]);
    assertRecent(rec.time);
  }
  assert.deepEqual(Object.keys(r.exit), ["exitCode", "signal", "finishedAt"]);
  assert.equal(r.exit.exitCode, 0);
  assert.equal(r.exit.signal, 0);
  assertRecent(r.exit.finishedAt);
  assert.match(r.exitText, /^\{.*\}\n$/);
  assert.ok(!Deno.readDirSync(r.dir).some((e) => e.name.endsWith(".tmp")), "exit .tmp left");
  assert.equal((Deno.statSync(r.log).mode ?? 0) & 0o777, 0o640);
});

Deno.test("watch: JSON escaping of quotes, backslash and control bytes; UTF-8 passes", async () => {
  const dir = newDir();
  const ctl = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).filter((c) => c !== "\n")
    .join("");
  const text = `q"uote" back\\slash ${ctl} del\x7f é 日本 🙂\n`;
  Deno.writeFileSync(`${dir}/input`, enc.encode(text));
  const r = await watch({ dir, producer: "cat input" });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(logs(r.records), [text]);
  const raw = Deno.readTextFileSync(r.log);
  for (const esc of ['\\"', "\\\\", "\\t", "\\r", "\\b", "\\f", "\\u0000", "\\u0001", "\\u001b"]) {
    assert.ok(raw.includes(esc), `${esc} in ${raw}`);
  }
  assert.ok(raw.includes("é 日本 🙂\\n"), "UTF-8 unchanged");
  const raw1 = raw.replace(/\n$/, "");
  assert.ok(![...raw1].some((c) => c.charCodeAt(0) < 0x20), "a raw control byte in the log");
});

Deno.test("watch: a last line without newline is a record of its own", async () => {
  const r = await watch({ producer: "printf 'a\\nb'; printf 'c' >&2" });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(logs(r.records), ["a\n", "b"]);
  assert.deepEqual(logs(r.records, "stderr"), ["c"]);
});

Deno.test("watch: 10,000 lines all arrive, in order", async () => {
  const r = await watch({ producer: "seq 1 10000" });
  assert.equal(r.code, 0, r.stderr);
  const want = Array.from({ length: 10000 }, (_, i) => `${i + 1}\n`);
  assert.deepEqual(logs(r.records), want);
});

Deno.test("watch: a line over 16 KiB is split into records of 16 KiB", async () => {
  const r = await watch({ producer: "head -c 40000 /dev/zero | tr '\\0' a; echo; echo next" });
  assert.equal(r.code, 0, r.stderr);
  const got = logs(r.records);
  assert.deepEqual(got.map((l) => l.length), [16384, 16384, 40000 - 2 * 16384 + 1, 5]);
  assert.equal(got.slice(0, 3).join(""), "a".repeat(40000) + "\n");
  assert.equal(got[3], "next\n");
});

Deno.test("watch: the exit code of the container", async () => {
  const r = await watch({ producer: "echo bye; exit 3" });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(logs(r.records), ["bye\n"]);
  assert.equal(r.exit.exitCode, 3);
  assert.equal(r.exit.signal, 0);
});

Deno.test("watch: a container killed by SIGKILL exits 137, signal 9", async () => {
  const r = await watch({ producer: "echo x; kill -KILL $BASHPID" });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(logs(r.records), ["x\n"]);
  assert.deepEqual([r.exit.exitCode, r.exit.signal], [137, 9]);
});

function lineNumbers(recs: LogRecord[]): number[] {
  return recs.map((r) => {
    const m = r.log.match(/^line (\d+)\n$/);
    assert.ok(m, r.log);
    return Number(m[1]);
  });
}

Deno.test("watch: rotation keeps MAX_FILES files of at most MAX_SIZE, newest in LOG", async () => {
  const maxSize = 4000;
  const r = await watch({ producer: "seq -f 'line %05g' 1 2000", maxSize, maxFiles: 3 });
  assert.equal(r.code, 0, r.stderr);
  const names = [...Deno.readDirSync(r.dir)].map((e) => e.name).filter((n) => n.startsWith("log"));
  assert.deepEqual(names.sort(), ["log", "log.1", "log.2"]);
  const recordSize = Deno.readTextFileSync(`${r.log}.1`).indexOf("\n") + 1;
  for (const n of names) {
    const size = Deno.statSync(`${r.dir}/${n}`).size;
    assert.ok(size <= maxSize, `${n}: ${size} bytes`);
    if (n !== "log") assert.ok(size > maxSize - 2 * recordSize, `${n} is full: ${size} bytes`);
  }
  const all = [...readRecords(`${r.log}.2`), ...readRecords(`${r.log}.1`), ...r.records];
  const nums = lineNumbers(all);
  assert.equal(nums[nums.length - 1], 2000);
  nums.forEach((n, i) => assert.equal(n, nums[0] + i, "records lost or out of order"));
  assert.ok(r.records.length > 0);
});

Deno.test("watch: rotation with MAX_FILES 1 starts LOG over", async () => {
  const r = await watch({ producer: "seq -f 'line %05g' 1 500", maxSize: 2000, maxFiles: 1 });
  assert.equal(r.code, 0, r.stderr);
  const names = [...Deno.readDirSync(r.dir)].map((e) => e.name).filter((n) => n.startsWith("log"));
  assert.deepEqual(names, ["log"]);
  assert.ok(Deno.statSync(r.log).size <= 2000);
  const nums = lineNumbers(r.records);
  assert.equal(nums[nums.length - 1], 500);
  nums.forEach((n, i) => assert.equal(n, nums[0] + i));
});

Deno.test("watch: a restarted container appends to its log; the size counts for rotation", async () => {
  const dir = newDir();
  await watch({ dir, producer: "seq -f 'line %05g' 1 10" });
  const size = Deno.statSync(`${dir}/log`).size;
  Deno.removeSync(`${dir}/exit`);
  Deno.removeSync(`${dir}/o`);
  Deno.removeSync(`${dir}/e`);
  const r = await watch({
    dir,
    producer: "seq -f 'line %05g' 11 12",
    maxSize: size + 10,
    maxFiles: 2,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lineNumbers(readRecords(`${dir}/log.1`)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(lineNumbers(r.records), [11, 12]);
});

Deno.test("watch: LOG_PATH '-' drains the output and writes no log", async () => {
  const dir = newDir();
  const r = await watch({ dir, log: "-", producer: "head -c 1000000 /dev/zero; echo e >&2" });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.exit.exitCode, 0);
  assert.deepEqual(
    [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
    ["e", "exit", "o"],
  );
});

Deno.test("watch: '--' execs the command after the exit file is written", async () => {
  const dir = newDir();
  const r = await watch({
    dir,
    producer: "exit 4",
    then: ["/bin/sh", "-c", 'cat "$0/exit" > "$0/marker"; echo "$FOO" >> "$0/marker"; exit 6', dir],
    env: { FOO: "bar" },
  });
  assert.equal(r.code, 6, r.stderr); // the command replaced the watcher
  const marker = Deno.readTextFileSync(`${dir}/marker`);
  assert.equal(marker, r.exitText + "bar\n");
  assert.equal(r.exit.exitCode, 4);
});

Deno.test("watch: a '--' command that cannot run still leaves the exit file; exit 0", async () => {
  const r = await watch({ producer: "exit 2", then: ["/nonexistent/cmd"] });
  assert.equal(r.code, 0);
  assert.match(r.stderr, /execve \/nonexistent\/cmd: errno 2/);
  assert.equal(r.exit.exitCode, 2);
});

Deno.test("watch: bad arguments exit 125 naming the problem", async () => {
  const ok = ["1", "-1", "-1", "/tmp/x", "0", "1", "/tmp/y"];
  const cases: [string[], RegExp][] = [
    [[], /usage: ctr-watch \[-a SOCK_FD\].* PID\|fd:PIDFD STDOUT_FD/],
    [["-x", ...ok], /unknown option: -x/],
    [["-h", "0", "1", ...ok, "--", "a", "b"], /bad -h: 0/],
    [["-h", "100", "2", ...ok, "--", "a", "b"], /-h: no follow-up command before the check/],
    [["-a", "x", ...ok], /bad SOCK_FD: x/],
    [ok.slice(0, 6), /usage/],
    [[...ok, "--"], /usage/],
    [[...ok, "x", "y"], /usage/],
    [["abc", ...ok.slice(1)], /bad PID: abc/],
    [["0", ...ok.slice(1)], /bad PID: 0/],
    [[ok[0], "3x", ...ok.slice(2)], /bad STDOUT_FD: 3x/],
    [[...ok.slice(0, 2), "-2", ...ok.slice(3)], /bad STDERR_FD: -2/],
    [[...ok.slice(0, 3), "rel/log", ...ok.slice(4)], /LOG_PATH is not an absolute path: rel\/log/],
    [[...ok.slice(0, 4), "-5", ...ok.slice(5)], /bad MAX_SIZE: -5/],
    [[...ok.slice(0, 5), "0", ok[6]], /bad MAX_FILES: 0/],
    [[...ok.slice(0, 6), "exit"], /EXIT_PATH is not an absolute path: exit/],
  ];
  for (const [args, re] of cases) {
    const out = await new Deno.Command(WATCH, { args, stdout: "piped", stderr: "piped" }).output();
    const err = dec.decode(out.stderr);
    assert.equal(out.code, 125, `${args.join(" ")}: ${err}`);
    assert.match(err, re);
    assert.match(err, /^ctr-watch: [^\n]*\n$/);
  }
});

Deno.test("watch: a grandchild holding the pipes delays the exit record by about 1 s", async () => {
  const dir = newDir();
  const t0 = Date.now();
  try {
    const r = await watch({ dir, producer: "sleep 30 & echo $! > gpid; echo hi; exit 1" });
    const took = Date.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(logs(r.records), ["hi\n"]);
    assert.equal(r.exit.exitCode, 1);
    assert.ok(took >= 900 && took < 5000, `took ${took} ms`);
  } finally {
    Deno.kill(Number(Deno.readTextFileSync(`${dir}/gpid`)), "SIGKILL");
  }
});

Deno.test("watch: PSS while waiting is below 1 MiB; it waits on a pidfd", async () => {
  const r = await watch({
    producer: "echo started; exec sleep 30",
    during: async (pid) => {
      await new Promise((r) => setTimeout(r, 200));
      const kb = pss(pid);
      console.log(`watcher PSS while waiting (exec'd from a file): ${kb} kB`);
      assert.ok(kb < 1024, `PSS ${kb} kB`);
      assert.ok(fdLinks(pid).includes("anon_inode:[pidfd]"), "no pidfd");
      const children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
      Deno.kill(Number(children), "SIGKILL");
    },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(logs(r.records), ["started\n"]);
  assert.deepEqual([r.exit.exitCode, r.exit.signal], [137, 9]);
});

Deno.test({
  name: NOPIDFD
    ? "watch: without pidfd_open (ENOSYS) it polls waitid and still reaps"
    : "watch: without pidfd_open [skipped: gcc is not installed]",
  ignore: !NOPIDFD,
  async fn() {
    const t0 = Date.now();
    const r = await watch({
      runner: [NOPIDFD!, WATCH],
      producer: "echo a; sleep 0.5; echo b >&2; exit 3",
      during: (pid) => {
        assert.ok(!fdLinks(pid).includes("anon_inode:[pidfd]"), "a pidfd despite seccomp");
        return Promise.resolve();
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(logs(r.records), ["a\n"]);
    assert.deepEqual(logs(r.records, "stderr"), ["b\n"]);
    assert.equal(r.exit.exitCode, 3);
    assert.ok(Date.now() - t0 < 3000, "exit noticed late");
  },
});

Deno.test("watch: the TypeScript side runs the watcher from a memfd with inherited fds", async () => {
  const dir = newDir();
  const script = `${dir}/become.ts`;
  Deno.writeTextFileSync(
    script,
    `import { execWatcher, keepAcrossExec, openWatcher } from "${repo}ffi/watch.ts";
import { open } from "${repo}ffi/sys.ts";
import { O } from "${repo}ffi/constants.ts";
const dir = Deno.args[0];
const child = new Deno.Command("sh", {
  args: ["-c", 'sleep 0.5; echo hi > "$0/fifo"; exit 7', dir],
  stdout: "null",
}).spawn();
// No writer yet: a blocking open would wait for the child.
const fd = open(dir + "/fifo", O.RDONLY | O.NONBLOCK);
keepAcrossExec(fd);
const memfd = openWatcher();
execWatcher(memfd, ["ctr-watch", String(child.pid), String(fd), "-1", dir + "/log", "0", "1",
  dir + "/exit"], { FOO: "bar" });
`,
  );
  const mk = await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
  assert.ok(mk.success);
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", script, dir],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let exe = "";
  for (let i = 0; i < 1000 && !exe.startsWith("/memfd:ctr-watch"); i++) {
    await new Promise((r) => setTimeout(r, 5));
    try {
      exe = Deno.readLinkSync(`/proc/${proc.pid}/exe`);
    } catch { /* gone */ }
  }
  assert.match(exe, /^\/memfd:ctr-watch/);
  await new Promise((r) => setTimeout(r, 200)); // the child writes after 0.5 s
  const kb = pss(proc.pid);
  const links = fdLinks(proc.pid);
  console.log(`watcher PSS while waiting (exec'd from a memfd by Deno): ${kb} kB`);
  assert.ok(kb < 1024, `PSS ${kb} kB`);
  assert.ok(!links.some((l) => l.startsWith("/memfd:")), `the memfd was inherited: ${links}`);
  const out = await proc.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  assert.deepEqual(logs(readRecords(`${dir}/log`)), ["hi\n"]);
  const exit: ExitRecord = JSON.parse(Deno.readTextFileSync(`${dir}/exit`));
  assert.equal(exit.exitCode, 7);
});

const PYTHON = which("python3");

Deno.test({
  name: PYTHON
    ? "watch: a tty container: the pty master's EIO ends the stream, the partial line is kept"
    : "watch: a tty container [skipped: python3 (to make a pty) is not installed]",
  ignore: !PYTHON,
  async fn() {
    const dir = newDir();
    // The producer gets the pty's slave as stdout and stderr; the watcher reads the master.
    const py = `import os, sys
watch, d = sys.argv[1], sys.argv[2]
m, s = os.openpty()
pid = os.fork()
if pid == 0:
    os.dup2(s, 1); os.dup2(s, 2); os.close(s); os.close(m)
    os.execvp("sh", ["sh", "-c", "echo hi; echo err >&2; printf 'no newline'; exit 4"])
os.close(s)
os.set_inheritable(m, True)
os.execv(watch, ["ctr-watch", str(pid), str(m), "-1", d + "/log", "0", "1", d + "/exit"])
`;
    const out = await new Deno.Command(PYTHON!, {
      args: ["-c", py, WATCH, dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    const recs = readRecords(`${dir}/log`);
    // The tty's output processing (ONLCR) turns \n into \r\n; everything is "stdout".
    assert.deepEqual(logs(recs), ["hi\r\n", "err\r\n", "no newline"]);
    const exit: ExitRecord = JSON.parse(Deno.readTextFileSync(`${dir}/exit`));
    assert.equal(exit.exitCode, 4);
  },
});

Deno.test({
  name: QEMU
    ? "watch: the aarch64 build under qemu-user: records, exit code, SIGKILL, no pidfd"
    : "watch: the aarch64 build [skipped: qemu-aarch64-static is not installed]",
  ignore: !QEMU,
  async fn() {
    const runner = [QEMU!, WATCH_AARCH64];
    const r = await watch({ runner, producer: "echo 'out \"1\"'; printf 'err\\t2' >&2; exit 5" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(logs(r.records), ['out "1"\n']);
    assert.deepEqual(logs(r.records, "stderr"), ["err\t2"]);
    r.records.forEach((rec) => assertRecent(rec.time));
    assert.equal(r.exit.exitCode, 5);
    const k = await watch({ runner, producer: "echo x; sleep 0.2; kill -KILL $BASHPID" });
    assert.deepEqual([k.exit.exitCode, k.exit.signal], [137, 9]);
    const s = await watch({
      runner,
      producer: "seq -f 'line %05g' 1 300",
      maxSize: 2000,
      maxFiles: 2,
    });
    const nums = lineNumbers([...readRecords(`${s.log}.1`), ...s.records]);
    assert.equal(nums[nums.length - 1], 300);
    nums.forEach((n, i) => assert.equal(n, nums[0] + i));
    if (NOPIDFD) {
      const n = await watch({
        runner: [NOPIDFD, ...runner],
        producer: "echo a; sleep 0.3; exit 9",
      });
      assert.equal(n.code, 0, n.stderr);
      assert.deepEqual(logs(n.records), ["a\n"]);
      assert.equal(n.exit.exitCode, 9);
    }
  },
});

Deno.test("watch: -h runs the check every interval while the container runs, one at a time", async () => {
  const dir = newDir();
  const check = 'echo run >> "$D/checks"; ls /proc/self/fd > "$D/fds"; sleep 0.15';
  const t0 = Date.now();
  const r = await watch({
    dir,
    runner: [WATCH, "-h", "50", "3"],
    producer: "sleep 1.2; exit 3",
    then: ["/bin/sh", "-c", 'echo "$# $*" > "$D/then"', "/bin/sh", "-c", check],
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.exit.exitCode, 3);
  // Every 50 ms after the last ended, each taking 150 ms: about six in 1.2 s, never two at once.
  const runs = Deno.readTextFileSync(`${dir}/checks`).trim().split("\n").length;
  assert.ok(runs >= 3 && runs <= 8, `${runs} checks in ${Date.now() - t0} ms`);
  // The check holds only stdio (and ls's own directory fd): not the container's pipes.
  const fds = Deno.readTextFileSync(`${dir}/fds`).trim().split("\n").map(Number);
  assert.ok(fds.every((fd) => fd <= 3), `fds ${fds}`);
  // The follow-up command got its own words, not the check's.
  assert.equal(Deno.readTextFileSync(`${dir}/then`), "0 \n");
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(Deno.readTextFileSync(`${dir}/checks`).trim().split("\n").length, runs);
});

/** Starts the watcher with an attach socket (python3 makes it) on a producer reading stdin. */
function attachedWatcher(dir: string, producer: string, opts: string[]) {
  const py = `import os, socket, sys
watch, d, producer = sys.argv[1], sys.argv[2], sys.argv[3]
opts = sys.argv[4:]
ir, iw = os.pipe(); outr, outw = os.pipe(); errr, errw = os.pipe()
pid = os.fork()
if pid == 0:
    os.dup2(ir, 0); os.dup2(outw, 1); os.dup2(errw, 2)
    for fd in (ir, iw, outr, outw, errr, errw): os.close(fd)
    os.execvp("sh", ["sh", "-c", producer])
for fd in (ir, outw, errw): os.close(fd)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(d + "/sock"); s.listen(8)
for fd in (s.fileno(), iw, outr, errr): os.set_inheritable(fd, True)
os.execv(watch, ["ctr-watch", "-a", str(s.fileno()), "-i", str(iw)] + opts +
  [str(pid), str(outr), str(errr), d + "/log", "0", "1", d + "/exit"])
`;
  return new Deno.Command(PYTHON!, {
    args: ["-c", py, WATCH, dir, producer, ...opts],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function connectSocket(path: string): Promise<Deno.UnixConn> {
  for (let i = 0;; i++) {
    try {
      return await Deno.connect({ transport: "unix", path });
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** Everything a client receives until the watcher closes the connection, by stream. */
async function receive(conn: Deno.UnixConn): Promise<Map<number, string>> {
  const frames = new FrameReader();
  const got = new Map<number, string>();
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    for (const f of frames.push(buf.subarray(0, n))) {
      got.set(f.stream, (got.get(f.stream) ?? "") + dec.decode(f.data));
    }
  }
  conn.close();
  return got;
}

Deno.test({
  name: PYTHON
    ? "watch: -a takes a client: its input reaches stdin, it gets stdout, stderr and the exit code"
    : "watch: -a [skipped: python3 (to make the socket) is not installed]",
  ignore: !PYTHON,
  async fn() {
    const dir = newDir();
    // -w: nothing is read before the client's hello, so the early line is not missed.
    const proc = attachedWatcher(
      dir,
      'echo early; while read l; do echo "got $l"; echo "err $l" >&2; done; exit 4',
      ["-o", "-w"],
    );
    const conn = await connectSocket(`${dir}/sock`);
    await conn.write(helloFrame({ stdin: true, stdout: true, stderr: true }));
    await conn.write(clientFrame(CLIENT_FRAME.data, enc.encode("one\ntwo\n")));
    // -o: the end of the client's input is the end of the container's, which then exits.
    await conn.write(clientFrame(CLIENT_FRAME.eof));
    const got = await receive(conn);
    assert.equal(got.get(STREAM.stdout), "early\ngot one\ngot two\n");
    assert.equal(got.get(STREAM.stderr), "err one\nerr two\n");
    assert.equal(got.get(STREAM.exit), "4");
    const out = await proc.output();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    // The log has everything too.
    assert.deepEqual(logs(readRecords(`${dir}/log`)), ["early\n", "got one\n", "got two\n"]);
    assert.equal(JSON.parse(Deno.readTextFileSync(`${dir}/exit`)).exitCode, 4);
  },
});

Deno.test({
  name: PYTHON
    ? "watch: without -o a client's end leaves stdin open; a second client takes over"
    : "watch: two clients [skipped: python3 (to make the socket) is not installed]",
  ignore: !PYTHON,
  async fn() {
    const dir = newDir();
    const proc = attachedWatcher(dir, 'while read l; do echo "got $l"; done; exit 6', []);
    const first = await connectSocket(`${dir}/sock`);
    await first.write(helloFrame({ stdin: true, stdout: true, stderr: false }));
    await first.write(clientFrame(CLIENT_FRAME.data, enc.encode("a\n")));
    await first.write(clientFrame(CLIENT_FRAME.eof));
    const frames = new FrameReader();
    const buf = new Uint8Array(4096);
    let seen = "";
    while (!seen.includes("got a")) {
      const n = await first.read(buf);
      assert.ok(n !== null, "the first client was closed early");
      for (const f of frames.push(buf.subarray(0, n))) seen += dec.decode(f.data);
    }
    first.close(); // detached: the container still runs
    await new Promise((r) => setTimeout(r, 200));
    const second = await connectSocket(`${dir}/sock`);
    await second.write(helloFrame({ stdin: true, stdout: true, stderr: true }));
    await second.write(clientFrame(CLIENT_FRAME.data, enc.encode("b\n")));
    // Its own end of input does not close stdin either: the container is told to end by a kill.
    await new Promise((r) => setTimeout(r, 300));
    const pid = Number(
      Deno.readTextFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`).trim().split(" ")[0],
    );
    Deno.kill(pid, "SIGTERM");
    const got = await receive(second);
    assert.equal(got.get(STREAM.stdout), "got b\n");
    assert.equal(got.get(STREAM.exit), "143");
    assert.equal((await proc.output()).code, 0);
  },
});
