/**
 * The Engine API's pieces of networks and volumes that need no root: the
 * `filters` query parameter, and container create's volume and network
 * fields as docker's run flags.
 */
import assert from "node:assert/strict";
import { HttpError, type Request } from "../../lib/api/http.ts";
import { queryFilters } from "../../lib/api/filters.ts";
import { createArgs } from "../../lib/api/create.ts";

function request(query: Record<string, string>): Request {
  return {
    method: "GET",
    path: "/networks",
    query: new URLSearchParams(query),
    headers: new Headers(),
    body: new Uint8Array(),
  } as unknown as Request;
}

const status = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof HttpError) return e.status;
    throw e;
  }
  return 0;
};

Deno.test("queryFilters() reads docker's map of values and its older list form", () => {
  const f = queryFilters(
    request({ filters: JSON.stringify({ label: { "a=b": true, "c": false }, name: ["web"] }) }),
    ["label", "name"],
  );
  assert.deepEqual(f.values("label"), ["a=b"]);
  assert.deepEqual(f.values("name"), ["web"]);
  assert.equal(queryFilters(request({}), ["label"]).has("label"), false);
});

Deno.test("queryFilters(): 400 for a key the route does not know and for bad JSON", () => {
  assert.equal(status(() => queryFilters(request({ filters: '{"nope":["x"]}' }), ["label"])), 400);
  assert.equal(status(() => queryFilters(request({ filters: "{" }), ["label"])), 400);
  assert.equal(status(() => queryFilters(request({ filters: "[]" }), ["label"])), 400);
});

Deno.test("createArgs(): the NetworkMode's endpoint gives aliases, an address and links", () => {
  const { argv } = createArgs({
    Image: "busybox",
    HostConfig: { NetworkMode: "proj_default" },
    NetworkingConfig: {
      EndpointsConfig: {
        proj_default: {
          Aliases: ["web", "www"],
          IPAMConfig: { IPv4Address: "10.124.0.9" },
          Links: ["db:database"],
        },
      },
    },
  });
  assert.deepEqual(argv, [
    "--network=proj_default",
    "--network-alias=web",
    "--network-alias=www",
    "--ip=10.124.0.9",
    "--link=db:database",
    "busybox",
  ]);
});

Deno.test("createArgs(): 400 for two endpoints, another network's, and aliases on the bridge", () => {
  const body = (mode: string | undefined, endpoints: Record<string, unknown>) => ({
    Image: "busybox",
    HostConfig: { NetworkMode: mode },
    NetworkingConfig: { EndpointsConfig: endpoints },
  });
  assert.equal(status(() => createArgs(body("a", { a: {}, b: {} }))), 400);
  assert.equal(status(() => createArgs(body("a", { b: {} }))), 400);
  assert.equal(status(() => createArgs(body("default", { bridge: { Aliases: ["x"] } }))), 400);
  assert.deepEqual(createArgs(body(undefined, { bridge: {} })).argv, [
    "--network=bridge",
    "busybox",
  ]);
  // docker's CLI 25 and later: the mode `default` and an endpoint of that name.
  assert.deepEqual(createArgs(body("default", { default: {} })).argv, [
    "--network=bridge",
    "busybox",
  ]);
});

Deno.test("createArgs(): Binds, Mounts, VolumesFrom, and Config.Volumes nothing else mounts", () => {
  const { argv } = createArgs({
    Image: "busybox",
    Volumes: { "/data": {}, "/cache": {}, "/m": {} },
    HostConfig: {
      NetworkMode: "none",
      Binds: ["data:/data:ro"],
      Mounts: [
        {
          Type: "volume",
          Source: "v",
          Target: "/m",
          ReadOnly: true,
          VolumeOptions: { NoCopy: true },
        },
        { Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 65536, Mode: 0o1777 } },
        { Type: "bind", Source: "/srv,x", Target: "/b", BindOptions: { Propagation: "rslave" } },
      ],
      VolumesFrom: ["other:ro"],
    },
  });
  assert.deepEqual(argv, [
    "--volume=data:/data:ro",
    "--mount=type=volume,source=v,target=/m,readonly,volume-nocopy",
    "--mount=type=tmpfs,target=/t,tmpfs-size=65536,tmpfs-mode=1777",
    '--mount=type=bind,"source=/srv,x",target=/b,bind-propagation=rslave',
    "--volumes-from=other:ro",
    "--volume=/cache",
    "--network=none",
    "busybox",
  ]);
  assert.equal(
    status(() => createArgs({ Image: "busybox", HostConfig: { Mounts: [{ Type: "volume" }] } })),
    400,
  );
});
