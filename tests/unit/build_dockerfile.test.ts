/**
 * The Dockerfile parser against docker's rules: parser directives, the
 * escape character, continuations and comments inside them, heredocs, exec
 * and shell forms, flags, and errors that name the line.
 */
import assert from "node:assert/strict";
import {
  type Dockerfile,
  DockerfileError,
  heredocText,
  type Instruction,
  parseDockerfile,
  parseGoDuration,
  parseRunMount,
  parseTriggers,
} from "../../lib/image/build/dockerfile.ts";

function parse(text: string): Dockerfile {
  return parseDockerfile(text);
}

function only<K extends Instruction["kind"]>(
  df: Dockerfile,
  kind: K,
): Extract<Instruction, { kind: K }>[] {
  return df.instructions.filter((i) => i.kind === kind) as Extract<Instruction, { kind: K }>[];
}

function fails(text: string, message: string | RegExp): void {
  assert.throws(() => parse(text), (e: unknown) => {
    assert.ok(e instanceof DockerfileError, String(e));
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

// ---------------------------------------------------------------- directives

Deno.test("parseDockerfile() reads the escape directive (the reference's Windows example)", () => {
  const df = parse(
    "# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n",
  );
  assert.equal(df.escape, "`");
  assert.equal(df.directives.escape, "`");
  const [copy] = only(df, "COPY");
  assert.deepEqual(copy.sources, ["testfile.txt"]);
  assert.equal(copy.dest, "c:\\");
  const [run] = only(df, "RUN");
  assert.deepEqual(run.command, { form: "shell", text: "dir c:\\" });
});

Deno.test("parseDockerfile() continues a line ending in one escape, not in an escaped escape", () => {
  // The reference's Windows example: as BuildKit parses it, `c:\\` ends the COPY
  // (an escaped escape), while `c:\` at the end of the file still continues.
  const df = parse("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\\\nRUN dir c:\\\n");
  assert.deepEqual(df.instructions.map((i) => i.kind), ["FROM", "COPY", "RUN"]);
  const [copy] = only(df, "COPY");
  assert.equal(copy.dest, "c:\\\\");
  assert.deepEqual(only(df, "RUN")[0].command, { form: "shell", text: "dir c:" });
  const joined = parse("FROM a\nRUN echo a \\\n  b\n");
  assert.deepEqual(only(joined, "RUN")[0].command, { form: "shell", text: "echo a   b" });
});

Deno.test("parseDockerfile() accepts directives with blanks and any case, only at the top", () => {
  for (const d of ["#escape=`", "# escape =`", "#\tescape= `", "# escape = `", "#\t  eScApE=`"]) {
    assert.equal(parse(`${d}\nFROM a\n`).escape, "`", d);
  }
  // After a comment, an empty line or an instruction, it is a comment.
  assert.equal(parse("# about\n# escape=`\nFROM a\n").escape, "\\");
  assert.equal(parse("\n# escape=`\nFROM a\n").escape, "\\");
  assert.equal(parse("FROM a\n# escape=`\n").escape, "\\");
  // An unknown directive ends the directives too.
  const df = parse("# unknowndirective=value\n# syntax=docker/dockerfile:1\nFROM a\n");
  assert.equal(df.directives.syntax, undefined);
  assert.equal(
    parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a").directives.syntax,
    "docker/dockerfile:1",
  );
});

Deno.test("parseDockerfile() rejects a repeated directive and a bad escape token", () => {
  fails(
    "# escape=`\n# escape=\\\nFROM a\n",
    "Dockerfile:2: only one escape parser directive can be used",
  );
  fails("# escape=x\nFROM a\n", "Dockerfile:1: invalid escape token 'x' does not match ` or \\");
});

// ---------------------------------------------------------------- lines

Deno.test("parseDockerfile() drops comments and empty lines inside continuations (with a warning)", () => {
  const df = parse([
    "FROM a",
    "RUN echo hello \\",
    "# a comment",
    "  # an indented comment",
    "world \\",
    "",
    "again",
    "RUN echo # not a comment",
  ].join("\n"));
  const runs = only(df, "RUN");
  assert.deepEqual(runs[0].command, { form: "shell", text: "echo hello world again" });
  assert.equal(runs[0].line, 2);
  assert.equal(runs[0].endLine, 7);
  assert.deepEqual(runs[1].command, { form: "shell", text: "echo # not a comment" });
  assert.equal(df.warnings.length, 1);
  assert.match(df.warnings[0].message, /^Empty continuation line found in: RUN echo hello/);
});

Deno.test("parseDockerfile() keeps instruction lines and columns, CRLF and a BOM", () => {
  const df = parse('\uFEFFFROM a\r\n\r\n   RUN true\r\n\tCMD ["x"]\r\n');
  assert.deepEqual(df.instructions.map((i) => [i.kind, i.line, i.column]), [
    ["FROM", 1, 1],
    ["RUN", 3, 4],
    ["CMD", 4, 2],
  ]);
  assert.deepEqual(only(df, "RUN")[0].command, { form: "shell", text: "true" });
});

Deno.test("parseDockerfile() ends a continuation at the end of the file", () => {
  const df = parse("FROM a\nRUN echo \\");
  assert.deepEqual(only(df, "RUN")[0].command, { form: "shell", text: "echo" });
});

Deno.test("parseDockerfile() names the line of an unknown instruction, with a suggestion", () => {
  fails("FROM a\n\n\nRUNN true\n", "Dockerfile:4: unknown instruction: RUNN (did you mean RUN?)");
  fails("FROM a\nFOO bar\n", "Dockerfile:2: unknown instruction: FOO");
  assert.equal(
    new DockerfileError("Dockerfile", 12, "unknown instruction: FOO").message,
    "Dockerfile:12: unknown instruction: FOO",
  );
  fails("# only a comment\n", "Dockerfile: file with no instructions");
});

// ---------------------------------------------------------------- forms

Deno.test("parseDockerfile() tells exec form from shell form", () => {
  const df = parse([
    "FROM a",
    'CMD ["echo", "a b"]',
    "CMD echo a b",
    'CMD ["not json"',
    "CMD []",
    'ENTRYPOINT ["/bin/sh", "-c"]',
    'SHELL ["/bin/bash", "-o", "pipefail", "-c"]',
  ].join("\n"));
  const cmds = only(df, "CMD").map((c) => c.command);
  assert.deepEqual(cmds, [
    { form: "exec", args: ["echo", "a b"] },
    { form: "shell", text: "echo a b" },
    { form: "shell", text: '["not json"' },
    { form: "exec", args: [] },
  ]);
  assert.deepEqual(only(df, "SHELL")[0].shell, ["/bin/bash", "-o", "pipefail", "-c"]);
  fails(
    'FROM a\nCMD ["a", 1]\n',
    "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only",
  );
  fails(
    "FROM a\nSHELL /bin/bash -c\n",
    "Dockerfile:2: SHELL requires the arguments to be in JSON form",
  );
});

Deno.test("parseDockerfile() parses ENV and LABEL pairs and the legacy form (reference examples)", () => {
  const df = parse([
    "FROM a",
    'ENV MY_NAME="John Doe"',
    "ENV MY_DOG=Rex\\ The\\ Dog",
    'ENV MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog \\',
    "    MY_CAT=fluffy",
    "ENV ONE TWO= THREE=world",
    'LABEL "com.example.vendor"="ACME Incorporated" version=1.0',
  ].join("\n"));
  const envs = only(df, "ENV");
  assert.deepEqual(envs[0].pairs, [{ key: "MY_NAME", value: '"John Doe"', legacy: false }]);
  assert.deepEqual(envs[1].pairs, [{ key: "MY_DOG", value: "Rex\\ The\\ Dog", legacy: false }]);
  assert.deepEqual(envs[2].pairs.map((p) => p.key), ["MY_NAME", "MY_DOG", "MY_CAT"]);
  assert.deepEqual(envs[3].pairs, [{ key: "ONE", value: "TWO= THREE=world", legacy: true }]);
  assert.deepEqual(only(df, "LABEL")[0].pairs.map((p) => [p.key, p.value]), [
    ['"com.example.vendor"', '"ACME Incorporated"'],
    ["version", "1.0"],
  ]);
  fails("FROM a\nENV name\n", "Dockerfile:2: ENV must have two arguments");
  fails("FROM a\nENV a=b c\n", /can't find = in "c"/);
  fails("FROM a\nLABEL =x\n", "Dockerfile:2: LABEL names can not be blank");
});

Deno.test("parseDockerfile() parses FROM, ARG, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL", () => {
  const df = parse([
    "ARG VERSION=latest",
    "FROM --platform=$BUILDPLATFORM busybox:$VERSION AS Build",
    'ARG user1 buildno=1 quoted="a b"',
    "EXPOSE 80/tcp 53/udp",
    'VOLUME ["/data", "/logs"]',
    "VOLUME /a /b",
    "USER app:staff",
    "WORKDIR /usr/src app",
    "STOPSIGNAL SIGQUIT",
    "MAINTAINER someone <a@b>",
  ].join("\n"));
  const [from] = only(df, "FROM");
  assert.equal(from.image, "busybox:$VERSION");
  assert.equal(from.stage, "build");
  assert.equal(from.platform, "$BUILDPLATFORM");
  assert.deepEqual(only(df, "ARG")[1].args, [
    { name: "user1" },
    { name: "buildno", value: "1" },
    { name: "quoted", value: '"a b"' },
  ]);
  assert.deepEqual(only(df, "EXPOSE")[0].ports, ["53/udp", "80/tcp"]);
  assert.deepEqual(only(df, "VOLUME").map((v) => v.paths), [["/data", "/logs"], ["/a", "/b"]]);
  assert.equal(only(df, "USER")[0].user, "app:staff");
  assert.equal(only(df, "WORKDIR")[0].path, "/usr/src app");
  assert.equal(only(df, "STOPSIGNAL")[0].signal, "SIGQUIT");
  assert.equal(only(df, "MAINTAINER")[0].maintainer, "someone <a@b>");
  fails("FROM a AS 1x\n", /invalid name for build stage: "1x"/);
  fails("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments");
  fails("FROM a\nUSER\n", "Dockerfile:2: USER requires exactly one argument");
});

// ---------------------------------------------------------------- flags

Deno.test("parseDockerfile() reads instruction flags and rejects unknown ones", () => {
  const df = parse([
    "FROM a",
    'COPY --from=build --chown="app:app" --chmod=644 --link --exclude=*.md --exclude=*.txt a b /dst/',
    "ADD --checksum=sha256:abc --keep-git-dir=false --unpack=true https://x/y.tgz /",
    "RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=tok --network=none --security=insecure make",
  ].join("\n"));
  const [copy] = only(df, "COPY");
  assert.equal(copy.from, "build");
  assert.equal(copy.chown, "app:app");
  assert.equal(copy.chmod, "644");
  assert.equal(copy.link, true);
  assert.deepEqual(copy.exclude, ["*.md", "*.txt"]);
  assert.deepEqual(copy.sources, ["a", "b"]);
  const [add] = only(df, "ADD");
  assert.equal(add.checksum, "sha256:abc");
  assert.equal(add.keepGitDir, false);
  assert.equal(add.unpack, true);
  const [run] = only(df, "RUN");
  assert.deepEqual(run.mounts, ["type=cache,target=/root/.cache", "type=secret,id=tok"]);
  assert.equal(run.network, "none");
  assert.equal(run.security, "insecure");
  assert.deepEqual(run.command, { form: "shell", text: "make" });
  fails("FROM a\nCOPY --fromm=x a b\n", "Dockerfile:2: unknown flag: --fromm (did you mean from?)");
  fails("FROM a\nCOPY --from=a --from=b x y\n", "Dockerfile:2: duplicate flag specified: --from");
  fails("FROM a\nCOPY --from x y\n", "Dockerfile:2: missing a value on flag: --from");
  fails(
    "FROM a\nCOPY --link=maybe x y\n",
    "Dockerfile:2: expecting boolean value for flag --link, not: maybe",
  );
  fails("FROM a\nRUN --network=bridge true\n", 'Dockerfile:2: invalid network mode "bridge"');
  fails("FROM a\nCOPY --from=$X a b\n", /variable expansion is not supported for --from/);
  fails("FROM a\nCOPY onlyone\n", /COPY requires at least two arguments/);
});

Deno.test("parseDockerfile() stops flags at -- and keeps quoted flag values", () => {
  const df = parse('FROM a\nCOPY --chown="a b" -- --weird /dst\n');
  const [copy] = only(df, "COPY");
  assert.equal(copy.chown, "a b");
  assert.deepEqual(copy.sources, ["--weird"]);
});

Deno.test("parseRunMount() reads BuildKit's mount syntax", () => {
  assert.deepEqual(parseRunMount("type=cache,target=/var/cache/apt,sharing=locked,id=apt"), {
    type: "cache",
    target: "/var/cache/apt",
    sharing: "locked",
    id: "apt",
    readOnly: false,
    required: false,
  });
  const bind = parseRunMount("target=/src,from=build,source=/out,rw");
  assert.equal(bind.type, "bind");
  assert.equal(bind.readOnly, false);
  assert.equal(parseRunMount("type=bind,target=/x").readOnly, true);
  assert.equal(parseRunMount("type=tmpfs,target=/t,size=64m").size, 64 << 20);
  assert.equal(parseRunMount("type=secret,id=aws,required,mode=0400").mode, 0o400);
  assert.equal(parseRunMount('type=cache,"target=/a,b"').target, "/a,b");
  assert.throws(() => parseRunMount("type=nfs,target=/x"), /unsupported mount type "nfs"/);
  assert.throws(
    () => parseRunMount("type=bind,target=/x,mode=0755"),
    /mode not allowed for "bind" type mounts/,
  );
  assert.throws(
    () => parseRunMount("type=bind,tagret=/x"),
    /unexpected key 'tagret'.*did you mean target/,
  );
  assert.throws(() => parseRunMount("type=secret"), /one of source, target required/);
  assert.deepEqual(
    parseRunMount("type=cache,target=$D", (v) => v.replace("$D", "/d")).target,
    "/d",
  );
});

Deno.test("parseDockerfile() parses HEALTHCHECK with Go durations", () => {
  const df = parse([
    "FROM a",
    "HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --retries=3 \\",
    "  CMD curl -f http://localhost/ || exit 1",
    'HEALTHCHECK CMD ["/bin/check", "--quiet"]',
    "HEALTHCHECK NONE",
  ].join("\n"));
  const [a, b, c] = only(df, "HEALTHCHECK").map((h) => h.health);
  assert.deepEqual(a, {
    Test: ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
    Interval: 300e9,
    Timeout: 3e9,
    StartPeriod: 90e9,
    Retries: 3,
  });
  assert.deepEqual(b, { Test: ["CMD", "/bin/check", "--quiet"] });
  assert.deepEqual(c, { Test: ["NONE"] });
  assert.equal(parseGoDuration("1.5h"), 5400e9);
  assert.equal(parseGoDuration("300ms"), 300e6);
  fails(
    "FROM a\nHEALTHCHECK --interval=5 CMD x\n",
    'Dockerfile:2: time: missing unit in duration "5"',
  );
  fails(
    "FROM a\nHEALTHCHECK CONNECT x\n",
    'Dockerfile:2: Unknown type "CONNECT" in HEALTHCHECK (try CMD)',
  );
  fails("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK NONE takes no arguments");
});

// ---------------------------------------------------------------- heredocs

Deno.test("parseDockerfile() reads heredocs of RUN (the reference's examples)", () => {
  const df = parse([
    "FROM debian",
    "RUN <<EOT bash",
    "  set -ex",
    "  apt-get update",
    "EOT",
    "RUN <<EOT",
    "#!/usr/bin/env python",
    'print("hello world")',
    "EOT",
    "RUN <<FILE1 cat > file1 && <<FILE2 cat > file2",
    "I am",
    "first",
    "FILE1",
    "I am",
    "second",
    "FILE2",
    "CMD done",
  ].join("\n"));
  const [a, b, c] = only(df, "RUN");
  assert.deepEqual(a.command, { form: "shell", text: "<<EOT bash" });
  assert.deepEqual(a.heredocs, [{
    name: "EOT",
    content: "  set -ex\n  apt-get update\n",
    expand: true,
    chomp: false,
    fd: 0,
  }]);
  assert.equal(a.line, 2);
  assert.equal(a.endLine, 5);
  assert.equal(b.heredocs[0].content, '#!/usr/bin/env python\nprint("hello world")\n');
  assert.deepEqual(c.heredocs.map((h) => [h.name, h.content]), [
    ["FILE1", "I am\nfirst\n"],
    ["FILE2", "I am\nsecond\n"],
  ]);
  assert.equal(only(df, "CMD")[0].line, 17);
});

Deno.test("parseDockerfile() reads COPY heredocs: <<- strips tabs, a quoted word disables expansion", () => {
  const df = parse([
    "FROM alpine",
    "ARG FOO=bar",
    "COPY <<-EOT /script.sh",
    '\t\techo "hello ${FOO}"',
    "\tEOT",
    'COPY <<-"EOT" /script2.sh',
    '  echo "hello ${FOO}"',
    "EOT",
    "COPY <<EOF greeting.txt",
    "hello world",
    "EOF",
  ].join("\n"));
  const [a, b, c] = only(df, "COPY");
  assert.deepEqual(a.contents, [{ path: "EOT", data: 'echo "hello ${FOO}"\n', expand: true }]);
  assert.deepEqual(b.contents, [{ path: "EOT", data: '  echo "hello ${FOO}"\n', expand: false }]);
  assert.deepEqual(c.contents, [{ path: "EOF", data: "hello world\n", expand: true }]);
  assert.equal(c.dest, "greeting.txt");
  assert.deepEqual(c.sources, []);
  assert.equal(heredocText({ content: "\t\ta\n\tb\n", chomp: true }), "a\nb\n");
});

Deno.test("parseDockerfile() rejects an unterminated heredoc and a heredoc destination", () => {
  fails("FROM a\nRUN <<EOF\necho\n", "Dockerfile:2: unterminated heredoc");
  fails(
    "FROM a\nCOPY x <<EOF\nEOF\n",
    "Dockerfile:2: COPY cannot accept a heredoc as a destination",
  );
});

Deno.test("parseDockerfile() takes no heredoc in exec form or in other instructions", () => {
  const df = parse('FROM a\nRUN ["cat", "<<EOF"]\nENV a=<<EOF\n');
  assert.deepEqual(only(df, "RUN")[0].heredocs, []);
  assert.equal(df.instructions.length, 3);
});

// ---------------------------------------------------------------- ONBUILD

Deno.test("parseDockerfile() parses ONBUILD triggers and keeps their text", () => {
  const df = parse([
    "FROM a",
    "ONBUILD ADD . /app/src",
    "ONBUILD RUN /usr/local/bin/python-build --dir /app/src",
    "ONBUILD COPY --from=build /usr/bin/app /app",
    "ONBUILD RUN <<EOF",
    "echo hi",
    "EOF",
  ].join("\n"));
  const ob = only(df, "ONBUILD");
  assert.deepEqual(ob.map((o) => o.expression), [
    "ADD . /app/src",
    "RUN /usr/local/bin/python-build --dir /app/src",
    "COPY --from=build /usr/bin/app /app",
    "RUN <<EOF\necho hi\nEOF",
  ]);
  assert.equal(ob[2].trigger.kind, "COPY");
  assert.equal(ob[2].trigger.kind === "COPY" && ob[2].trigger.from, "build");
  fails("FROM a\nONBUILD ONBUILD RUN x\n", /Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed/);
  fails("FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger");
  fails(
    "FROM a\nONBUILD MAINTAINER b\n",
    "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger",
  );
});

Deno.test("parseTriggers() parses an image's stored triggers at the child's FROM line", () => {
  const ins = parseTriggers(["ADD . /app/src", "RUN <<EOF\necho hi\nEOF"], { line: 7 });
  assert.deepEqual(ins.map((i) => [i.kind, i.line]), [["ADD", 7], ["RUN", 7]]);
  assert.equal(ins[1].kind === "RUN" && ins[1].heredocs[0].content, "echo hi\n");
  assert.throws(() => parseTriggers(["FROM x"], { line: 3 }), /Dockerfile:3: FROM isn't allowed/);
  assert.throws(
    () => parseTriggers(["NOPE x"], { line: 3 }),
    /Dockerfile:3: ONBUILD trigger: unknown instruction: NOPE/,
  );
});
