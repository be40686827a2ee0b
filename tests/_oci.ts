/**
 * Test helpers for ctr as an OCI runtime: a `ctr-oci` binary with a state
 * root of its own, bundles made from `ctr-oci spec` and the test rootfs with
 * one change each, the state of a container, and tests that delete every
 * container they leave.
 */
import assert from "node:assert/strict";
import { ociBinary, rootTest, tempDir, testRootfs } from "./_helpers.ts";

/** What one runtime call printed and returned. */
export interface OciResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A config.json as a test edits it. */
// deno-lint-ignore no-explicit-any
export type EditableConfig = any;

/** Polls `fn` until it is true; fails after `ms`. */
export async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 10000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

/** The runtime with its own state root. */
export class OciRuntime {
  readonly bin = ociBinary();
  readonly root = tempDir();

  /**
   * Runs the runtime with stdout and stderr in files: a container inherits the
   * runtime's stdio (as under conmon), and would hold a pipe open.
   */
  async run(args: string[], opts: { cwd?: string; redirect?: string } = {}): Promise<OciResult> {
    const dir = tempDir();
    const q = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
    const line = [this.bin, "--root", this.root, ...args].map(q).join(" ");
    const r = await new Deno.Command("sh", {
      args: ["-c", `${line} >${dir}/out 2>${dir}/err </dev/null ${opts.redirect ?? ""}`],
      cwd: opts.cwd,
    }).output();
    return {
      code: r.code,
      stdout: Deno.readTextFileSync(`${dir}/out`),
      stderr: Deno.readTextFileSync(`${dir}/err`),
    };
  }

  /** Runs the runtime and fails unless it exits 0; returns its stdout. */
  async ok(args: string[]): Promise<string> {
    const r = await this.run(args);
    assert.equal(r.code, 0, `ctr-oci ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  /**
   * A bundle: a copy of the test rootfs (or `rootfs`, under a directory of
   * the caller's) and `ctr-oci spec`'s config without a terminal and with a
   * writable root, changed by `edit` (which may also change the bundle's
   * files: it gets the bundle's directory).
   */
  async bundle(
    edit: (c: EditableConfig, dir: string) => void,
    opts: { dir?: string } = {},
  ): Promise<string> {
    const b = opts.dir ?? tempDir();
    // A container's root in a user namespace must get through to its rootfs.
    Deno.chmodSync(b, 0o711);
    const cp = await new Deno.Command("cp", { args: ["-a", testRootfs(), `${b}/rootfs`] })
      .output();
    assert.ok(cp.success);
    await this.ok(["spec", "--bundle", b]);
    const c = JSON.parse(Deno.readTextFileSync(`${b}/config.json`));
    c.process.terminal = false;
    c.root.readonly = false;
    edit(c, b);
    Deno.writeTextFileSync(`${b}/config.json`, JSON.stringify(c, null, 2));
    return b;
  }

  /** The state JSON of a container. */
  async state(id: string): Promise<Record<string, EditableConfig>> {
    return JSON.parse(await this.ok(["state", id]));
  }

  /** The containers of this root. */
  async list(): Promise<string[]> {
    return (await this.run(["list", "-q"])).stdout.split("\n").filter(Boolean);
  }

  /** A root test that force-deletes whatever containers it leaves. */
  test(name: string, fn: () => Promise<void>): void {
    rootTest(name, async () => {
      try {
        await fn();
      } finally {
        for (const id of await this.list()) await this.run(["delete", "--force", id]);
      }
    });
  }
}
