/**
 * `ctr build` (root), on the small busybox image made from Debian's
 * busybox-static: the user's story from Dockerfile to a page served by the
 * built image; each instruction and option; multi-stage builds; build
 * arguments; .dockerignore; ADD of archives and URLs (served by this test
 * on 127.0.0.1); whiteouts; heredocs; the build cache; RUN --mount; a
 * failing RUN and an interrupted build, which leave nothing behind; `ctr
 * history`; contexts on stdin; `ctr builder prune`.
 */
import assert from "node:assert/strict";
import {
  census,
  ctr,
  ctrCommand,
  ctrSpawn,
  fetchText,
  loadBusybox,
  rootTest,
  tempDir,
  tempStore,
} from "../_helpers.ts";

const store = tempStore();
const state = tempDir();
const c = (args: string[], opts: { stdin?: string } = {}) =>
  ctr(["--root", store, "--state-dir", state, ...args], opts);
const ensureBusybox = () => loadBusybox(store);

/** A context directory holding `files` (path → content, or content and mode). */
function context(files: Record<string, string | { data: string; mode: number }>): string {
  const dir = tempDir();
  for (const [path, v] of Object.entries(files)) {
    const p = `${dir}/${path}`;
    Deno.mkdirSync(p.slice(0, p.lastIndexOf("/")), { recursive: true });
    if (typeof v === "string") Deno.writeTextFileSync(p, v);
    else {
      Deno.writeTextFileSync(p, v.data);
      Deno.chmodSync(p, v.mode);
    }
  }
  return dir;
}

/** `ctr build --progress plain` of a context; asserts success unless `fail`. */
async function build(dir: string, args: string[] = [], fail = false) {
  await ensureBusybox();
  const r = await c(["build", "--progress", "plain", ...args, dir]);
  if (!fail) assert.equal(r.code, 0, r.stderr);
  return r;
}

/** The image ID a build printed. */
function builtId(stderr: string): string {
  const m = stderr.match(/writing image (sha256:[0-9a-f]{64}) done/);
  assert.ok(m, stderr);
  return m[1];
}

const run = (image: string, cmd: string[] = []) =>
  c(["run", "--rm", "--pull", "never", image, ...cmd]);

async function inspect(image: string): Promise<Record<string, any>> {
  const r = await c(["image", "inspect", image]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout)[0];
}

/**
 * The container cgroups (64 hex digits) ctr made below this process's own
 * cgroups, where the ctr it starts puts them (`<own>/ctr/<id>`).
 */
function containerCgroups(): Set<string> {
  const out = new Set<string>();
  for (const line of Deno.readTextFileSync("/proc/self/cgroup").split("\n")) {
    const m = line.match(/^\d+:([^:]*):(.*)$/);
    if (!m) continue;
    const names = m[1] === "" ? ["unified", ""] : [m[1].replace(/^name=/, "")];
    for (const n of names) {
      try {
        for (const e of Deno.readDirSync(`/sys/fs/cgroup/${n}${m[2]}/ctr`.replace("//", "/"))) {
          if (e.isDirectory && /^[0-9a-f]{64}$/.test(e.name)) out.add(e.name);
        }
      } catch { /* no such hierarchy, or no ctr cgroup there */ }
    }
  }
  return out;
}

/** The container cgroups made since `before` that are still there (after a short grace). */
async function newCgroups(before: Set<string>): Promise<string[]> {
  let left: string[] = [];
  for (let i = 0; i < 20; i++) {
    left = [...containerCgroups()].filter((x) => !before.has(x));
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return left;
}

/** What a build could leave behind in this file's store: containers, mounts, temporary files. */
function leftovers(): { containers: number; mounts: number; tmp: number } {
  let tmp = 0;
  try {
    tmp = [...Deno.readDirSync(`${store}/build/tmp`)].length;
  } catch { /* none yet */ }
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .filter((l) => l.includes(store)).length;
  return { containers: census(store).containers, mounts, tmp };
}

rootTest(
  "build: the user's story: build -t my_nginx:v1.0 -f Dockerfile ., images, run -d, ps, inspect, enter, fetch",
  async () => {
    const dir = context({
      Dockerfile: `FROM busybox
WORKDIR /usr/share/nginx/html
RUN echo "This is my first image base nginx!" > index.html
EXPOSE 80
CMD ["busybox", "httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]
`,
    });
    await ensureBusybox();
    const [cmd, ...pre] = ctrCommand();
    const b = await new Deno.Command(cmd, {
      args: [
        ...pre,
        "--root",
        store,
        "--state-dir",
        state,
        "build",
        "-t",
        "my_nginx:v1.0",
        "-f",
        "Dockerfile",
        ".",
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(b.stderr);
    assert.equal(b.code, 0, err);
    assert.match(err, /#\d+ \[3\/3\] RUN echo "This is my first image base nginx!" > index.html/);
    assert.match(err, /#\d+ naming to docker.io\/library\/my_nginx:v1.0 done/);
    const id = builtId(err);
    const images = await c(["images"]);
    assert.match(
      images.stdout,
      /^my_nginx\s+v1\.0\s+[0-9a-f]{12}\s+(Less than a second|\d+ seconds) ago\s+2\.\d+MB$/m,
    );
    const prefix = id.slice(7, 19);
    assert.ok(images.stdout.includes(prefix));
    const started = await c(["run", "-d", "--net", prefix]);
    assert.equal(started.code, 0, started.stderr);
    const cid = started.stdout.trim();
    try {
      const ps = await c(["ps"]);
      const row = ps.stdout.split("\n").find((l) => l.startsWith(cid.slice(0, 12)));
      assert.ok(row, ps.stdout);
      // docker truncates the command to 20 characters.
      assert.match(row, /"busybox httpd -f -p…"/);
      assert.match(row, /\b80\/tcp\b/);
      const ins = await c(["inspect", cid]);
      const pidLine = ins.stdout.split("\n").find((l) => /pid/i.test(l) && /"Pid"/.test(l));
      assert.ok(pidLine, ins.stdout);
      const pid = Number(pidLine.match(/"Pid": (\d+)/)![1]);
      assert.ok(pid > 0);
      const addr = await ctr(["enter", String(pid), "--ns", "net", "ip", "addr"]);
      const m = addr.stdout.match(/inet (10\.123\.\d+\.\d+)\/\d+ .*eth0/);
      assert.ok(m, addr.stdout + addr.stderr);
      assert.equal(
        await fetchText(`http://${m[1]}:80/`),
        "This is my first image base nginx!\n",
      );
    } finally {
      assert.equal((await c(["stop", "-t", "1", cid])).code, 0);
      assert.equal((await c(["rm", cid])).code, 0);
    }
    const rmi = await c(["rmi", "my_nginx:v1.0"]);
    assert.equal(rmi.code, 0, rmi.stderr);
    assert.match(rmi.stdout, /^Untagged: my_nginx:v1\.0$/m);
    assert.doesNotMatch((await c(["images"])).stdout, /my_nginx/);
  },
);

rootTest("build: every config instruction lands in the image config and its history", async () => {
  const dir = context({
    Dockerfile: `FROM busybox
MAINTAINER someone@example.com
ARG VERSION=1.2
ENV APP_VERSION=$VERSION PATH=/opt/bin:$PATH
LABEL org.opencontainers.image.version=$VERSION "two words"="a b"
USER 1000:1000
EXPOSE 80 53/udp
VOLUME ["/data", "/logs"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD wget -q -O- http://localhost/ || exit 1
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered > /tmp/onbuild
ENTRYPOINT ["/bin/echo"]
CMD ["hello"]
`,
  });
  const r = await build(dir, ["-t", "meta:1", "--label", "extra=yes"]);
  const img = await inspect("meta:1");
  const cfg = img.Config;
  assert.equal(img.Author, "someone@example.com");
  assert.ok(cfg.Env.includes("APP_VERSION=1.2"), cfg.Env);
  assert.ok(cfg.Env.some((e: string) => e.startsWith("PATH=/opt/bin:/usr/local/sbin")), cfg.Env);
  assert.equal(cfg.Labels["org.opencontainers.image.version"], "1.2");
  assert.equal(cfg.Labels["two words"], "a b");
  assert.equal(cfg.Labels.extra, "yes");
  assert.equal(cfg.User, "1000:1000");
  assert.deepEqual(Object.keys(cfg.ExposedPorts).sort(), ["53/udp", "80/tcp"]);
  assert.deepEqual(Object.keys(cfg.Volumes).sort(), ["/data", "/logs"]);
  assert.equal(cfg.StopSignal, "SIGQUIT");
  assert.deepEqual(cfg.Healthcheck.Test, [
    "CMD-SHELL",
    "wget -q -O- http://localhost/ || exit 1",
  ]);
  assert.equal(cfg.Healthcheck.Interval, 30e9);
  assert.equal(cfg.Healthcheck.Retries, 2);
  assert.deepEqual(cfg.Shell, ["/bin/sh", "-ec"]);
  assert.deepEqual(cfg.OnBuild, ["RUN echo triggered > /tmp/onbuild"]);
  assert.deepEqual(cfg.Entrypoint, ["/bin/echo"]);
  assert.deepEqual(cfg.Cmd, ["hello"]);
  const history = img.History.map((h: { created_by: string }) => h.created_by);
  assert.ok(history.includes("ARG VERSION=1.2"), history);
  assert.ok(history.includes("EXPOSE [53/udp 80/tcp]"), history);
  assert.ok(
    img.History.slice(1).every((h: { empty_layer?: boolean }) => h.empty_layer),
    "no layer",
  );
  assert.equal((await run("meta:1")).stdout, "hello\n");
  // The triggers run in a build FROM it, before its own steps, and are not inherited.
  const child = context({ Dockerfile: "FROM meta:1\nRUN cat /tmp/onbuild\n" });
  const b = await build(child, ["-t", "meta:child"]);
  assert.match(b.stderr, /#\d+ \[2\/3\] RUN echo triggered > \/tmp\/onbuild\n/);
  assert.match(b.stderr, /#\d+ \d+\.\d+ triggered\n/);
  const cat = [
    "run",
    "--rm",
    "--pull",
    "never",
    "--entrypoint",
    "cat",
    "meta:child",
    "/tmp/onbuild",
  ];
  assert.equal((await c(cat)).stdout, "triggered\n");
  assert.equal((await inspect("meta:child")).Config.OnBuild, undefined);
  assert.match(r.stderr, /#\d+ \[internal\] load build definition from Dockerfile/);
});

rootTest(
  "build: SHELL, ENV, USER and WORKDIR apply to later steps and to stages built FROM a stage",
  async () => {
    const dir = context({
      Dockerfile: `FROM busybox AS base
RUN echo "app:x:1000:1000::/home/app:/bin/sh" >> /etc/passwd && echo "app:x:1000:" >> /etc/group
ENV GREETING="hello there"
WORKDIR /work/sub
USER app
RUN id -u > /tmp/uid && pwd > /tmp/pwd && echo "$GREETING" > /tmp/greeting

FROM base AS next
RUN id -un > /tmp/user2 && pwd > /tmp/pwd2
SHELL ["/bin/sh", "-c", "echo shell-was-used > /tmp/shell && sh -c \\"$0\\""]
RUN true
`,
    });
    await build(dir, ["-t", "inherit:1"]);
    const out = await run("inherit:1", [
      "cat",
      "/tmp/uid",
      "/tmp/pwd",
      "/tmp/greeting",
      "/tmp/user2",
      "/tmp/pwd2",
      "/tmp/shell",
    ]);
    assert.equal(
      out.stdout,
      "1000\n/work/sub\nhello there\napp\n/work/sub\nshell-was-used\n",
      out.stderr,
    );
    const stat = await run("inherit:1", ["stat", "-c", "%u:%g %a", "/work/sub"]);
    assert.equal(stat.stdout, "0:0 755\n");
    const cfg = (await inspect("inherit:1")).Config;
    assert.equal(cfg.User, "app");
    assert.equal(cfg.WorkingDir, "/work/sub");
  },
);

rootTest(
  "build: multi-stage COPY --from a stage, an index and an image; --target builds only what it needs",
  async () => {
    const dir = context({
      Dockerfile: `FROM busybox AS builder
RUN mkdir -p /out && echo built > /out/artifact && chmod 640 /out/artifact && chown 1:2 /out/artifact

FROM busybox AS broken
RUN exit 7

FROM busybox
COPY --from=builder /out/artifact /app/
COPY --from=0 /out /from-index
COPY --from=busybox /etc/passwd /passwd-from-image
`,
    });
    const r = await build(dir, ["-t", "multi:1"]);
    assert.doesNotMatch(r.stderr, /exit 7/, "a stage the target does not need is not built");
    const out = await run("multi:1", [
      "sh",
      "-c",
      "cat /app/artifact /from-index/artifact; stat -c '%u:%g %a' /app/artifact; head -1 /passwd-from-image",
    ]);
    assert.equal(out.stdout, "built\nbuilt\n1:2 640\nroot:x:0:0:root:/root:/bin/sh\n", out.stderr);
    const t = await build(dir, ["--target", "broken", "-t", "multi:broken"], true);
    assert.equal(t.code, 1);
    assert.match(t.stderr, /exit code: 7/);
    const only = await build(dir, ["--target", "builder", "-t", "multi:builder"]);
    assert.doesNotMatch(only.stderr, /\[stage-2/);
    const bad = await build(dir, ["--target", "nope"], true);
    assert.match(bad.stderr, /target stage "nope" could not be found/);
  },
);

rootTest(
  "build: ARG scope: global ARGs in FROM, re-declared in a stage; --build-arg wins; ENV wins over ARG",
  async () => {
    const dir = context({
      Dockerfile: `ARG BASE=busybox
ARG GLOBAL=global-default
FROM $BASE
ARG GLOBAL
ARG LOCAL=local-default
ARG SHADOWED=arg
ENV SHADOWED=env
RUN echo "g=$GLOBAL l=$LOCAL s=$SHADOWED" > /args
`,
      "Dockerfile.unset": `ARG GLOBAL=global-default
FROM busybox
RUN echo "unset=[$LOCAL][$GLOBAL]" > /args
`,
    });
    const r = await build(dir, [
      "-t",
      "args:1",
      "--build-arg",
      "LOCAL=from-cli",
      "--build-arg",
      "UNUSED=1",
    ]);
    assert.match(r.stderr, /One or more build-args \[UNUSED\] were not consumed/);
    assert.equal(
      (await run("args:1", ["cat", "/args"])).stdout,
      "g=global-default l=from-cli s=env\n",
    );
    await build(dir, ["-f", `${dir}/Dockerfile.unset`, "-t", "args:2", "--build-arg", "LOCAL=x"]);
    assert.equal((await run("args:2", ["cat", "/args"])).stdout, "unset=[][]\n");
    const history = (await inspect("args:1")).History.map((h: { created_by: string }) =>
      h.created_by
    );
    assert.ok(
      history.some((h: string) =>
        h.startsWith("RUN |3 GLOBAL=global-default LOCAL=from-cli SHADOWED=")
      ),
      history,
    );
  },
);

rootTest(".dockerignore hides files from COPY; an exception brings one back", async () => {
  const dir = context({
    ".dockerignore": "*.log\nsecret/\n!secret/keep.txt\n",
    "Dockerfile": "FROM busybox\nCOPY . /ctx/\n",
    "a.txt": "a\n",
    "debug.log": "no\n",
    "sub/deep.log": "kept: the pattern is for the top level\n",
    "secret/key": "no\n",
    "secret/keep.txt": "yes\n",
  });
  await build(dir, ["-t", "ignore:1"]);
  const out = await run("ignore:1", ["sh", "-c", "cd /ctx && find . -type f | sort"]);
  assert.equal(
    out.stdout,
    "./.dockerignore\n./Dockerfile\n./a.txt\n./secret/keep.txt\n./sub/deep.log\n",
  );
  const miss = context({
    ".dockerignore": "x.txt\n",
    Dockerfile: "FROM busybox\nCOPY x.txt /\n",
    "x.txt": "x",
  });
  const r = await build(miss, [], true);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Dockerfile:2: COPY x\.txt \/: .*"\/x\.txt": not found/);
});

rootTest(
  "build: ADD unpacks a local tar and downloads a URL with its Last-Modified time",
  async () => {
    const dir = context({ "payload/inner/file.txt": "from the tar\n" });
    const tar = await new Deno.Command("tar", {
      args: ["-C", `${dir}/payload`, "-czf", `${dir}/payload.tar.gz`, "inner"],
    }).output();
    assert.ok(tar.success);
    const modified = "Wed, 21 Oct 2015 07:28:00 GMT";
    const ac = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
      (req) =>
        new URL(req.url).pathname === "/files/remote.txt"
          ? new Response("downloaded\n", { headers: { "last-modified": modified } })
          : new Response("no", { status: 404 }),
    );
    try {
      const url = `http://127.0.0.1:${server.addr.port}/files/remote.txt`;
      Deno.writeTextFileSync(
        `${dir}/Dockerfile`,
        `FROM busybox\nADD payload.tar.gz /unpacked/\nADD ${url} /dl/\nADD --chmod=644 ${url} /dl/named.txt\n`,
      );
      await build(dir, ["-t", "add:1"]);
      const out = await run("add:1", [
        "sh",
        "-c",
        "cat /unpacked/inner/file.txt /dl/remote.txt; stat -c '%a %Y' /dl/remote.txt /dl/named.txt",
      ]);
      const t = Date.parse(modified) / 1000;
      assert.equal(out.stdout, `from the tar\ndownloaded\n600 ${t}\n644 ${t}\n`, out.stderr);
      const gone = await build(
        context({
          Dockerfile: `FROM busybox\nADD http://127.0.0.1:${server.addr.port}/missing /x\n`,
        }),
        [],
        true,
      );
      assert.match(gone.stderr, /HTTP status 404/);
    } finally {
      ac.abort();
      await server.finished;
    }
  },
);

rootTest(
  "build: a file deleted in a later layer is gone in the container; an emptied directory stays empty",
  async () => {
    const dir = context({
      Dockerfile: `FROM busybox
RUN mkdir -p /data/old && echo 1 > /data/a && echo 2 > /data/old/b && echo keep > /keep
RUN rm /data/a && rm -rf /data/old && mkdir /data/old && echo new > /data/old/c
RUN rm /etc/passwd.none 2>/dev/null; rm -f /bin/vi
`,
    });
    await build(dir, ["-t", "wh:1"]);
    const out = await run("wh:1", [
      "sh",
      "-c",
      "ls -A /data /data/old; cat /keep; test -e /bin/vi && echo vi-present || echo vi-gone",
    ]);
    assert.equal(out.stdout, "/data:\nold\n\n/data/old:\nc\nkeep\nvi-gone\n", out.stderr);
    const img = await inspect("wh:1");
    assert.equal(img.RootFS.Layers.length, 4);
    // What a RUN's mounts needed (/etc/hosts, /proc) is not part of its layer.
    const top = img.LayerDirs[0];
    const names: string[] = [];
    const walk = (d: string, rel: string) => {
      for (const e of Deno.readDirSync(d)) {
        names.push(`${rel}/${e.name}`);
        if (e.isDirectory) walk(`${d}/${e.name}`, `${rel}/${e.name}`);
      }
    };
    walk(top, "");
    assert.deepEqual(names.sort(), ["/bin", "/bin/vi"], names.join(" "));
  },
);

rootTest("build: heredocs in RUN (a script, a #! file, several) and COPY", async () => {
  const dir = context({
    Dockerfile: `FROM busybox
ARG WHO=world
RUN <<EOF
echo "hello $WHO" > /greeting
echo second line >> /greeting
EOF
RUN <<'EOF'
#!/bin/sh
echo "shebang $0" > /shebang
EOF
RUN cat <<A > /a && cat <<B > /b
in a
A
in b
B
COPY <<EOF /etc/copied.conf
who=$WHO
EOF
COPY <<-"EOF" /raw.txt
\tno $WHO here
\tEOF
`.replace(/\\t/g, "\t"),
  });
  await build(dir, ["-t", "heredoc:1"]);
  const out = await run("heredoc:1", [
    "sh",
    "-c",
    "cat /greeting /shebang /a /b /etc/copied.conf /raw.txt",
  ]);
  assert.equal(
    out.stdout,
    "hello world\nsecond line\nshebang /dev/pipes/EOF\nin a\nin b\nwho=world\nno $WHO here\n",
    out.stderr,
  );
});

rootTest(
  "build: COPY --chown/--chmod/--link, wildcards, and docker's rules for slashes and directories",
  async () => {
    const dir = context({
      "Dockerfile": `FROM busybox
COPY --chown=1000:50 --chmod=600 a.txt /owned
COPY *.md /docs/
COPY dir /flat
COPY dir /nested/dir/
COPY a.txt b.txt /multi/
COPY --link a.txt /linked/a.txt
COPY --chmod=u=rwx,go=rx a.txt /sym
WORKDIR /rel
COPY a.txt .
COPY a.txt renamed
`,
      "a.txt": "a\n",
      "b.txt": "b\n",
      "x.md": "x\n",
      "y.md": "y\n",
      "dir/one": "1\n",
      "dir/sub/two": "2\n",
    });
    await build(dir, ["-t", "copy:1"]);
    const out = await run("copy:1", [
      "sh",
      "-c",
      "stat -c '%u:%g %a' /owned /sym; ls /docs /flat /flat/sub /nested/dir /multi /linked /rel",
    ]);
    assert.equal(
      out.stdout,
      // busybox ls sorts its arguments
      "1000:50 600\n0:0 755\n/docs:\nx.md\ny.md\n\n/flat:\none\nsub\n\n/flat/sub:\ntwo\n\n/linked:\na.txt\n\n/multi:\na.txt\nb.txt\n\n/nested/dir:\none\nsub\n\n/rel:\na.txt\nrenamed\n",
      out.stderr,
    );
    const bad = await build(
      context({ Dockerfile: "FROM busybox\nCOPY a b /notadir\n", a: "", b: "" }),
      [],
      true,
    );
    assert.match(bad.stderr, /the destination must be a directory and end with a \//);
  },
);

rootTest(
  "build: the cache: an unchanged rebuild runs nothing; a changed file re-runs exactly the steps after it; --no-cache runs all",
  async () => {
    const dir = context({
      Dockerfile: `FROM busybox
RUN echo one > /one
COPY first.txt /first.txt
RUN cat /first.txt > /copy1
COPY second.txt /second.txt
RUN cat /second.txt > /copy2
`,
      "first.txt": "1\n",
      "second.txt": "2\n",
    });
    const steps = (stderr: string) =>
      [...stderr.matchAll(/^#(\d+) \[\d\/6\] (.*)$/gm)].map((m) => {
        const cached = new RegExp(`^#${m[1]} CACHED$`, "m").test(stderr);
        return `${m[2].split(" ").slice(0, 2).join(" ")}:${cached ? "cached" : "ran"}`;
      });
    const first = await build(dir, ["-t", "cache:1"]);
    const id = builtId(first.stderr);
    const again = await build(dir, ["-t", "cache:1"]);
    assert.deepEqual(steps(again.stderr), [
      "FROM docker.io/library/busybox:latest:cached",
      "RUN echo:cached",
      "COPY first.txt:cached",
      "RUN cat:cached",
      "COPY second.txt:cached",
      "RUN cat:cached",
    ]);
    assert.equal(builtId(again.stderr), id, "the same image");
    Deno.writeTextFileSync(`${dir}/second.txt`, "2 changed\n");
    const changed = await build(dir, ["-t", "cache:1"]);
    assert.deepEqual(steps(changed.stderr), [
      "FROM docker.io/library/busybox:latest:cached",
      "RUN echo:cached",
      "COPY first.txt:cached",
      "RUN cat:cached",
      "COPY second.txt:ran",
      "RUN cat:ran",
    ]);
    assert.equal((await run("cache:1", ["cat", "/copy2"])).stdout, "2 changed\n");
    const none = await build(dir, ["--no-cache", "-t", "cache:1"]);
    assert.deepEqual(steps(none.stderr).slice(1).map((s) => s.split(":")[1]), [
      "ran",
      "ran",
      "ran",
      "ran",
      "ran",
    ]);
    // A build argument a RUN sees is part of its key.
    const argDir = context({ Dockerfile: "FROM busybox\nARG X=1\nRUN echo $X > /x\n" });
    await build(argDir, ["-t", "cache:arg"]);
    const other = await build(argDir, ["-t", "cache:arg", "--build-arg", "X=2"]);
    assert.match(other.stderr, /RUN echo \$X > \/x\n#\d+ DONE/);
    assert.equal((await run("cache:arg", ["cat", "/x"])).stdout, "2\n");
  },
);

rootTest(
  "build: a failing RUN shows its exit code and line, and leaves no container, mount, cgroup or temporary file",
  async () => {
    const dir = context({
      Dockerfile:
        "FROM busybox\nRUN echo before\nRUN echo to-stdout; echo to-stderr >&2; exit 3\nRUN echo never\n",
    });
    await ensureBusybox();
    const before = leftovers();
    const cgroups = containerCgroups();
    const r = await build(dir, ["-t", "fails:1"], true);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /#\d+ \d+\.\d{3} to-stdout\n/);
    assert.match(r.stderr, /#\d+ \d+\.\d{3} to-stderr\n/);
    assert.match(
      r.stderr,
      /ERROR: process "\/bin\/sh -c echo to-stdout; echo to-stderr >&2; exit 3" did not complete successfully: exit code: 3/,
    );
    assert.match(r.stderr, /^ {3}3 \| >>> RUN echo to-stdout/m);
    assert.match(r.stderr, /^ctr: Dockerfile:3: RUN echo to-stdout.*exit code: 3$/m);
    assert.doesNotMatch(r.stderr, /RUN echo never\n#/, "the steps after it do not start");
    assert.deepEqual(leftovers(), before);
    assert.deepEqual(await newCgroups(cgroups), []);
    assert.doesNotMatch((await c(["images"])).stdout, /fails/);
    const missing = await build(
      context({ Dockerfile: "FROM scratch\nRUN echo no shell\n" }),
      [],
      true,
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Dockerfile:2: RUN echo no shell: .*\/bin\/sh/);
    assert.deepEqual(leftovers(), before);
  },
);

rootTest("build: SIGINT during a RUN ends the build (exit 130) and leaves nothing", async () => {
  const dir = context({ Dockerfile: "FROM busybox\nRUN echo started; sleep 60\n" });
  await ensureBusybox();
  const before = leftovers();
  const cgroups = containerCgroups();
  const p = ctrSpawn(["--root", store, "--state-dir", state, "build", "--progress", "plain", dir]);
  const reader = p.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("started")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  p.kill("SIGINT");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  const status = await p.status;
  await p.stdout.cancel();
  assert.equal(status.code, 130, seen);
  assert.match(seen, /interrupted/);
  assert.deepEqual(leftovers(), before);
  assert.deepEqual(await newCgroups(cgroups), []);
});

rootTest(
  "build: RUN --mount: a cache persists across builds, a bind of a stage, a tmpfs; RUN has only lo by default",
  async () => {
    const dir = context({
      Dockerfile: `FROM busybox AS tools
RUN mkdir /tools && echo tool > /tools/t

FROM busybox
ARG N
RUN --mount=type=cache,target=/cache,id=counter echo $N >> /cache/log && cat /cache/log > /seen
RUN --mount=type=bind,from=tools,source=/tools,target=/mnt cat /mnt/t > /tool
RUN --mount=type=bind,target=/ctx cat /ctx/input > /input
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo x > /scratch/f && grep -c " /scratch tmpfs" /proc/mounts > /tmpfs'
RUN ls /sys/class/net > /links
`,
      input: "from the context\n",
    });
    await build(dir, ["-t", "mounts:1", "--build-arg", "N=1"]);
    await build(dir, ["-t", "mounts:2", "--build-arg", "N=2"]);
    const out = await run("mounts:2", [
      "sh",
      "-c",
      "cat /seen /tool /input /tmpfs /links; for p in /cache /scratch /mnt /ctx; do test -e $p && echo $p; done",
    ]);
    // The mount points are not part of the layers.
    assert.equal(out.stdout, "1\n2\ntool\nfrom the context\n1\nlo\n", out.stderr);
  },
);

rootTest(
  "build: --network bridge puts each RUN on ctr's bridge, host shares the host's; nothing is left",
  async () => {
    const links = () => [...Deno.readDirSync("/sys/class/net")].map((e) => e.name).sort();
    const hadBridge = links().includes("ctr0");
    const before = links().filter((l) => l !== "ctr0");
    const dir = context({
      Dockerfile: `FROM busybox
RUN ip -4 -o addr show eth0 | grep -o "inet 10\\.123\\.[0-9.]*" | cut -d. -f1,2 > /bridge
RUN --network=host ls /sys/class/net | grep -c . > /host-links
RUN --network=none ls /sys/class/net > /none
`,
    });
    await build(dir, ["--network", "bridge", "-t", "net:1"]);
    const out = await run("net:1", ["cat", "/bridge", "/host-links", "/none"]);
    const [bridge, hostLinks, none] = out.stdout.trim().split("\n");
    assert.equal(bridge, "inet 10.123", out.stdout);
    assert.ok(Number(hostLinks) >= 2, out.stdout);
    assert.equal(none, "lo");
    assert.deepEqual(links().filter((l) => l !== "ctr0"), before, "no veth left");
    if (!hadBridge && links().includes("ctr0")) {
      await new Deno.Command("ip", { args: ["link", "del", "ctr0"] }).output();
    }
  },
);

rootTest("history: docker's columns, --no-trunc, -q, -H=false and --format", async () => {
  const dir = context({
    Dockerfile:
      'FROM busybox\nRUN echo a-rather-long-command-line-that-docker-truncates-here > /f\nCMD ["sh"]\n',
  });
  const b = await build(dir, ["-t", "hist:1"]);
  const id = builtId(b.stderr);
  const h = await c(["history", "hist:1"]);
  assert.equal(h.code, 0, h.stderr);
  const lines = h.stdout.trimEnd().split("\n");
  assert.match(lines[0], /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
  assert.match(
    lines[1],
    new RegExp(
      `^${
        id.slice(7, 19)
      }\\s+(Less than a second|\\d+ seconds) ago\\s+CMD \\["sh"\\]\\s+0B\\s+buildkit.dockerfile.v0$`,
    ),
  );
  assert.match(lines[2], /^<missing>\s+.*RUN \/bin\/sh -c echo a-rather-long-command-li…\s+\d/);
  const full = await c(["history", "--no-trunc", "hist:1"]);
  assert.ok(full.stdout.includes(id));
  assert.ok(
    full.stdout.includes(
      "echo a-rather-long-command-line-that-docker-truncates-here > /f # buildkit",
    ),
  );
  const q = await c(["history", "-q", "hist:1"]);
  assert.equal(q.stdout.split("\n")[0], id.slice(7, 19));
  const raw = await c([
    "history",
    "-H=false",
    "--format",
    "{{.CreatedBy}}|{{.Size}}|{{.CreatedSince}}",
    "hist:1",
  ]);
  assert.match(raw.stdout.split("\n")[1], /^RUN .*\|\d+\|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal((await c(["image", "history", "-q", "hist:1"])).stdout, q.stdout);
  assert.equal((await c(["history", "nope:1"])).code, 125);
});

rootTest(
  "build: errors name the file and line: an unknown instruction, a bad flag; FROM scratch works",
  async () => {
    const bad = await build(context({ Dockerfile: "FROM busybox\nRUN true\nFOO bar\n" }), [], true);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Dockerfile:3: unknown instruction: FOO/);
    const scratch = context({
      Dockerfile:
        'FROM scratch\nCOPY --from=busybox /bin/busybox /bin/busybox\nCMD ["/bin/busybox", "echo", "from scratch"]\n',
    });
    await build(scratch, ["-t", "scratch:1"]);
    assert.equal((await run("scratch:1")).stdout, "from scratch\n");
    assert.equal((await inspect("scratch:1")).RootFS.Layers.length, 1);
  },
);

rootTest(
  "build: a tar context on stdin, a Dockerfile on stdin, -f outside the context",
  async () => {
    await ensureBusybox();
    const dir = context({
      "Dockerfile.alt": "FROM busybox\nCOPY data /data\n",
      data: "in the tar\n",
    });
    const tar = `${tempDir()}/ctx.tar`;
    assert.ok(
      (await new Deno.Command("tar", { args: ["-C", dir, "-cf", tar, "."] }).output()).success,
    );
    const [cmd, ...pre] = ctrCommand();
    const piped = await new Deno.Command("sh", {
      args: [
        "-c",
        `"$@" < ${tar}`,
        "sh",
        cmd,
        ...pre,
        "--root",
        store,
        "build",
        "-q",
        "-f",
        "Dockerfile.alt",
        "-t",
        "stdin:tar",
        "-",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(piped.code, 0, new TextDecoder().decode(piped.stderr));
    assert.match(new TextDecoder().decode(piped.stdout), /^sha256:[0-9a-f]{64}\n$/);
    assert.equal((await run("stdin:tar", ["cat", "/data"])).stdout, "in the tar\n");
    const df = await c(["build", "-q", "-t", "stdin:df", "-"], {
      stdin: "FROM busybox\nRUN echo piped > /p\n",
    });
    assert.equal(df.code, 0, df.stderr);
    assert.equal((await run("stdin:df", ["cat", "/p"])).stdout, "piped\n");
    const outside = `${tempDir()}/My.Dockerfile`;
    Deno.writeTextFileSync(outside, "FROM busybox\nCOPY data /d\n");
    const iid = `${tempDir()}/iid`;
    await build(dir, ["-f", outside, "--iidfile", iid, "-t", "stdin:f"]);
    assert.match(Deno.readTextFileSync(iid), /^sha256:[0-9a-f]{64}$/);
    const both = await c(["build", "-f", "-", "-"]);
    assert.equal(both.code, 125);
  },
);

rootTest("builder prune: clears the build cache; the next build runs every step", async () => {
  const dir = context({
    Dockerfile: "FROM busybox\nRUN --mount=type=cache,target=/c echo x > /c/x && echo y > /y\n",
  });
  await build(dir, ["-t", "prune:1"]);
  assert.match((await build(dir, ["-t", "prune:1"])).stderr, /CACHED/);
  const p = await c(["builder", "prune", "-f"]);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /Total reclaimed space: /);
  assert.deepEqual([...Deno.readDirSync(`${store}/build-cache/sha256`)], []);
  const again = await build(dir, ["-t", "prune:1"]);
  assert.doesNotMatch(again.stderr, /#\d+ CACHED\n\n#\d+ exporting/);
});

rootTest("ctr --help lists build, history and builder", async () => {
  const h = await ctr(["--help"]);
  assert.match(h.stdout, /^ {2}build\s/m);
  assert.match(h.stdout, /^ {2}history\s/m);
  assert.match(h.stdout, /^ {2}builder\s/m);
  const b = await ctr(["build", "--help"]);
  assert.match(b.stdout, /--build-arg K=V/);
});
