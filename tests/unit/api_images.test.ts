/**
 * The pure pieces of the Engine API's image routes: docker's
 * `X-Registry-Auth`, a RUN failure in the classic builder's words, and the
 * progress of pulls and builds as docker's JSON lines.
 */
import assert from "node:assert/strict";
import { buildAuth, configChanges, registryAuth, runFailure } from "../../lib/api/images.ts";
import { jsonBuildProgress, JsonLines, jsonProgress } from "../../lib/api/image_progress.ts";
import { HttpError, type Request, type Response } from "../../lib/api/http.ts";

function req(query: string, headers: Record<string, string> = {}): Request {
  return {
    method: "GET",
    path: "/images/json",
    query: new URLSearchParams(query),
    headers: new Headers(headers),
    body: new Uint8Array(),
  } as unknown as Request;
}

/** A Response whose stream is collected: the status and the JSON lines written. */
function collect() {
  const got = { status: 0, lines: [] as unknown[], ended: false };
  const dec = new TextDecoder();
  const res = {
    stream(status: number) {
      got.status = status;
      return Promise.resolve({
        write(b: Uint8Array) {
          for (const l of dec.decode(b).split("\n").filter(Boolean)) got.lines.push(JSON.parse(l));
          return Promise.resolve();
        },
        end() {
          got.ended = true;
          return Promise.resolve();
        },
      });
    },
  } as unknown as Response;
  return { res, got };
}

Deno.test("registryAuth() decodes base64url JSON; {} is anonymous", () => {
  const b64 = btoa(JSON.stringify({ username: "bob", password: "p?>~" }))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  assert.deepEqual(registryAuth(req("", { "X-Registry-Auth": b64 })), {
    username: "bob",
    password: "p?>~",
  });
  assert.equal(registryAuth(req("", { "X-Registry-Auth": "e30=" })), undefined);
  assert.equal(registryAuth(req("")), undefined);
  assert.throws(() => registryAuth(req("", { "X-Registry-Auth": "!!" })), HttpError);
});

Deno.test("runFailure() words a failed RUN as docker's classic builder, with its code", () => {
  assert.deepEqual(
    runFailure(
      'Dockerfile:2: RUN exit 3: process "/bin/sh -c echo \\"a\\"; exit 3" did not complete successfully: exit code: 3',
    ),
    { message: `The command '/bin/sh -c echo "a"; exit 3' returned a non-zero code: 3`, code: 3 },
  );
  assert.equal(runFailure("Dockerfile:2: COPY x /: no such file"), undefined);
});

Deno.test("jsonProgress() gives docker's pull lines; the head waits for the first layer", async () => {
  const { res, got } = collect();
  const out = new JsonLines(res);
  const p = jsonProgress(out);
  p.line("1: Pulling from team/box");
  assert.equal(out.opened, false, "an error now would still be a plain HTTP error");
  p.update("abc", "Pulling fs layer");
  p.update("abc", "Downloading", 50, 100);
  p.line("Digest: sha256:00");
  await out.end();
  assert.equal(got.status, 200);
  assert.deepEqual(got.lines.slice(0, 2), [
    { status: "Pulling from team/box", id: "1" },
    { status: "Pulling fs layer", progressDetail: {}, id: "abc" },
  ]);
  assert.deepEqual((got.lines[2] as { progressDetail: unknown }).progressDetail, {
    current: 50,
    total: 100,
  });
  assert.deepEqual(got.lines[3], { status: "Digest: sha256:00" });
  assert.ok(got.ended);
});

Deno.test("jsonBuildProgress() shows the Dockerfile's steps as the classic builder", async () => {
  const { res, got } = collect();
  const out = new JsonLines(res);
  const b = jsonBuildProgress(out, false);
  b.vertex("[internal] load build definition from Dockerfile").done();
  b.vertex("[1/2] FROM docker.io/library/busybox:latest").cached();
  const run = b.vertex("[2/2] RUN echo hi");
  run.output(new TextEncoder().encode("hi\n"));
  run.done();
  await out.fail("boom", 3);
  assert.deepEqual(got.lines, [
    { stream: "Step 1/2 : FROM busybox:latest\n" },
    { stream: "Step 2/2 : RUN echo hi\n" },
    { stream: "hi\n" },
    { errorDetail: { code: 3, message: "boom" }, error: "boom" },
  ]);
});

Deno.test("configChanges() turns a commit's config into the instructions commit -c applies", () => {
  const body = new TextEncoder().encode(JSON.stringify({
    Cmd: ["cat", "/c"],
    Env: ["A=b c", "bad"],
    WorkingDir: "/w",
    Labels: { "x y": "z" },
    ExposedPorts: { "80/tcp": {} },
  }));
  assert.deepEqual(configChanges(body), [
    'CMD ["cat","/c"]',
    'ENV A="b c"',
    "WORKDIR /w",
    'LABEL "x y"="z"',
    "EXPOSE 80/tcp",
  ]);
  assert.deepEqual(configChanges(new TextEncoder().encode("null")), []);
  assert.deepEqual(configChanges(new Uint8Array()), []);
});

Deno.test("buildAuth() finds X-Registry-Config's credentials by a reference's domain", () => {
  const conf = btoa(JSON.stringify({
    "127.0.0.1:5000": { username: "bob", password: "pw" },
    "https://index.docker.io/v1/": { username: "hub", password: "h" },
    "other:1": {},
  }));
  const find = buildAuth(req("", { "X-Registry-Config": conf }));
  assert.deepEqual(find("127.0.0.1:5000"), { username: "bob", password: "pw" });
  assert.deepEqual(find("docker.io"), { username: "hub", password: "h" });
  assert.equal(find("other:1"), undefined);
  assert.equal(buildAuth(req(""))("docker.io"), undefined);
});
