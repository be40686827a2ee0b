/**
 * Helpers of the rootless tests: throwaway users (useradd, with or without
 * subordinate ids; removed with their entries when the file ends), the
 * built ctr and the test images where they can read them, and ctr run as
 * such a user (setpriv, a clean environment). Everything here needs root
 * and the built single file (CTR_BIN): see rootlessSkip().
 */

import { makeTar } from "../_tar.ts";
import { IS_ROOT, tempDir } from "../_helpers.ts";

const REPO = new URL("../..", import.meta.url).pathname;
const dec = new TextDecoder();

/** Why the rootless tests cannot run here, or undefined when they can. */
export function rootlessSkip(): string | undefined {
  if (!IS_ROOT) return "needs root to make throwaway users";
  if (!Deno.env.get("CTR_BIN")) return "needs CTR_BIN, the built single file another user can run";
  for (const t of ["/usr/sbin/useradd", "/usr/bin/setpriv", "/usr/bin/newuidmap"]) {
    try {
      Deno.statSync(t);
    } catch {
      return `needs ${t} (Debian's ${t.endsWith("newuidmap") ? "uidmap" : "passwd/util-linux"})`;
    }
  }
  return undefined;
}

/** The name of a rootless test, with the reason when it is skipped. */
export function rootlessName(name: string, extra?: string): string {
  const why = rootlessSkip() ?? extra;
  return why ? `${name} [skipped: ${why}]` : name;
}

/** A throwaway user. */
export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** Its subordinate range (uids and gids alike), if it has one. */
  readonly sub?: { readonly start: number; readonly count: number };
  /** $XDG_RUNTIME_DIR, when the test gives it one. */
  readonly runtimeDir?: string;
}

const users: TestUser[] = [];

function run(cmd: string, args: string[]): string {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr).trim()}`);
  }
  return dec.decode(out.stdout);
}

/** A free block of `count` subordinate ids above every range /etc/subuid and /etc/subgid hold. */
function freeRange(count: number): number {
  let top = 100000;
  for (const f of ["/etc/subuid", "/etc/subgid"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(f);
    } catch { /* none yet */ }
    for (const l of text.split("\n")) {
      const [, s, c] = l.split(":");
      if (/^\d+$/.test(s ?? "") && /^\d+$/.test(c ?? "")) {
        top = Math.max(top, Number(s) + Number(c));
      }
    }
  }
  return Math.ceil(top / count) * count + count;
}

/**
 * Makes a user with a home in a temporary directory, and a 65536-id
 * subordinate range when `sub`; `runtimeDir`: a private $XDG_RUNTIME_DIR
 * too (else ctr falls back to /tmp/ctr-UID).
 */
export function createUser(tag: string, o: { sub: boolean; runtimeDir?: boolean }): TestUser {
  const name = `ctrrl${Deno.pid % 100000}${tag}`;
  const base = tempDir();
  Deno.chmodSync(base, 0o755);
  const home = `${base}/home`;
  run("useradd", [
    "-m",
    "-d",
    home,
    "-s",
    "/bin/sh",
    "-K",
    "SUB_UID_COUNT=0",
    "-K",
    "SUB_GID_COUNT=0",
    name,
  ]);
  const uid = Number(run("id", ["-u", name]).trim());
  const gid = Number(run("id", ["-g", name]).trim());
  let sub: TestUser["sub"];
  if (o.sub) {
    const start = freeRange(65536);
    run("usermod", [
      "--add-subuids",
      `${start}-${start + 65535}`,
      "--add-subgids",
      `${start}-${start + 65535}`,
      name,
    ]);
    sub = { start, count: 65536 };
  }
  let runtimeDir: string | undefined;
  if (o.runtimeDir) {
    runtimeDir = `${base}/run`;
    Deno.mkdirSync(runtimeDir, { mode: 0o700 });
    Deno.chownSync(runtimeDir, uid, gid);
  }
  const u = { name, uid, gid, home, sub, runtimeDir };
  users.push(u);
  return u;
}

/**
 * The pids of the live processes whose real uid is one of the user's (its
 * own or subordinate); `zombies` too (an exited one its parent, or init, has
 * not reaped yet).
 */
export function processesOf(u: TestUser, o: { zombies?: boolean } = {}): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const status = Deno.readTextFileSync(`/proc/${e.name}/status`);
      if (!o.zombies && /^State:\s+Z/m.test(status)) continue;
      const m = status.match(/^Uid:\s+(\d+)/m);
      const uid = Number(m?.[1]);
      if (uid === u.uid || (u.sub && uid >= u.sub.start && uid < u.sub.start + u.sub.count)) {
        out.push(Number(e.name));
      }
    } catch { /* gone */ }
  }
  return out;
}

/** Ends what the user still runs (by pid), then removes it, its home and its subordinate ids. */
export function removeUser(u: TestUser): void {
  for (let i = 0; i < 50; i++) {
    const left = processesOf(u, { zombies: true });
    if (left.length === 0) break;
    for (const pid of left) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    new Deno.Command("sleep", { args: ["0.05"] }).outputSync();
  }
  new Deno.Command("userdel", { args: ["-r", u.name], stderr: "null" }).outputSync();
  for (const d of [u.home, `/tmp/ctr-${u.uid}`]) {
    try {
      Deno.removeSync(d, { recursive: true });
    } catch { /* gone */ }
  }
}

globalThis.addEventListener("unload", () => {
  for (const u of users) removeUser(u);
  restoreTun?.();
});

let program: string | undefined;

/** The built ctr, copied where any user can run it (the checkout may be in /root). */
export function ctrProgram(): string {
  if (program) return program;
  const dir = tempDir();
  Deno.chmodSync(dir, 0o755);
  Deno.copyFileSync(Deno.env.get("CTR_BIN")!, `${dir}/ctr`);
  Deno.chmodSync(`${dir}/ctr`, 0o755);
  return program = `${dir}/ctr`;
}

/** What a ctr run printed. */
export interface UserResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment a login of the user has (and nothing of the test's). */
export function userEnv(u: TestUser): Record<string, string> {
  return {
    HOME: u.home,
    USER: u.name,
    LOGNAME: u.name,
    PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    ...(u.runtimeDir && { XDG_RUNTIME_DIR: u.runtimeDir }),
  };
}

function asUserCommand(u: TestUser, argv: string[], stdin: "null" | "piped"): Deno.Command {
  return new Deno.Command("setpriv", {
    args: [`--reuid=${u.uid}`, `--regid=${u.gid}`, "--init-groups", "--", ...argv],
    env: userEnv(u),
    clearEnv: true,
    cwd: u.home,
    stdin,
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs a program as the user. */
export async function asUser(
  u: TestUser,
  argv: string[],
  o: { stdin?: string } = {},
): Promise<UserResult> {
  const child = asUserCommand(u, argv, o.stdin === undefined ? "null" : "piped").spawn();
  if (o.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(o.stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs ctr as the user. */
export function ctrAs(
  u: TestUser,
  args: string[],
  o: { stdin?: string } = {},
): Promise<UserResult> {
  return asUser(u, [ctrProgram(), ...args], o);
}

/** Starts ctr as the user in the background. */
export function spawnCtrAs(u: TestUser, args: string[]): Deno.ChildProcess {
  return asUserCommand(u, [ctrProgram(), ...args], "null").spawn();
}

let busybox: string | undefined;

/** The busybox image (docker-save), readable by every user. */
export async function busyboxImage(): Promise<string> {
  if (busybox) return busybox;
  const dir = tempDir();
  Deno.chmodSync(dir, 0o755);
  const out = await new Deno.Command("bash", {
    args: [`${REPO}scripts/busybox_image.sh`, `${dir}/busybox.tar`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(dec.decode(out.stderr));
  Deno.chmodSync(`${dir}/busybox.tar`, 0o644);
  return busybox = `${dir}/busybox.tar`;
}

async function sha256(b: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * `owners:latest`: busybox with a layer of files owned by several users,
 * readable by every user: /owners/root (0:0), /owners/www (a 0750 directory
 * of 33:33) with index.html (33:33), /owners/app (1000:1000), /owners/suid
 * (1000:1000, mode 4755), /owners/link (a symlink of 33:33) and
 * /owners/far (70000:70000, outside a 65536-id range).
 */
export async function ownersImage(): Promise<string> {
  const dir = tempDir();
  Deno.chmodSync(dir, 0o755);
  const work = `${dir}/work`;
  Deno.mkdirSync(work);
  run("tar", ["-xf", await busyboxImage(), "-C", work]);
  const [m] = JSON.parse(Deno.readTextFileSync(`${work}/manifest.json`));
  const config = JSON.parse(Deno.readTextFileSync(`${work}/${m.Config}`));
  const layer = makeTar([
    { name: "owners/", type: "dir" },
    { name: "owners/root", data: "root\n" },
    { name: "owners/www/", type: "dir", uid: 33, gid: 33, mode: 0o750 },
    { name: "owners/www/index.html", data: "www\n", uid: 33, gid: 33 },
    { name: "owners/app", data: "app\n", uid: 1000, gid: 1000 },
    { name: "owners/suid", data: "suid\n", uid: 1000, gid: 1000, mode: 0o4755 },
    { name: "owners/link", type: "symlink", linkname: "www", uid: 33, gid: 33 },
    { name: "owners/far", data: "far\n", uid: 70000, gid: 70000 },
  ]);
  const hex = await sha256(layer);
  Deno.mkdirSync(`${work}/${hex}`);
  Deno.writeFileSync(`${work}/${hex}/layer.tar`, layer);
  config.rootfs.diff_ids.push(`sha256:${hex}`);
  const configText = new TextEncoder().encode(JSON.stringify(config));
  const configName = `${await sha256(configText)}.json`;
  Deno.writeFileSync(`${work}/${configName}`, configText);
  Deno.writeTextFileSync(
    `${work}/manifest.json`,
    JSON.stringify([{
      Config: configName,
      RepoTags: ["owners:latest"],
      Layers: [...m.Layers, `${hex}/layer.tar`],
    }]),
  );
  try {
    Deno.removeSync(`${work}/repositories`); // its tag is busybox's
  } catch { /* none */ }
  run("tar", ["-cf", `${dir}/owners.tar`, "-C", work, "."]);
  Deno.chmodSync(`${dir}/owners.tar`, 0o644);
  return `${dir}/owners.tar`;
}

let restoreTun: (() => void) | undefined;

/**
 * slirp4netns and pasta open /dev/net/tun as the user: Debian's udev makes
 * it 0666; a host that keeps it 0600 gets 0666 until the file ends.
 */
export function userTun(): void {
  const mode = (Deno.statSync("/dev/net/tun").mode ?? 0) & 0o777;
  if (mode === 0o666 || restoreTun) return;
  Deno.chmodSync("/dev/net/tun", 0o666);
  restoreTun = () => Deno.chmodSync("/dev/net/tun", mode);
}

/** Every path below `dir` with its owner, for a before/after comparison. */
export function listing(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      return;
    }
    for (const e of entries) {
      const p = `${d}/${e.name}`;
      try {
        out.set(p, Deno.lstatSync(p).uid ?? -1);
      } catch { /* gone meanwhile */ }
      if (e.isDirectory) walk(p);
    }
  };
  walk(dir);
  return out;
}
