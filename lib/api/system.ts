/**
 * The Engine API's system routes: `_ping` (with the API-Version header
 * clients negotiate with), `version`, `info` and `auth`.
 * @module
 */

import { HttpError, type Request, type Response } from "./http.ts";
import { VERSION } from "../version.ts";
import { API_VERSION, type ApiContext, jsonBody, type Router } from "./router.ts";

/** `_ping`, `version`, `info`, `auth`. */
export class SystemRoutes {
  constructor(readonly ctx: ApiContext, r: Router) {
    r.add("GET", "/_ping", (_q, res) => this.#ping(res));
    r.add("HEAD", "/_ping", (_q, res) => this.#ping(res));
    r.add("GET", "/version", (_q, res) => res.json(200, this.#version()));
    r.add("POST", "/auth", (q, res) => this.#auth(q, res));
    r.add("GET", "/info", async (_q, res) => {
      const { systemInfo } = await import("../engine/system.ts");
      await res.json(200, await systemInfo(this.ctx.g));
    });
    r.add("GET", "/system/df", async (_q, res) => await res.json(200, await this.#df()));
  }

  /** `docker system df`: what `ctr system df` measures, in the API's lists. */
  async #df(): Promise<Record<string, unknown>> {
    const [{ diskUsage }, { containerSummary }, { imageSummary }, { volumeObject }, { openStore }] =
      await Promise.all([
        import("../engine/system.ts"),
        import("./containers.ts"),
        import("./images.ts"),
        import("./volumes.ts"),
        import("../image/mod.ts"),
      ]);
    const u = await diskUsage(this.ctx.g);
    const store = u.images.length ? openStore(this.ctx.g.root) : undefined;
    return {
      LayersSize: u.imagesSize,
      Images: u.images.map((i) => ({
        ...imageSummary(store!, i.image, []),
        SharedSize: i.shared,
        Containers: i.containers,
      })),
      Containers: u.containers.map((c) => ({
        ...containerSummary(c.state),
        SizeRw: c.size,
        SizeRootFs: c.size + c.imageSize,
      })),
      Volumes: u.volumes.map((v) => ({
        ...volumeObject(v.volume),
        UsageData: { Size: v.size, RefCount: v.links },
      })),
      BuildCache: u.buildCache.entries.map((e) => ({
        ID: e.id,
        Parent: "",
        Type: "regular",
        Description: e.description,
        InUse: false,
        Shared: false,
        Size: e.size,
        CreatedAt: e.created,
        LastUsedAt: e.created,
        UsageCount: 1,
      })),
    };
  }

  async #ping(res: Response): Promise<void> {
    await res.send(200, "OK", {
      "Api-Version": API_VERSION,
      "Docker-Experimental": "false",
      OSType: "linux",
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-cache, no-store, must-revalidate",
    });
  }

  #version(): Record<string, unknown> {
    const v = {
      ApiVersion: API_VERSION,
      Arch: Deno.build.arch === "x86_64" ? "amd64" : "arm64",
      BuildTime: "",
      Experimental: "false",
      GitCommit: "",
      GoVersion: `deno ${Deno.version.deno}`,
      KernelVersion: Deno.osRelease(),
      MinAPIVersion: "1.12",
      Os: "linux",
    };
    return {
      Platform: { Name: `ctr ${VERSION}` },
      Components: [{ Name: "Engine", Version: VERSION, Details: v }],
      Version: VERSION,
      ...v,
      Experimental: false,
    };
  }

  /**
   * `/auth` (`docker login`): the registry is asked whether the credentials
   * open it, as `ctr login` asks; nothing is stored here (docker's CLI keeps
   * them in its own config and sends them with each pull and push).
   */
  async #auth(req: Request, res: Response): Promise<void> {
    const b = jsonBody(req);
    const username = typeof b.username === "string" ? b.username : "";
    const password = typeof b.password === "string" ? b.password : "";
    if (!username || !password) throw new HttpError(400, "a username and a password are required");
    const { registryHost } = await import("../image/registry_config.ts");
    const { checkLogin } = await import("../cli/registry.ts");
    const server = typeof b.serveraddress === "string" && b.serveraddress
      ? b.serveraddress
      : "docker.io";
    const domain = registryHost(server);
    try {
      await checkLogin(this.ctx.g, domain, { username, password });
    } catch (e) {
      throw new HttpError(401, `login to ${domain}: ${(e as Error).message}`);
    }
    await res.json(200, { Status: "Login Succeeded", IdentityToken: "" });
  }
}
