/**
 * The module graph: no import cycle among ctr's modules, and imports point
 * down the layers docs/design.md lists (cli → engine, oci → image, network,
 * config readers → runtime → cgroups → config model and os → ffi).
 */
import assert from "node:assert/strict";

const REPO = new URL("../..", import.meta.url);

/** ctr's own modules reachable from an entry, with their imports (static, dynamic and type-only). */
async function graph(entry: string): Promise<Map<string, string[]>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: REPO.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const g = new Map<string, string[]>();
  const own = (s: string | undefined) =>
    s?.startsWith(REPO.href) ? s.slice(REPO.href.length) : undefined;
  for (const m of info.modules) {
    const from = own(m.specifier);
    if (!from) continue;
    const to: string[] = [];
    for (const d of m.dependencies ?? []) {
      for (const t of [own(d.code?.specifier), own(d.type?.specifier)]) if (t) to.push(t);
    }
    g.set(from, to);
  }
  return g;
}

/** The layer of a module: a higher number may import a lower one, never the reverse. */
function layer(path: string): number {
  if (path.startsWith("ffi/")) return 0;
  if (/^lib\/(os\/|errors\.ts|trace\.ts|suggest\.ts|version\.ts|zod_setup\.ts)/.test(path)) {
    return 1;
  }
  if (
    /^lib\/config\/(container|resources|rules|validate|diagnostics|names|run_options)\.ts$/.test(
      path,
    )
  ) {
    return 1;
  }
  if (path.startsWith("lib/format/")) return 1;
  if (path.startsWith("lib/cgroups/")) return 2;
  if (path.startsWith("lib/runtime/")) return 3;
  if (/^lib\/(image|network|config)\//.test(path)) return 4;
  if (/^lib\/(engine|oci)\//.test(path)) return 5;
  if (path.startsWith("lib/cli/") || path.startsWith("lib/api/")) return 6;
  return 7; // main.ts, mod.ts
}

Deno.test("layers: no import cycle, and every import points down", async () => {
  const g = new Map([...await graph("main.ts"), ...await graph("mod.ts")]);
  const up: string[] = [];
  for (const [from, tos] of g) {
    for (const to of tos) if (layer(to) > layer(from)) up.push(`${from} -> ${to}`);
  }
  assert.deepEqual(up, [], "imports that point up");
  // Tarjan's strongly connected components: any with more than one module is a cycle.
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], on = new Set<string>(), cycles: string[][] = [];
  let n = 0;
  const visit = (v: string) => {
    index.set(v, n), low.set(v, n++), stack.push(v), on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) visit(w), low.set(v, Math.min(low.get(v)!, low.get(w)!));
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do (w = stack.pop()!, on.delete(w), c.push(w)); while (w !== v);
      if (c.length > 1) cycles.push(c.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  assert.deepEqual(cycles, [], "import cycles");
});
