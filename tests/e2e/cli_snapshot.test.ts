/**
 * diff, commit, export and import through the command line (root): the
 * changes a container made, an image of them that runs with the change, and
 * a container's root as a tar that imports back as an image.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { envTest } from "./_cli_env.ts";

envTest(
  "diff lists what a container added, changed and deleted (A/C/D), not its mount points",
  async (env) => {
    await env.busybox();
    await env.runD([
      "--name",
      "chg",
      "-v",
      "vol:/data",
      "busybox",
      "sh",
      "-c",
      "mkdir /newdir; echo x > /etc/newfile; rm /bin/true; echo y >> /etc/passwd; touch /data/in-volume; sleep 1000",
    ]);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(
      await env.ok(["diff", "chg"]),
      "C /bin\nD /bin/true\nC /etc\nA /etc/newfile\nC /etc/passwd\nA /newdir\n",
    );
    await env.ok(["stop", "-t", "0", "chg"]);
    assert.match(await env.ok(["container", "diff", "chg"]), /^A \/newdir$/m);
    const none = await env.c(["diff", "nosuch"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /No such container: nosuch/);
    await env.ok(["rm", "chg"]);
    await env.ok(["volume", "rm", "vol"]);
  },
);

envTest("commit makes an image that runs with the change, -c/-m/-a recorded", async (env) => {
  await env.busybox();
  await env.runD([
    "--name",
    "src",
    "-l",
    "k=v",
    "busybox",
    "sh",
    "-c",
    "echo committed > /hello; sleep 1000",
  ]);
  await new Promise((r) => setTimeout(r, 500));
  const id = (await env.ok([
    "commit",
    "-a",
    "A. Author",
    "-m",
    "added /hello",
    "-c",
    'CMD ["cat", "/hello"]',
    "-c",
    "ENV GREETING=hi",
    "src",
    "snap:v1",
  ])).trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  // The container was paused while its layer was written, and runs again.
  assert.equal(JSON.parse(await env.ok(["inspect", "src"]))[0].State.Status, "running");
  const out = await env.ok(["run", "--rm", "snap:v1"]);
  assert.equal(out, "committed\n");
  assert.equal(await env.ok(["run", "--rm", "snap:v1", "sh", "-c", "echo $GREETING"]), "hi\n");
  const img = JSON.parse(await env.ok(["image", "inspect", "snap:v1"]))[0];
  assert.equal(img.Id, id);
  assert.equal(img.Author, "A. Author");
  assert.deepEqual(img.Config.Cmd, ["cat", "/hello"]);
  assert.equal(img.Config.Labels.k, "v");
  assert.equal(img.RootFS.Layers.length, 2);
  const last = img.History.at(-1);
  assert.equal(last.comment, "added /hello");
  assert.equal(last.created_by, "sh -c echo committed > /hello; sleep 1000");
  // --pause=false on a stopped container, no name: an untagged image; nothing changed: no layer.
  await env.ok(["stop", "-t", "0", "src"]);
  const again = (await env.ok(["commit", "--pause=false", "src"])).trim();
  assert.match(
    await env.ok(["images", "-f", "dangling=true", "-q", "--no-trunc"]),
    new RegExp(again),
  );
  await env.ok(["rm", "src"]);
  const noLayer = await env.runD(["busybox", "true"]);
  await env.ok(["wait", noLayer]);
  const empty = (await env.ok(["commit", noLayer, "empty:1"])).trim();
  const e = JSON.parse(await env.ok(["image", "inspect", empty]))[0];
  assert.equal(e.RootFS.Layers.length, 1);
  assert.equal(e.History.at(-1).empty_layer, true);
  const bad = await env.c(["commit", "-c", "RUN true", noLayer]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /RUN is not a valid change command/);
});

envTest(
  "export | import: a container's root as a tar, imported as an image that runs",
  async (env) => {
    await env.busybox();
    const id = await env.runD([
      "busybox",
      "sh",
      "-c",
      "mkdir -p /opt/app && echo exported > /opt/app/file",
    ]);
    await env.ok(["wait", id]);
    const tar = `${tempDir()}/root.tar`;
    await env.ok(["export", "-o", tar, id]);
    const list = new TextDecoder().decode(
      (await new Deno.Command("tar", { args: ["-tf", tar], stdout: "piped" }).output()).stdout,
    ).split("\n");
    assert.ok(
      list.includes("opt/app/file") && list.includes("bin/busybox"),
      list.slice(0, 5).join(" "),
    );
    // From a file with -c and -m, and from stdin.
    const imported = (await env.ok([
      "import",
      "-m",
      "from a tar",
      "-c",
      'CMD ["cat", "/opt/app/file"]',
      tar,
      "imp:1",
    ]))
      .trim();
    assert.match(imported, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await env.ok(["run", "--rm", "imp:1"]), "exported\n");
    const img = JSON.parse(await env.ok(["image", "inspect", "imp:1"]))[0];
    assert.equal(img.History.length, 1);
    assert.equal(img.History[0].comment, "from a tar");
    assert.equal(img.RootFS.Layers.length, 1);
    const gz = `${tar}.gz`;
    await new Deno.Command("sh", { args: ["-c", `gzip -c ${tar} > ${gz}`] }).output();
    const fromStdin = await new Deno.Command("sh", {
      args: [
        "-c",
        `"$@" < ${gz}`,
        "sh",
        ...(await import("../_helpers.ts")).ctrCommand(),
        "--root",
        env.store,
        "--state-dir",
        env.state,
        "image",
        "import",
        "-",
        "imp:2",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(fromStdin.success, new TextDecoder().decode(fromStdin.stderr));
    assert.equal(
      JSON.parse(await env.ok(["image", "inspect", "imp:2"]))[0].History[0].comment,
      "Imported from -",
    );
    assert.equal(await env.ok(["run", "--rm", "imp:2", "cat", "/opt/app/file"]), "exported\n");
    const url = await env.c(["import", "http://example.com/x.tar"]);
    assert.equal(url.code, 125);
    assert.match(url.stderr, /does not download/);
  },
);
