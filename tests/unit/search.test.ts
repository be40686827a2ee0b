/** `docker search`'s pure parts: the term, the limit, a registry's answers checked, the filters. */
import assert from "node:assert/strict";
import {
  catalogResults,
  checkSearchLimit,
  matchesSearch,
  parseV1Results,
  searchTarget,
} from "../../lib/image/search.ts";
import { searchFilters, searchRow } from "../../lib/cli/search.ts";
import { Filters } from "../../lib/cli/filters.ts";

Deno.test("a search term names its registry as an image name does, else Docker Hub", () => {
  assert.deepEqual(searchTarget("busybox"), { domain: "docker.io", query: "busybox" });
  assert.deepEqual(searchTarget("library/busy"), { domain: "docker.io", query: "library/busy" });
  assert.deepEqual(searchTarget("127.0.0.1:5000/busy"), {
    domain: "127.0.0.1:5000",
    query: "busy",
  });
  assert.deepEqual(searchTarget("localhost/a/b"), { domain: "localhost", query: "a/b" });
  assert.throws(() => searchTarget(" "), /A search term is required/);
});

Deno.test("--limit is 1 to 100, as docker's", () => {
  assert.equal(checkSearchLimit(1), 1);
  assert.equal(checkSearchLimit(100), 100);
  for (const bad of [0, 101, -3, 2.5]) {
    assert.throws(() => checkSearchLimit(bad), /is outside the range of \[1, 100\]/);
  }
});

Deno.test("a v1 search answer is checked field by field", () => {
  const answer = {
    results: [
      { name: "a", description: "x", star_count: 7, is_official: true, is_automated: false },
      { name: "b", star_count: -4, is_official: "yes" },
      { name: "" },
      { description: "no name" },
      null,
      "text",
      { name: "c", description: 12, star_count: 2.7 },
    ],
  };
  assert.deepEqual(parseV1Results(answer, "docker.io"), [
    { name: "a", description: "x", star_count: 7, is_official: true, is_automated: false },
    { name: "b", description: "", star_count: 0, is_official: false, is_automated: false },
    { name: "c", description: "", star_count: 2, is_official: false, is_automated: false },
  ]);
  // Another registry's names carry its domain, so that they can be pulled as shown.
  assert.equal(
    parseV1Results({ results: [{ name: "x/y" }] }, "r.example:5000")[0].name,
    "r.example:5000/x/y",
  );
  for (const bad of [null, {}, { results: "many" }, []]) {
    assert.throws(() => parseV1Results(bad, "docker.io"), /has no results list/);
  }
});

Deno.test("a catalog is matched by name, ignoring case", () => {
  const r = catalogResults(["busybox", "tools/Busy-tools", "other"], "BUSY", "127.0.0.1:5000");
  assert.deepEqual(r.map((x) => x.name), [
    "127.0.0.1:5000/busybox",
    "127.0.0.1:5000/tools/Busy-tools",
  ]);
  assert.ok(r.every((x) => x.star_count === 0 && !x.is_official && !x.is_automated));
});

Deno.test("filters: stars at least N, official, automated", () => {
  const r = { name: "a", description: "", star_count: 5, is_official: true, is_automated: false };
  assert.ok(matchesSearch(r, {}));
  assert.ok(matchesSearch(r, { stars: 5, isOfficial: true, isAutomated: false }));
  assert.ok(!matchesSearch(r, { stars: 6 }));
  assert.ok(!matchesSearch(r, { isOfficial: false }));
  assert.ok(!matchesSearch(r, { isAutomated: true }));
  const keys = ["stars", "is-official", "is-automated"];
  assert.deepEqual(
    searchFilters(Filters.parse(["stars=3", "is-official=true", "is-automated=0"], keys)),
    { stars: 3, isOfficial: true, isAutomated: false },
  );
  assert.throws(
    () => searchFilters(Filters.parse(["stars=-1"], keys)),
    /Invalid filter 'stars=-1'/,
  );
  assert.throws(() => Filters.parse(["official=true"], keys), /Invalid filter 'official'/);
});

Deno.test("a row: [OK] for true flags, the description on one line and cut at 45 columns", () => {
  const long = "An image\nwith a description that runs far past forty-five columns";
  const row = searchRow(
    { name: "a", description: long, star_count: 3, is_official: true, is_automated: false },
    true,
  );
  assert.equal(row.IsOfficial, "[OK]");
  assert.equal(row.IsAutomated, "");
  assert.equal(row.Description, "An image with a description that runs far pa…");
  const full = searchRow(
    { name: "a", description: long, star_count: 3, is_official: false, is_automated: true },
    false,
  );
  assert.equal(full.Description, long.replace("\n", " "));
});
