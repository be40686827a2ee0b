/**
 * A small registry for tests of the client, written with Deno.serve on
 * 127.0.0.1: manifests and blobs from memory, uploads (POST, PATCH, PUT),
 * optional Bearer (with its own token endpoint) or Basic authentication,
 * failures on demand and redirected blobs. It logs every request.
 */

import { sha256 } from "../lib/image/digest.ts";
import { makeTar } from "./_tar.ts";

/** One request the fake saw. */
export interface Seen {
  readonly method: string;
  readonly path: string;
  readonly search: string;
  readonly authorization: string | null;
}

/** Options of a fake registry. */
export interface FakeOptions {
  readonly auth?: "none" | "bearer" | "basic";
  /** user:password accepted (Basic, or at the token endpoint). */
  readonly user?: string;
  /** Statuses answered, in turn, before a path's real answer (e.g. [503, 503]). */
  readonly failures?: Record<string, number[]>;
  /** Blob GETs are redirected here (another origin). */
  readonly blobsAt?: string;
  /** Upload Locations are absolute and carry this query (e.g. `_state=a%3D%3D`). */
  readonly uploadQuery?: string;
}

/** A running fake registry. */
export interface FakeRegistry {
  /** `127.0.0.1:PORT`, as references name it. */
  readonly domain: string;
  readonly url: string;
  readonly seen: Seen[];
  readonly blobs: Map<string, Uint8Array>;
  readonly manifests: Map<string, { bytes: Uint8Array; mediaType: string }>;
  /** Tokens handed out by the token endpoint. */
  tokens: number;
  close(): Promise<void>;
}

function b64(s: string): string {
  return btoa(s);
}

/** Starts a fake registry on a free port of 127.0.0.1. */
export function fakeRegistry(opts: FakeOptions = {}): FakeRegistry {
  const auth = opts.auth ?? "none";
  const seen: Seen[] = [];
  const blobs = new Map<string, Uint8Array>();
  const manifests = new Map<string, { bytes: Uint8Array; mediaType: string }>();
  const uploads = new Map<string, Uint8Array>();
  const failures = Object.fromEntries(
    Object.entries(opts.failures ?? {}).map(([k, v]) => [k, [...v]]),
  );
  const state = { tokens: 0 };
  let base = "";
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json", ...headers },
    });
  const challenge = () =>
    auth === "bearer" ? `Bearer realm="${base}/token",service="fake"` : `Basic realm="fake"`;
  const authorized = (h: string | null) => {
    if (auth === "none") return true;
    if (auth === "basic") return h === `Basic ${b64(opts.user ?? "")}`;
    return h !== null && h.startsWith("Bearer tok-");
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      const authorization = req.headers.get("authorization");
      seen.push({ method: req.method, path: url.pathname, search: url.search, authorization });
      const body = new Uint8Array(await req.arrayBuffer());
      const fail = failures[url.pathname]?.shift();
      if (fail) return json(fail, { errors: [{ code: "UNAVAILABLE", message: "try later" }] });
      if (url.pathname === "/token") {
        if (authorization && authorization !== `Basic ${b64(opts.user ?? "")}`) {
          return json(401, { details: "incorrect username or password" });
        }
        state.tokens++;
        return json(200, { token: `tok-${state.tokens}`, expires_in: 300 });
      }
      if (!authorized(authorization)) {
        return json(
          401,
          { errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] },
          {
            "WWW-Authenticate": challenge(),
          },
        );
      }
      if (url.pathname === "/v2/") return json(200, {});
      let m = url.pathname.match(/^\/v2\/(.+)\/manifests\/([^/]+)$/);
      if (m) {
        if (req.method === "PUT") {
          const mediaType = req.headers.get("content-type") ?? "";
          manifests.set(m[2], { bytes: body, mediaType });
          manifests.set(sha256(body), { bytes: body, mediaType });
          return new Response(null, {
            status: 201,
            headers: { "Docker-Content-Digest": sha256(body) },
          });
        }
        const found = manifests.get(m[2]);
        if (!found) {
          return json(404, { errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] });
        }
        return new Response(found.bytes as Uint8Array<ArrayBuffer>, {
          headers: {
            "Content-Type": found.mediaType,
            "Docker-Content-Digest": sha256(found.bytes),
          },
        });
      }
      m = url.pathname.match(/^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/);
      if (m) {
        const blob = blobs.get(m[2]);
        if (!blob) {
          return json(404, { errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown" }] });
        }
        if (opts.blobsAt && req.method === "GET") {
          return new Response(null, {
            status: 307,
            headers: { Location: `${opts.blobsAt}/${m[2]}` },
          });
        }
        return new Response(req.method === "HEAD" ? null : blob as Uint8Array<ArrayBuffer>, {
          headers: { "Content-Length": String(blob.length), "Docker-Content-Digest": m[2] },
        });
      }
      m = url.pathname.match(/^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/);
      if (m) {
        const location = (id: string) =>
          opts.uploadQuery
            ? `${base}/v2/${m![1]}/blobs/uploads/${id}?${opts.uploadQuery}`
            : `/v2/${m![1]}/blobs/uploads/${id}`;
        if (req.method === "POST") {
          const id = crypto.randomUUID();
          uploads.set(id, new Uint8Array(0));
          return new Response(null, { status: 202, headers: { Location: location(id) } });
        }
        const id = m[2];
        const have = uploads.get(id);
        if (!have) return json(404, { errors: [{ code: "BLOB_UPLOAD_UNKNOWN", message: "?" }] });
        const all = new Uint8Array(have.length + body.length);
        all.set(have), all.set(body, have.length);
        uploads.set(id, all);
        if (req.method === "PATCH") {
          return new Response(null, { status: 202, headers: { Location: location(id) } });
        }
        const digest = url.searchParams.get("digest") ?? "";
        if (opts.uploadQuery && !url.search.startsWith(`?${opts.uploadQuery}&`)) {
          return json(400, { errors: [{ code: "BLOB_UPLOAD_INVALID", message: "lost state" }] });
        }
        if (sha256(all) !== digest) {
          return json(400, { errors: [{ code: "DIGEST_INVALID", message: "digest mismatch" }] });
        }
        blobs.set(digest, all);
        uploads.delete(id);
        return new Response(null, { status: 201, headers: { "Docker-Content-Digest": digest } });
      }
      return json(404, { errors: [{ code: "NAME_UNKNOWN", message: url.pathname }] });
    },
  );
  const port = server.addr.port;
  base = `http://127.0.0.1:${port}`;
  return {
    domain: `127.0.0.1:${port}`,
    url: base,
    seen,
    blobs,
    manifests,
    get tokens() {
      return state.tokens;
    },
    set tokens(n: number) {
      state.tokens = n;
    },
    close: () => server.shutdown(),
  };
}

/** An image as bytes: its layers (bottom first), config and manifest. */
export interface TestImage {
  /** The first layer. */
  layer: Uint8Array;
  layers: Uint8Array[];
  config: Uint8Array;
  manifest: Uint8Array;
  manifestDigest: string;
}

/** A one-layer image (a file `hello`), as bytes: layer, config, manifest. */
export function testImage(arch = "amd64"): TestImage {
  return layeredImage([makeTar([{ name: "hello", data: "hi\n", mode: 0o644 }])], arch);
}

/** An image of these (uncompressed) layer tars, bottom first. */
export function layeredImage(layers: Uint8Array[], arch = "amd64"): TestImage {
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: arch,
    os: "linux",
    config: { Cmd: ["/hello"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => sha256(l)) },
  }));
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: sha256(config),
      size: config.length,
    },
    layers: layers.map((l) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: sha256(l),
      size: l.length,
    })),
  }));
  return { layer: layers[0], layers, config, manifest, manifestDigest: sha256(manifest) };
}

/** Puts an image into a fake registry under `repo:tag`. */
export function serveImage(reg: FakeRegistry, tag: string, img = testImage()): void {
  for (const l of img.layers) reg.blobs.set(sha256(l), l);
  reg.blobs.set(sha256(img.config), img.config);
  const m = { bytes: img.manifest, mediaType: "application/vnd.oci.image.manifest.v1+json" };
  reg.manifests.set(tag, m);
  reg.manifests.set(img.manifestDigest, m);
}

/** A second server on another origin that serves blobs at /<digest> (redirect target). */
export function blobServer(
  blobs: Map<string, Uint8Array>,
): { url: string; seen: Seen[]; close(): Promise<void> } {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    seen.push({
      method: req.method,
      path: url.pathname,
      search: url.search,
      authorization: req.headers.get("authorization"),
    });
    const blob = blobs.get(url.pathname.slice(1));
    return blob
      ? new Response(blob as Uint8Array<ArrayBuffer>)
      : new Response("no", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    close: () => server.shutdown(),
  };
}
