/**
 * `ctr search` and `GET /images/search` against a docker-registry on
 * 127.0.0.1 (root): three repositories pushed with ctr, then searched by
 * name through the registry's catalog (the distribution registry has no v1
 * search), with docker's columns, --limit, --filter and --format, and the
 * same search by Debian's docker CLI through `ctr serve`.
 */
import assert from "node:assert/strict";
import { busyboxImageTar, ctr, rootTest, tempDir, tempStore } from "../_helpers.ts";
import { startRegistry, which } from "../_registry.ts";
import { DOCKER } from "../_docker.ts";
import { startServer } from "../_serve.ts";

if (!which("docker-registry")) {
  Deno.test({
    name: "ctr search [skipped: docker-registry is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  rootTest("ctr search lists a registry's repositories by name, as docker's CLI does", async () => {
    const reg = await startRegistry();
    const g = ["--root", tempStore(), "--state-dir", tempDir()];
    const c = async (args: string[]) => await ctr([...g, ...args]);
    try {
      assert.equal((await c(["load", "-i", await busyboxImageTar()])).code, 0);
      for (const repo of ["busybox", "tools/busy-tools", "other"]) {
        const name = `${reg.domain}/${repo}:1`;
        assert.equal((await c(["tag", "busybox", name])).code, 0);
        const pushed = await c(["push", "-q", name]);
        assert.equal(pushed.code, 0, pushed.stderr);
      }
      const all = await c(["search", `${reg.domain}/busy`]);
      assert.equal(all.code, 0, all.stderr);
      const lines = all.stdout.trimEnd().split("\n");
      assert.match(lines[0], /^NAME +DESCRIPTION +STARS +OFFICIAL +AUTOMATED$/);
      assert.deepEqual(lines.slice(1).map((l) => l.split(/ +/)[0]), [
        `${reg.domain}/busybox`,
        `${reg.domain}/tools/busy-tools`,
      ]);
      assert.match(lines[1], / 0 *$/);

      const names = await c([
        "search",
        "--format",
        "{{.Name}} {{.StarCount}}",
        `${reg.domain}/BUSY`,
      ]);
      assert.equal(names.stdout, `${reg.domain}/busybox 0\n${reg.domain}/tools/busy-tools 0\n`);
      const one = await c([
        "search",
        "--limit",
        "1",
        "--format",
        "{{.Name}}",
        `${reg.domain}/busy`,
      ]);
      assert.equal(one.stdout, `${reg.domain}/busybox\n`);
      const json = await c(["search", "--format", "json", `${reg.domain}/other`]);
      assert.deepEqual(JSON.parse(json.stdout), {
        Name: `${reg.domain}/other`,
        Description: "",
        StarCount: 0,
        IsOfficial: "",
        IsAutomated: "",
      });
      // Filters: nothing in a catalog has stars or is official.
      for (const f of ["stars=1", "is-official=true"]) {
        const r = await c(["search", "--filter", f, "--format", "{{.Name}}", `${reg.domain}/busy`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "", f);
      }
      const none = await c(["search", "--format", "{{.Name}}", `${reg.domain}/nothing-like-it`]);
      assert.equal(none.code, 0, none.stderr);
      assert.equal(none.stdout, "");

      // Bad input: one line each, naming what is wrong.
      const bad: [string[], RegExp][] = [
        [["--limit", "0"], /limit 0 is outside the range of \[1, 100\]/],
        [["--limit", "x"], /invalid argument "x" for "--limit"/],
        [["--filter", "bogus=1"], /Invalid filter 'bogus'/],
        [["--filter", "stars=many"], /Invalid filter 'stars=many'/],
        [["--filter", "is-official=maybe"], /Invalid filter 'is-official=maybe'/],
      ];
      for (const [args, message] of bad) {
        const r = await c(["search", ...args, `${reg.domain}/busy`]);
        assert.notEqual(r.code, 0, args.join(" "));
        assert.match(r.stderr, message);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      }

      if (DOCKER) {
        // The same search through the Engine API, by docker's own client.
        const s = await startServer();
        try {
          const d = await s.docker(["search", "--format", "{{.Name}}", `${reg.domain}/busy`]);
          assert.equal(d.code, 0, d.stderr);
          assert.equal(d.stdout, `${reg.domain}/busybox\n${reg.domain}/tools/busy-tools\n`);
          const limited = await s.docker(["search", "--limit", "1", `${reg.domain}/busy`]);
          assert.match(limited.stdout, /^NAME +DESCRIPTION +STARS +OFFICIAL/);
          assert.equal(limited.stdout.trimEnd().split("\n").length, 2, limited.stdout);
          const badLimit = await s.docker(["search", "--limit", "500", `${reg.domain}/busy`]);
          assert.notEqual(badLimit.code, 0);
          assert.match(badLimit.stderr, /outside the range/);
        } finally {
          assert.equal(await s.stop(), 0);
        }
      }
    } finally {
      await reg.stop();
    }
  });
}
