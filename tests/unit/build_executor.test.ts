/**
 * The build executor without containers: RUN steps go to a runner that
 * writes a fixed upper directory, so the step loop, the cache keys, the
 * layers, the stage scheduling and the error paths are tested as any user.
 */
import assert from "node:assert/strict";
import { tempDir, tempStore } from "../_helpers.ts";
import { Store } from "../../lib/image/store.ts";
import { readConfig } from "../../lib/image/images.ts";
import {
  build,
  BuildError,
  type BuildOptions,
  EMPTY_LAYER,
  fillHistoryTimes,
  type RunRequest,
} from "../../lib/image/build/executor.ts";
import { buildProgress } from "../../lib/image/build/progress.ts";
import { sha256 } from "../../lib/image/digest.ts";

/** Progress into a string. */
function capture() {
  let text = "";
  const out = {
    writeSync(b: Uint8Array) {
      text += new TextDecoder().decode(b);
      return b.length;
    },
  };
  return { progress: buildProgress("plain", out, { now: () => 0 }), text: () => text };
}

/**
 * A runner that "runs" RUN steps by their command: `write PATH TEXT` makes
 * a file, `fail N` exits N, `sleep` waits until aborted, `nothing` writes
 * nothing. It records every request.
 */
function fakeRunner(calls: RunRequest[]): BuildOptions["runner"] {
  return async (req, onSuccess) => {
    calls.push(req);
    const cmd = req.args[req.args.length - 1];
    const [verb, ...rest] = cmd.split(" ");
    if (verb === "fail") return { code: Number(rest[0]) };
    if (verb === "sleep") {
      await new Promise<void>((resolve) => {
        if (req.signal?.aborted) resolve();
        req.signal?.addEventListener("abort", () => resolve());
      });
      return { code: 137 };
    }
    req.output?.(new TextEncoder().encode(`ran ${cmd}\n`));
    const upper = Deno.makeTempDirSync();
    try {
      if (verb === "write") {
        const [path, ...text] = rest;
        Deno.mkdirSync(`${upper}${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
        Deno.writeTextFileSync(`${upper}${path}`, text.join(" ") + "\n");
      }
      return { code: 0, value: await onSuccess(upper) };
    } finally {
      Deno.removeSync(upper, { recursive: true });
    }
  };
}

async function run(
  store: Store,
  dockerfile: string,
  opts: Partial<BuildOptions> & { context?: string } = {},
) {
  const calls: RunRequest[] = [];
  const p = capture();
  const context = opts.context ?? tempDir();
  const result = await build({
    store,
    context,
    dockerfile: { text: dockerfile },
    progress: p.progress,
    runner: fakeRunner(calls),
    now: () => new Date("2024-01-02T03:04:05Z"),
    ...opts,
  });
  return { result, calls, text: p.text() };
}

Deno.test("build() runs RUN through the runner with the stage's env, cwd, user and layers", async () => {
  const store = Store.open(tempStore());
  const ctx = tempDir();
  Deno.writeTextFileSync(`${ctx}/a.txt`, "a\n");
  const { result, calls } = await run(
    store,
    `FROM scratch
ENV A=1
ARG B=2
COPY a.txt /a.txt
WORKDIR /w
USER 7
RUN write /w/out hello
`,
    { context: ctx, tags: ["docker.io/library/t:1"] },
  );
  assert.equal(calls.length, 1);
  const req = calls[0];
  assert.deepEqual(req.args, ["/bin/sh", "-c", "write /w/out hello"]);
  assert.ok(req.env.includes("A=1") && req.env.includes("B=2"), req.env.join(" "));
  assert.equal(req.cwd, "/w");
  assert.equal(req.user, "7");
  assert.equal(req.network, "none");
  assert.equal(req.layers.length, 2, "the COPY and WORKDIR layers, top first");
  const config = readConfig(store, result.id);
  assert.equal(config.rootfs.diff_ids.length, 3);
  assert.equal(config.created, "2024-01-02T03:04:05.000Z");
  assert.deepEqual(
    (config.history ?? []).map((h) => [h.created_by, h.empty_layer ?? false]),
    [
      ["ENV A=1", true],
      ["ARG B=2", true],
      ["COPY a.txt /a.txt # buildkit", false],
      ["WORKDIR /w", false],
      ["USER 7", true],
      ["RUN |1 B=2 /bin/sh -c write /w/out hello # buildkit", false],
    ],
  );
  assert.ok(store.readIndex().names["docker.io/library/t:1"]);
});

Deno.test("build() skips cached steps and gives the same image; a step that writes nothing adds no layer", async () => {
  const store = Store.open(tempStore());
  const df = 'FROM scratch\nRUN write /f one\nRUN nothing\nCMD ["x"]\n';
  const first = await run(store, df);
  assert.equal(first.calls.length, 2);
  const config = readConfig(store, first.result.id);
  assert.equal(config.rootfs.diff_ids.length, 1, "the empty step has no layer");
  assert.ok(!config.rootfs.diff_ids.includes(EMPTY_LAYER));
  assert.equal(config.history?.[1].empty_layer, true);
  const again = await run(store, df);
  assert.equal(again.calls.length, 0, "every step cached");
  assert.match(again.text, /#\d+ \[1\/2\] RUN write \/f one\n#\d+ CACHED/);
  assert.equal(again.result.id, first.result.id);
  const changed = await run(store, df.replace("one", "two"));
  assert.equal(changed.calls.length, 2, "a changed step and the ones after it run");
  const none = await run(store, df, { noCache: true });
  assert.equal(none.calls.length, 2);
});

Deno.test("build() builds only the stages the target needs, and independent ones side by side", async () => {
  const store = Store.open(tempStore());
  const df = `FROM scratch AS a
RUN write /a a
FROM scratch AS b
RUN write /b b
FROM scratch AS unused
RUN fail 9
FROM scratch
COPY --from=a /a /a
COPY --from=b /b /b
`;
  const { calls, text } = await run(store, df);
  assert.equal(calls.length, 2);
  assert.doesNotMatch(text, /unused/);
  // Both RUN steps started before either ended: a's and b's vertices interleave.
  const starts = [
    ...new Set([...text.matchAll(/^#(\d+) \[(a|b) 1\/1\] RUN/gm)].map((m) => Number(m[1]))),
  ];
  assert.equal(starts.length, 2);
  const firstDone = Math.min(...starts.map((n) => text.indexOf(`#${n} DONE`)));
  assert.ok(text.indexOf(`#${Math.max(...starts)} [`) < firstDone, text);
});

Deno.test("build() fails with the file, line and exit code; another stage's step is stopped", async () => {
  const store = Store.open(tempStore());
  const df = `FROM scratch AS slow
RUN sleep
FROM scratch AS failing
RUN fail 3
FROM scratch
COPY --from=slow / /slow
COPY --from=failing / /failing
`;
  const calls: RunRequest[] = [];
  const p = capture();
  const err = await build({
    store,
    context: tempDir(),
    dockerfile: { text: df, name: "Dockerfile.test" },
    progress: p.progress,
    runner: fakeRunner(calls),
  }).then(() => undefined, (e) => e);
  assert.ok(err instanceof BuildError, String(err));
  assert.equal(err.exitCode, 1);
  assert.equal(
    err.message,
    'Dockerfile.test:4: RUN fail 3: process "/bin/sh -c fail 3" did not complete successfully: exit code: 3',
  );
  assert.equal(err.where.line, 4);
  assert.ok(calls.every((c) => c.signal?.aborted), "the sleeping step was told to stop");
  assert.deepEqual([...Deno.readDirSync(`${store.root}/build/tmp`)], [], "no temporary file left");
});

Deno.test("build() reports Dockerfile errors and unknown images at their line; aborting interrupts", async () => {
  const store = Store.open(tempStore());
  const bad = await run(store, "FROM scratch\nNOPE x\n").then(() => undefined, (e) => e);
  assert.ok(bad instanceof BuildError);
  assert.match(bad.message, /^Dockerfile:2: unknown instruction: NOPE/);
  const missing = await run(store, "FROM nosuch:1\n").then(() => undefined, (e) => e);
  assert.ok(missing instanceof BuildError);
  assert.match(missing.message, /^Dockerfile:1: FROM nosuch:1: No such image: nosuch:1$/);
  const ac = new AbortController();
  ac.abort();
  const stopped = await run(store, "FROM scratch\nRUN write /x x\n", { signal: ac.signal })
    .then(() => undefined, (e) => e);
  assert.ok(stopped instanceof BuildError);
  assert.equal(stopped.exitCode, 130);
});

Deno.test("build() keys a RUN by its build arguments and network; mounts resolve from stages", async () => {
  const store = Store.open(tempStore());
  const df =
    "FROM scratch AS tools\nRUN write /t/x x\nFROM scratch\nARG V\nRUN --mount=from=tools,source=/t,target=/m write /y y\n";
  const a = await run(store, df, { buildArgs: { V: "1" } });
  const mount = a.calls[1].mounts[0];
  assert.equal(mount.destination, "/m");
  assert.equal(mount.type, "bind");
  assert.ok(mount.type === "bind" && mount.readonly);
  assert.equal((await run(store, df, { buildArgs: { V: "1" } })).calls.length, 0);
  assert.equal((await run(store, df, { buildArgs: { V: "2" } })).calls.length, 1);
  const host = await run(store, df, { buildArgs: { V: "1" }, network: "host" });
  assert.deepEqual(host.calls.map((c) => c.network), ["host", "host"], "the network is in the key");
});

Deno.test("fillHistoryTimes() dates config-only entries as BuildKit's exporter does", () => {
  const h = (created?: string) => ({ ...(created && { created }) });
  assert.deepEqual(
    fillHistoryTimes([h("base"), h(), h("t1"), h(), h("t2"), h()]),
    [h("base"), h("t1"), h("t1"), h("t1"), h("t2"), h("t2")],
  );
  assert.deepEqual(fillHistoryTimes([h("base"), h()]), [h("base"), h("base")]);
  assert.deepEqual(fillHistoryTimes([h(), h()]), [h(), h()]);
});

Deno.test("EMPTY_LAYER is the diff_id of a tar holding nothing", () => {
  assert.equal(EMPTY_LAYER, sha256(new Uint8Array(1024)));
});
