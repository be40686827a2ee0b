/**
 * The OCI runtime applies a bundle's confinement (root): `linux.seccomp`
 * (the filter in the container and in what `exec` starts there; a
 * SCMP_ACT_NOTIFY listener sent to `listenerPath` with the container process
 * state), and the five capability sets, inheritable and ambient included,
 * for root and for another user.
 */
import assert from "node:assert/strict";
import { close } from "../../ffi/sys.ts";
import { listenUnix, recvFdAsync } from "../../ffi/unix_socket.ts";
import { ociBinary, rootTest, tempDir, testRootfs } from "../_helpers.ts";

const BIN = ociBinary();
const ROOT = tempDir();

async function oci(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = tempDir();
  const q = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
  const r = await new Deno.Command("sh", {
    args: [
      "-c",
      `${[BIN, "--root", ROOT, ...args].map(q).join(" ")} >${dir}/out 2>${dir}/err </dev/null`,
    ],
  }).output();
  return {
    code: r.code,
    stdout: Deno.readTextFileSync(`${dir}/out`),
    stderr: Deno.readTextFileSync(`${dir}/err`),
  };
}

/** A bundle of the test rootfs whose process runs `script`, its config changed by `edit`. */
async function bundle(script: string, edit: (c: any) => void): Promise<string> {
  const b = tempDir();
  const cp = await new Deno.Command("cp", { args: ["-a", testRootfs(), `${b}/rootfs`] }).output();
  assert.ok(cp.success);
  const spec = await oci(["spec", "--bundle", b]);
  assert.equal(spec.code, 0, spec.stderr);
  const c = JSON.parse(Deno.readTextFileSync(`${b}/config.json`));
  c.process.terminal = false;
  c.root.readonly = false;
  c.process.args = ["sh", "-c", `(${script}) > /tmp/out 2>&1`];
  edit(c);
  Deno.writeTextFileSync(`${b}/config.json`, JSON.stringify(c, null, 2));
  return b;
}

/** Runs a bundle to its end (`ctr-oci run`); returns what its process wrote to /tmp/out. */
async function runBundle(b: string, id: string): Promise<string> {
  const r = await oci(["run", "--bundle", b, id]);
  assert.equal(r.code, 0, r.stderr);
  return Deno.readTextFileSync(`${b}/rootfs/tmp/out`);
}

function status(out: string, key: string): string {
  return out.match(new RegExp(`^${key}:\\s*(\\S+)`, "m"))?.[1] ?? "";
}

rootTest("oci: linux.seccomp is applied, and to what exec starts too", async () => {
  const b = await bundle(
    "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x 2>&1; echo mkdir=$?; sleep 30",
    (c) => {
      c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
      };
    },
  );
  const id = `sc${Date.now()}`;
  try {
    assert.equal((await oci(["create", "--bundle", b, id])).code, 0);
    assert.equal((await oci(["start", id])).code, 0);
    let out = "";
    for (let i = 0; i < 200 && !/mkdir=/.test(out); i++) {
      await new Promise((r) => setTimeout(r, 25));
      try {
        out = Deno.readTextFileSync(`${b}/rootfs/tmp/out`);
      } catch { /* not yet */ }
    }
    assert.match(out, /^Seccomp:\s+2$/m);
    assert.match(out, /Operation not permitted/);
    assert.match(out, /^mkdir=1$/m);
    const ex = await oci([
      "exec",
      id,
      "sh",
      "-c",
      "grep '^Seccomp:' /proc/self/status; mkdir /tmp/y; echo mkdir=$?",
    ]);
    assert.match(ex.stdout, /^Seccomp:\s+2$/m, ex.stderr);
    assert.match(ex.stdout, /^mkdir=1$/m);
  } finally {
    await oci(["delete", "--force", id]);
  }
  // A profile the compiler refuses is a one-line error naming the field; nothing is left.
  const bad = await bundle("true", (c) => {
    c.linux.seccomp = {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["read"], action: "SCMP_ACT_NOPE" }],
    };
  });
  const r = await oci(["run", "--bundle", bad, `${id}b`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /linux\.seccomp\.syscalls\[0\]\.action/);
  assert.equal((await oci(["list", "-q"])).stdout.trim(), "");
});

rootTest(
  "oci: SCMP_ACT_NOTIFY sends the listener fd and the process state to listenerPath",
  async () => {
    const dir = tempDir();
    const sock = `${dir}/agent.sock`;
    const listen = listenUnix(sock);
    const b = await bundle("echo started; cat /proc/self/status >/dev/null; echo done", (c) => {
      c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        listenerPath: sock,
        listenerMetadata: "agent-test",
        syscalls: [{ names: ["getppid"], action: "SCMP_ACT_NOTIFY" }],
      };
    });
    const id = `nt${Date.now()}`;
    try {
      const agent = recvFdAsync(listen);
      const created = oci(["create", "--bundle", b, id]);
      const got = await agent;
      try {
        const msg = JSON.parse(got.payload);
        assert.deepEqual(msg.fds, ["seccompFd"]);
        assert.equal(msg.metadata, "agent-test");
        assert.equal(msg.state.id, id);
        assert.equal(msg.state.status, "creating");
        assert.equal(typeof msg.pid, "number");
        assert.match(Deno.readLinkSync(`/proc/self/fd/${got.fd}`), /seccomp/);
      } finally {
        close(got.fd);
      }
      const c = await created;
      assert.equal(c.code, 0, c.stderr);
    } finally {
      close(listen);
      await oci(["delete", "--force", id]);
    }
  },
);

rootTest(
  "oci: the capability sets, inheritable and ambient included, for root and another user",
  async () => {
    const bind = ["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"];
    const user = await bundle("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status", (c) => {
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.capabilities = {
        bounding: bind,
        effective: ["CAP_NET_BIND_SERVICE"],
        permitted: ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        inheritable: ["CAP_NET_BIND_SERVICE"],
        ambient: ["CAP_NET_BIND_SERVICE"],
      };
    });
    const out = await runBundle(user, `cu${Date.now()}`);
    // CAP_CHOWN 0, CAP_KILL 5, CAP_NET_BIND_SERVICE 10.
    assert.equal(status(out, "CapBnd"), "0000000000000421");
    assert.equal(status(out, "CapInh"), "0000000000000400");
    // Across execve a non-root process keeps its ambient set in permitted and effective.
    assert.equal(status(out, "CapAmb"), "0000000000000400");
    assert.equal(status(out, "CapPrm"), "0000000000000400");
    assert.equal(status(out, "CapEff"), "0000000000000400");
    const root = await bundle("grep -E '^Cap(Inh|Prm|Eff|Amb):' /proc/self/status", (c) => {
      c.process.capabilities = {
        bounding: bind,
        effective: ["CAP_KILL"],
        permitted: ["CAP_KILL", "CAP_CHOWN"],
        inheritable: ["CAP_CHOWN"],
        ambient: [],
      };
    });
    const r = await runBundle(root, `cr${Date.now()}`);
    // Root gets its permitted set back at execve (it is root), and keeps the inheritable one.
    assert.equal(status(r, "CapInh"), "0000000000000001");
    assert.equal(status(r, "CapAmb"), "0000000000000000");
  },
);
