/**
 * The Docker Engine API (v1.41, and unversioned paths) of one ctr store and
 * state directory: the route groups of lib/api, each a file, on one table.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { StateDir } from "../engine/state.ts";
import type { Request, Response } from "./http.ts";
import { type ApiContext, Router } from "./router.ts";
import { SystemRoutes } from "./system.ts";
import { ImageRoutes } from "./images.ts";
import { ContainerRoutes } from "./containers.ts";
import { ContainerStatsRoutes } from "./container_stats.ts";
import { ContainerFileRoutes } from "./container_files.ts";
import { NetworkRoutes } from "./networks.ts";
import { VolumeRoutes } from "./volumes.ts";
import { EventRoutes } from "./events.ts";

export { API_VERSION } from "./router.ts";

/** The Engine API of one ctr store and state directory. */
export class EngineApi {
  readonly #router = new Router();

  constructor(readonly g: Globals) {
    const ctx: ApiContext = { g, dir: new StateDir(g.stateDir) };
    new SystemRoutes(ctx, this.#router);
    new ImageRoutes(ctx, this.#router);
    new ContainerRoutes(ctx, this.#router);
    new ContainerStatsRoutes(ctx, this.#router);
    new ContainerFileRoutes(ctx, this.#router);
    new NetworkRoutes(ctx, this.#router);
    new VolumeRoutes(ctx, this.#router);
    new EventRoutes(ctx, this.#router);
  }

  /** Answers one request (the path may carry a /vX.YY prefix). */
  handle(req: Request, res: Response): Promise<void> {
    return this.#router.handle(req, res);
  }
}
