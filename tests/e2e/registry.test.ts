/**
 * Registries end to end (root): Debian's docker-registry runs on 127.0.0.1
 * with its storage in a temporary directory, and ctr pushes the busybox
 * image made from Debian's busybox-static, pulls it into empty stores and
 * runs it; skopeo pushes and inspects for interoperability; a blob tampered
 * with in the registry's storage is refused; the registry's token auth (JWTs
 * signed here with a key made by openssl) and htpasswd auth work with
 * `ctr login`. Every server is stopped and every directory removed.
 */
import assert from "node:assert/strict";
import { ctr, type Result, rootTest, tempDir, tempStore } from "../_helpers.ts";
import { startRegistry, which } from "../_registry.ts";
import { hostPlatform } from "../../lib/image/platform.ts";
import { RegistryClient, repositoryScope } from "../../lib/image/registry.ts";
import { sha256 } from "../../lib/image/digest.ts";

const repo = new URL("../..", import.meta.url).pathname;
/** A root test that needs docker-registry (and `tools`); skipped, saying which is missing. */
function registryTest(name: string, fn: () => Promise<void>, tools: string[] = []): void {
  const missing = [
    ...(which("docker-registry") ? [] : ["docker-registry"]),
    ...tools.filter((t) => !which(t)),
  ];
  if (missing.length) {
    Deno.test({
      name: `${name} [skipped: ${missing.join(", ")} not installed]`,
      ignore: true,
      fn() {},
    });
    return;
  }
  rootTest(name, fn);
}

let imageTar: string | undefined;

/** The busybox image as a docker-save tar (scripts/busybox_image.sh). */
async function busyboxTar(): Promise<string> {
  if (imageTar) return imageTar;
  const tar = `${tempDir()}/busybox.tar`;
  const out = await new Deno.Command("bash", {
    args: [`${repo}scripts/busybox_image.sh`, tar],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return imageTar = tar;
}

/** A store holding busybox:latest. */
async function busyboxStore(): Promise<string> {
  const store = tempStore();
  await ok(["--root", store, "load", "-i", await busyboxTar()]);
  return store;
}

async function ok(args: string[], opts: { stdin?: string } = {}): Promise<Result> {
  const r = await ctr(args, opts);
  assert.equal(r.code, 0, `ctr ${args.join(" ")}: ${r.stderr}`);
  return r;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  assert.ok(out.success, `${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** `ctr --root STORE run --rm IMAGE sh -c SCRIPT`, which must succeed. */
function runSh(store: string, image: string, script: string): Promise<Result> {
  return ok(["--root", store, "run", "--rm", image, "sh", "-c", script]);
}

function imageId(r: Result): string {
  return JSON.parse(r.stdout)[0].Id;
}

/** Files under a store's blobs and layers, temporary ones included. */
function storeContent(store: string): string[] {
  const out: string[] = [];
  for (const d of ["blobs/sha256", "layers/sha256"]) {
    try {
      for (const e of Deno.readDirSync(`${store}/${d}`)) out.push(`${d}/${e.name}`);
    } catch { /* not made */ }
  }
  return out;
}

registryTest("registry: ctr push, then ctr pull into an empty store, then ctr run", async () => {
  const reg = await startRegistry();
  try {
    const src = await busyboxStore();
    const name = `${reg.domain}/test/busybox:1`;
    await ok(["--root", src, "tag", "busybox", name]);
    const push = await ok(["--root", src, "push", name]);
    assert.match(push.stdout, /^1: digest: sha256:[0-9a-f]{64} size: \d+\n$/);
    assert.match(
      push.stderr,
      /^The push refers to repository \[127\.0\.0\.1:\d+\/test\/busybox\]$/m,
    );
    assert.match(push.stderr, /^[0-9a-f]{12}: Pushed$/m);
    const digest = push.stdout.match(/sha256:[0-9a-f]{64}/)![0];
    const again = await ok(["--root", src, "push", name]);
    assert.match(again.stderr, /^[0-9a-f]{12}: Layer already exists$/m);
    assert.equal(again.stdout, push.stdout);

    const empty = tempStore();
    const pull = await ok(["--root", empty, "pull", name]);
    assert.equal(pull.stdout, `${name}\n`);
    assert.match(pull.stderr, /^1: Pulling from test\/busybox$/m);
    assert.match(pull.stderr, /^[0-9a-f]{12}: Pull complete$/m);
    assert.ok(pull.stderr.includes(`\nDigest: ${digest}\n`), pull.stderr);
    assert.ok(pull.stderr.endsWith(`\nStatus: Downloaded newer image for ${name}\n`), pull.stderr);
    assert.equal(
      imageId(await ok(["--root", empty, "image", "inspect", name])),
      imageId(await ok(["--root", src, "image", "inspect", "busybox"])),
    );
    const r = await runSh(empty, name, "echo pulled; head -1 /etc/passwd");
    assert.equal(r.stdout, "pulled\nroot:x:0:0:root:/root:/bin/sh\n");
    const uptodate = await ok(["--root", empty, "pull", name]);
    assert.match(uptodate.stderr, /^[0-9a-f]{12}: Already exists$/m);
    assert.ok(uptodate.stderr.endsWith(`Status: Image is up to date for ${name}\n`));

    // ctr run pulls what it cannot find, as docker does.
    const fresh = tempStore();
    const auto = await ok(["--root", fresh, "run", "--rm", name, "echo", "auto"]);
    assert.equal(auto.stdout, "auto\n");
    assert.ok(auto.stderr.startsWith(`Unable to find image '${name}' locally\n`), auto.stderr);
    assert.match(auto.stderr, /Status: Downloaded newer image for/);
    const missing = await ctr([
      "--root",
      fresh,
      "run",
      "--rm",
      `${reg.domain}/test/nope:1`,
      "true",
    ]);
    assert.equal(missing.code, 125);
    assert.match(
      missing.stderr,
      /The manifest for 127\.0\.0\.1:\d+\/test\/nope:1 is not found: (name|manifest) unknown/,
    );
  } finally {
    await reg.stop();
  }
});

registryTest(
  "registry: a three-layer image pulls with its layers extracted side by side on worker threads",
  async () => {
    const reg = await startRegistry();
    try {
      const src = tempStore();
      const tar = `${tempDir()}/multi.tar`;
      await run("bash", [`${repo}scripts/busybox_image.sh`, "--multi", tar]);
      await ok(["--root", src, "load", "-i", tar]);
      const name = `${reg.domain}/test/multi:1`;
      await ok(["--root", src, "tag", "busybox:multi", name]);
      await ok(["--root", src, "push", name]);

      // The built program starts its own main module as the worker (a bundle has no
      // file per module): the trace says so, and nothing fell back to this thread.
      const empty = tempStore();
      const pull = await ctr(["--root", empty, "pull", name], { env: { CTR_TRACE: "1" } });
      assert.equal(pull.code, 0, pull.stderr);
      assert.match(pull.stderr, /\] +[\d.]+ ms {2}extract: worker 1 started$/m);
      assert.doesNotMatch(pull.stderr, /a worker failed/);
      assert.equal(pull.stderr.match(/^[0-9a-f]{12}: Pull complete$/gm)?.length, 3, pull.stderr);
      assert.deepEqual(storeContent(empty).filter((p) => p.includes(".tmp-")), []);
      const look =
        "cat /data/keep /data/added /data/dir/new; ls /data /data/dir; test -e /etc/motd || echo no motd";
      const r = await runSh(empty, name, look);
      const local = await runSh(src, "busybox:multi", look);
      assert.equal(r.stdout, local.stdout);
      assert.match(r.stdout, /no motd\n$/);
    } finally {
      await reg.stop();
    }
  },
);

registryTest(
  "registry: a multi-platform index gives the host's image, or lists what it has",
  async () => {
    const reg = await startRegistry();
    try {
      const src = await busyboxStore();
      const name = `${reg.domain}/test/multi`;
      await ok(["--root", src, "tag", "busybox", `${name}:single`]);
      const push = await ok(["--root", src, "push", `${name}:single`]);
      const digest = push.stdout.match(/sha256:[0-9a-f]{64}/)![0];
      const size = Number(push.stdout.match(/size: (\d+)/)![1]);
      const entry = (platform: object) => ({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest,
        size,
        platform,
      });
      const index = new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          entry({ os: "linux", architecture: "riscv64" }),
          entry(hostPlatform()),
        ],
      }));
      const client = new RegistryClient(reg.domain);
      await client.putManifest(
        "test/multi",
        "all",
        index,
        "application/vnd.oci.image.index.v1+json",
        repositoryScope("test/multi", ["pull", "push"]),
      );
      const empty = tempStore();
      const pull = await ok(["--root", empty, "pull", `${name}:all`]);
      assert.ok(pull.stderr.includes(`Digest: ${sha256(index)}\n`), pull.stderr);
      await ok(["--root", empty, "run", "--rm", `${name}:all`, "true"]);
      const none = await ctr([
        "--root",
        tempStore(),
        "pull",
        "--platform",
        "linux/s390x",
        `${name}:all`,
      ]);
      assert.equal(none.code, 125);
      const host = hostPlatform();
      assert.match(
        none.stderr,
        new RegExp(
          `No matching manifest for linux/s390x in the index of ${name}:all ` +
            `\\(it has linux/riscv64, linux/${host.architecture}`,
        ),
      );
    } finally {
      await reg.stop();
    }
  },
);

registryTest(
  "registry: skopeo pushes what ctr pulls, and inspects what ctr pushes",
  async () => {
    const reg = await startRegistry();
    try {
      const sk = `${reg.domain}/test/sk:1`;
      await run("skopeo", [
        "copy",
        "--dest-tls-verify=false",
        `docker-archive:${await busyboxTar()}`,
        `docker://${sk}`,
      ]);
      const empty = tempStore();
      await ok(["--root", empty, "pull", sk]);
      const r = await runSh(empty, sk, "echo from-skopeo");
      assert.equal(r.stdout, "from-skopeo\n");

      const src = await busyboxStore();
      const name = `${reg.domain}/test/busybox:1`;
      await ok(["--root", src, "tag", "busybox", name]);
      const push = await ok(["--root", src, "push", name]);
      const info = JSON.parse(
        await run("skopeo", ["inspect", "--tls-verify=false", `docker://${name}`]),
      );
      assert.equal(info.Digest, push.stdout.match(/sha256:[0-9a-f]{64}/)![0]);
      assert.equal(info.Architecture, hostPlatform().architecture);
      assert.equal(info.Os, "linux");
      const local = JSON.parse((await ok(["--root", src, "image", "inspect", name])).stdout)[0];
      const manifest = JSON.parse(
        Deno.readTextFileSync(`${src}/blobs/sha256/${local.Manifest.slice(7)}`),
      );
      assert.deepEqual(info.Layers, manifest.layers.map((l: { digest: string }) => l.digest));
    } finally {
      await reg.stop();
    }
  },
  ["skopeo"],
);

registryTest(
  "registry: a blob tampered with in the registry is refused, leaving nothing",
  async () => {
    const reg = await startRegistry();
    try {
      const src = await busyboxStore();
      const name = `${reg.domain}/test/busybox:1`;
      await ok(["--root", src, "tag", "busybox", name]);
      await ok(["--root", src, "push", name]);
      const local = JSON.parse((await ok(["--root", src, "image", "inspect", name])).stdout)[0];
      const manifest = JSON.parse(
        Deno.readTextFileSync(`${src}/blobs/sha256/${local.Manifest.slice(7)}`),
      );
      const layer: string = manifest.layers[0].digest;
      const hex = layer.slice(7);
      const data = `${reg.storage}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
      const bytes = Deno.readFileSync(data);
      bytes[bytes.length >> 1] ^= 0xff; // same size, other content
      Deno.writeFileSync(data, bytes);

      const empty = tempStore();
      const pull = await ctr(["--root", empty, "pull", name]);
      assert.equal(pull.code, 125);
      assert.match(pull.stderr, new RegExp(`Cannot pull the layer ${layer}: digest mismatch`));
      assert.deepEqual(storeContent(empty), []);
      assert.equal((await ok(["--root", empty, "images", "-q"])).stdout.trim(), "");
      const run = await ctr(["--root", tempStore(), "run", "--rm", name, "true"]);
      assert.equal(run.code, 125);
      assert.match(run.stderr, /digest mismatch/);
    } finally {
      await reg.stop();
    }
  },
);

// ---- token auth: a token server here, the registry checks its JWTs -------------

function b64url(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
}

/** A token server (docker's token auth spec) for `users`; anonymous users may only pull. */
async function tokenServer(dir: string, users: Record<string, string>) {
  await run("openssl", [
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    `${dir}/key.pem`,
  ]);
  await run("openssl", [
    "req",
    "-x509",
    "-new",
    "-key",
    `${dir}/key.pem`,
    "-subj",
    "/CN=ctr-test-token",
    "-days",
    "2",
    "-out",
    `${dir}/cert.pem`,
  ]);
  const der = Uint8Array.from(
    atob(pemBody(Deno.readTextFileSync(`${dir}/key.pem`))),
    (c) => c.charCodeAt(0),
  );
  const key = await crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const x5c = [pemBody(Deno.readTextFileSync(`${dir}/cert.pem`))];
  const requests: { scopes: string[]; user?: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    let user: string | undefined;
    const auth = req.headers.get("authorization");
    if (auth) {
      const [u, ...p] = atob(auth.replace(/^Basic /, "")).split(":");
      if (users[u] !== p.join(":")) {
        return Response.json({ details: "incorrect username or password" }, { status: 401 });
      }
      user = u;
    }
    const scopes = url.searchParams.getAll("scope");
    requests.push({ scopes, ...(user && { user }) });
    const access = scopes.map((s) => {
      const parts = s.split(":");
      const actions = parts.at(-1)!.split(",").filter((a) => user || a === "pull");
      return { type: parts[0], name: parts.slice(1, -1).join(":"), actions };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "ES256", x5c }));
    const claims = b64url(JSON.stringify({
      iss: "ctr-test-issuer",
      sub: user ?? "",
      aud: "ctr-test-registry",
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomUUID(),
      access,
    }));
    const sig = await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      new TextEncoder().encode(`${header}.${claims}`),
    );
    const token = `${header}.${claims}.${b64url(new Uint8Array(sig))}`;
    return Response.json({ token, access_token: token, expires_in: 300 });
  });
  return {
    realm: `http://127.0.0.1:${server.addr.port}/token`,
    cert: `${dir}/cert.pem`,
    requests,
    close: () => server.shutdown(),
  };
}

registryTest(
  "registry: token auth: anonymous pulls, pushes after ctr login, one token per scope",
  async () => {
    const tokens = await tokenServer(tempDir(), { alice: "s3cret" });
    const reg = await startRegistry([
      "auth:",
      "  token:",
      `    realm: ${tokens.realm}`,
      "    service: ctr-test-registry",
      "    issuer: ctr-test-issuer",
      `    rootcertbundle: ${tokens.cert}`,
    ].join("\n"));
    try {
      const src = await busyboxStore();
      const name = `${reg.domain}/test/tok:1`;
      await ok(["--root", src, "tag", "busybox", name]);
      const denied = await ctr(["--root", src, "push", name]);
      assert.equal(denied.code, 125);
      assert.match(denied.stderr, /401 Unauthorized.*ctr login 127\.0\.0\.1:\d+/);

      const wrong = await ctr(["--root", src, "login", "-u", "alice", "-p", "nope", reg.domain]);
      assert.equal(wrong.code, 125);
      assert.match(wrong.stderr, /incorrect username or password/);
      const login = await ok(
        ["--root", src, "login", "-u", "alice", "--password-stdin", reg.domain],
        { stdin: "s3cret\n" },
      );
      assert.equal(login.stdout, "Login Succeeded\n");
      const file = `${src}/auth.json`;
      assert.equal(Deno.statSync(file).mode! & 0o777, 0o600);
      assert.equal(
        JSON.parse(Deno.readTextFileSync(file)).auths[reg.domain].auth,
        btoa("alice:s3cret"),
      );

      tokens.requests.length = 0;
      await ok(["--root", src, "push", name]);
      // One token for the push's scope, asked with the stored credentials, reused throughout.
      assert.deepEqual(tokens.requests, [
        { scopes: ["repository:test/tok:pull,push"], user: "alice" },
      ]);

      const empty = tempStore();
      tokens.requests.length = 0;
      await ok(["--root", empty, "pull", name]);
      assert.deepEqual(tokens.requests, [{ scopes: ["repository:test/tok:pull"] }]);
      const r = await ok(["--root", empty, "run", "--rm", name, "echo", "token"]);
      assert.equal(r.stdout, "token\n");

      const out = await ok(["--root", src, "logout", reg.domain]);
      assert.equal(out.stdout, `Removing login credentials for ${reg.domain}\n`);
      assert.deepEqual(JSON.parse(Deno.readTextFileSync(file)).auths, {});
      assert.equal((await ctr(["--root", src, "push", name])).code, 125);
    } finally {
      await reg.stop();
      await tokens.close();
    }
  },
  ["openssl"],
);

registryTest(
  "registry: htpasswd auth: ctr login checks the password, pull and push need it",
  async () => {
    const dir = tempDir();
    const line = await run("htpasswd", ["-nbB", "bob", "pa55word"]);
    Deno.writeTextFileSync(`${dir}/htpasswd`, line.trim() + "\n");
    const reg = await startRegistry([
      "auth:",
      "  htpasswd:",
      "    realm: ctr-test",
      `    path: ${dir}/htpasswd`,
    ].join("\n"));
    try {
      const src = await busyboxStore();
      const name = `${reg.domain}/test/basic:1`;
      await ok(["--root", src, "tag", "busybox", name]);
      const denied = await ctr(["--root", src, "push", name]);
      assert.equal(denied.code, 125);
      assert.match(denied.stderr, /401 Unauthorized.*ctr login 127\.0\.0\.1:\d+/);
      const wrong = await ctr(["--root", src, "login", "-u", "bob", "-p", "nope", reg.domain]);
      assert.equal(wrong.code, 125);
      assert.match(wrong.stderr, /Login to 127\.0\.0\.1:\d+ failed: 401/);
      await ok(["--root", src, "login", "-u", "bob", "-p", "pa55word", reg.domain]);
      await ok(["--root", src, "push", name]);

      const empty = tempStore();
      const anon = await ctr(["--root", empty, "pull", name]);
      assert.equal(anon.code, 125);
      assert.match(anon.stderr, /ctr login/);
      await ok(["--root", empty, "login", "-u", "bob", "--password-stdin", reg.domain], {
        stdin: "pa55word",
      });
      await ok(["--root", empty, "pull", name]);
      const r = await ok(["--root", empty, "run", "--rm", name, "echo", "basic"]);
      assert.equal(r.stdout, "basic\n");
    } finally {
      await reg.stop();
    }
  },
  ["htpasswd"],
);
