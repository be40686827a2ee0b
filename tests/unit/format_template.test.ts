/**
 * lib/format against Go: every case of tests/fixtures/gotemplate/fixtures.json (made by
 * scripts/gen_template_fixtures.sh with Go's text/template and docker's functions) must
 * print what Go printed, or fail where Go failed with the same message; then the choices
 * lib/format makes where it differs from Go or docker on purpose, and the tabwriter.
 */
import assert from "node:assert/strict";
import {
  CONTAINER_LIST,
  displayWidth,
  formatList,
  formatObject,
  headerData,
  headerName,
  parseTemplate,
  renderTemplate,
  tabulate,
  TemplateError,
  VOLUME_LIST,
} from "../../lib/format/mod.ts";
import { formatTemplate } from "../../lib/cli/control.ts";

interface Fixture {
  mode?: "exec" | "list";
  template: string;
  dataset?: string;
  items?: unknown[];
  headers?: Record<string, string>;
  missingKey?: "error";
  output?: string;
  error?: string;
}

const FIXTURES: { go: string; datasets: Record<string, unknown>; cases: Fixture[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/gotemplate/fixtures.json", import.meta.url)),
);

/**
 * Go sorts a map's keys when it prints it as JSON; lib/format keeps an object's own order
 * (docker prints its structs' fields in declaration order). Sorted input makes both agree.
 */
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/**
 * The messages lib/format words differently from Go on purpose: the type a field cannot be
 * read from is the value's own (Go names the static interface {}), an index one past the
 * end says so (Go lets reflect panic), and the depth limit of {{template}} is 1000 (Go's
 * 100000 would overflow JavaScript's stack). Parse errors carry the column too.
 */
function normalize(message: string): string {
  return message
    .replace(/^(template: [^:]*:\d+):\d+: (?!executing)/, "$1: ")
    .replace(/can't evaluate field (\S+) in type .*$/, "can't evaluate field $1 in type T")
    .replace(/error calling index: (reflect: slice )?index out of range.*$/, "index out of range")
    .replace(/maximum template depth \(\d+\)/, "maximum template depth (N)");
}

function run(c: Fixture): string {
  if (c.mode === "list") {
    return formatList(c.template, (c.items ?? []).map(sorted), {
      kind: { table: "", headers: c.headers ?? {} },
    });
  }
  return renderTemplate(c.template, sorted(FIXTURES.datasets[c.dataset!]), {
    missingKey: c.missingKey,
  });
}

const seen = new Map<string, number>();
for (const c of FIXTURES.cases) {
  const fn = c.mode === "list" ? "formatList()" : "renderTemplate()";
  const what = c.error === undefined ? "prints what Go prints" : "fails where Go fails";
  let name = `${fn} ${what} for ${JSON.stringify(c.template)}` +
    (c.missingKey ? " with missingkey=error" : "");
  const n = (seen.get(name) ?? 0) + 1;
  seen.set(name, n);
  if (n > 1) name += ` (${n})`;
  Deno.test(name, () => {
    if (c.error === undefined) {
      assert.equal(run(c), c.output);
      return;
    }
    assert.throws(() => run(c), (e: unknown) => {
      assert.ok(e instanceof TemplateError, `not a TemplateError: ${e}`);
      assert.equal(normalize(e.message), normalize(c.error!));
      return true;
    });
  });
}

Deno.test("the fixture covers docker's idioms and was made by Go", () => {
  assert.match(FIXTURES.go, /^go1\./);
  const templates = new Set(FIXTURES.cases.map((c) => c.template));
  for (
    const t of [
      "{{.State.Pid}}",
      "{{json .Config}}",
      "{{range .Mounts}}{{.Source}}{{end}}",
      `{{index .NetworkSettings.Networks "bridge"}}`,
      `{{join .Args ","}}`,
      `{{printf "%-20s" .Name}}|`,
      `{{if eq .State.Status "running"}}up{{else}}down{{end}}`,
      "table {{.ID}}\\t{{.Image}}",
    ]
  ) assert.ok(templates.has(t), t);
  assert.ok(FIXTURES.cases.length > 300);
});

const INSPECT = FIXTURES.datasets.INSPECT as Record<string, unknown>;

Deno.test("renderTemplate() names the type a field cannot be read from", () => {
  assert.throws(
    () => renderTemplate("{{.Name.First}}", INSPECT),
    {
      message:
        `template: :1:7: executing "" at <.Name.First>: can't evaluate field First in type string`,
    },
  );
});

Deno.test("parseTemplate() errors give the line and the column", () => {
  assert.throws(() => parseTemplate("a\nb {{.s | nofunc}}"), {
    message: `template: :2:9: function "nofunc" not defined`,
  });
  assert.throws(() => parseTemplate("{{if .t}}x"), { message: "template: :1:10: unexpected EOF" });
  assert.throws(() => parseTemplate("{{1i}}"), {
    message: "template: :1:2: complex number 1i is not supported",
  });
});

Deno.test("renderTemplate() keeps an object's key order in json and sorts maps when ranging", () => {
  const data = { m: { b: 1, a: 2 } };
  assert.equal(renderTemplate("{{json .m}}", data), `{"b":1,"a":2}`);
  assert.equal(
    renderTemplate("{{range $k, $v := .m}}{{$k}}{{end}} {{.m}}", data),
    "ab map[a:2 b:1]",
  );
});

Deno.test("renderTemplate() prints a missing key as <no value> by default", () => {
  assert.equal(renderTemplate("{{.Nope}}|{{.State.Nope}}", INSPECT), "<no value>|<no value>");
});

Deno.test("TemplateError keeps what was printed before the failure", () => {
  try {
    renderTemplate("ok {{.s.x}}", { s: "x" });
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof TemplateError);
    assert.equal(e.stage, "execute");
    assert.equal(e.output, "ok ");
  }
});

Deno.test("formatTemplate() (ctr inspect -f) evaluates Go templates and names a missing field", () => {
  assert.equal(
    formatTemplate("{{.State.Pid}} {{json .Args}}", INSPECT),
    `4242 ["-g","daemon off;"]`,
  );
  assert.equal(
    formatTemplate("{{range .Mounts}}{{.Source}}\\n{{end}}", INSPECT),
    "/srv/data\n/var/lib/ctr/volumes/cache\n",
  );
  assert.throws(() => formatTemplate("{{.State.Pidd}}", INSPECT), {
    message: `template: :1:8: executing "" at <.State.Pidd>: map has no entry for key "Pidd"`,
  });
});

Deno.test("formatObject() expands \\t and \\n typed as two characters", () => {
  assert.equal(formatObject("{{.a}}\\t{{.b}}\\n", { a: 1, b: 2 }), "1\t2\n");
});

const PS = [
  {
    ID: "3f4e5d6c7b8a",
    Image: "nginx",
    Command: '"nginx -g…"',
    RunningFor: "2 hours ago",
    Status: "Up 2 hours",
    Ports: "",
    Names: "web",
    CreatedAt: "2024-05-01",
    IPAddress: "10.0.0.2",
  },
  {
    ID: "a1b2c3d4e5f6",
    Image: "busybox",
    Command: '"sh"',
    RunningFor: "3 days ago",
    Status: "Exited (0) 3 days ago",
    Ports: "0.0.0.0:80->80/tcp",
    Names: "box",
    CreatedAt: "2024-04-28",
    IPAddress: "",
  },
];

Deno.test("formatList() without a format prints the kind's default table", () => {
  const out = formatList(undefined, PS, { kind: CONTAINER_LIST });
  assert.equal(
    out,
    [
      "CONTAINER ID   IMAGE     COMMAND       CREATED       STATUS                  PORTS                NAMES",
      '3f4e5d6c7b8a   nginx     "nginx -g…"   2 hours ago   Up 2 hours                                   web',
      'a1b2c3d4e5f6   busybox   "sh"          3 days ago    Exited (0) 3 days ago   0.0.0.0:80->80/tcp   box',
      "",
    ].join("\n"),
  );
  assert.equal(formatList("table", PS, { kind: CONTAINER_LIST }), out);
});

Deno.test("formatList() json prints one object per line", () => {
  const out = formatList("json", PS, { kind: CONTAINER_LIST });
  const lines = out.split("\n");
  assert.equal(lines.length, 3);
  assert.deepEqual(JSON.parse(lines[0]), PS[0]);
  assert.equal(lines[2], "");
});

Deno.test("formatList() names the columns docker has no name for after their field", () => {
  const out = formatList("table {{.Names}}\\t{{.CreatedAt}}\\t{{.IPAddress}}\\t{{.State.Status}}", [
    { ...PS[0], State: { Status: "running" } },
  ], { kind: CONTAINER_LIST });
  assert.equal(out.split("\n")[0], "NAMES     CREATED AT   IP ADDRESS   STATUS");
  assert.equal(headerName("CPUPerc"), "CPU PERC");
  assert.equal(headerName("Name", VOLUME_LIST.headers), "VOLUME NAME");
  const tpl = parseTemplate("{{.A}} {{.B.C}} {{.A.D}}");
  assert.deepEqual(headerData(tpl, { A: "AAA" }), { A: "AAA", B: { C: "C" } });
});

Deno.test("formatList() prints one line per item for a plain template", () => {
  assert.equal(
    formatList("{{.Names}}: {{.Status}}", PS, { kind: CONTAINER_LIST }),
    "web: Up 2 hours\nbox: Exited (0) 3 days ago\n",
  );
  assert.equal(formatList("{{.Names}}", [], { kind: CONTAINER_LIST }), "");
});

Deno.test("formatList() fails on a field missing from an item with missingKey error", () => {
  assert.throws(() => formatList("{{.Nope}}", PS, { kind: CONTAINER_LIST, missingKey: "error" }), {
    message: `template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"`,
  });
});

// The expected strings are what Go's text/tabwriter prints for the same input and settings.
Deno.test("tabulate() aligns cells like Go's tabwriter", () => {
  const opts = { minWidth: 0, tabWidth: 8, padding: 1, padChar: " " };
  assert.equal(tabulate("a\tbbb\tc\naaaa\tb\tc\n", opts), "a    bbb c\naaaa b   c\n");
  // a line without a tab ends the column above it
  assert.equal(tabulate("a\tb\nno tabs\nlonger\tc\n", opts), "a b\nno tabs\nlonger c\n");
  // text after the last tab is not in a column; an empty last line adds nothing
  assert.equal(tabulate("x\ty\tzzzzzz\nxx\tyy\n", opts), "x  y zzzzzz\nxx yy\n");
  assert.equal(
    tabulate("a\tb\nlonger\tc\n", { ...opts, padChar: "\t", padding: 0 }),
    "a\tb\nlonger\tc\n",
  );
  assert.equal(tabulate("a\tb\nccc\td\n", { ...opts, alignRight: true }), "   ab\n cccd\n");
  assert.equal(tabulate("a\tb"), "a         b");
});

Deno.test("displayWidth() counts East Asian wide characters twice", () => {
  assert.equal(displayWidth("abc"), 3);
  assert.equal(displayWidth("日本語"), 6);
  assert.equal(displayWidth("e\u0301"), 1);
  assert.equal(tabulate("日本\tx\nab\ty\n"), "日本      x\nab        y\n");
});
