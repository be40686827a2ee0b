/**
 * The Engine API's image routes, answered with ctr's image store: the
 * functions `ctr images`, `ctr image inspect` and `ctr load` call.
 * @module
 */

import type { Request, Response } from "./http.ts";
import type { ApiContext, Router } from "./router.ts";

/** The routes of images. */
export class ImageRoutes {
  constructor(readonly ctx: ApiContext, r: Router) {
    r.add("GET", "/images/json", (_q, res) => this.#images(res));
    r.add("POST", "/images/load", (q, res) => this.#load(q, res));
    r.add("GET", "/images/(.+)/json", (_q, res, [ref]) => this.#imageInspect(res, ref));
  }

  async #images(res: Response): Promise<void> {
    const { listImages, openStore } = await import("../image/mod.ts");
    const list = listImages(openStore(this.ctx.g.root));
    await res.json(
      200,
      list.map((img) => ({
        Id: img.id,
        ParentId: "",
        RepoTags: img.tags.length ? img.tags : ["<none>:<none>"],
        RepoDigests: [],
        Created: img.created ? Math.floor(Date.parse(img.created) / 1000) : 0,
        Size: img.size,
        VirtualSize: img.size,
        SharedSize: -1,
        Labels: null,
        Containers: -1,
      })),
    );
  }

  async #imageInspect(res: Response, ref: string): Promise<void> {
    const { inspectImage, openStore } = await import("../image/mod.ts");
    await res.json(200, inspectImage(openStore(this.ctx.g.root), ref));
  }

  /** `docker load`: the archive in the body; docker's JSON lines back. */
  async #load(req: Request, res: Response): Promise<void> {
    const { loadArchive, openStore } = await import("../image/mod.ts");
    const { imageEvent } = await import("../engine/events.ts");
    const tmp = await Deno.makeTempFile({ prefix: "ctr-api-load-", suffix: ".tar" });
    try {
      await Deno.writeFile(tmp, req.body, { mode: 0o600 });
      const r = await loadArchive(openStore(this.ctx.g.root), tmp, {});
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
}
