/**
 * The Engine API's routes to a container's files: `archive` (what
 * `docker cp` reads, stats and writes: the same resolution inside the
 * container's root as `ctr cp`, never through a symlink out of it),
 * `export` (its whole file system as a tar) and `changes` (`docker diff`).
 * @module
 */

import type { ContainerState } from "../engine/state.ts";
import {
  baseName,
  type ContainerFs,
  containerFs,
  NoSuchPathError,
  type Owner,
  tarSink,
  tarSource,
  wantsContents,
} from "../engine/copy.ts";
import { containerEvent } from "../engine/events.ts";
import { isRunning } from "../engine/lifecycle.ts";
import { HttpError, type Request, type Response } from "./http.ts";
import { type ApiContext, boolParam, type Router } from "./router.ts";

/** `archive` (GET, HEAD, PUT), `export`, `changes`. */
export class ContainerFileRoutes {
  constructor(readonly ctx: ApiContext, r: Router) {
    r.add("HEAD", "/containers/([^/]+)/archive", (q, res, [ref]) => this.#stat(q, res, ref));
    r.add("GET", "/containers/([^/]+)/archive", (q, res, [ref]) => this.#get(q, res, ref));
    r.add("PUT", "/containers/([^/]+)/archive", (q, res, [ref]) => this.#put(q, res, ref));
    r.add("GET", "/containers/([^/]+)/export", (_q, res, [ref]) => this.#export(res, ref));
    r.add("GET", "/containers/([^/]+)/changes", (_q, res, [ref]) => this.#changes(res, ref));
  }

  /** The container, its file system and the path asked for, for `fn`; the file system closed after. */
  async #withPath<T>(
    req: Request,
    ref: string,
    fn: (s: ContainerState, fs: ContainerFs, path: string, asked: string) => Promise<T>,
  ): Promise<T> {
    const asked = req.query.get("path");
    if (!asked) throw new HttpError(400, "a path is required (path=)");
    const s = this.ctx.dir.find(ref);
    const fs = containerFs(s);
    try {
      return await fn(s, fs, asked.startsWith("/") ? asked : `/${asked}`, asked);
    } catch (e) {
      if (e instanceof NoSuchPathError) throw new HttpError(404, e.message);
      throw e;
    } finally {
      fs.close();
    }
  }

  /** What is at the path, as docker's X-Docker-Container-Path-Stat header says it. */
  #statHeader(fs: ContainerFs, path: string, asked: string, ref: string): string {
    const follow = asked.endsWith("/") || asked.endsWith("/.");
    const info = fs.stat(path, follow);
    if (!info) throw new NoSuchPathError(`Could not find the file ${asked} in container ${ref}`);
    const stat = {
      name: baseName(path) || "/",
      size: info.size,
      mode: goFileMode(info),
      mtime: (info.mtime ?? new Date(0)).toISOString(),
      // For a symlink, where it leads inside the container: `docker cp -L` asks for that path.
      linkTarget: info.isSymlink ? fs.resolve(path) : "",
    };
    return btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(stat))));
  }

  async #stat(req: Request, res: Response, ref: string): Promise<void> {
    const header = await this.#withPath(
      req,
      ref,
      (_s, fs, path, asked) => Promise.resolve(this.#statHeader(fs, path, asked, ref)),
    );
    await res.send(200, undefined, { "X-Docker-Container-Path-Stat": header });
  }

  /** `GET archive`: a tar of the path, its top entry named as the path's last component. */
  async #get(req: Request, res: Response, ref: string): Promise<void> {
    await this.#withPath(req, ref, async (s, fs, path, asked) => {
      const header = this.#statHeader(fs, path, asked, ref);
      const follow = asked.endsWith("/") || asked.endsWith("/.");
      const out = await res.stream(200, {
        "Content-Type": "application/x-tar",
        "X-Docker-Container-Path-Stat": header,
      });
      const body = new WritableStream<Uint8Array>({ write: (c) => out.write(c) });
      const top = wantsContents(asked) ? "." : baseName(path);
      await fs.source(path, follow)(tarSink(body, top));
      await out.end();
      containerEvent(this.ctx.g.stateDir, s, "archive-path");
    });
  }

  /** `PUT archive`: the body's tar extracted into the directory at the path. */
  async #put(req: Request, res: Response, ref: string): Promise<void> {
    await this.#withPath(req, ref, async (s, fs, path, asked) => {
      const cfg = s.config!;
      if (cfg.readOnly && !isRunning(s)) {
        throw new HttpError(403, "container rootfs is marked read-only");
      }
      if (!fs.stat(path, true)?.isDirectory) {
        throw new HttpError(
          fs.stat(path, true) ? 400 : 404,
          `extraction point is not a directory: ${asked}`,
        );
      }
      const userns = cfg.namespaces.user.kind === "new";
      const owner: Owner = {
        archive: boolParam(req, "copyUIDGID"),
        uidMap: userns ? cfg.uidMap : [],
        gidMap: userns ? cfg.gidMap : [],
      };
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(req.body);
          c.close();
        },
      });
      await tarSource(body)(fs.sink(path, "", owner));
      containerEvent(this.ctx.g.stateDir, s, "extract-to-dir");
    });
    await res.send(200);
  }

  async #export(res: Response, ref: string): Promise<void> {
    const s = this.ctx.dir.find(ref);
    const { exportTar } = await import("../engine/snapshot.ts");
    const tar = exportTar(s);
    const out = await res.stream(200, { "Content-Type": "application/x-tar" });
    for await (const chunk of tar) await out.write(chunk);
    await out.end();
    containerEvent(this.ctx.g.stateDir, s, "export");
  }

  /** `changes`: docker's kinds, 0 changed, 1 added, 2 deleted. */
  async #changes(res: Response, ref: string): Promise<void> {
    const { containerChanges } = await import("../engine/snapshot.ts");
    const kind = { C: 0, A: 1, D: 2 } as const;
    const list = containerChanges(this.ctx.dir.find(ref));
    await res.json(
      200,
      list.length ? list.map((c) => ({ Path: c.path, Kind: kind[c.kind] })) : null,
    );
  }
}

/** A file's mode as Go's os.FileMode encodes it (docker's clients read it so). */
function goFileMode(info: Deno.FileInfo): number {
  const m = info.mode ?? 0;
  const type = m & 0o170000;
  let out = m & 0o777;
  if (m & 0o4000) out |= 1 << 23; // setuid
  if (m & 0o2000) out |= 1 << 22; // setgid
  if (m & 0o1000) out |= 1 << 20; // sticky
  if (type === 0o040000) out |= 2 ** 31; // directory
  else if (type === 0o120000) out |= 1 << 27; // symlink
  else if (type === 0o010000) out |= 1 << 25; // named pipe
  else if (type === 0o140000) out |= 1 << 24; // socket
  else if (type === 0o060000) out |= 1 << 26; // device
  else if (type === 0o020000) out |= (1 << 26) | (1 << 21); // character device
  return out >>> 0;
}
