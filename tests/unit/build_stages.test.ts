/**
 * The build graph: stages and their dependencies, --target and pruning,
 * build waves, global and stage ARG scoping, build-args, predefined and
 * automatic args, ONBUILD triggers of base stages.
 */
import assert from "node:assert/strict";
import {
  type ArgInstruction,
  DockerfileError,
  parseDockerfile,
} from "../../lib/image/build/dockerfile.ts";
import { expandInstruction } from "../../lib/image/build/expand.ts";
import {
  type BuildGraph,
  buildGraph,
  type GraphOptions,
  StageScope,
} from "../../lib/image/build/stages.ts";

const AMD64 = { os: "linux", architecture: "amd64" };
const ARM64 = { os: "linux", architecture: "arm64", variant: "v8" };

function graph(text: string, opts: GraphOptions = {}): BuildGraph {
  return buildGraph(parseDockerfile(text), { buildPlatform: AMD64, ...opts });
}

const MULTI = [
  "FROM alpine AS base", //          0
  "RUN apk add gcc",
  "FROM base AS build", //           1
  "COPY . /src",
  "RUN make",
  "FROM alpine AS docs", //          2
  "RUN make docs",
  "FROM base AS test", //            3
  "COPY --from=build /out /out",
  "RUN --mount=type=bind,from=docs,target=/docs true",
  "FROM scratch", //                 4
  "COPY --from=1 /out/app /app",
  "COPY --from=nginx:latest /etc/nginx/nginx.conf /nginx.conf",
].join("\n");

Deno.test("buildGraph() finds stages, bases and dependencies", () => {
  const g = graph(MULTI);
  assert.deepEqual(g.stages.map((s) => s.label), ["base", "build", "docs", "test", "stage-4"]);
  assert.deepEqual(g.stages.map((s) => s.base), [
    { kind: "image", ref: "alpine" },
    { kind: "stage", index: 0 },
    { kind: "image", ref: "alpine" },
    { kind: "stage", index: 0 },
    { kind: "scratch" },
  ]);
  assert.deepEqual(g.stages.map((s) => s.needs), [[], [0], [], [0, 1, 2], [1]]);
  assert.deepEqual(g.stages[4].images, ["nginx:latest"]);
  assert.equal(g.target, 4);
});

Deno.test("buildGraph() prunes the stages the target does not need and orders them in waves", () => {
  const g = graph(MULTI);
  assert.deepEqual(g.needed, [0, 1, 4]);
  assert.deepEqual(g.waves, [[0], [1], [4]]);
  const t = graph(MULTI, { target: "TEST" });
  assert.equal(t.target, 3);
  assert.deepEqual(t.needed, [0, 1, 2, 3]);
  // docs and base do not depend on each other: they can build side by side.
  assert.deepEqual(t.waves, [[0, 2], [1], [3]]);
});

Deno.test("buildGraph() rejects an unknown target, with a suggestion", () => {
  assert.throws(() => graph(MULTI, { target: "tst" }), (e: unknown) => {
    assert.ok(e instanceof DockerfileError);
    assert.match(e.message, /target stage "tst" could not be found \(did you mean test\?\)/);
    return true;
  });
});

Deno.test("buildGraph() refuses to copy from the current or a later stage", () => {
  assert.throws(
    () => graph("FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\n"),
    /Dockerfile:2: cannot copy from stage "two", it needs to be defined before current stage "one"/,
  );
  assert.throws(() => graph("FROM a\nCOPY --from=0 /x /x\n"), /cannot copy from stage "0"/);
  assert.throws(
    () => graph("FROM a\nCOPY --from=5 /x /x\n"),
    /Dockerfile:2: invalid stage index 5/,
  );
});

Deno.test("buildGraph() needs a FROM, and only ARG before it", () => {
  assert.throws(() => graph("ARG X=1\n"), /dockerfile contains no stages to build/);
  assert.throws(
    () => graph("RUN true\nFROM a\n"),
    /Dockerfile:1: no build stage in current context/,
  );
  assert.throws(
    () => graph("ARG I\nFROM $I\n"),
    /Dockerfile:2: base name \(\$I\) should not be blank/,
  );
  assert.throws(
    () => graph("FROM UPPER:Bad\n"),
    /Dockerfile:1: failed to parse stage name "UPPER:Bad"/,
  );
});

Deno.test("buildGraph() substitutes global ARGs in FROM (the reference's ARG and FROM example)", () => {
  const text = [
    "ARG  CODE_VERSION=latest",
    "FROM base:${CODE_VERSION}",
    "CMD  /code/run-app",
    "FROM extras:${CODE_VERSION}",
    "CMD  /code/run-extras",
  ].join("\n");
  assert.deepEqual(graph(text).stages.map((s) => s.base), [
    { kind: "image", ref: "base:latest" },
    { kind: "image", ref: "extras:latest" },
  ]);
  const over = graph(text, { buildArgs: { CODE_VERSION: "1.2" } });
  assert.deepEqual(over.stages.map((s) => s.base), [
    { kind: "image", ref: "base:1.2" },
    { kind: "image", ref: "extras:1.2" },
  ]);
  // A build-arg no ARG declares is not visible to FROM.
  assert.deepEqual(graph("FROM busybox:${V:-stable}\n", { buildArgs: { V: "x" } }).stages[0].base, {
    kind: "image",
    ref: "busybox:stable",
  });
});

Deno.test("buildGraph() sets the automatic platform ARGs for FROM --platform", () => {
  const g = graph(
    "FROM --platform=$BUILDPLATFORM golang AS build\nFROM --platform=$TARGETPLATFORM alpine\n",
    {
      targetPlatform: ARM64,
    },
  );
  assert.deepEqual(g.stages[0].platform, AMD64);
  assert.deepEqual(g.stages[1].platform, ARM64);
  assert.equal(g.globalArgs.get("TARGETARCH"), "arm64");
  assert.equal(g.globalArgs.get("TARGETVARIANT"), "v8");
  assert.equal(g.globalArgs.get("BUILDOS"), "linux");
  assert.equal(g.globalArgs.get("TARGETSTAGE"), "default");
  assert.equal(graph("FROM a AS x\n", { target: "x" }).globalArgs.get("TARGETSTAGE"), "x");
  assert.throws(
    () => graph("FROM --platform=$NONE a\n"),
    /empty platform value from expression \$NONE/,
  );
});

Deno.test("buildGraph() warns about build-args nothing declares, as docker does", () => {
  const g = graph("ARG USED\nFROM a\nARG ALSO\n", {
    buildArgs: {
      USED: "1",
      ALSO: "2",
      ZED: "3",
      AAA: "4",
      HTTP_PROXY: "http://p",
      TARGETARCH: "x",
    },
  });
  assert.deepEqual(g.warnings, ["[Warning] One or more build-args [AAA ZED] were not consumed"]);
});

Deno.test("buildGraph() reads SOURCE_DATE_EPOCH from a build-arg", () => {
  assert.equal(
    graph("FROM a\n", { buildArgs: { SOURCE_DATE_EPOCH: "1700000000" } }).epoch,
    1700000000,
  );
  assert.equal(graph("FROM a\n").epoch, undefined);
});

Deno.test("buildGraph() gives a stage on a stage the ONBUILD triggers of its base", () => {
  const g = graph([
    "FROM alpine AS build",
    "FROM alpine AS baseimage",
    "ONBUILD COPY --from=build /usr/bin/app /app",
    "ONBUILD RUN echo triggered",
    "FROM baseimage",
    "RUN echo mine",
  ].join("\n"));
  assert.deepEqual(g.stages[1].needs, []); // the trigger is not baseimage's own dependency
  assert.deepEqual(g.stages[2].triggers.map((t) => t.kind), ["COPY", "RUN"]);
  assert.deepEqual(g.stages[2].needs, [0, 1]);
  assert.deepEqual(g.needed, [0, 1, 2]);
});

// ---------------------------------------------------------------- scopes

function args(text: string): ArgInstruction[] {
  return parseDockerfile(`FROM a\n${text}`).instructions.filter((i) =>
    i.kind === "ARG"
  ) as ArgInstruction[];
}

Deno.test("StageScope makes an ARG visible from its line on (the reference's scope example)", () => {
  const df = parseDockerfile(
    "FROM busybox\nUSER ${username:-some_user}\nARG username\nUSER $username\n",
  );
  const g = buildGraph(df, { buildPlatform: AMD64, buildArgs: { username: "what_user" } });
  const scope = StageScope.start(g);
  const [, user1, arg, user2] = df.instructions;
  const u1 = expandInstruction(user1, scope.vars([]));
  assert.equal(u1.kind === "USER" && u1.user, "some_user");
  assert.equal(scope.declare(arg as ArgInstruction), "ARG username=what_user");
  const u2 = expandInstruction(user2, scope.vars([]));
  assert.equal(u2.kind === "USER" && u2.user, "what_user");
});

Deno.test("StageScope lets ENV win over an ARG of the same name (the reference's example)", () => {
  const g = graph("FROM ubuntu\n", { buildArgs: { CONT_IMG_VER: "v2.0.1" } });
  const scope = StageScope.start(g);
  scope.declare(args("ARG CONT_IMG_VER")[0]);
  const env = ["PATH=/bin", "CONT_IMG_VER=v1.0.0"];
  assert.equal(scope.vars(env).get("CONT_IMG_VER"), "v1.0.0");
  assert.ok(scope.runEnv(env).includes("CONT_IMG_VER=v1.0.0"));
  assert.ok(!scope.runEnv(env).includes("CONT_IMG_VER=v2.0.1"));
  // ENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0} without the build-arg
  const plain = StageScope.start(graph("FROM ubuntu\n"));
  plain.declare(args("ARG CONT_IMG_VER")[0]);
  assert.equal(plain.vars([]).get("CONT_IMG_VER"), undefined);
});

Deno.test("StageScope takes the global value of a re-declared ARG, and defaults otherwise", () => {
  const g = graph("ARG VERSION=latest\nFROM busybox:$VERSION\n");
  const scope = StageScope.start(g);
  const decls = args("ARG VERSION\nARG OTHER\nARG D=$VERSION-x");
  assert.equal(scope.declare(decls[0]), "ARG VERSION=latest");
  assert.equal(scope.declare(decls[1]), "ARG OTHER");
  assert.equal(scope.declare(decls[2]), "ARG D=latest-x");
  assert.deepEqual(scope.values(), { VERSION: "latest", D: "latest-x" });
  // A stage that does not re-declare it does not see it.
  assert.equal(StageScope.start(g).vars([]).get("VERSION"), undefined);
});

Deno.test("StageScope exposes automatic args only when declared", () => {
  const g = graph("FROM alpine\n", { targetPlatform: ARM64 });
  const scope = StageScope.start(g);
  assert.equal(scope.vars([]).get("TARGETPLATFORM"), undefined);
  scope.declare(args("ARG TARGETPLATFORM")[0]);
  assert.equal(scope.vars([]).get("TARGETPLATFORM"), "linux/arm64/v8");
});

Deno.test("StageScope passes proxy build-args to RUN but keeps them out of the history", () => {
  const g = graph("FROM ubuntu\n", { buildArgs: { HTTP_PROXY: "http://user:pass@proxy" } });
  const scope = StageScope.start(g);
  assert.ok(scope.runEnv(["PATH=/bin"]).includes("HTTP_PROXY=http://user:pass@proxy"));
  assert.equal(scope.historyPrefix(["PATH=/bin"]), "");
  assert.deepEqual(scope.values(), {});
  // Declared, it is in the history (and the cache key) like any ARG.
  scope.declare(args("ARG HTTP_PROXY")[0]);
  assert.equal(scope.historyPrefix(["PATH=/bin"]), "|1 HTTP_PROXY=http://user:pass@proxy");
});

Deno.test("StageScope.historyPrefix() names the declared args as BuildKit does", () => {
  const scope = StageScope.start(graph("FROM a\n", { buildArgs: { B: "2" } }));
  for (const a of args("ARG A=1\nARG B\nARG C\nARG A=3")) scope.declare(a);
  assert.equal(scope.historyPrefix([]), "|3 A=3 B=2 C=");
  // A stage built on this one keeps its ARGs.
  const child = StageScope.start(graph("FROM a\n"), scope);
  assert.deepEqual(child.values(), { A: "3", B: "2" });
});
