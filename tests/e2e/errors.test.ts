/**
 * Bad input: each mistake is a one-line error naming the problem, exit 125
 * (126/127 for the command itself), and nothing is left behind.
 */
import assert from "node:assert/strict";
import { census, ctr, IS_ROOT, rootTest, tempDir, tempStore, testRootfs } from "../_helpers.ts";

const store = tempStore();

async function expectError(args: string[], code: number, pattern: RegExp) {
  const before = census(store);
  const r = await ctr(["--root", store, ...args]);
  assert.equal(r.code, code, `${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line expected: ${r.stderr}`);
  assert.match(lines[0], /^ctr: /);
  assert.match(lines[0], pattern);
  assert.deepEqual(census(store), before, "nothing left behind");
}

rootTest("errors: bad root filesystems", async () => {
  await expectError(
    ["run", "--rootfs", "/nonexistent/rootfs", "true"],
    125,
    /root filesystem \/nonexistent\/rootfs does not exist/,
  );
  await expectError(["run", "--rootfs", "/etc/passwd", "true"], 125, /is not a directory/);
  await expectError(
    ["run", "--pull", "never", "no-such-image", "true"],
    125,
    /Unable to find image .no-such-image. locally/,
  );
  await expectError(["run", "--rootfs", testRootfs()], 125, /no command specified/);
});

rootTest("errors: bad flags and values", async () => {
  const r = testRootfs();
  await expectError(["run", "--bogus", "--rootfs", r, "true"], 125, /unknown flag: --bogus/);
  await expectError(["run", "-Z", "--rootfs", r, "true"], 125, /unknown shorthand flag: 'Z'/);
  await expectError(["run", "--rootfs"], 125, /flag needs an argument: --rootfs/);
  await expectError(["run", "--pid=bogus", "--rootfs", r, "true"], 125, /invalid value for --pid/);
  await expectError(["run", "--net=bogus", "--rootfs", r, "true"], 125, /No such network: bogus/);
  await expectError(
    ["run", "--hostname", "x".repeat(65), "--rootfs", r, "true"],
    125,
    /invalid hostname/,
  );
  await expectError(
    ["run", "-v", "./relative:/x", "--rootfs", r, "true"],
    125,
    /"\.\/relative" is no volume name .* and no path \(absolute\)/,
  );
  await expectError(
    ["run", "-v", "/nonexistent-src:/x", "--rootfs", r, "true"],
    125,
    /Cannot bind \/nonexistent-src/,
  );
  await expectError(
    ["run", "--ulimit", "nofile=x", "--rootfs", r, "true"],
    125,
    /invalid --ulimit/,
  );
  await expectError(
    ["run", "--cap-add", "NOPE", "--rootfs", r, "true"],
    125,
    /Unknown capability: NOPE/,
  );
  await expectError(
    ["run", "-u", "ghost", "--rootfs", r, "true"],
    125,
    /Unable to find user ghost/,
  );
  await expectError(["run", "--uidmap", "0:1", "--rootfs", r, "true"], 125, /invalid --uidmap/);
  await expectError(
    ["--log-level", "loud", "run", "--rootfs", r, "true"],
    125,
    /invalid --log-level/,
  );
  await expectError(["frobnicate"], 125, /unknown command/);
});

rootTest("errors: a missing or unrunnable command: 127 and 126", async () => {
  await expectError(
    ["run", "--rm", "--rootfs", testRootfs(), "nosuchcommand"],
    127,
    /executable file not found in \$PATH/,
  );
  await expectError(["run", "--rm", "--rootfs", testRootfs(), "/etc"], 126, /EACCES/);
});

rootTest("errors: a step that fails in the child names it, and nothing is kept", async () => {
  // A file mounted over a directory: mount fails inside the child.
  await expectError(
    ["run", "-v", "/etc/hostname:/etc", "--rootfs", testRootfs(), "true"],
    125,
    /bind \/etc\/hostname on \/etc: mount: ENOTDIR/,
  );
});

rootTest("errors: enter needs a live process and known namespaces", async () => {
  await expectError(["enter", "4194304"], 125, /No such process: 4194304/);
  await expectError(["enter", "1", "--ns", "time"], 125, /Unknown namespace: "time"/);
  await expectError(
    ["enter", "--ns", "net=/nonexistent", "true"],
    125,
    /Cannot open the net namespace \/nonexistent/,
  );
});

Deno.test({
  name: IS_ROOT
    ? "errors: run without root refuses what needs root, with the reason"
    : "errors: run without root refuses what needs root, with the reason [skipped: needs root to switch to an unprivileged user]",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  async fn() {
    const denoDir = tempDir();
    Deno.chmodSync(denoDir, 0o777);
    // The user must be able to reach the program: a copy of the built file (or the
    // sources) in a directory it can read, wherever the checkout is (/root is 0700).
    const bin = Deno.env.get("CTR_BIN");
    let program: string[];
    if (bin) {
      Deno.copyFileSync(bin, `${denoDir}/ctr`);
      Deno.chmodSync(`${denoDir}/ctr`, 0o755);
      program = [`${denoDir}/ctr`];
    } else {
      const repo = new URL("../..", import.meta.url).pathname;
      await new Deno.Command("cp", {
        args: ["-a", `${repo}main.ts`, `${repo}lib`, `${repo}ffi`, `${repo}deno.json`, denoDir],
      }).output();
      program = [Deno.execPath(), "run", "-A", `${denoDir}/main.ts`];
    }
    const out = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        ...program,
        "run",
        "--net=front",
        "--rootfs",
        testRootfs(),
        "true",
      ],
      // Rootless: the store and the state go below HOME and XDG_RUNTIME_DIR.
      env: { DENO_DIR: denoDir, HOME: denoDir, XDG_RUNTIME_DIR: `${denoDir}/run` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 125, err);
    assert.match(err, /--net=front is not possible rootless: ctr networks are bridges/);
    Deno.removeSync(denoDir, { recursive: true });
  },
});
