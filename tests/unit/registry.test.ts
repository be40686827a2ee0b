/**
 * The registry client without root or a real registry: WWW-Authenticate
 * parsing, platform selection, upload Locations, registry URLs, the
 * credentials file, progress output, and pulls and pushes against a small
 * fake registry (Bearer and Basic auth, token caching, retries, redirects,
 * digest checks).
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import {
  blobServer,
  fakeRegistry,
  layeredImage,
  serveImage,
  testImage,
} from "../_fake_registry.ts";
import { makeTar } from "../_tar.ts";
import { type Digest, sha256 } from "../../lib/image/digest.ts";
import {
  formatPlatform,
  hostPlatform,
  parsePlatform,
  platformMatches,
  selectManifest,
} from "../../lib/image/platform.ts";
import { progressBar, progressTo } from "../../lib/image/progress.ts";
import { pullImage } from "../../lib/image/pull.ts";
import { pushImage } from "../../lib/image/push.ts";
import {
  isLoopback,
  parseChallenges,
  registryBase,
  RegistryClient,
  uploadUrl,
} from "../../lib/image/registry.ts";
import {
  authFilePath,
  credentialsFor,
  registryHost,
  removeCredentials,
  saveCredentials,
} from "../../lib/image/registry_config.ts";
import { Store } from "../../lib/image/store.ts";
import type { Index } from "../../lib/image/schema.ts";

const FAST = { backoffMs: 1 };

Deno.test("parseChallenges() reads docker's Bearer challenge", () => {
  assert.deepEqual(
    parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",' +
        'scope="repository:library/busybox:pull,push"',
    ),
    [{
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/busybox:pull,push",
      },
    }],
  );
});

Deno.test("parseChallenges() handles several challenges, spaces, escapes and bare values", () => {
  assert.deepEqual(
    parseChallenges(
      'Basic realm="Registry Realm", Bearer realm="http://a/t?x=1" , service=reg,error="insufficient_scope",' +
        ' note="say \\"hi\\""',
    ),
    [
      { scheme: "basic", params: { realm: "Registry Realm" } },
      {
        scheme: "bearer",
        params: {
          realm: "http://a/t?x=1",
          service: "reg",
          error: "insufficient_scope",
          note: 'say "hi"',
        },
      },
    ],
  );
  assert.deepEqual(parseChallenges("BASIC"), [{ scheme: "basic", params: {} }]);
  assert.deepEqual(parseChallenges(""), []);
});

Deno.test("uploadUrl() resolves relative and absolute Locations and keeps their query", () => {
  const req = "http://127.0.0.1:5000/v2/test/bb/blobs/uploads/";
  const d = `sha256:${"a".repeat(64)}` as Digest;
  const q = `digest=sha256%3A${"a".repeat(64)}`;
  assert.equal(
    uploadUrl(req, "/v2/test/bb/blobs/uploads/u1?_state=x%3D%3D", d),
    `http://127.0.0.1:5000/v2/test/bb/blobs/uploads/u1?_state=x%3D%3D&${q}`,
  );
  assert.equal(
    uploadUrl(req, "u2", d),
    `http://127.0.0.1:5000/v2/test/bb/blobs/uploads/u2?${q}`,
  );
  assert.equal(
    uploadUrl(req, "https://uploads.example/put/u3?sig=a%2Bb+c&x=~1", d),
    `https://uploads.example/put/u3?sig=a%2Bb+c&x=~1&${q}`,
  );
  assert.equal(uploadUrl(req, "/u4?", d), `http://127.0.0.1:5000/u4?${q}`);
});

Deno.test("registryBase() uses plain HTTP only for loopback or insecure registries", () => {
  assert.equal(registryBase("docker.io"), "https://registry-1.docker.io");
  assert.equal(registryBase("quay.io"), "https://quay.io");
  assert.equal(registryBase("registry.example:5000", true), "http://registry.example:5000");
  for (const d of ["localhost:5000", "localhost", "127.0.0.1:5000", "127.9.8.7", "[::1]:5000"]) {
    assert.ok(isLoopback(d), d);
    assert.ok(registryBase(d).startsWith("http://"), d);
  }
  for (const d of ["128.0.0.1:5000", "localhost.example.com", "[::2]:5000", "10.0.0.1"]) {
    assert.ok(!isLoopback(d), d);
  }
});

Deno.test("parsePlatform() and platformMatches() follow containerd's arm64 rules", () => {
  assert.deepEqual(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("linux/aarch64"), { os: "linux", architecture: "arm64" });
  assert.equal(formatPlatform(parsePlatform("Linux/ARM64/v8")), "linux/arm64/v8");
  assert.throws(() => parsePlatform("amd64"), /expected OS\/ARCH/);
  assert.throws(() => parsePlatform("linux/amd64/v1/x"), /expected OS\/ARCH/);
  assert.deepEqual(hostPlatform("x86_64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(hostPlatform("aarch64"), { os: "linux", architecture: "arm64", variant: "v8" });
  const arm64v8 = { os: "linux", architecture: "arm64", variant: "v8" };
  assert.ok(platformMatches(arm64v8, { os: "linux", architecture: "arm64" }));
  assert.ok(platformMatches({ os: "linux", architecture: "arm64" }, arm64v8));
  assert.ok(!platformMatches(arm64v8, { os: "linux", architecture: "arm64", variant: "v9" }));
  assert.ok(!platformMatches(arm64v8, { os: "linux", architecture: "amd64" }));
  assert.ok(platformMatches({ os: "linux", architecture: "amd64" }, {
    os: "linux",
    architecture: "amd64",
    variant: "v3",
  }));
});

function index(...platforms: (string | undefined)[]): Index {
  return {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: platforms.map((p, i) => {
      const [os, architecture, variant] = (p ?? "").split("/");
      return {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: `sha256:${String(i).repeat(64)}`,
        size: 100 + i,
        ...(p && { platform: { os, architecture, ...(variant && { variant }) } }),
      };
    }),
  };
}

Deno.test("selectManifest() picks the host's image out of an index", () => {
  const amd64 = { os: "linux", architecture: "amd64" };
  const arm64 = { os: "linux", architecture: "arm64", variant: "v8" };
  const idx = index("linux/arm/v7", "linux/arm64/v8", "linux/amd64", "unknown/unknown");
  assert.equal(selectManifest(idx, amd64, "x").size, 102);
  assert.equal(selectManifest(idx, arm64, "x").size, 101);
  // arm64 without a variant is arm64/v8; an exact variant wins over none.
  assert.equal(selectManifest(index("linux/arm64"), arm64, "x").size, 100);
  assert.equal(selectManifest(index("linux/arm64", "linux/arm64/v8"), arm64, "x").size, 101);
  assert.equal(selectManifest(index(undefined), amd64, "x").size, 100);
});

Deno.test("selectManifest() names the platforms an index has when none fits", () => {
  assert.throws(
    () =>
      selectManifest(
        index("linux/arm/v7", "linux/arm64/v8", "linux/arm64/v8", "unknown/unknown"),
        { os: "linux", architecture: "amd64" },
        "the index of busybox:1",
      ),
    {
      message: "No matching manifest for linux/amd64 in the index of busybox:1 " +
        "(it has linux/arm/v7, linux/arm64/v8)",
    },
  );
  assert.throws(
    () => selectManifest(index("linux/amd64"), parsePlatform("linux/s390x"), "x"),
    /No matching manifest for linux\/s390x in x \(it has linux\/amd64\)/,
  );
});

Deno.test("credentials: auth.json is docker's format, mode 0600, and logout removes them", () => {
  const root = tempDir();
  assert.equal(credentialsFor(root, "127.0.0.1:5000"), undefined);
  saveCredentials(root, "127.0.0.1:5000", { username: "alice", password: "s:cret é" });
  saveCredentials(root, "docker.io", { username: "bob", password: "pw" });
  assert.equal(Deno.statSync(authFilePath(root)).mode! & 0o777, 0o600);
  const file = JSON.parse(Deno.readTextFileSync(authFilePath(root)));
  assert.equal(file.auths["127.0.0.1:5000"].auth, btoa("alice:s:cret \xc3\xa9"));
  assert.ok(file.auths["https://index.docker.io/v1/"].auth);
  assert.deepEqual(credentialsFor(root, "127.0.0.1:5000"), {
    username: "alice",
    password: "s:cret é",
  });
  assert.deepEqual(credentialsFor(root, "docker.io"), { username: "bob", password: "pw" });
  assert.equal(removeCredentials(root, "127.0.0.1:5000"), true);
  assert.equal(removeCredentials(root, "127.0.0.1:5000"), false);
  assert.equal(credentialsFor(root, "127.0.0.1:5000"), undefined);
  assert.equal(registryHost("https://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
  assert.equal(registryHost("index.docker.io"), "docker.io");
});

function recorder(tty: boolean) {
  let text = "";
  const out = {
    writeSync(b: Uint8Array) {
      text += new TextDecoder().decode(b);
      return b.length;
    },
    isTerminal: () => tty,
  };
  return { out, text: () => text };
}

Deno.test("progress: plain lines once per layer state; in place on a terminal", () => {
  const plain = recorder(false);
  const p = progressTo(plain.out);
  p.line("1: Pulling from test/bb");
  p.update("abc", "Pulling fs layer");
  p.update("abc", "Downloading", 0, 3_400_000);
  p.update("abc", "Downloading", 1_200_000, 3_400_000);
  p.update("abc", "Pull complete");
  assert.equal(
    plain.text(),
    "1: Pulling from test/bb\nabc: Pulling fs layer\nabc: Downloading 3.4MB\nabc: Pull complete\n",
  );
  const tty = recorder(true);
  const t = progressTo(tty.out);
  t.update("aaa", "Pulling fs layer");
  t.update("bbb", "Pulling fs layer");
  t.update("aaa", "Downloading", 1_200_000, 3_400_000);
  const esc = "\x1b";
  assert.equal(
    tty.text(),
    `aaa: Pulling fs layer\nbbb: Pulling fs layer\n${esc}[2A\r${esc}[2Kaaa: Downloading ` +
      `${progressBar(1_200_000, 3_400_000)}${esc}[2B\r`,
  );
  assert.match(progressBar(1_200_000, 3_400_000), /^\[={17}> {32}\] {4}1\.2MB\/3\.4MB$/);
});

Deno.test("pull: Bearer auth gets one token, cached for every request of the pull", async () => {
  const reg = fakeRegistry({ auth: "bearer" });
  try {
    serveImage(reg, "1");
    const store = Store.open(tempDir());
    const lines: string[] = [];
    const r = await pullImage(store, `${reg.domain}/test/img:1`, {
      ...FAST,
      progress: { line: (t) => lines.push(t), update: (id, s) => lines.push(`${id}: ${s}`) },
    });
    assert.equal(reg.tokens, 1);
    const token = reg.seen.find((s) => s.path === "/token")!;
    assert.match(token.search, /service=fake&scope=repository%3Atest%2Fimg%3Apull/);
    assert.equal(token.authorization, null); // anonymous: no credentials given
    for (const s of reg.seen.filter((s) => s.path.startsWith("/v2/test/"))) {
      assert.equal(s.authorization, "Bearer tok-1", s.path);
    }
    assert.equal(r.manifest, testImage().manifestDigest);
    assert.equal(r.name, `${reg.domain}/test/img:1`);
    assert.equal(lines.at(-1), `Status: Downloaded newer image for ${reg.domain}/test/img:1`);
    assert.equal(store.readIndex().names[r.name!], r.manifest);
    // Pulled again: everything is there.
    const again = await pullImage(store, `${reg.domain}/test/img:1`, FAST);
    assert.equal(again.updated, false);
    assert.equal(again.downloaded, 0);
  } finally {
    await reg.close();
  }
});

Deno.test("pull: the token endpoint gets the credentials; wrong ones are refused", async () => {
  const reg = fakeRegistry({ auth: "bearer", user: "alice:pw" });
  try {
    serveImage(reg, "1");
    const store = Store.open(tempDir());
    await pullImage(store, `${reg.domain}/test/img:1`, {
      ...FAST,
      credentials: { username: "alice", password: "pw" },
    });
    const token = reg.seen.find((s) => s.path === "/token")!;
    assert.equal(token.authorization, `Basic ${btoa("alice:pw")}`);
    await assert.rejects(
      new RegistryClient(reg.domain, { credentials: { username: "alice", password: "no" } })
        .login(),
      /401 Unauthorized: incorrect username or password/,
    );
    await new RegistryClient(reg.domain, { credentials: { username: "alice", password: "pw" } })
      .login();
  } finally {
    await reg.close();
  }
});

Deno.test("pull: Basic auth sends the credentials; without them the error says to log in", async () => {
  const reg = fakeRegistry({ auth: "basic", user: "bob:pw" });
  try {
    serveImage(reg, "1");
    const ref = `${reg.domain}/test/img:1`;
    await assert.rejects(
      pullImage(Store.open(tempDir()), ref, FAST),
      new RegExp(
        `401 Unauthorized: unauthorized: authentication required.*ctr login ${reg.domain}`,
      ),
    );
    const r = await pullImage(Store.open(tempDir()), ref, {
      ...FAST,
      credentials: { username: "bob", password: "pw" },
    });
    assert.equal(r.manifest, testImage().manifestDigest);
    assert.equal(reg.tokens, 0);
  } finally {
    await reg.close();
  }
});

Deno.test("pull: 5xx answers are tried again; 4xx answers are not", async () => {
  const reg = fakeRegistry({ failures: { "/v2/test/img/manifests/1": [503, 502] } });
  try {
    serveImage(reg, "1");
    await pullImage(Store.open(tempDir()), `${reg.domain}/test/img:1`, FAST);
    const gets = reg.seen.filter((s) => s.path === "/v2/test/img/manifests/1");
    assert.equal(gets.length, 3);
    reg.seen.length = 0;
    await assert.rejects(
      pullImage(Store.open(tempDir()), `${reg.domain}/test/img:nope`, FAST),
      /The manifest for 127\.0\.0\.1:\d+\/test\/img:nope is not found: manifest unknown/,
    );
    assert.equal(reg.seen.filter((s) => s.path.includes("/manifests/")).length, 1);
  } finally {
    await reg.close();
  }
  const down = fakeRegistry({ failures: { "/v2/test/img/manifests/1": [503, 503, 503] } });
  try {
    serveImage(down, "1");
    await assert.rejects(
      pullImage(Store.open(tempDir()), `${down.domain}/test/img:1`, FAST),
      /503/,
    );
  } finally {
    await down.close();
  }
});

Deno.test("pull: a refused connection fails naming the registry and the URL", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await assert.rejects(
    pullImage(Store.open(tempDir()), `127.0.0.1:${port}/x:1`, FAST),
    new RegExp(`Cannot reach 127\\.0\\.0\\.1:${port}: GET http://127\\.0\\.0\\.1:${port}/v2/`),
  );
});

Deno.test("pull: blobs redirected to another origin get no Authorization header", async () => {
  const shared = new Map<string, Uint8Array>();
  const cdn = blobServer(shared);
  const reg = fakeRegistry({ auth: "bearer", blobsAt: cdn.url });
  try {
    serveImage(reg, "1");
    for (const [k, v] of reg.blobs) shared.set(k, v);
    await pullImage(Store.open(tempDir()), `${reg.domain}/test/img:1`, FAST);
    assert.equal(cdn.seen.length, 2); // config and layer
    for (const s of cdn.seen) assert.equal(s.authorization, null);
  } finally {
    await reg.close();
    await cdn.close();
  }
});

Deno.test("pull: a manifest or blob that does not match its digest is refused", async () => {
  const reg = fakeRegistry();
  try {
    const img = testImage();
    serveImage(reg, "1", img);
    const other = testImage("arm64");
    // The digest asked for, other bytes served.
    reg.manifests.set(img.manifestDigest, {
      bytes: other.manifest,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
    });
    await assert.rejects(
      pullImage(Store.open(tempDir()), `${reg.domain}/test/img@${img.manifestDigest}`, FAST),
      /does not match the requested digest .*digest mismatch/,
    );
    // A layer with other bytes of the same size.
    const bad = img.layer.slice();
    bad[0] ^= 1;
    reg.blobs.set(sha256(img.layer), bad);
    const root = tempDir();
    await assert.rejects(
      pullImage(Store.open(root), `${reg.domain}/test/img:1`, FAST),
      new RegExp(`Cannot pull the layer ${sha256(img.layer)}: digest mismatch`),
    );
    assert.deepEqual([...Deno.readDirSync(`${root}/blobs/sha256`)], []);
    assert.deepEqual([...Deno.readDirSync(`${root}/layers/sha256`)], []);
  } finally {
    await reg.close();
  }
});

/** Three layers: files, more files with a whiteout of one of the first, one more file. */
function threeLayers(): Uint8Array[] {
  return [
    makeTar([
      { name: "base/keep", data: "kept\n" },
      { name: "base/gone", data: "deleted above\n" },
      ...Array.from({ length: 100 }, (_, i) => ({ name: `small/f${i}`, data: `${i}\n` })),
    ]),
    makeTar([{ name: "base/.wh.gone", data: "" }, { name: "mid/file", data: "mid\n" }]),
    makeTar([{ name: "top/file", data: "top\n", mode: 0o600 }]),
  ];
}

Deno.test("pull: layers are extracted side by side, each as the image says", async () => {
  const reg = fakeRegistry();
  try {
    const img = layeredImage(threeLayers());
    serveImage(reg, "3", img);
    const store = Store.open(tempDir());
    const r = await pullImage(store, `${reg.domain}/test/img:3`, FAST);
    assert.equal(r.downloaded, 3);
    const stored = store.readIndex();
    assert.deepEqual(
      Object.keys(stored.layers).sort(),
      img.layers.map((l) => sha256(l)).sort(),
    );
    const dir = (l: Uint8Array) => store.layerPath(sha256(l) as Digest);
    assert.equal(Deno.readTextFileSync(`${dir(img.layers[0])}/small/f99`), "99\n");
    assert.ok(Deno.lstatSync(`${dir(img.layers[1])}/base/gone`).isCharDevice);
    assert.equal(Deno.statSync(`${dir(img.layers[2])}/top/file`).mode! & 0o777, 0o600);
    assert.deepEqual(
      [...Deno.readDirSync(`${store.root}/layers/sha256`)].filter((e) => e.name.startsWith(".tmp")),
      [],
    );
  } finally {
    await reg.close();
  }
});

Deno.test("pull: a refused layer among others fails the pull and leaves nothing half made", async () => {
  const reg = fakeRegistry();
  try {
    const [a, , c] = threeLayers();
    const hostile = makeTar([{ name: "ok", data: "x" }, { name: "../../escaped", data: "pwned" }]);
    serveImage(reg, "bad", layeredImage([a, hostile, c]));
    const root = `${tempDir()}/store`;
    await assert.rejects(
      pullImage(Store.open(root), `${reg.domain}/test/img:bad`, FAST),
      (e: Error) => {
        assert.equal(e.message, "Cannot extract the layer: Entry escapes the root: ../../escaped");
        return true;
      },
    );
    // Nothing outside the layer's directory; no temporary directory; no image.
    assert.throws(() => Deno.lstatSync(`${root}/layers/escaped`), Deno.errors.NotFound);
    assert.throws(() => Deno.lstatSync(`${root}/escaped`), Deno.errors.NotFound);
    const left = [...Deno.readDirSync(`${root}/layers/sha256`)].map((e) => e.name);
    assert.deepEqual(
      left.filter((n) => n.startsWith(".tmp") || n === sha256(hostile).slice(7)),
      [],
    );
    assert.deepEqual(Store.open(root).readIndex().images, {});
  } finally {
    await reg.close();
  }
});

Deno.test("pull: an index gives the host's image, or says which platforms it has", async () => {
  const reg = fakeRegistry();
  try {
    const img = testImage(hostPlatform().architecture);
    serveImage(reg, "single", img);
    const idx = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: img.manifestDigest,
          size: img.manifest.length,
          platform: hostPlatform(),
        },
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: `sha256:${"e".repeat(64)}`,
          size: 10,
          platform: { os: "linux", architecture: "riscv64" },
        },
      ],
    }));
    reg.manifests.set("multi", {
      bytes: idx,
      mediaType: "application/vnd.oci.image.index.v1+json",
    });
    const r = await pullImage(Store.open(tempDir()), `${reg.domain}/test/img:multi`, FAST);
    assert.equal(r.digest, sha256(idx));
    assert.equal(r.manifest, img.manifestDigest);
    await assert.rejects(
      pullImage(Store.open(tempDir()), `${reg.domain}/test/img:multi`, {
        ...FAST,
        platform: parsePlatform("linux/s390x"),
      }),
      new RegExp(
        `No matching manifest for linux/s390x in the index of ${reg.domain}/test/img:multi ` +
          `\\(it has ${formatPlatform(hostPlatform())}, linux/riscv64\\)`,
      ),
    );
  } finally {
    await reg.close();
  }
});

Deno.test("push: blobs then manifest; Locations with a query, streamed uploads", async () => {
  const src = fakeRegistry();
  const dst = fakeRegistry({ auth: "bearer", uploadQuery: "_state=a%2Bb%3D%3D" });
  try {
    serveImage(src, "1");
    const store = Store.open(tempDir());
    await pullImage(store, `${src.domain}/test/img:1`, FAST);
    const name = `${dst.domain}/team/img:v1`;
    await store.updateIndex((i) => {
      i.names[name] = testImage().manifestDigest as Digest;
    });
    const lines: string[] = [];
    const r = await pushImage(store, name, {
      ...FAST,
      progress: { line: (t) => lines.push(t), update: (id, s) => lines.push(`${id}: ${s}`) },
    });
    assert.equal(r.digest, testImage().manifestDigest);
    assert.equal(r.uploaded, 2);
    assert.deepEqual(dst.manifests.get("v1")?.bytes, testImage().manifest);
    assert.equal(dst.manifests.get("v1")?.mediaType, "application/vnd.oci.image.manifest.v1+json");
    assert.equal(dst.tokens, 1);
    const token = dst.seen.find((s) => s.path === "/token")!;
    assert.match(token.search, /scope=repository%3Ateam%2Fimg%3Apull%2Cpush/);
    const id = sha256(testImage().layer).slice(7, 19);
    assert.deepEqual(lines, [
      `The push refers to repository [${dst.domain}/team/img]`,
      `${id}: Preparing`,
      `${id}: Pushing`,
      `${id}: Pushed`,
    ]);
    // Pushed again: the registry has every blob.
    const again = await pushImage(store, name, FAST);
    assert.equal(again.uploaded, 0);
    // Streamed: one PATCH, then a PUT without a body.
    dst.blobs.clear();
    dst.seen.length = 0;
    await pushImage(store, name, { ...FAST, monolithicMax: 0 });
    assert.equal(dst.seen.filter((s) => s.method === "PATCH").length, 2);
    assert.equal(dst.blobs.size, 2);
  } finally {
    await src.close();
    await dst.close();
  }
});
