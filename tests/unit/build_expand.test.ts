/**
 * Variable substitution as docker's builder does it: the `${}` forms,
 * quotes, escapes, word splitting, and which instructions substitute.
 */
import assert from "node:assert/strict";
import { type Instruction, parseDockerfile } from "../../lib/image/build/dockerfile.ts";
import {
  expand,
  ExpandError,
  expandInstruction,
  expandWord,
  expandWords,
} from "../../lib/image/build/expand.ts";

const vars = new Map([
  ["FOO", "/bar"],
  ["EMPTY", ""],
  ["SPACED", "a b  c"],
  ["str", "foobarbaz"],
]);

Deno.test("expandWord() substitutes $V and ${V}", () => {
  assert.equal(expandWord("$FOO", vars), "/bar");
  assert.equal(expandWord("${FOO}_x", vars), "/bar_x");
  assert.equal(expandWord("$FOO_x", vars), ""); // the name is FOO_x
  assert.equal(expandWord("a$UNSET-b", vars), "a-b");
  assert.equal(expandWord("cost: $", vars), "cost: $");
  assert.equal(expandWord("$1x", vars), "x");
});

Deno.test("expandWord() applies the default and alternative modifiers", () => {
  const cases: [string, string][] = [
    ["${FOO:-d}", "/bar"],
    ["${EMPTY:-d}", "d"],
    ["${UNSET:-d}", "d"],
    ["${FOO-d}", "/bar"],
    ["${EMPTY-d}", ""],
    ["${UNSET-d}", "d"],
    ["${FOO:+alt}", "alt"],
    ["${EMPTY:+alt}", ""],
    ["${UNSET:+alt}", ""],
    ["${FOO+alt}", "alt"],
    ["${EMPTY+alt}", "alt"],
    ["${UNSET+alt}", ""],
    ["${UNSET:-$FOO/x}", "/bar/x"],
    ["${UNSET:-${FOO:+nested}}", "nested"],
  ];
  for (const [w, want] of cases) assert.equal(expandWord(w, vars), want, w);
});

Deno.test("expandWord() applies the pattern modifiers (the reference's examples)", () => {
  assert.equal(expandWord("${str#f*b}", vars), "arbaz");
  assert.equal(expandWord("${str##f*b}", vars), "az");
  assert.equal(expandWord("${str%b*}", vars), "foobar");
  assert.equal(expandWord("${str%%b*}", vars), "foo");
  assert.equal(expandWord("${str/ba/fo}", vars), "fooforbaz");
  assert.equal(expandWord("${str//ba/fo}", vars), "fooforfoz");
  assert.equal(expandWord("${str#\\*}", new Map([["str", "*x"]])), "x");
});

Deno.test("expandWord() reports ${V?msg} and syntax errors", () => {
  assert.throws(() => expandWord("${UNSET?need it}", vars), new ExpandError("UNSET: need it"));
  assert.throws(() => expandWord("${UNSET:?}", vars), /UNSET: is not allowed to be unset/);
  assert.throws(() => expandWord("${EMPTY:?}", vars), /EMPTY: is not allowed to be empty/);
  assert.equal(expandWord("${EMPTY?}", vars), "");
  assert.throws(() => expandWord("${FOO", vars), /syntax error: missing '}'/);
  assert.throws(() => expandWord("${}", vars), /bad substitution/);
  assert.throws(() => expandWord("${FOO:=x}", vars), /unsupported modifier \(:=\)/);
  assert.throws(() => expandWord("'open", vars), /matching single-quote/);
  assert.throws(() => expandWord('"open', vars), /matching double-quote/);
});

Deno.test("expandWord() handles quotes and escapes like docker", () => {
  assert.equal(expandWord("'$FOO'", vars), "$FOO");
  assert.equal(expandWord('"$FOO"', vars), "/bar");
  assert.equal(expandWord('"a\\"b"', vars), 'a"b');
  assert.equal(expandWord('"a\\b"', vars), "a\\b"); // only " $ and the escape are escaped
  assert.equal(expandWord("\\$FOO", vars), "$FOO");
  assert.equal(expandWord("\\${FOO}", vars), "${FOO}");
  assert.equal(expandWord("Rex\\ The\\ Dog", vars), "Rex The Dog");
  assert.equal(expandWord("\"value'quote space'value2\"", vars), "value'quote space'value2");
  assert.equal(expandWord("'a\\'b", vars), "a\\b"); // no escape inside single quotes
  // A backtick escape (`# escape=\``) makes backslashes ordinary.
  assert.equal(expandWord("c:\\`$FOO", vars, { escape: "`" }), "c:\\$FOO");
});

Deno.test("expandWords() splits on unquoted white space, after substitution", () => {
  assert.deepEqual(expandWords("$SPACED", vars), ["a", "b", "c"]);
  assert.deepEqual(expandWords('"$SPACED" x', vars), ["a b  c", "x"]);
  assert.deepEqual(expandWords("  80/tcp   ${P:-53/udp} ", vars), ["80/tcp", "53/udp"]);
  assert.deepEqual(expandWords("a\\ b c", vars), ["a b", "c"]);
});

Deno.test("expand() reports which variables were used and which were unset", () => {
  const r = expand("$FOO ${NOPE:-x} $EMPTY", vars);
  assert.deepEqual([...r.used].sort(), ["EMPTY", "FOO"]);
  assert.deepEqual([...r.unset], ["NOPE"]);
  assert.equal(expandWord("$X ${Y:-z}", new Map(), { skipUnset: true }), "$X ${Y:-z}");
});

function instructions(text: string): Instruction[] {
  return [...parseDockerfile(text).instructions];
}

Deno.test("expandInstruction() substitutes the reference's example", () => {
  const [, , workdir, add, copy] = instructions(
    "FROM busybox\nENV FOO=/bar\nWORKDIR ${FOO}\nADD . $FOO\nCOPY \\$FOO /quux\n",
  );
  const env = new Map([["FOO", "/bar"]]);
  const w = expandInstruction(workdir, env);
  assert.equal(w.kind === "WORKDIR" && w.path, "/bar");
  const a = expandInstruction(add, env);
  assert.equal(a.kind === "ADD" && a.dest, "/bar");
  const c = expandInstruction(copy, env);
  assert.deepEqual(c.kind === "COPY" && [c.sources, c.dest], [["$FOO"], "/quux"]);
});

Deno.test("expandInstruction() uses the values from before the instruction for all of it", () => {
  // ENV abc=bye def=$abc: def gets the value abc had before this ENV.
  const [, , env] = instructions("FROM a\nENV abc=hello\nENV abc=bye def=$abc\n");
  const r = expandInstruction(env, new Map([["abc", "hello"]]));
  assert.deepEqual(r.kind === "ENV" && r.pairs.map((p) => [p.key, p.value]), [["abc", "bye"], [
    "def",
    "hello",
  ]]);
});

Deno.test("expandInstruction() processes quotes of ENV and LABEL values", () => {
  const [, env, legacy, label] = instructions(
    'FROM a\nENV MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog\nENV ONE "two three"\nLABEL "com.example"="ACME Inc" v=$V\n',
  );
  const e = expandInstruction(env, new Map());
  assert.deepEqual(e.kind === "ENV" && e.pairs.map((p) => p.value), ["John Doe", "Rex The Dog"]);
  const l = expandInstruction(legacy, new Map());
  assert.deepEqual(l.kind === "ENV" && l.pairs, [{ key: "ONE", value: "two three", legacy: true }]);
  const lb = expandInstruction(label, new Map([["V", "1.0"]]));
  assert.deepEqual(lb.kind === "LABEL" && lb.pairs.map((p) => [p.key, p.value]), [[
    "com.example",
    "ACME Inc",
  ], ["v", "1.0"]]);
});

Deno.test("expandInstruction() leaves RUN, CMD, ENTRYPOINT and ONBUILD to the shell and the child build", () => {
  const list = instructions(
    'FROM a\nRUN echo $FOO\nCMD echo $FOO\nENTRYPOINT ["echo", "$FOO"]\nONBUILD RUN echo $FOO\nHEALTHCHECK CMD echo $FOO\nSHELL ["$FOO"]\n',
  );
  for (const ins of list.slice(1)) assert.deepEqual(expandInstruction(ins, vars), ins, ins.kind);
});

Deno.test("expandInstruction() substitutes COPY flags, sources, dest and unquoted heredocs only", () => {
  const [, , , a, b] = instructions([
    "FROM alpine",
    "ARG FOO=bar",
    "ARG MODE=440",
    "COPY --chown=$U:$G --chmod=$MODE <<-EOT ${DIR}/*.txt $DEST",
    "\techo \"hello ${FOO}\" '$FOO'",
    "EOT",
    'COPY <<"EOT" /x',
    "echo ${FOO}",
    "EOT",
  ].join("\n"));
  const v = new Map([
    ["FOO", "bar"],
    ["MODE", "440"],
    ["U", "app"],
    ["G", "staff"],
    ["DIR", "src"],
    ["DEST", "/dst/"],
  ]);
  const x = expandInstruction(a, v);
  assert.ok(x.kind === "COPY");
  assert.equal(x.chown, "app:staff");
  assert.equal(x.chmod, "440");
  assert.deepEqual(x.sources, ["src/*.txt"]);
  assert.equal(x.dest, "/dst/");
  assert.equal(x.contents[0].data, "echo \"hello bar\" 'bar'\n");
  const y = expandInstruction(b, v);
  assert.equal(y.kind === "COPY" && y.contents[0].data, "echo ${FOO}\n");
});

Deno.test("expandInstruction() splits EXPOSE values into words and reports lookups", () => {
  const [, expose] = instructions("FROM a\nEXPOSE $PORTS 8080\n");
  const seen: [string, boolean][] = [];
  const r = expandInstruction(expose, new Map([["PORTS", "80/tcp 443"]]), {
    onLookup: (n, set) => seen.push([n, set]),
  });
  assert.deepEqual(r.kind === "EXPOSE" && r.ports, ["80/tcp", "443", "8080"]);
  assert.deepEqual(seen, [["PORTS", true]]);
});
