/**
 * Rootless cgroups (root only, to make the throwaway user and delegate a
 * cgroup to it; the built file): limits work below a cgroup v2 subtree
 * delegated to the user, as systemd's user@.service delegation gives one,
 * and are refused with the reason where none is; the rest runs anyway.
 */
import assert from "node:assert/strict";
import { hostCgroupLayout } from "../../lib/cgroups/mod.ts";
import {
  busyboxImage,
  createUser,
  ctrAs,
  ctrProgram,
  rootlessName,
  rootlessSkip,
  type TestUser,
  userEnv,
} from "./_rootless.ts";

const layout = hostCgroupLayout();
const v2 = layout?.version === "v2" && layout.unified !== undefined;

let user: TestUser | undefined;

async function rootlessUser(): Promise<TestUser> {
  if (user) return user;
  user = createUser("c", { sub: true });
  const r = await ctrAs(user, ["load", "-i", await busyboxImage()]);
  assert.equal(r.code, 0, r.stderr);
  return user;
}

function cgroupTest(name: string, needsV2: boolean, fn: () => Promise<void>): void {
  const why = needsV2 && !v2
    ? `needs cgroup v2 to delegate a subtree (this host has ${
      layout ? "cgroup v1 controllers" : "no cgroup filesystem"
    }; scripts/vm_cgroup2.sh runs it)`
    : undefined;
  Deno.test({
    name: rootlessName(name, why),
    ignore: rootlessSkip() !== undefined || why !== undefined,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}

cgroupTest(
  "rootless: without a delegated cgroup, limits are refused with the reason and the rest runs",
  false,
  async () => {
    const u = await rootlessUser();
    for (const flags of [["-m", "64m"], ["--pids-limit", "10"], ["--cpus", "0.5"]]) {
      const r = await ctrAs(u, ["run", "--rm", ...flags, "busybox", "true"]);
      assert.equal(r.code, 125, flags.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(
        r.stderr,
        /^ctr: Cannot apply resource limits: (rootless containers get cgroups only from a delegated cgroup v2 subtree|ctr's cgroup .* is not delegated)/,
      );
    }
    const ok = await ctrAs(u, ["run", "--rm", "busybox", "echo", "runs"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "runs\n");
  },
);

/** Delegates a cgroup to the user as systemd does: the directory and its control files are its. */
function delegate(dir: string, u: TestUser): void {
  Deno.mkdirSync(dir);
  for (const f of ["", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads"]) {
    Deno.chownSync(`${dir}${f}`, u.uid, u.gid);
  }
}

/** Removes a cgroup tree bottom up (rmdir only). */
function removeCgroups(dir: string): void {
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory) removeCgroups(`${dir}/${e.name}`);
  try {
    Deno.removeSync(dir);
  } catch { /* in use, or gone */ }
}

cgroupTest(
  "rootless: a delegated cgroup v2 subtree gives --memory and --pids-limit to the user",
  true,
  async () => {
    const u = await rootlessUser();
    const { mountpoint, own } = layout!.unified!;
    // A sibling of our own cgroup (which holds processes and so enables nothing below it).
    const parent = own.replace(/\/+$/, "").slice(0, own.replace(/\/+$/, "").lastIndexOf("/")) ||
      mountpoint;
    const have = Deno.readTextFileSync(`${parent}/cgroup.subtree_control`).split(/\s+/);
    for (const c of ["memory", "pids"]) {
      if (!have.includes(c)) Deno.writeTextFileSync(`${parent}/cgroup.subtree_control`, `+${c}`);
    }
    const dir = `${parent}/ctr-rootless-${Deno.pid}`;
    try {
      delegate(dir, u);
      Deno.writeTextFileSync(`${dir}/cgroup.subtree_control`, "+memory +pids");
      delegate(`${dir}/leaf`, u);
      // ctr starts in the delegated leaf, as a user's login does in user@UID.service.
      const env = Object.entries(userEnv(u)).map(([k, v]) => `${k}=${v}`);
      const out = await new Deno.Command("sh", {
        args: [
          "-c",
          `echo $$ > ${dir}/leaf/cgroup.procs && exec setpriv --reuid=${u.uid} --regid=${u.gid} ` +
          `--init-groups env -i ${env.join(" ")} "$@"`,
          "sh",
          ctrProgram(),
          "run",
          "--rm",
          "-m",
          "64m",
          "--pids-limit",
          "10",
          "busybox",
          "sh",
          "-c",
          "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      assert.equal(dec.decode(out.stdout), "67108864\n10\n");
      assert.deepEqual(
        [...Deno.readDirSync(dir)].filter((e) =>
          e.isDirectory && e.name !== "leaf" && e.name !== "ctr"
        )
          .map((e) => e.name),
        [],
      );
    } finally {
      removeCgroups(dir);
    }
  },
);
