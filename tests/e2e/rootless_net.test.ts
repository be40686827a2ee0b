/**
 * Rootless networks (root only, to make the throwaway user; the built
 * file): slirp4netns and pasta give a user's container a network and
 * publish its ports on the host's 127.0.0.1; the stacks end with their
 * containers. Traffic goes only to 127.0.0.1.
 */
import assert from "node:assert/strict";
import {
  busyboxImage,
  createUser,
  ctrAs,
  processesOf,
  rootlessName,
  rootlessSkip,
  spawnCtrAs,
  type TestUser,
  userTun,
} from "./_rootless.ts";

let user: TestUser | undefined;

async function rootlessUser(): Promise<TestUser> {
  if (user) return user;
  userTun();
  user = createUser("n", { sub: true });
  const r = await ctrAs(user, ["load", "-i", await busyboxImage()]);
  assert.equal(r.code, 0, r.stderr);
  return user;
}

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

function netTest(name: string, program: string, fn: () => Promise<void>): void {
  const missing = exists(program) ? undefined : `needs ${program}`;
  Deno.test({
    name: rootlessName(name, missing),
    ignore: rootlessSkip() !== undefined || missing !== undefined,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}

/** A free port on 127.0.0.1. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** GETs a URL until it answers (the server starts in the container meanwhile). */
async function fetchText(url: string, timeoutMs = 10_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return await r.text();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The pids of the user's processes running `program`. */
function stacks(u: TestUser, program: string): number[] {
  const name = program.slice(program.lastIndexOf("/") + 1);
  return processesOf(u).filter((pid) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0")[0].endsWith(name);
    } catch {
      return false;
    }
  });
}

const SERVE = "mkdir -p /www && echo hello from $(hostname) > /www/index.html && " +
  "ip -o -4 addr show | grep -v ' lo ' | awk '{print $2, $4}' && exec httpd -f -p 80 -h /www";

for (const kind of ["slirp4netns", "pasta"] as const) {
  const program = kind === "slirp4netns" ? "/usr/bin/slirp4netns" : "/usr/bin/pasta";

  netTest(
    `rootless: --net=${kind} -p 127.0.0.1:PORT:80 serves a busybox httpd to the host`,
    program,
    async () => {
      const u = await rootlessUser();
      const port = freePort();
      const child = spawnCtrAs(u, [
        "run",
        "--rm",
        "--name",
        `web-${kind}`,
        "--hostname",
        "box",
        `--net=${kind}`,
        "-p",
        `127.0.0.1:${port}:80`,
        "busybox",
        "sh",
        "-c",
        SERVE,
      ]);
      try {
        assert.equal(await fetchText(`http://127.0.0.1:${port}/`), "hello from box\n");
        const ps = await ctrAs(u, ["ps"]);
        assert.match(ps.stdout, new RegExp(`127\\.0\\.0\\.1:${port}->80/tcp\\s+web-${kind}$`, "m"));
        assert.equal(stacks(u, program).length, 1, `one ${kind} for the container`);
      } finally {
        assert.equal((await ctrAs(u, ["stop", "-t", "1", `web-${kind}`])).code, 0);
        const out = await child.output();
        const text = new TextDecoder().decode(out.stdout);
        if (kind === "slirp4netns") assert.match(text, /^tap0 10\.0\.2\.100\/24$/m);
        else assert.match(text, /^\S+ \d+\.\d+\.\d+\.\d+\/\d+$/m);
      }
      for (let i = 0; i < 50 && stacks(u, program).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(stacks(u, program), [], `${kind} ended with the container`);
    },
  );

  netTest(`rootless: a detached container's ${kind} goes with rm -f`, program, async () => {
    const u = await rootlessUser();
    const port = freePort();
    const run = await ctrAs(u, [
      "run",
      "-d",
      "--name",
      `bg-${kind}`,
      `--net=${kind}`,
      "-p",
      `127.0.0.1:${port}:80`,
      "busybox",
      "sh",
      "-c",
      SERVE,
    ]);
    assert.equal(run.code, 0, run.stderr);
    try {
      assert.match(await fetchText(`http://127.0.0.1:${port}/`), /^hello from [0-9a-f]{12}\n$/);
      const port80 = await ctrAs(u, ["port", `bg-${kind}`]);
      assert.equal(port80.stdout, `80/tcp -> 127.0.0.1:${port}\n`);
    } finally {
      assert.equal((await ctrAs(u, ["rm", "-f", `bg-${kind}`])).code, 0);
    }
    assert.deepEqual(stacks(u, program), [], `${kind} ended with the container`);
  });
}

netTest(
  "rootless: -p alone takes slirp4netns; ctr networks need root",
  "/usr/bin/slirp4netns",
  async () => {
    const u = await rootlessUser();
    const r = await ctrAs(u, ["run", "--rm", "-p", "80", "busybox", "ip", "-o", "-4", "addr"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tap0\s+inet 10\.0\.2\.100\/24/);
    const bad = await ctrAs(u, ["run", "--rm", "--net=front", "busybox", "true"]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /use --net=slirp4netns or --net=pasta/);
  },
);
