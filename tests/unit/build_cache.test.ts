/**
 * The build cache: step keys, entries under ROOT/build-cache, lookups that
 * trust an entry only while its layer is in the store, --no-cache, and
 * pruning after the store's garbage collection removed layers.
 */
import assert from "node:assert/strict";
import { tempDir, tempStore } from "../_helpers.ts";
import { Store } from "../../lib/image/store.ts";
import { prune } from "../../lib/image/images.ts";
import { parseRunMount } from "../../lib/image/build/dockerfile.ts";
import { layerDescriptor, writeImage, writeLayer } from "../../lib/image/build/diff.ts";
import { imageConfigFor, startConfig } from "../../lib/image/build/image_config.ts";
import { BuildCache, mountIdentity, stepKey } from "../../lib/image/build/cache.ts";
import { parseDockerfile } from "../../lib/image/build/dockerfile.ts";

const PARENT = `sha256:${"1".repeat(64)}`;

Deno.test("stepKey() changes with every input and only with them", () => {
  const base = {
    parent: PARENT,
    instruction: "RUN |1 A=1 /bin/sh -c make # buildkit",
    args: { A: "1", B: "2" },
  };
  const k = stepKey(base);
  assert.match(k, /^sha256:[a-f0-9]{64}$/);
  assert.equal(stepKey({ ...base, args: { B: "2", A: "1" } }), k);
  for (
    const other of [
      { ...base, parent: `sha256:${"2".repeat(64)}` },
      { ...base, instruction: "RUN |1 A=1 /bin/sh -c make all # buildkit" },
      { ...base, args: { A: "1", B: "3" } },
      { ...base, content: `sha256:${"3".repeat(64)}` },
      { ...base, mounts: ["cache,target=/root/.cache,rw"] },
      { ...base, platform: "linux/arm64" },
    ]
  ) assert.notEqual(stepKey(other), k);
});

Deno.test("mountIdentity() names what a mount is, and its source stage by key", () => {
  const cache = parseRunMount("type=cache,target=/root/.cache,id=go,sharing=locked");
  assert.equal(mountIdentity(cache), "cache,target=/root/.cache,id=go,sharing=locked,rw");
  const bind = parseRunMount("type=bind,from=build,source=/out,target=/in");
  assert.equal(
    mountIdentity(bind, () => "sha256:k"),
    "bind,target=/in,from=sha256:k,source=/out,ro",
  );
});

async function layerIn(store: Store, content: string) {
  const dir = tempDir();
  Deno.writeTextFileSync(`${dir}/f`, content);
  return await writeLayer(store, dir, { kind: "tree" });
}

Deno.test("BuildCache keeps entries under ROOT/build-cache and finds them while the layer exists", async () => {
  const store = Store.open(tempStore());
  const cache = BuildCache.open(store);
  assert.equal(cache.dir, `${store.root}/build-cache/sha256`);
  const layer = await layerIn(store, "one");
  const key = stepKey({ parent: PARENT, instruction: "COPY f / # buildkit" });
  assert.equal(cache.get(key), undefined);
  cache.put({ key, layer, created: "2024-01-01T00:00:00Z", createdBy: "COPY f / # buildkit" });
  const hit = cache.get(key);
  assert.equal(hit?.layer.diffId, layer.diffId);
  assert.equal(hit?.created, "2024-01-01T00:00:00Z");
  assert.equal(cache.entries().length, 1);
  // --no-cache finds nothing, but records.
  const off = BuildCache.open(store, { disabled: true });
  assert.equal(off.get(key), undefined);
  assert.ok(cache.get(key));
});

Deno.test("BuildCache drops an entry whose layer garbage collection removed", async () => {
  const store = Store.open(tempStore());
  const cache = BuildCache.open(store);
  const kept = await layerIn(store, "kept");
  const lost = await layerIn(store, "lost");
  const keyKept = stepKey({ parent: PARENT, instruction: "COPY kept /" });
  const keyLost = stepKey({ parent: PARENT, instruction: "COPY lost /" });
  cache.put({ key: keyKept, layer: kept });
  cache.put({ key: keyLost, layer: lost });
  // An image refers to `kept`; nothing refers to `lost`.
  const [copy] = parseDockerfile("FROM scratch\nCOPY f /\n").instructions.slice(1);
  const config = imageConfigFor(
    startConfig(undefined, { os: "linux", architecture: "amd64" }).config,
    [
      { instruction: copy, layer: kept.diffId },
    ],
  );
  await writeImage(store, {
    config,
    layers: [layerDescriptor(kept)],
    names: ["docker.io/library/k:1"],
  });
  const gc = await prune(store);
  assert.ok(gc.layers.includes(lost.diffId));
  assert.ok(cache.get(keyKept));
  assert.deepEqual(cache.layers().sort(), [kept.diffId, lost.diffId].sort());
  assert.deepEqual(cache.prune().removed, [keyLost]);
  assert.deepEqual(cache.layers(), [kept.diffId]);
  assert.equal(cache.get(keyLost), undefined);
  assert.deepEqual(cache.prune({ all: true }).removed, [keyKept]);
  assert.deepEqual(cache.entries(), []);
});

Deno.test("BuildCache ignores an unreadable entry", () => {
  const store = Store.open(tempStore());
  const cache = BuildCache.open(store);
  const key = stepKey({ parent: PARENT, instruction: "RUN x" });
  Deno.writeTextFileSync(`${cache.dir}/${key.slice(7)}.json`, "{not json");
  assert.equal(cache.get(key), undefined);
  assert.deepEqual(cache.entries(), []);
  assert.throws(() => cache.get("sha256:nope" as `sha256:${string}`), /Invalid cache key/);
});
