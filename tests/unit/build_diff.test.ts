/**
 * The layer writer: a real overlay mount (root), changed, unmounted, its
 * upper directory turned into a layer that ctr's extractor stacks on the
 * base to give what the container saw; byte-identical tars for the same
 * input; trees from COPY; and the image config and history of a build.
 */
import assert from "node:assert/strict";
import { IS_ROOT, rootTest, tempDir, tempStore } from "../_helpers.ts";
import { lgetxattr, lsetxattr, mknod } from "../../lib/image/_fs.ts";
import { extractLayer, readTar } from "../../lib/image/layer.ts";
import { Store } from "../../lib/image/store.ts";
import { resolveImage } from "../../lib/image/images.ts";
import { parseDockerfile, type RunInstruction } from "../../lib/image/build/dockerfile.ts";
import { LayeredRoot } from "../../lib/image/build/context.ts";
import {
  DiffError,
  layerDescriptor,
  layerEntries,
  layerTar,
  writeImage,
  writeLayer,
} from "../../lib/image/build/diff.ts";
import {
  applyInstruction,
  type ConfigChange,
  goDuration,
  imageConfigFor,
  runProcess,
  startConfig,
} from "../../lib/image/build/image_config.ts";
import type { ImageConfig } from "../../lib/image/schema.ts";
import { goQuote } from "../../lib/format/units.ts";

const enc = new TextEncoder();
const AMD64 = { os: "linux", architecture: "amd64" };

function sh(cmd: string, args: string[]): void {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

function mounted(dir: string): boolean {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").some((l) =>
    l.split(" ")[4] === dir
  );
}

/** What a root shows: path → type, mode, owner and content or target. */
function view(root: LayeredRoot, dir = "/"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of root.children(dir) ?? []) {
    const i = e.info;
    const what = i.isSymlink
      ? `link ${Deno.readLinkSync(e.hostPath)}`
      : i.isDirectory
      ? "dir"
      : i.isFile
      ? `file ${Deno.readTextFileSync(e.hostPath)}`
      : i.isFifo
      ? "fifo"
      : `dev ${i.rdev}`;
    out[e.path] = `${what} ${(i.mode! & 0o7777).toString(8)} ${i.uid}:${i.gid}`;
    if (i.isDirectory) Object.assign(out, view(root, e.path));
  }
  return out;
}

/** Runs `change` on an overlay of `lower`, unmounts, returns the upper directory and what the mount showed. */
function overlay(
  lower: string,
  change: (merged: string) => void,
  opts = "redirect_dir=off,metacopy=off",
): { upper: string; seen: Record<string, string> } {
  const base = tempDir();
  const [upper, work, merged] = ["upper", "work", "merged"].map((d) => `${base}/${d}`);
  for (const d of [upper, work, merged]) Deno.mkdirSync(d);
  sh("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `lowerdir=${lower},upperdir=${upper},workdir=${work},${opts}`,
    merged,
  ]);
  let seen: Record<string, string>;
  try {
    change(merged);
    seen = view(new LayeredRoot([merged]));
  } finally {
    sh("umount", [merged]);
  }
  assert.ok(!mounted(merged));
  Deno.removeSync(work, { recursive: true });
  return { upper, seen };
}

function baseLayer(): string {
  const lower = tempDir();
  for (const d of ["etc", "opt/old/sub", "var/lib"]) {
    Deno.mkdirSync(`${lower}/${d}`, { recursive: true });
  }
  Deno.writeTextFileSync(`${lower}/etc/passwd`, "root:x:0:0::/root:/bin/sh\n");
  Deno.writeTextFileSync(`${lower}/etc/gone`, "deleted later");
  Deno.writeTextFileSync(`${lower}/opt/old/sub/file`, "replaced by an opaque dir");
  Deno.writeTextFileSync(`${lower}/var/lib/mode`, "chmod me");
  return lower;
}

rootTest(
  "writeLayer() turns an overlay upper directory into a layer ctr stacks back to the same tree",
  async () => {
    const lower = baseLayer();
    const { upper, seen } = overlay(lower, (m) => {
      Deno.writeTextFileSync(`${m}/etc/new`, "new file");
      Deno.writeTextFileSync(
        `${m}/etc/passwd`,
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n",
      );
      Deno.removeSync(`${m}/etc/gone`);
      Deno.removeSync(`${m}/opt/old`, { recursive: true });
      Deno.mkdirSync(`${m}/opt/old`);
      Deno.writeTextFileSync(`${m}/opt/old/fresh`, "only this");
      Deno.chmodSync(`${m}/var/lib/mode`, 0o600);
      Deno.writeTextFileSync(`${m}/hard1`, "linked");
      Deno.linkSync(`${m}/hard1`, `${m}/hard2`);
      Deno.symlinkSync("/etc/passwd", `${m}/pw`);
      sh("mkfifo", [`${m}/fifo`]);
      mknod(`${m}/null`, "char", 0o666, 1, 3);
      Deno.chownSync(`${m}/etc/new`, 1000, 1000);
      lsetxattr(`${m}/etc/new`, "user.bin", new Uint8Array([0, 255, 1, 0x0a]));
    });
    // The upper directory holds overlay's own marks.
    assert.ok(Deno.lstatSync(`${upper}/etc/gone`).isCharDevice);
    assert.deepEqual(lgetxattr(`${upper}/opt/old`, "trusted.overlay.opaque"), enc.encode("y"));

    const names = [...layerEntries(upper)].map((e) => e.header.name);
    assert.ok(names.includes("etc/.wh.gone"));
    assert.ok(names.includes("opt/old/.wh..wh..opq"));
    assert.ok(names.indexOf("opt/old/") < names.indexOf("opt/old/.wh..wh..opq"));
    assert.deepEqual(
      names,
      [...names].sort((a, b) => {
        // depth first, by name: a directory right before what it holds
        const pa = a.replace(/\/$/, "").split("/"), pb = b.replace(/\/$/, "").split("/");
        for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
          if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
        }
        return pa.length - pb.length;
      }),
    );

    const store = Store.open(tempStore());
    const layer = await writeLayer(store, upper, { extract: false });
    assert.equal(layer.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    const extracted = `${tempDir()}/layer`;
    const info = await extractLayer(await store.openBlob(layer.digest), extracted);
    assert.equal(info.diffId, layer.diffId);
    assert.equal(info.compression, "gzip");

    const stacked = new LayeredRoot([extracted, lower]);
    assert.deepEqual(view(stacked), seen);
    assert.equal(stacked.lstat("/etc/gone"), undefined);
    assert.deepEqual(stacked.list("/opt/old"), ["fresh"]);
    assert.equal(
      Deno.lstatSync(`${extracted}/hard1`).ino,
      Deno.lstatSync(`${extracted}/hard2`).ino,
    );
    assert.deepEqual(
      lgetxattr(`${extracted}/etc/new`, "user.bin"),
      new Uint8Array([0, 255, 1, 0x0a]),
    );
    assert.equal(lgetxattr(`${extracted}/etc/new`, "trusted.overlay.origin"), undefined);
  },
);

rootTest(
  "writeLayer() gives the same bytes twice and clamps times to SOURCE_DATE_EPOCH",
  async () => {
    const lower = baseLayer();
    const { upper } = overlay(lower, (m) => {
      Deno.writeTextFileSync(`${m}/a`, "x".repeat(70000));
      Deno.removeSync(`${m}/etc/gone`);
      Deno.mkdirSync(`${m}/d/${"long-name-".repeat(12)}`, { recursive: true });
    });
    const store = Store.open(tempStore());
    const one = await writeLayer(store, upper);
    const two = await writeLayer(store, upper);
    assert.equal(one.diffId, two.diffId);
    assert.equal(one.digest, two.digest);
    const bytes = async () => new Uint8Array(await new Response(layerTar(upper)).arrayBuffer());
    assert.deepEqual(await bytes(), await bytes());
    assert.ok(store.hasLayer(one.diffId));

    const times: number[] = [];
    await readTar(layerTar(upper, { epoch: 1000 }), async (h, _pax, body) => {
      times.push(Math.floor(h.mtime.getTime() / 1000));
      for await (const _ of body) { /* drain */ }
    });
    assert.ok(times.length > 3 && times.every((t) => t <= 1000));
  },
);

rootTest("writeLayer() refuses an upper directory with overlay metacopy entries", () => {
  const lower = baseLayer();
  const { upper } = overlay(
    lower,
    (m) => Deno.chmodSync(`${m}/var/lib/mode`, 0o600),
    "metacopy=on,redirect_dir=on",
  );
  assert.throws(() => [...layerEntries(upper)], (e: unknown) => {
    assert.ok(e instanceof DiffError);
    assert.match(
      e.message,
      /var\/lib\/mode is an overlay metacopy entry: mount the overlay with metacopy=off/,
    );
    return true;
  });
});

Deno.test("writeLayer() makes a layer of a plain tree (a COPY into a fresh directory)", async () => {
  const tree = tempDir();
  Deno.mkdirSync(`${tree}/app/bin`, { recursive: true });
  Deno.writeTextFileSync(`${tree}/app/bin/run`, "#!/bin/sh\n");
  Deno.chmodSync(`${tree}/app/bin/run`, 0o755);
  Deno.symlinkSync("bin/run", `${tree}/app/start`);
  const store = Store.open(tempStore());
  const layer = await writeLayer(store, tree, { kind: "tree" });
  assert.ok(store.hasLayer(layer.diffId));
  const dir = store.layerPath(layer.diffId);
  assert.equal(Deno.readTextFileSync(`${dir}/app/bin/run`), "#!/bin/sh\n");
  assert.equal(Deno.lstatSync(`${dir}/app/bin/run`).mode! & 0o777, 0o755);
  assert.equal(Deno.readLinkSync(`${dir}/app/start`), "bin/run");
  assert.deepEqual(layerDescriptor(layer), {
    mediaType: layer.mediaType,
    digest: layer.digest,
    size: layer.size,
  });
  if (IS_ROOT) assert.equal(Deno.lstatSync(`${dir}/app`).uid, 0);
});

// ---------------------------------------------------------------- image config

function steps(text: string): ReturnType<typeof parseDockerfile>["instructions"] {
  return parseDockerfile(text).instructions.slice(1);
}

const BASE: ImageConfig = {
  architecture: "amd64",
  os: "linux",
  created: "2020-01-01T00:00:00Z",
  config: { Env: ["PATH=/usr/bin:/bin"], Cmd: ["sh"], OnBuild: ["RUN echo child"] },
  rootfs: { type: "layers", diff_ids: [`sha256:${"a".repeat(64)}`] },
  history: [{ created_by: "/bin/sh -c #(nop) ADD file:x in / " }],
};

Deno.test("startConfig() copies the base, sets PATH, drops created and hands back ONBUILD triggers", () => {
  const { config, triggers } = startConfig(BASE, AMD64);
  assert.deepEqual(triggers, ["RUN echo child"]);
  assert.equal(config.created, undefined);
  assert.equal(config.config.OnBuild, undefined);
  const scratch =
    startConfig(undefined, { os: "linux", architecture: "arm64", variant: "v8" }).config;
  assert.deepEqual(scratch.config.Env, [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  ]);
  assert.equal(scratch.variant, "v8");
  assert.deepEqual(scratch.rootfs.diff_ids, []);
});

Deno.test("imageConfigFor() applies metadata instructions with docker's history lines", () => {
  const base = startConfig(BASE, AMD64).config;
  const layer = `sha256:${"b".repeat(64)}` as const;
  const changes: ConfigChange[] = steps([
    "FROM x",
    "ENV A=1 B=2",
    "LABEL version=1.0",
    "WORKDIR app",
    "WORKDIR ../srv/./www",
    "USER app",
    "EXPOSE 80 53/UDP 8000-8002",
    "VOLUME /data",
    "STOPSIGNAL SIGQUIT",
    "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/",
    'SHELL ["/bin/bash", "-c"]',
    "CMD echo hi",
    "ONBUILD RUN make",
    "MAINTAINER me",
    "COPY a b /dst/",
  ].join("\n")).map((instruction, i) => ({
    instruction,
    created: `2024-01-01T00:00:${String(i).padStart(2, "0")}Z`,
    ...(instruction.kind === "COPY" && { layer }),
  }));
  const c = imageConfigFor(base, changes);
  assert.deepEqual(c.config.Env, ["PATH=/usr/bin:/bin", "A=1", "B=2"]);
  assert.deepEqual(c.config.Labels, { version: "1.0" });
  assert.equal(c.config.WorkingDir, "/srv/www");
  assert.equal(c.config.User, "app");
  assert.deepEqual(Object.keys(c.config.ExposedPorts!), [
    "53/udp",
    "80/tcp",
    "8000/tcp",
    "8001/tcp",
    "8002/tcp",
  ]);
  assert.deepEqual(c.config.Volumes, { "/data": {} });
  assert.equal(c.config.StopSignal, "SIGQUIT");
  assert.deepEqual(c.config.Healthcheck, {
    Test: ["CMD-SHELL", "curl -f http://localhost/"],
    Interval: 5e9,
    Retries: 3,
  });
  assert.deepEqual(c.config.Cmd, ["/bin/bash", "-c", "echo hi"]);
  assert.deepEqual(c.config.OnBuild, ["RUN make"]);
  assert.equal(c.author, "me");
  assert.deepEqual(c.rootfs.diff_ids, [...BASE.rootfs.diff_ids, layer]);
  assert.equal(c.created, "2024-01-01T00:00:13Z");
  const lines = c.history.slice(1).map((h) => h.created_by);
  assert.deepEqual(lines, [
    "/bin/sh -c #(nop)  ENV A=1 B=2",
    "/bin/sh -c #(nop)  LABEL version=1.0",
    "/bin/sh -c #(nop)  WORKDIR /app",
    "/bin/sh -c #(nop)  WORKDIR /srv/www",
    "/bin/sh -c #(nop)  USER app",
    "/bin/sh -c #(nop)  EXPOSE [53/udp 80/tcp 8000/tcp 8001/tcp 8002/tcp]",
    "/bin/sh -c #(nop)  VOLUME [/data]",
    "/bin/sh -c #(nop)  STOPSIGNAL SIGQUIT",
    "/bin/sh -c #(nop)  HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/] Interval:5s Timeout:0s StartPeriod:0s StartInterval:0s Retries:3}",
    "/bin/sh -c #(nop)  SHELL [/bin/bash -c]",
    '/bin/sh -c #(nop)  CMD ["/bin/bash" "-c" "echo hi"]',
    "/bin/sh -c #(nop)  MAINTAINER me",
    "COPY a b /dst/ # buildkit",
  ]);
  assert.ok(c.history.slice(1, -1).every((h) => h.empty_layer === true));
  assert.equal(c.history.at(-1)!.empty_layer, undefined);
  assert.equal(c.history[1].created, "2024-01-01T00:00:00Z");
});

Deno.test("applyInstruction() writes BuildKit's history with style buildkit", () => {
  const base = startConfig(undefined, AMD64).config;
  const [cmd] = steps('FROM x\nCMD ["sh"]');
  const c = applyInstruction(base, cmd, { style: "buildkit" });
  assert.deepEqual(c.history, [{
    created_by: 'CMD ["sh"]',
    comment: "buildkit.dockerfile.v0",
    empty_layer: true,
  }]);
  assert.equal(applyInstruction(base, cmd).history[0].created_by, '/bin/sh -c #(nop)  CMD ["sh"]');
});

Deno.test("imageConfigFor() clears an inherited CMD on ENTRYPOINT, not one set before it", () => {
  const base = startConfig(BASE, AMD64).config;
  const [ep] = steps('FROM x\nENTRYPOINT ["/app"]');
  assert.equal(imageConfigFor(base, [{ instruction: ep }]).config.Cmd, null);
  const [cmd, ep2] = steps('FROM x\nCMD ["--help"]\nENTRYPOINT ["/app"]');
  const c = imageConfigFor(base, [{ instruction: cmd }, { instruction: ep2 }]);
  assert.deepEqual([c.config.Entrypoint, c.config.Cmd], [["/app"], ["--help"]]);
});

Deno.test("applyInstruction() rejects a bad STOPSIGNAL and a bad EXPOSE", () => {
  const base = startConfig(undefined, AMD64).config;
  const [sig, port] = steps("FROM x\nSTOPSIGNAL SIGNOPE\nEXPOSE 80/xyz");
  assert.throws(() => applyInstruction(base, sig), /Invalid signal: SIGNOPE/);
  assert.throws(() => applyInstruction(base, port), /invalid proto: xyz/);
  const [ok] = steps("FROM x\nSTOPSIGNAL 9");
  assert.equal(applyInstruction(base, ok).config.StopSignal, "9");
});

Deno.test("runProcess() runs shell form through SHELL, heredocs as docker does", () => {
  const base = startConfig(undefined, AMD64).config;
  const runs = steps([
    "FROM x",
    "RUN make all",
    'RUN ["echo", "exec"]',
    "RUN <<EOT",
    "  mkdir -p foo/bar",
    "EOT",
    "RUN <<EOT",
    "#!/usr/bin/env python",
    'print("hi")',
    "EOT",
    "RUN <<FILE1 cat > file1",
    "first",
    "FILE1",
  ].join("\n")) as RunInstruction[];
  assert.deepEqual(runProcess(base, runs[0], "|1 A=b"), {
    args: ["/bin/sh", "-c", "make all"],
    files: [],
    createdBy: "RUN |1 A=b /bin/sh -c make all # buildkit",
  });
  assert.deepEqual(runProcess(base, runs[1]).args, ["echo", "exec"]);
  assert.deepEqual(runProcess(base, runs[2]).args, ["/bin/sh", "-c", "  mkdir -p foo/bar\n"]);
  const py = runProcess(base, runs[3]);
  assert.deepEqual(py.args, ["/bin/sh", "-c", "/dev/pipes/EOT"]);
  assert.deepEqual(py.files, [{
    path: "/dev/pipes/EOT",
    data: '#!/usr/bin/env python\nprint("hi")\n',
    mode: 0o755,
  }]);
  assert.deepEqual(runProcess(base, runs[4]).args, [
    "/bin/sh",
    "-c",
    "<<FILE1 cat > file1\nfirst\nFILE1",
  ]);
  const [shell] = steps('FROM x\nSHELL ["/bin/bash", "-eo", "pipefail", "-c"]');
  const bash = applyInstruction(base, shell);
  assert.deepEqual(runProcess(bash, runs[0]).args, [
    "/bin/bash",
    "-eo",
    "pipefail",
    "-c",
    "make all",
  ]);
});

Deno.test("goQuote() and goDuration() print as Go does", () => {
  assert.equal(goQuote('a "b"\n\t\\'), '"a \\"b\\"\\n\\t\\\\"');
  assert.equal(goQuote("\x00é"), '"\\x00é"');
  assert.equal(goDuration(0), "0s");
  assert.equal(goDuration(90e9), "1m30s");
  assert.equal(goDuration(3600e9), "1h0m0s");
  assert.equal(goDuration(1.5e9), "1.5s");
  assert.equal(goDuration(300e6), "300ms");
});

Deno.test("writeImage() stores the config and a manifest and registers the image", async () => {
  const store = Store.open(tempStore());
  const tree = tempDir();
  Deno.writeTextFileSync(`${tree}/hello`, "world");
  const layer = await writeLayer(store, tree, { kind: "tree" });
  const [copy, cmd] = steps('FROM scratch\nCOPY hello /\nCMD ["/hello"]');
  const config = imageConfigFor(startConfig(undefined, AMD64).config, [
    { instruction: copy, layer: layer.diffId, created: "2024-05-01T00:00:00Z" },
    { instruction: cmd, created: "2024-05-01T00:00:00Z" },
  ]);
  const rec = await writeImage(store, {
    config,
    layers: [layerDescriptor(layer)],
    names: ["docker.io/library/built:latest"],
    created: "2024-05-01T00:00:00Z",
  });
  const img = await resolveImage(store, "built");
  assert.equal(img.id, rec.config);
  assert.deepEqual(img.config.config?.Cmd, ["/hello"]);
  assert.equal(img.config.created, "2024-05-01T00:00:00Z");
  assert.equal(Deno.readTextFileSync(`${img.layers[0]}/hello`), "world");
  await assert.rejects(() => writeImage(store, { config, layers: [] }), /1 diff_ids for 0 layers/);
  // A base layer pulled as Docker schema 2 is named by its OCI type in the new manifest.
  const docker = {
    ...layerDescriptor(layer),
    mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  };
  const again = await writeImage(store, { config, layers: [docker] });
  const manifest = JSON.parse(new TextDecoder().decode(store.readBlob(again.digest)));
  assert.equal(manifest.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
  assert.equal(manifest.mediaType, "application/vnd.oci.image.manifest.v1+json");
});
