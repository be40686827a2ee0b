/**
 * The same commands under docker and under ctr print the same (root): ps,
 * images and inspect templates, diff, events fields and info fields.
 * Debian's docker.io (/usr/bin/docker, 20.10) with a dockerd the test starts
 * on private directories (vfs storage, no bridge, no iptables), as the OCI
 * tests do; skipped, saying so, where it is not installed.
 */
import assert from "node:assert/strict";
import { DOCKER, Docker } from "../_docker.ts";
import { busyboxImage, type CtrEnv, envTest } from "./_cli_env.ts";

/** A table's column names (their widths follow the rows). */
function columns(table: string): string[] {
  return table.split("\n")[0].split(/ {2,}/);
}

/** Runs the same command line under both; returns [docker's stdout, ctr's stdout]. */
async function both(d: Docker, env: CtrEnv, args: string[]): Promise<[string, string]> {
  return [await d.ok(args), await env.ok(args)];
}

if (!DOCKER) {
  Deno.test({
    name:
      "ctr and docker print the same [skipped: Debian's docker.io (/usr/bin/docker, dockerd) is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  envTest("ctr and docker print the same: ps, images, inspect, diff, events, info", async (env) => {
    const d = await Docker.start();
    try {
      const tar = await busyboxImage();
      await d.ok(["load", "-i", tar]);
      await env.busybox();
      const since = String(Math.floor(Date.now() / 1000) - 1);
      const run = [
        "run",
        "-d",
        "--name",
        "cmp",
        "--network",
        "none",
        "-l",
        "a=b",
        "busybox",
        "sh",
        "-c",
        "mkdir /newdir; echo x > /etc/newfile; rm /bin/true; echo y >> /etc/passwd; sleep 1000",
      ];
      await d.ok(run);
      await env.ok(["run", "-d", "--name", "cmp", "-l", "a=b", ...run.slice(8)]);
      await new Promise((r) => setTimeout(r, 1000));

      // ps: the default table's header, templates, the keys of json.
      let [dk, ct] = await both(d, env, ["ps"]);
      assert.deepEqual(columns(ct), columns(dk));
      [dk, ct] = await both(d, env, [
        "ps",
        "--format",
        '{{.Names}}|{{.Image}}|{{.Command}}|{{.State}}|{{.Ports}}|{{.Networks}}|{{.Mounts}}|{{.LocalVolumes}}|{{.Labels | len | printf "%T"}}',
      ]);
      assert.equal(ct, dk);
      [dk, ct] = await both(d, env, ["ps", "--format", "{{json .}}"]);
      assert.deepEqual(Object.keys(JSON.parse(ct)), Object.keys(JSON.parse(dk)));
      [dk, ct] = await both(d, env, [
        "ps",
        "-a",
        "--no-trunc",
        "--format",
        "table {{.Names}}\\t{{.Command}}",
      ]);
      assert.equal(ct, dk);

      // images: same image, same ID, same fields.
      [dk, ct] = await both(d, env, ["images"]);
      assert.deepEqual(columns(ct), columns(dk));
      [dk, ct] = await both(d, env, [
        "images",
        "--format",
        "{{.Repository}}|{{.Tag}}|{{.ID}}|{{.CreatedSince}}|{{.CreatedAt}}|{{.Containers}}",
      ]);
      assert.equal(ct, dk);
      [dk, ct] = await both(d, env, ["images", "-q", "--no-trunc", "-f", "reference=busy*"]);
      assert.equal(ct, dk);

      // inspect templates, on the container and the image.
      [dk, ct] = await both(d, env, [
        "inspect",
        "-f",
        '{{.Name}} {{.State.Status}} {{.State.Running}} {{json .Config.Cmd}} {{.Config.Image}} {{index .Config.Labels "a"}} {{.HostConfig.RestartPolicy.Name}}',
        "cmp",
      ]);
      assert.equal(ct, dk);
      [dk, ct] = await both(d, env, [
        "image",
        "inspect",
        "-f",
        "{{.Id}} {{json .Config.Cmd}} {{.Os}} {{.Architecture}} {{.RootFS.Type}} {{len .RootFS.Layers}}",
        "busybox",
      ]);
      assert.equal(ct, dk);

      // diff: the same changes (docker's vfs driver lists them in no fixed order).
      [dk, ct] = await both(d, env, ["diff", "cmp"]);
      assert.deepEqual(ct.trim().split("\n").sort(), dk.trim().split("\n").sort());

      // events: the same actions, in the same order, with the same fields.
      await both(d, env, ["stop", "-t", "1", "cmp"]);
      await both(d, env, ["rm", "cmp"]);
      const until = String(Math.floor(Date.now() / 1000) + 1);
      await new Promise((r) => setTimeout(r, 1100));
      const evArgs = [
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "type=container",
        "--format",
        "{{.Status}} {{.Type}} {{.Action}} {{.From}} {{.Scope}} {{.Actor.Attributes.name}} {{.Actor.Attributes.a}} {{.Actor.Attributes.image}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.signal}}",
      ];
      [dk, ct] = await both(d, env, evArgs);
      assert.equal(ct, dk);

      // info: the host's facts as docker reports them.
      [dk, ct] = await both(d, env, [
        "info",
        "--format",
        "{{.NCPU}} {{.MemTotal}} {{.OSType}} {{.Architecture}} {{.KernelVersion}} {{.OperatingSystem}} {{.OSVersion}} {{.CgroupVersion}} {{.CgroupDriver}} {{.LoggingDriver}} {{.Name}} {{.IndexServerAddress}}",
      ]);
      assert.equal(ct, dk);
    } finally {
      await d.stop();
    }
  });
}
