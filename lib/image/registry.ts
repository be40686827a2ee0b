/**
 * A client of the OCI distribution API (v2), as docker speaks it to
 * registries:
 *
 * - HTTPS, except plain HTTP for loopback registries (`localhost`,
 *   127.0.0.0/8, `::1`) and those marked insecure; Docker Hub (`docker.io`)
 *   is reached at registry-1.docker.io.
 * - `GET /v2/` first: a 401's `WWW-Authenticate` challenge says which
 *   authentication the registry wants. Bearer: a token from the challenge's
 *   realm for `service` and a scope (`repository:NAME:pull,push`), anonymous
 *   or with the stored credentials as Basic auth, cached per scope until it
 *   expires; a later 401 (a new scope in its challenge) gets a fresh token and
 *   one more try. Basic: the credentials on every request.
 * - Redirects (blob storage) are followed by hand, and the Authorization
 *   header is never sent to another origin.
 * - Network errors, 5xx and 429 are tried again (3 tries, exponential
 *   backoff); other 4xx answers are final.
 *
 * The client moves bytes; pull.ts and push.ts decide what to move and verify
 * it against digests.
 * @module
 */

import { VERSION } from "../version.ts";
import {
  drain,
  parseChallenges,
  readBody,
  registryBase,
  RegistryError,
  responseDetail,
  responseError,
  uploadUrl,
} from "./_registry_http.ts";
import { type Digest, isDigest, sha256 } from "./digest.ts";
import { INDEX_TYPES, MANIFEST_TYPES, MEDIA } from "./schema.ts";

export {
  type Challenge,
  DOCKER_HUB_REGISTRY,
  isLoopback,
  parseChallenges,
  readBody,
  registryBase,
  RegistryError,
  repositoryScope,
  responseError,
  uploadUrl,
} from "./_registry_http.ts";

/** The largest manifest or index ctr accepts from a registry (as containerd). */
export const MAX_MANIFEST = 4 << 20;
/** What a manifest GET accepts, in order of preference. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MEDIA.ociIndex,
  MEDIA.dockerList,
  MEDIA.ociManifest,
  MEDIA.dockerManifest,
];
const USER_AGENT = `ctr/${VERSION}`;
const MAX_REDIRECTS = 10;
/** The largest blob uploaded from memory in one PUT (see putBlob). */
const MONOLITHIC_MAX = 32 << 20;

/** A user name and password for a registry. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Options of a RegistryClient. */
export interface ClientOptions {
  /** Plain HTTP even when the registry is not on this machine. */
  readonly insecure?: boolean;
  /** Sent as Basic auth to the registry or its token server. */
  readonly credentials?: Credentials;
  /** Tries per request (default 3). */
  readonly tries?: number;
  /** The first backoff, doubled at each try (default 250 ms). */
  readonly backoffMs?: number;
  /** The longest wait for the headers of an answer to a request without a body (default 60 s). */
  readonly timeoutMs?: number;
  /** The largest blob pushed from memory in one PUT; larger ones stream (default 32 MiB). */
  readonly monolithicMax?: number;
}

/** Options of one request. */
export interface RequestOptions {
  /** What the request is for, in error messages: `GET manifest busybox:latest`. */
  readonly what: string;
  /** The token scope it needs (Bearer auth). */
  readonly scope?: string;
  readonly headers?: Record<string, string>;
  /** Makes the body anew for each try. */
  readonly body?: () => BodyInit | Promise<BodyInit>;
  readonly signal?: AbortSignal;
  /** One try only: the caller retries (a download that may fail mid-stream). */
  readonly once?: boolean;
}

type Auth =
  | { readonly kind: "none" }
  | { readonly kind: "basic" }
  | { readonly kind: "bearer"; readonly realm: string; readonly service?: string };

/** A manifest or index as a registry sent it. */
export interface FetchedManifest {
  /** Its exact bytes. */
  readonly bytes: Uint8Array;
  /** Their digest (computed here). */
  readonly digest: Digest;
  /** From the document, else the Content-Type. */
  readonly mediaType: string;
  /** Whether it is an index (or a Docker manifest list). */
  readonly isIndex: boolean;
}

/** Talks to one registry. */
export class RegistryClient {
  /** The registry as references name it: `docker.io`, `127.0.0.1:5000`. */
  readonly domain: string;
  /** The API's base URL. */
  readonly base: string;
  readonly #opts: ClientOptions;
  #auth?: Auth;
  #pinged?: Promise<void>;
  readonly #tokens = new Map<string, { token: string; expires: number }>();

  constructor(domain: string, opts: ClientOptions = {}) {
    this.domain = domain;
    this.base = registryBase(domain, opts.insecure);
    this.#opts = opts;
  }

  /**
   * Runs `fn` up to `tries` times while it fails in a retryable way, backing
   * off. The last failure is thrown as final, so that a retry loop around
   * this one does not multiply the tries.
   */
  async retry<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const tries = this.#opts.tries ?? 3;
    for (let n = 1;; n++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof RegistryError) || !e.retryable || signal?.aborted) throw e;
        if (n >= tries) throw new RegistryError(e.message, e.status, false);
        const wait = (this.#opts.backoffMs ?? 250) * 2 ** (n - 1);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** One HTTP exchange, following GET/HEAD redirects; network errors become retryable. */
  async #send(
    method: string,
    url: string,
    headers: Headers,
    body?: BodyInit,
    signal?: AbortSignal,
  ): Promise<Response> {
    let current = url;
    for (let hop = 0;; hop++) {
      // A limit on the wait for headers, not on sending a body: an upload takes what it takes.
      const timeout = new AbortController();
      const timer = body === undefined
        ? setTimeout(() => timeout.abort(), this.#opts.timeoutMs ?? 60_000)
        : undefined;
      let res: Response;
      try {
        res = await fetch(current, {
          method,
          headers,
          body,
          redirect: "manual",
          signal: signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal,
        });
      } catch (e) {
        if (signal?.aborted) throw signal.reason ?? e;
        const why = timeout.signal.aborted ? "no answer in time" : (e as Error).message;
        throw new RegistryError(
          `Cannot reach ${this.domain}: ${method} ${current}: ${why}`,
          0,
          true,
        );
      } finally {
        clearTimeout(timer);
      }
      const location = res.headers.get("location");
      if (res.status < 300 || res.status >= 400 || !location || !/^(GET|HEAD)$/.test(method)) {
        return res;
      }
      await drain(res);
      if (hop >= MAX_REDIRECTS) {
        throw new RegistryError(`${method} ${url}: more than ${MAX_REDIRECTS} redirects`);
      }
      const next = new URL(location, current);
      if (next.origin !== new URL(current).origin) {
        headers = new Headers(headers);
        headers.delete("authorization");
      }
      current = next.href;
    }
  }

  /** Asks `GET /v2/` which authentication the registry wants. */
  ping(): Promise<void> {
    this.#pinged ??= this.retry(async () => {
      const res = await this.#send("GET", `${this.base}/v2/`, this.#headers());
      if (res.ok) {
        await drain(res);
        this.#auth = { kind: "none" };
      } else if (res.status === 401) {
        await drain(res);
        this.#auth = this.#authFrom(res) ?? { kind: "basic" };
      } else if (res.status >= 500 || res.status === 429) {
        await drain(res);
        throw new RegistryError(`${this.domain}: GET /v2/: ${res.status}`, res.status, true);
      } else {
        throw await responseError(res, `${this.domain} does not answer as a registry (GET /v2/)`);
      }
    }).catch((e) => {
      this.#pinged = undefined;
      throw e;
    });
    return this.#pinged;
  }

  #headers(extra: Record<string, string> = {}): Headers {
    const h = new Headers(extra);
    h.set("User-Agent", USER_AGENT);
    return h;
  }

  #authFrom(res: Response): Auth | undefined {
    const challenges = parseChallenges(res.headers.get("www-authenticate") ?? "");
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
    if (bearer) {
      return {
        kind: "bearer",
        realm: bearer.params.realm,
        ...(bearer.params.service !== undefined && { service: bearer.params.service }),
      };
    }
    return challenges.some((c) => c.scheme === "basic") ? { kind: "basic" } : undefined;
  }

  #basic(): string | undefined {
    const c = this.#opts.credentials;
    if (!c) return undefined;
    const bytes = new TextEncoder().encode(`${c.username}:${c.password}`);
    return `Basic ${btoa(String.fromCharCode(...bytes))}`;
  }

  /** A token for `scope` from the bearer realm: cached until it expires, unless `fresh`. */
  async #token(auth: Auth & { kind: "bearer" }, scope: string, fresh: boolean): Promise<string> {
    const key = `${auth.realm} ${auth.service ?? ""} ${scope}`;
    const cached = this.#tokens.get(key);
    if (cached && !fresh && cached.expires > Date.now()) return cached.token;
    const url = new URL(auth.realm);
    if (auth.service !== undefined) url.searchParams.set("service", auth.service);
    for (const s of scope.split(" ").filter(Boolean)) url.searchParams.append("scope", s);
    const c = this.#opts.credentials;
    if (c) url.searchParams.set("account", c.username);
    const what = `Cannot get a token for ${scope || this.domain} from ${auth.realm}`;
    const body = await this.retry(async () => {
      const basic = this.#basic();
      const res = await this.#send(
        "GET",
        url.href,
        this.#headers(basic ? { Authorization: basic } : {}),
      );
      if (res.status >= 500 || res.status === 429) {
        await drain(res);
        throw new RegistryError(`${what}: ${res.status}`, res.status, true);
      }
      if (!res.ok) {
        const err = await responseError(res, what);
        throw res.status === 401 && !c
          ? new RegistryError(`${err.message} (log in with 'ctr login ${this.domain}')`, 401)
          : err;
      }
      return await readBody(res, 1 << 20, "token answer");
    });
    let token: unknown, expiresIn: unknown;
    try {
      const j = JSON.parse(new TextDecoder().decode(body));
      token = j.token ?? j.access_token;
      expiresIn = j.expires_in;
    } catch { /* checked below */ }
    if (typeof token !== "string" || token === "") {
      throw new RegistryError(`${what}: the answer holds no token`);
    }
    // As docker: 60 s when the server says nothing; renewed 10 s before it ends.
    const life = typeof expiresIn === "number" && expiresIn > 0 ? expiresIn : 60;
    this.#tokens.set(key, { token, expires: Date.now() + Math.max(0, life - 10) * 1000 });
    return token;
  }

  async #authorization(scope: string, fresh: boolean): Promise<string | undefined> {
    const auth = this.#auth;
    if (!auth || auth.kind === "none") return undefined;
    if (auth.kind === "basic") return this.#basic();
    return `Bearer ${await this.#token(auth, scope, fresh)}`;
  }

  /**
   * Sends a request to `pathOrUrl` (`/v2/...`, or an absolute URL) with the
   * authentication the registry wants, tried again as the module says. Gives
   * back any final answer, 4xx included, for the caller to judge.
   */
  async request(method: string, pathOrUrl: string, opts: RequestOptions): Promise<Response> {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.base}${pathOrUrl}`;
    const sameOrigin = new URL(url).origin === new URL(this.base).origin;
    await this.ping();
    const once = async () => {
      let scope = opts.scope ?? "";
      for (let refreshed = false;;) {
        const headers = this.#headers(opts.headers);
        const authz = sameOrigin ? await this.#authorization(scope, refreshed) : undefined;
        if (authz) headers.set("Authorization", authz);
        const body = opts.body ? await opts.body() : undefined;
        const res = await this.#send(method, url, headers, body, opts.signal);
        if (res.status === 401 && !refreshed && sameOrigin) {
          // A token for a scope the registry names, or the first after a new challenge.
          const auth = this.#authFrom(res);
          await drain(res);
          if (auth) this.#auth = auth;
          const asked = parseChallenges(res.headers.get("www-authenticate") ?? "")
            .find((c) => c.scheme === "bearer")?.params.scope;
          if (asked) {
            scope = [...new Set([...scope.split(" "), ...asked.split(" ")])].filter(Boolean)
              .join(" ");
          }
          refreshed = true;
          continue;
        }
        if (res.status >= 500 || res.status === 429) {
          const after = Number(res.headers.get("retry-after"));
          await drain(res);
          if (after > 0 && after <= 10) await new Promise((r) => setTimeout(r, after * 1000));
          throw new RegistryError(
            `${opts.what}: ${res.status} ${res.statusText}`,
            res.status,
            true,
          );
        }
        return res;
      }
    };
    return opts.once ? await once() : await this.retry(once, opts.signal);
  }

  /** An error for a final answer, with a hint to log in when the registry wants credentials. */
  async fail(res: Response, what: string): Promise<RegistryError> {
    const err = await responseError(res, what);
    if ((res.status === 401 || res.status === 403) && !this.#opts.credentials) {
      return new RegistryError(
        `${err.message} (the repository may not exist or may need 'ctr login ${this.domain}')`,
        res.status,
      );
    }
    return err;
  }

  /**
   * Fetches a manifest or index by tag or digest and verifies it: by digest,
   * its bytes must hash to that digest; a Docker-Content-Digest header must
   * agree with them too.
   */
  async getManifest(path: string, reference: string, scope: string): Promise<FetchedManifest> {
    const name = `${this.domain}/${path}${isDigest(reference) ? "@" : ":"}${reference}`;
    const what = `GET manifest ${name}`;
    const { res, bytes } = await this.retry(async () => {
      const res = await this.request("GET", `/v2/${path}/manifests/${reference}`, {
        what,
        scope,
        headers: { Accept: MANIFEST_ACCEPT.join(", ") },
        once: true,
      });
      if (res.status === 404) {
        const detail = await responseDetail(res);
        throw new RegistryError(
          `The manifest for ${name} is not found${detail && `: ${detail}`}`,
          404,
        );
      }
      if (!res.ok) throw await this.fail(res, what);
      return { res, bytes: await readBody(res, MAX_MANIFEST, "manifest") };
    });
    const digest = sha256(bytes);
    const claimed = res.headers.get("docker-content-digest");
    for (const [want, source] of [[reference, "the requested"], [claimed, "the registry's"]]) {
      if (want && want.startsWith("sha256:") && want !== digest) {
        throw new RegistryError(
          `The manifest of ${this.domain}/${path} does not match ${source} digest ${want}: ` +
            `digest mismatch (got ${digest})`,
        );
      }
    }
    let doc: { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown };
    try {
      doc = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new RegistryError(`The manifest of ${name} is not JSON`);
    }
    if (doc?.schemaVersion === 1) {
      throw new RegistryError(
        `${name} has a Docker schema 1 manifest, which ctr does not support`,
      );
    }
    const header = (res.headers.get("content-type") ?? "").split(";")[0].trim();
    const mediaType = typeof doc?.mediaType === "string" ? doc.mediaType : header;
    const isIndex = INDEX_TYPES.includes(mediaType) ||
      (!MANIFEST_TYPES.includes(mediaType) && Array.isArray(doc?.manifests));
    return { bytes, digest, mediaType, isIndex };
  }

  /** Starts a blob download: the 200 answer, its body unread (one try: the caller retries). */
  async getBlob(
    path: string,
    digest: Digest,
    scope: string,
    signal?: AbortSignal,
  ): Promise<Response> {
    const what = `GET blob ${digest} of ${this.domain}/${path}`;
    const res = await this.request("GET", `/v2/${path}/blobs/${digest}`, {
      what,
      scope,
      signal,
      once: true,
      // The bytes as stored: fetch would undo a Content-Encoding, and the digest with it.
      headers: { "Accept-Encoding": "identity" },
    });
    if (res.status !== 200) throw await this.fail(res, what);
    return res;
  }

  /** Whether the repository has a blob (HEAD). */
  async hasBlob(path: string, digest: Digest, scope: string): Promise<boolean> {
    const what = `HEAD blob ${digest} of ${this.domain}/${path}`;
    const res = await this.request("HEAD", `/v2/${path}/blobs/${digest}`, { what, scope });
    await drain(res);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.fail(res, what);
  }

  /**
   * Uploads a blob: POST for an upload session, then one PUT of the whole
   * blob to its Location with `digest=`. Deno's fetch sends a streamed body
   * chunked, without Content-Length, which the spec's monolithic PUT wants:
   * so a blob up to `monolithicMax` goes from memory, and a larger one is
   * streamed in one PATCH (chunked, as docker uploads) before an empty PUT.
   * `open` gives the bytes anew for each try.
   */
  async putBlob(
    path: string,
    digest: Digest,
    size: number,
    open: () => Promise<ReadableStream<Uint8Array>>,
    scope: string,
  ): Promise<void> {
    const what = `upload blob ${digest} to ${this.domain}/${path}`;
    const octets = { "Content-Type": "application/octet-stream" };
    await this.retry(async () => {
      const start = `${this.base}/v2/${path}/blobs/uploads/`;
      const post = await this.request("POST", start, {
        what,
        scope,
        headers: { "Content-Length": "0" },
        once: true,
      });
      if (post.status === 201) return await drain(post); // the registry has it already
      if (post.status !== 202) throw await this.fail(post, what);
      await drain(post);
      let location = post.headers.get("location");
      if (!location) throw new RegistryError(`${what}: the answer to POST has no Location`);
      let from = start;
      let body: () => BodyInit | Promise<BodyInit>;
      if (size <= (this.#opts.monolithicMax ?? MONOLITHIC_MAX)) {
        const bytes = new Uint8Array(await new Response(await open()).arrayBuffer());
        body = () => bytes;
      } else {
        const url = new URL(location, start).href;
        const patch = await this.request("PATCH", url, {
          what,
          scope,
          headers: octets,
          body: open,
          once: true,
        });
        if (patch.status !== 202 && patch.status !== 204) throw await this.fail(patch, what);
        await drain(patch);
        location = patch.headers.get("location") ?? location;
        from = url;
        body = () => new Uint8Array(0);
      }
      const put = await this.request("PUT", uploadUrl(from, location, digest), {
        what,
        scope,
        headers: octets,
        body,
        once: true,
      });
      if (put.status !== 201 && put.status !== 204) throw await this.fail(put, what);
      await drain(put);
      const got = put.headers.get("docker-content-digest");
      if (got && got !== digest) {
        throw new RegistryError(`${what}: the registry stored it as ${got}: digest mismatch`);
      }
    });
  }

  /** Uploads a manifest under a tag (or its digest); returns its digest. */
  async putManifest(
    path: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    scope: string,
  ): Promise<Digest> {
    const what = `PUT manifest ${this.domain}/${path}:${reference}`;
    const res = await this.request("PUT", `/v2/${path}/manifests/${reference}`, {
      what,
      scope,
      headers: { "Content-Type": mediaType },
      body: () => bytes.slice(),
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 204) {
      throw await this.fail(res, what);
    }
    await drain(res);
    const digest = sha256(bytes);
    const got = res.headers.get("docker-content-digest");
    if (got && got !== digest) {
      throw new RegistryError(`${what}: the registry stored it as ${got}: digest mismatch`);
    }
    return digest;
  }

  /**
   * Checks the credentials: with token auth, a token from the realm; with
   * Basic auth, `GET /v2/`. A registry that asks for no authentication passes.
   */
  async login(): Promise<void> {
    this.#pinged = undefined;
    await this.ping();
    const auth = this.#auth!;
    if (auth.kind === "bearer") {
      await this.#token(auth, "", true);
      return;
    }
    if (auth.kind === "none") return;
    const basic = this.#basic();
    const res = await this.retry(async () => {
      const r = await this.#send(
        "GET",
        `${this.base}/v2/`,
        this.#headers(basic ? { Authorization: basic } : {}),
      );
      if (r.status >= 500) {
        await drain(r);
        throw new RegistryError(`${this.domain}: GET /v2/: ${r.status}`, r.status, true);
      }
      return r;
    });
    if (!res.ok) throw await responseError(res, `Login to ${this.domain} failed`);
    await drain(res);
  }
}
