/**
 * The Engine API's image routes, answered with ctr's image store and the
 * functions the image commands call: `ctr images` (its filters), `image
 * inspect`, `load`, `save`, `tag`, `rmi`, `image prune`, `history`, `pull`,
 * `push`, `import`, `commit`, `build` and `builder prune`, so that the API
 * records the same events and keeps the same rules as the command line.
 * @module
 */

import { HttpError, type Request, type Response } from "./http.ts";
import { type ApiContext, boolParam, type Router, toHttp } from "./router.ts";
import { queryFilterArgs, queryFilters } from "./filters.ts";
import { jsonBuildProgress, JsonLines, jsonProgress, watchClient } from "./image_progress.ts";
import {
  findImage,
  type ImageSummary,
  inspectImage,
  openStore,
  readConfig,
  type Store,
} from "../image/mod.ts";
import { familiarRepository, familiarString, parseReference } from "../image/reference.ts";
import type { Credentials } from "../image/registry.ts";
import { registryHost } from "../image/registry_config.ts";
import { Filters } from "../cli/filters.ts";
import {
  IMAGE_FILTER_KEYS,
  pruneImages,
  rmi,
  saveImages,
  selectImages,
  tag,
} from "../cli/image.ts";
import { imageEvent } from "../engine/events.ts";
import { liveStatus, reconcile } from "../engine/lifecycle.ts";
import type { ContainerState } from "../engine/state.ts";

/** The routes of images. */
export class ImageRoutes {
  constructor(readonly ctx: ApiContext, r: Router) {
    r.add("GET", "/images/json", (q, res) => this.#images(q, res));
    r.add("POST", "/images/load", (q, res) => this.#load(q, res));
    r.add("POST", "/images/create", (q, res) => this.#create(q, res));
    r.add("POST", "/images/prune", (q, res) => this.#prune(q, res));
    r.add("GET", "/images/get", (q, res) => this.#save(res, q.query.getAll("names")));
    r.add("GET", "/images/search", (q, res) => this.#search(q, res));
    r.add("GET", "/images/(.+)/json", (_q, res, [ref]) => this.#imageInspect(res, ref));
    r.add("GET", "/images/(.+)/history", (_q, res, [ref]) => this.#history(res, ref));
    r.add("GET", "/images/(.+)/get", (_q, res, [ref]) => this.#save(res, [ref]));
    r.add("POST", "/images/(.+)/tag", (q, res, [ref]) => this.#tag(q, res, ref));
    r.add("POST", "/images/(.+)/push", (q, res, [ref]) => this.#push(q, res, ref));
    r.add("DELETE", "/images/(.+)", (q, res, [ref]) => this.#remove(q, res, ref));
    r.add("POST", "/build", (q, res) => this.#build(q, res));
    r.add("POST", "/build/prune", (_q, res) => this.#buildPrune(res));
    r.add("POST", "/commit", (q, res) => this.#commit(q, res));
  }

  get #store(): Store {
    return openStore(this.ctx.g.root);
  }

  /** `GET /images/json?filters=&all=&digests=`: one entry per image, docker's fields. */
  async #images(req: Request, res: Response): Promise<void> {
    const store = this.#store;
    const f = queryFilters(req, IMAGE_FILTER_KEYS);
    // selectImages gives a row per matching name; the API gives each image once with those names.
    const byId = new Map<string, { img: ImageSummary; tags: string[] }>();
    for (const [img, t] of selectImages(store, f)) {
      const e = byId.get(img.digest) ?? { img, tags: [] };
      if (t !== undefined) e.tags.push(t);
      byId.set(img.digest, e);
    }
    await res.json(200, [...byId.values()].map(({ img, tags }) => imageSummary(store, img, tags)));
  }

  async #imageInspect(res: Response, ref: string): Promise<void> {
    await res.json(200, inspectImage(this.#store, ref));
  }

  /** `docker load`: the archive in the body; docker's JSON lines back. */
  async #load(req: Request, res: Response): Promise<void> {
    const { loadArchive } = await import("../image/mod.ts");
    const tmp = await Deno.makeTempFile({ prefix: "ctr-api-load-", suffix: ".tar" });
    try {
      await Deno.writeFile(tmp, req.body, { mode: 0o600 });
      const r = await loadArchive(this.#store, tmp, {});
      const lines = r.images.flatMap((img) =>
        img.names.length
          ? img.names.map((n) => ({ stream: `Loaded image: ${n}\n` }))
          : [{ stream: `Loaded image ID: ${img.id}\n` }]
      );
      for (const img of r.images) imageEvent(this.ctx.g.stateDir, img.id, "load", { name: img.id });
      await res.send(200, lines.map((l) => JSON.stringify(l)).join("\n") + "\n", {
        "Content-Type": "application/json",
      });
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }

  /** `POST /images/create`: `fromImage` pulls (as `ctr pull`), `fromSrc=-` imports the body. */
  async #create(req: Request, res: Response): Promise<void> {
    const q = req.query;
    const from = q.get("fromImage");
    if (from) return await this.#pull(req, res, from, q.get("tag") ?? "");
    const src = q.get("fromSrc");
    if (src === "-") return await this.#import(req, res);
    if (src) throw new HttpError(400, `fromSrc ${src}: ctr imports the request's body only (-)`);
    throw new HttpError(400, "fromImage or fromSrc is required");
  }

  async #pull(req: Request, res: Response, from: string, tagText: string): Promise<void> {
    const ref = tagText === ""
      ? from
      : /^[a-z0-9]+:[a-f0-9]{32,}$/.test(tagText)
      ? `${from}@${tagText}`
      : `${from}:${tagText}`;
    const platform = req.query.get("platform") || undefined;
    const { pull } = await import("../cli/registry.ts");
    const out = new JsonLines(res);
    await this.#streamed(out, () =>
      pull(this.ctx.g, ref, {
        progress: jsonProgress(out),
        credentials: registryAuth(req),
        ...(platform && { platform }),
      }));
  }

  /** `GET /images/search?term=&limit=&filters=`: `ctr search`'s results, docker's fields. */
  async #search(req: Request, res: Response): Promise<void> {
    const term = req.query.get("term") ?? "";
    if (term === "") throw new HttpError(400, "a search term is required (term=)");
    const limitText = req.query.get("limit");
    if (limitText !== null && !/^-?\d+$/.test(limitText)) {
      throw new HttpError(400, `invalid limit: ${limitText}`);
    }
    const { SEARCH_FILTERS, searchImages, searchTarget, checkSearchLimit } = await import(
      "../image/search.ts"
    );
    const { searchFilters } = await import("../cli/search.ts");
    const { queryFilters } = await import("./filters.ts");
    const { clientOptions } = await import("../cli/registry.ts");
    let filters, limit;
    try {
      filters = searchFilters(queryFilters(req, SEARCH_FILTERS));
      limit = limitText === null ? undefined : checkSearchLimit(Number(limitText));
    } catch (e) {
      throw e instanceof HttpError ? e : new HttpError(400, (e as Error).message);
    }
    const results = await searchImages(term, {
      ...clientOptions(this.ctx.g, searchTarget(term).domain, false, registryAuth(req)),
      ...(limit !== undefined && { limit }),
      filters,
    });
    await res.json(200, results);
  }

  /** `docker import -`: the body is a tar of a root file system. */
  async #import(req: Request, res: Response): Promise<void> {
    const q = req.query;
    const { importTar } = await import("../cli/snapshot.ts");
    const { parsePlatform } = await import("../image/platform.ts");
    const repo = q.get("repo") ?? "";
    const tagText = q.get("tag") ?? "";
    const platform = q.get("platform") ? parsePlatform(q.get("platform")!) : undefined;
    const record = await importTar(
      this.ctx.g,
      ReadableStream.from([req.body]),
      "-",
      repo ? (tagText ? `${repo}:${tagText}` : repo) : undefined,
      {
        message: q.get("message") ?? undefined,
        changes: q.getAll("changes"),
        ...(platform && { platform }),
      },
    );
    await res.json(200, { status: record.config });
  }

  /**
   * Runs a pull or push whose progress goes to `out`: an error before the
   * stream started is the answer's status, one after is its last line.
   */
  async #streamed(out: JsonLines, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (e) {
      if (!out.opened) throw toHttp(e);
      return await out.fail(toHttp(e).message);
    }
    await out.end();
  }

  /** `POST /images/{name}/push?tag=`: as `ctr push`; no tag pushes every tag of the repository. */
  async #push(req: Request, res: Response, name: string): Promise<void> {
    const tagText = req.query.get("tag") ?? "";
    const refs = tagText ? [`${name}:${tagText}`] : this.#tagsOf(name);
    if (refs.length === 0) {
      throw new HttpError(404, `An image does not exist locally with the tag: ${name}`);
    }
    const { push } = await import("../cli/registry.ts");
    const out = new JsonLines(res);
    await this.#streamed(out, async () => {
      for (const ref of refs) {
        const r = await push(this.ctx.g, ref, {
          progress: jsonProgress(out),
          credentials: registryAuth(req),
        });
        const t = parseReference(r.name).tag;
        out.push({ status: `${t}: digest: ${r.digest} size: ${r.size}` });
        out.push({ progressDetail: {}, aux: { Tag: t, Digest: r.digest, Size: r.size } }, true);
      }
    });
  }

  /** The names (full references) of the store in the repository `name`. */
  #tagsOf(name: string): string[] {
    const repo = familiarRepository(parseReference(name));
    return Object.keys(this.#store.readIndex().names).filter((n) =>
      familiarRepository(parseReference(n)) === repo
    );
  }

  /** `GET /images/{name}/history`: newest first; the top entry carries the image's ID and tags. */
  async #history(res: Response, ref: string): Promise<void> {
    const { historySource } = await import("../cli/history.ts");
    const src = await historySource(this.ctx.g, ref);
    const tags = inspectImage(this.#store, src.id).RepoTags as string[];
    let layer = 0;
    const rows = src.history.map((h) => ({
      Comment: h.comment ?? "",
      Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
      CreatedBy: h.created_by ?? "",
      Id: "<missing>",
      Size: h.empty_layer ? 0 : src.layerSizes[layer++] ?? 0,
      Tags: null as string[] | null,
    })).reverse();
    if (rows.length) Object.assign(rows[0], { Id: src.id, Tags: tags.length ? tags : null });
    await res.json(200, rows);
  }

  /** `POST /images/{name}/tag?repo=&tag=`: 201, as docker. */
  async #tag(req: Request, res: Response, ref: string): Promise<void> {
    const repo = req.query.get("repo");
    if (!repo) throw new HttpError(400, "repository name (repo) is required");
    const t = req.query.get("tag");
    await tag(this.ctx.g, this.#store, ref, t ? `${repo}:${t}` : repo);
    await res.send(201);
  }

  /** `GET /images/get?names=`, `GET /images/{name}/get`: a docker-save tar, streamed. */
  async #save(res: Response, refs: string[]): Promise<void> {
    if (refs.length === 0) throw new HttpError(400, "names is required");
    const tmp = await Deno.makeTempFile({ prefix: "ctr-api-save-", suffix: ".tar" });
    try {
      await saveImages(this.ctx.g, this.#store, refs, tmp);
      const f = await Deno.open(tmp);
      const out = await res.stream(200, { "Content-Type": "application/x-tar" });
      try {
        const buf = new Uint8Array(1 << 20);
        for (;;) {
          const n = await f.read(buf);
          if (n === null) break;
          await out.write(buf.subarray(0, n));
        }
      } finally {
        f.close();
      }
      await out.end();
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }

  /**
   * `DELETE /images/{name}?force=&noprune=`: as `ctr rmi`, with docker's
   * conflicts first (a container uses it, several names by ID); the
   * answer lists what was untagged and deleted.
   */
  async #remove(req: Request, res: Response, ref: string): Promise<void> {
    const store = this.#store;
    const force = boolParam(req, "force");
    const found = findImage(store.readIndex(), ref);
    if (!found) throw new HttpError(404, `No such image: ${ref}`);
    const id = found.record.config;
    await this.#checkRemove(store, ref, found.name !== undefined, id, force);
    const r = await rmi(this.ctx.g, store, ref, { force });
    await res.json(200, [
      ...r.untagged.map((u) => ({ Untagged: u })),
      ...(r.deleted.length ? [{ Deleted: id }] : []),
    ]);
  }

  /** docker's conflicts of an image removal, in its words (409). */
  async #checkRemove(
    store: Store,
    ref: string,
    byName: boolean,
    id: string,
    force: boolean,
  ): Promise<void> {
    const names = inspectImage(store, id).RepoTags as string[];
    const users = await this.#containersOf(store, id);
    const short = (x: string) => x.replace(/^sha256:/, "").slice(0, 12);
    if (byName) {
      if (!force && names.length <= 1 && users.length) {
        throw new HttpError(
          409,
          `conflict: unable to remove repository reference ${JSON.stringify(ref)} (must force) - ` +
            `container ${short(users[0].id)} is using its referenced image ${short(id)}`,
        );
      }
      return;
    }
    const running = users.find((s) => liveStatus(s) === "running");
    if (running) {
      throw new HttpError(
        409,
        `conflict: unable to delete ${short(id)} (cannot be forced) - image is being used by ` +
          `running container ${short(running.id)}`,
      );
    }
    if (force) return;
    if (users.length) {
      throw new HttpError(
        409,
        `conflict: unable to delete ${short(id)} (must be forced) - image is being used by ` +
          `stopped container ${short(users[0].id)}`,
      );
    }
    // docker says so of several tags in one repository too.
    if (names.length > 1) {
      throw new HttpError(
        409,
        `conflict: unable to delete ${short(id)} (must be forced) - image is referenced in ` +
          `multiple repositories`,
      );
    }
  }

  /** The containers made from the image `id` (by the name they were made from). */
  async #containersOf(store: Store, id: string): Promise<ContainerState[]> {
    const index = store.readIndex();
    return (await reconcile(this.ctx.dir)).filter((s) => {
      try {
        return findImage(index, s.image)?.record.config === id;
      } catch {
        return false;
      }
    });
  }

  /** `POST /images/prune?filters=`: as `ctr image prune` (dangling images; `dangling=false`: unused ones too). */
  async #prune(req: Request, res: Response): Promise<void> {
    const list = queryFilterArgs(req, ["dangling", "until", "label", "label!"]);
    const { parsePruneFilters } = await import("../engine/prune.ts");
    const dangling = Filters.parse(list.filter((f) => f.startsWith("dangling=")), ["dangling"])
      .bool("dangling");
    const filter = parsePruneFilters(list.filter((f) => !f.startsWith("dangling=")));
    const store = this.#store;
    const index = store.readIndex();
    const used = new Set(
      (await reconcile(this.ctx.dir)).flatMap((s) => {
        try {
          return [findImage(index, s.image)?.record.config];
        } catch {
          return [];
        }
      }),
    );
    // docker names what it deleted by image ID: the configs of the manifests pruned.
    const configOf = new Map(Object.entries(index.images).map(([d, rec]) => [d, rec.config]));
    const r = await pruneImages(this.ctx.g, store, {
      all: dangling === false,
      filter,
      keep: (img) => used.has(img.config),
    });
    const deleted = [
      ...r.untagged.map((u) => ({ Untagged: u })),
      ...r.images.map((d) => ({ Deleted: configOf.get(d) ?? d })),
    ];
    await res.json(200, {
      ImagesDeleted: deleted.length ? deleted : null,
      SpaceReclaimed: r.bytes,
    });
  }

  /**
   * `POST /build`: the body is the context (a tar, maybe compressed),
   * unpacked safely into a temporary directory that goes with the build;
   * ctr's builder does the rest, its progress as the classic builder's stream.
   */
  async #build(req: Request, res: Response): Promise<void> {
    const b = await import("../cli/build.ts");
    const x = await import("../image/build/executor.ts");
    const { removeTree } = await import("../os/tree.ts");
    const spec = buildSpec(req);
    const a = b.parseBuildArgs([...spec.argv, "."]);
    b.checkBuildUser();
    const quiet = boolParam(req, "q");
    const tmp = x.makeBuildTemp(this.ctx.g.root);
    const abort = new AbortController();
    const out = new JsonLines(res, () => abort.abort());
    try {
      const input = `${tmp}/body`;
      await Deno.writeFile(input, req.body, { mode: 0o600 });
      const { context, dockerfile } = await b.streamContext(input, tmp, spec.file).catch((e) => {
        throw new HttpError(400, `Error processing tar file: ${(e as Error).message}`);
      });
      await Deno.remove(input);
      // A client that goes away stops the build, as docker's does.
      watchClient(res, () => abort.abort());
      const result = await b.buildImage(this.ctx.g, {
        ...a,
        context,
        dockerfile,
        progress: jsonBuildProgress(out, quiet),
        signal: abort.signal,
        credentials: buildAuth(req),
      });
      out.push({ aux: { ID: result.id } });
      if (quiet) out.push({ stream: `${result.id}\n` });
      else {
        out.push({ stream: `Successfully built ${result.id.slice(7, 19)}\n` });
        for (const n of result.names) {
          out.push({ stream: `Successfully tagged ${familiarString(parseReference(n))}\n` });
        }
      }
      await out.end();
    } catch (e) {
      // docker answers 200 once its stream started: the error is its last line.
      if (!out.opened && !(e instanceof x.BuildError)) {
        const h = toHttp(e);
        if (!res.close) throw h;
        // The watch took the connection's end: the client must not send on it again.
        return await res.json(h.status, { message: h.message }, { Connection: "close" });
      }
      const failed = e instanceof x.BuildError ? runFailure(e.message) : undefined;
      if (failed) await out.fail(failed.message, failed.code);
      else await out.fail(e instanceof x.BuildError ? e.message : toHttp(e).message);
    } finally {
      removeTree(tmp);
    }
  }

  /** `POST /build/prune`: as `ctr builder prune`. */
  async #buildPrune(res: Response): Promise<void> {
    const { pruneBuildCache } = await import("../engine/build_prune.ts");
    const r = await pruneBuildCache(this.ctx.g.root);
    await res.json(200, { CachesDeleted: r.entries, SpaceReclaimed: r.bytes });
  }

  /** `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`: as `ctr commit`. */
  async #commit(req: Request, res: Response): Promise<void> {
    const q = req.query;
    const container = q.get("container");
    if (!container) throw new HttpError(400, "container is required");
    const repo = q.get("repo") ?? "";
    const t = q.get("tag") ?? "";
    const { commit } = await import("../cli/snapshot.ts");
    const record = await commit(
      this.ctx.g,
      container,
      repo ? (t ? `${repo}:${t}` : repo) : undefined,
      {
        author: q.get("author") ?? undefined,
        message: q.get("comment") ?? undefined,
        // The body's config first, as docker merges it, then the changes over it.
        changes: [...configChanges(req.body), ...q.getAll("changes").filter((c) => c !== "")],
        pause: q.get("pause") === null || boolParam(req, "pause"),
      },
    );
    await res.json(201, { Id: record.config });
  }
}

/** The base64url JSON of a registry header; 400 when it is not that. */
function headerJson(req: Request, name: string): unknown {
  const h = req.headers.get(name);
  if (!h) return undefined;
  try {
    const b64 = h.replaceAll("-", "+").replaceAll("_", "/");
    const bin = atob(b64 + "=".repeat((4 - b64.length % 4) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    throw new HttpError(400, `invalid ${name} header: expected base64 of a JSON object`);
  }
}

/** Docker's AuthConfig as credentials: none without a user name. */
function credentialsOf(v: unknown): Credentials | undefined {
  const a = v as { username?: unknown; password?: unknown } | null;
  return typeof a?.username === "string" && a.username
    ? { username: a.username, password: typeof a.password === "string" ? a.password : "" }
    : undefined;
}

/**
 * The credentials of a build's `X-Registry-Config` (base64url JSON of
 * AuthConfigs by registry: `127.0.0.1:5000`, `https://index.docker.io/v1/`),
 * by the domain of a base image's reference.
 */
export function buildAuth(req: Request): (domain: string) => Credentials | undefined {
  const v = headerJson(req, "x-registry-config");
  const byDomain = new Map<string, Credentials>();
  for (const [k, a] of Object.entries((v ?? {}) as Record<string, unknown>)) {
    const c = credentialsOf(a);
    try {
      if (c) byDomain.set(registryHost(k), c);
    } catch { /* no registry name: ignored, as docker ignores it */ }
  }
  return (domain) => byDomain.get(domain);
}

/**
 * The credentials of `X-Registry-Auth` (base64url of docker's AuthConfig
 * JSON); none when absent or without a user name (`e30=`: `{}`).
 */
export function registryAuth(req: Request): Credentials | undefined {
  return credentialsOf(headerJson(req, "x-registry-auth"));
}

/**
 * The container config in a commit's body (`Cmd`, `Entrypoint`, `Env`,
 * `WorkingDir`, `User`, `Labels`, `ExposedPorts`) as the Dockerfile
 * instructions `ctr commit -c` applies; an empty or `null` body is none.
 */
export function configChanges(body: Uint8Array): string[] {
  const text = new TextDecoder().decode(body).trim();
  if (text === "" || text === "null") return [];
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `invalid JSON: ${(e as Error).message}`);
  }
  if (c === null || typeof c !== "object" || Array.isArray(c)) return [];
  const q = JSON.stringify;
  const out: string[] = [];
  if (Array.isArray(c.Cmd)) out.push(`CMD ${q(c.Cmd)}`);
  if (Array.isArray(c.Entrypoint)) out.push(`ENTRYPOINT ${q(c.Entrypoint)}`);
  for (const e of Array.isArray(c.Env) ? c.Env as string[] : []) {
    const eq = e.indexOf("=");
    if (eq > 0) out.push(`ENV ${e.slice(0, eq)}=${q(e.slice(eq + 1))}`);
  }
  if (typeof c.WorkingDir === "string" && c.WorkingDir) out.push(`WORKDIR ${c.WorkingDir}`);
  if (typeof c.User === "string" && c.User) out.push(`USER ${c.User}`);
  for (const [k, v] of Object.entries((c.Labels ?? {}) as Record<string, string>)) {
    out.push(`LABEL ${q(k)}=${q(String(v))}`);
  }
  for (const p of Object.keys((c.ExposedPorts ?? {}) as Record<string, unknown>)) {
    out.push(`EXPOSE ${p}`);
  }
  return out;
}

/**
 * A RUN step's failure in the classic builder's words, with its exit code
 * (which docker's CLI exits with): `The command '/bin/sh -c x' returned a
 * non-zero code: 3`.
 */
export function runFailure(message: string): { message: string; code: number } | undefined {
  const m = /process ("(?:[^"\\]|\\.)*") did not complete successfully: exit code: (\d+)$/
    .exec(message);
  if (!m) return undefined;
  const code = Number(m[2]);
  return {
    message: `The command '${JSON.parse(m[1])}' returned a non-zero code: ${code}`,
    code,
  };
}

/** The query of `POST /build` as a build's options (the checks of `ctr build`'s flags). */
function buildSpec(req: Request) {
  const q = req.query;
  if (q.get("remote")) {
    throw new HttpError(
      400,
      `remote build contexts are not supported (${q.get("remote")}): send the context as the body`,
    );
  }
  const obj = (k: string): Record<string, string> => {
    const text = q.get(k);
    if (!text) return {};
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new HttpError(400, `invalid ${k}: ${(e as Error).message}`);
    }
    if (v === null) return {};
    if (typeof v !== "object" || Array.isArray(v)) {
      throw new HttpError(400, `invalid ${k}: expected a JSON object`);
    }
    // A null value is a build argument given without one and not in the environment: unset.
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== null)
        .map(([a, x]) => [a, String(x)]),
    );
  };
  const argv: string[] = [];
  for (const t of q.getAll("t")) argv.push("--tag", t);
  for (const [k, v] of Object.entries(obj("buildargs"))) argv.push("--build-arg", `${k}=${v}`);
  for (const [k, v] of Object.entries(obj("labels"))) argv.push("--label", `${k}=${v}`);
  if (q.get("target")) argv.push("--target", q.get("target")!);
  if (boolParam(req, "nocache")) argv.push("--no-cache");
  if (boolParam(req, "pull")) argv.push("--pull");
  const net = q.get("networkmode");
  if (net && net !== "default") argv.push("--network", net);
  const platform = q.get("platform");
  if (platform) {
    argv.push("--platform", platform);
    checkPlatform(platform);
  }
  return { argv, file: q.get("dockerfile") || undefined };
}

/** The builder does not emulate: a platform other than this host's is refused. */
function checkPlatform(text: string): void {
  const arch = Deno.build.arch === "x86_64" ? "amd64" : "arm64";
  const [os, a] = text.toLowerCase().split("/");
  if (os !== "linux" || (a !== undefined && a !== arch)) {
    throw new HttpError(
      400,
      `invalid platform ${JSON.stringify(text)}: ctr builds for this host only (linux/${arch})`,
    );
  }
}

/** An image as `GET /images/json` (and `/system/df`) lists it: `tags`, the names shown (all when empty). */
export function imageSummary(
  store: Store,
  img: ImageSummary,
  tags: readonly string[],
): Record<string, unknown> {
  const labels = readConfig(store, img.id).config?.Labels;
  // Those of the names listed (a reference filter shows only the matching ones).
  const shown = tags.length ? tags : img.tags;
  const repos = new Set(shown.map((t) => familiarRepository(parseReference(t))));
  return {
    Containers: -1,
    Created: img.created ? Math.floor(Date.parse(img.created) / 1000) : 0,
    Id: img.id,
    Labels: labels && Object.keys(labels).length ? labels : null,
    ParentId: "",
    RepoDigests: shown.length ? [...repos].map((r) => `${r}@${img.digest}`) : ["<none>@<none>"],
    RepoTags: shown.length ? shown : ["<none>:<none>"],
    SharedSize: -1,
    Size: img.size,
    VirtualSize: img.size,
  };
}
