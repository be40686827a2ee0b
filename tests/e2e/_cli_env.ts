/**
 * A private ctr for the cli_* end-to-end tests: its own store and state
 * directory, the busybox image loaded once, detached containers started and
 * always removed, and a count of what containers could leave behind.
 */
import assert from "node:assert/strict";
import { ctr, type Result, rootTest, tempDir, tempStore } from "../_helpers.ts";

const repo = new URL("../..", import.meta.url).pathname;
let busyboxTar: string | undefined;

/** The busybox image as a docker-save tar (made once per test file). */
export async function busyboxImage(): Promise<string> {
  if (busyboxTar) return busyboxTar;
  const tar = `${tempDir()}/busybox.tar`;
  const out = await new Deno.Command("bash", {
    args: [`${repo}scripts/busybox_image.sh`, tar],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return busyboxTar = tar;
}

/** One ctr store and state directory. */
export class CtrEnv {
  readonly store = tempStore();
  readonly state = tempDir();
  #loaded = false;

  /** Runs ctr with this store and state. */
  c(args: string[], opts: { stdin?: string } = {}): Promise<Result> {
    return ctr(["--root", this.store, "--state-dir", this.state, ...args], opts);
  }

  /** Runs ctr and fails the test unless it succeeds; returns stdout. */
  async ok(args: string[], opts: { stdin?: string } = {}): Promise<string> {
    const r = await this.c(args, opts);
    assert.equal(r.code, 0, `ctr ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  /** Loads busybox:latest into the store (once). */
  async busybox(): Promise<void> {
    if (this.#loaded) return;
    await this.ok(["load", "-q", "-i", await busyboxImage()]);
    this.#loaded = true;
  }

  /** `ctr run -d ARGS`; returns the id. */
  async runD(args: string[]): Promise<string> {
    const id = (await this.ok(["run", "-d", ...args])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    return id;
  }

  /** The recorded state of a container (its JSON file). */
  stateOf(id: string): Record<string, any> {
    return JSON.parse(Deno.readTextFileSync(`${this.state}/${id}.json`));
  }

  /** The ids of the containers it records now. */
  ids(): string[] {
    return [...Deno.readDirSync(this.state)].filter((e) => /^[0-9a-f]{64}\.json$/.test(e.name))
      .map((e) => e.name.slice(0, -5));
  }

  /** Removes every container it recorded. */
  async removeAll(): Promise<void> {
    const ids = this.ids();
    if (ids.length) await this.c(["rm", "-f", ...ids]);
  }

  /**
   * What its containers could leave: mounts below its store, container
   * directories, cgroups named after `ids` (the machine is shared: other
   * mounts and cgroups come and go).
   */
  leftovers(ids: readonly string[]): string[] {
    const out = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
      .map((l) => l.split(" ")[4] ?? "").filter((p) => p.startsWith(this.store));
    try {
      out.push(...[...Deno.readDirSync(`${this.store}/containers`)].map((e) => e.name));
    } catch { /* none made */ }
    const want = new Set(ids);
    const walk = (d: string, depth: number) => {
      if (depth > 7) return;
      let entries: Deno.DirEntry[];
      try {
        entries = [...Deno.readDirSync(d)];
      } catch {
        return;
      }
      for (const e of entries) {
        if (!e.isDirectory) continue;
        if (want.has(e.name)) out.push(`${d}/${e.name}`);
        walk(`${d}/${e.name}`, depth + 1);
      }
    };
    if (want.size) walk("/sys/fs/cgroup", 0);
    return out;
  }
}

/** A root test on a fresh env that removes its containers even when it fails, and leaves nothing. */
export function envTest(name: string, fn: (env: CtrEnv) => Promise<void>): void {
  rootTest(name, async () => {
    const env = new CtrEnv();
    const seen = new Set<string>();
    const watch = setInterval(() => env.ids().forEach((id) => seen.add(id)), 100);
    try {
      await fn(env);
    } finally {
      clearInterval(watch);
      env.ids().forEach((id) => seen.add(id));
      await env.removeAll();
    }
    assert.deepEqual(env.leftovers([...seen]), []);
  });
}
