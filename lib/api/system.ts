/**
 * The Engine API's system routes: `_ping` (with the API-Version header
 * clients negotiate with), `version` and `info`.
 * @module
 */

import type { Response } from "./http.ts";
import { VERSION } from "../version.ts";
import { API_VERSION, type ApiContext, type Router } from "./router.ts";

/** `_ping`, `version`, `info`. */
export class SystemRoutes {
  constructor(readonly ctx: ApiContext, r: Router) {
    r.add("GET", "/_ping", (_q, res) => this.#ping(res));
    r.add("HEAD", "/_ping", (_q, res) => this.#ping(res));
    r.add("GET", "/version", (_q, res) => res.json(200, this.#version()));
    r.add("GET", "/info", async (_q, res) => {
      const { systemInfo } = await import("../engine/system.ts");
      await res.json(200, await systemInfo(this.ctx.g));
    });
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
}
