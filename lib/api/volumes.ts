/**
 * The Engine API's volume routes, answered with ctr's named volumes: the
 * functions `ctr volume create|ls|inspect|rm|prune` call, with the same
 * events.
 * @module
 */

import { HttpError, type Request, type Response } from "./http.ts";
import { type ApiContext, boolParam, jsonBody, type Router } from "./router.ts";
import { queryFilters } from "./filters.ts";
import { NoSuchVolumeError, type Volume, VolumeInUseError, VolumeStore } from "../engine/volume.ts";
import {
  createVolume,
  filterVolumes,
  pruneVolumes,
  removeVolume,
  VOLUME_FILTERS,
} from "../cli/volume.ts";
import { labelsMatch } from "../cli/filters.ts";

/** A volume as docker's API shows it (its Options: local volumes take none here). */
export function volumeObject(v: Volume): Record<string, unknown> {
  return { ...v };
}

/** The volume errors as docker's status codes. */
function volumeHttp(e: unknown): unknown {
  if (e instanceof NoSuchVolumeError) return new HttpError(404, e.message);
  if (e instanceof VolumeInUseError) return new HttpError(409, e.message);
  return e;
}

const labelMap = (v: unknown): Record<string, string> =>
  Object.fromEntries(
    Object.entries((v ?? {}) as Record<string, unknown>).map(([k, x]) => [k, `${x}`]),
  );

/** The routes of volumes. */
export class VolumeRoutes {
  constructor(readonly ctx: ApiContext, r: Router) {
    r.add("GET", "/volumes", (q, res) => this.#list(q, res));
    r.add("POST", "/volumes/create", (q, res) => this.#create(q, res));
    r.add("POST", "/volumes/prune", (q, res) => this.#prune(q, res));
    r.add("GET", "/volumes/([^/]+)", (_q, res, [name]) => this.#inspect(res, name));
    r.add("DELETE", "/volumes/([^/]+)", (q, res, [name]) => this.#remove(q, res, name));
  }

  async #list(req: Request, res: Response): Promise<void> {
    const vols = filterVolumes(this.ctx.g, queryFilters(req, VOLUME_FILTERS));
    await res.json(200, { Volumes: vols.map(volumeObject), Warnings: [] });
  }

  /** docker's create: an existing volume of that name is answered as it is. */
  async #create(req: Request, res: Response): Promise<void> {
    const b = jsonBody(req);
    if (b.DriverOpts !== undefined && b.DriverOpts !== null && typeof b.DriverOpts !== "object") {
      throw new HttpError(400, "DriverOpts: an object of strings");
    }
    const driver = typeof b.Driver === "string" && b.Driver !== "" ? b.Driver : undefined;
    if (driver !== undefined && driver !== "local") {
      throw new HttpError(400, `unsupported volume driver ${JSON.stringify(driver)}: only local`);
    }
    let v: Volume;
    try {
      v = createVolume(this.ctx.g, {
        name: typeof b.Name === "string" && b.Name !== "" ? b.Name : undefined,
        labels: labelMap(b.Labels),
        options: labelMap(b.DriverOpts),
      });
    } catch (e) {
      // Bad options are the request's fault (docker: 400 for the driver's refusals).
      const m = (e as Error).message;
      if (/^(invalid option|missing required option|invalid volume)/.test(m)) {
        throw new HttpError(400, m);
      }
      throw e;
    }
    await res.json(201, volumeObject(v));
  }

  async #inspect(res: Response, name: string): Promise<void> {
    try {
      await res.json(200, volumeObject(new VolumeStore(this.ctx.g.root).get(name)));
    } catch (e) {
      throw volumeHttp(e);
    }
  }

  /** `force` makes a missing volume no error (one in use is never removed, as docker). */
  async #remove(req: Request, res: Response, name: string): Promise<void> {
    try {
      removeVolume(this.ctx.g, name);
    } catch (e) {
      if (!(boolParam(req, "force") && e instanceof NoSuchVolumeError)) throw volumeHttp(e);
    }
    await res.send(204);
  }

  async #prune(req: Request, res: Response): Promise<void> {
    const f = queryFilters(req, ["label"]);
    const r = pruneVolumes(this.ctx.g, (v) => labelsMatch(f, v.Labels));
    if (r.errors.length) throw new HttpError(500, r.errors.join("; "));
    await res.json(200, { VolumesDeleted: r.removed, SpaceReclaimed: r.bytes });
  }
}
